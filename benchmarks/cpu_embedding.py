"""CPU embedding throughput and quality of the default model's candidate backends.

    python benchmarks/cpu_embedding.py CORPUS [CORPUS ...] [--sample 800] [--repeats 3]
        [--threads N] [--contend K] [--eval CORPUS ...] [--eval-limit 200]
        [--eval-backends torch onnx] [--skip-speed] [--json FILE]

CORPUS folders are chunked with codeseek's own discovery and chunker, exactly as the
indexer does, and a fixed random sample of `--sample` chunks (seed 0) is embedded by
each candidate:

* torch fp32, batches of 8 sorted by length: the local backend before ONNX (`LocalEmbedder`);
* torch fp32, batches of 32;
* ONNX Runtime fp32, int8 (dynamic, per channel) with every MatMul quantised, and int8
  with the feed-forward output projections of all layers kept in fp32, exported here;
* ONNX Runtime int8 with layer 0's feed-forward output in fp32: the default (`onnx_local`, through its real
  export cache: one text a call, as many calls at once as cores), one call at a time,
  and the same file run as length-sorted padded batches split across intra-op threads
  (with and without ONNX Runtime's spinning worker threads).

Candidates run in turn, `--repeats` rounds, so a change in the machine's load touches all
of them alike; the median of the rounds is reported, with the load average before and
after. chunks/s is wall time; "per CPU-s" divides by the process's CPU time, which
another process's load barely changes (useful on a shared machine). `--contend K` runs K
busy processes beside the measurement, to see what threads and spinning do when the
cores are not free. Quality: the cosine of each candidate's vectors with torch fp32's on
the same chunks, and with `--eval`, `codeseek eval`'s hybrid MRR@10 of torch and of the
default ONNX backend on the given corpora (`--eval-limit` pairs, seed 0).

Finally, the cold start a command line pays: a fresh interpreter that imports codeseek,
builds the embedder from a warm ONNX cache and embeds one query, against the same with
torch, and whether torch or transformers' modelling code got imported.

Prints numbers; never fails on timing. The corpora: benchmarks/fetch_corpora.sh.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codeseek.chunking.chunker import chunk_file
from codeseek.config import Config, EmbedderConfig
from codeseek.embedding.base import Embedder, estimate_tokens
from codeseek.embedding.local import LocalEmbedder
from codeseek.embedding.onnx_export import export
from codeseek.embedding.onnx_local import ExportCache, OnnxEmbedder, available_cores, onnx_model_for
from codeseek.workspace.discovery import SkipFile, discover, read_source

QUERY = "read a json config file"


@dataclass
class Candidate:
    name: str
    embed: Callable[[list[str]], np.ndarray]
    rates: list[float] = field(default_factory=list)
    cpu_rates: list[float] = field(default_factory=list)
    vectors: np.ndarray | None = None


@dataclass
class Row:
    candidate: str
    chunks_per_s: float
    speedup: float
    chunks_per_cpu_s: float
    cosine_mean: float
    cosine_min: float
    rounds: list[float]


def corpus_chunks(roots: list[Path], max_tokens: int) -> list[str]:
    """Every chunk's embed text, as the indexer would make it (same chunk size)."""
    texts: list[str] = []
    chunk_tokens = max(64, min(1024, int(max_tokens * 0.9)))
    for root in roots:
        for f in discover(root).files:
            try:
                text = read_source(f.abs_path, 1_000_000)
            except SkipFile:
                continue
            chunks = chunk_file(f.path, text, max_tokens=chunk_tokens, count_tokens=estimate_tokens)
            texts.extend(c.embed_text for c in chunks)
    return texts


def busy() -> None:  # pragma: no cover - a contention generator
    while True:
        pass


def build_default(work: Path, threads: int) -> OnnxEmbedder:
    """The default backend, exported through its real cache (a fresh one in `work`)."""
    model = onnx_model_for(EmbedderConfig(device="cpu"))
    return OnnxEmbedder(model, ExportCache(work / "cache").model_file(model), threads=threads)


class PaddedBatches:
    """The alternative to one text a call: length-sorted padded batches of about
    `budget` tokens, each split across `threads` intra-op threads."""

    def __init__(self, embedder: OnnxEmbedder, threads: int, budget: int, spinning: bool) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(embedder.path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = embedder._tokenizer
        self.budget = budget

    def embed(self, texts: list[str]) -> np.ndarray:
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        batches: list[list[int]] = [[]]
        for i in order:
            if batches[-1] and (len(batches[-1]) + 1) * len(ids[i]) > self.budget:
                batches.append([])
            batches[-1].append(i)
        for batch in batches:
            width = len(ids[batch[-1]])
            input_ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros_like(input_ids)
            for row, i in enumerate(batch):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}
            out[batch] = self.session.run(None, feed)[0]
        return out


def build_candidates(work: Path, threads: int, default: OnnxEmbedder) -> list[Candidate]:
    model = onnx_model_for(EmbedderConfig(device="cpu"))

    def exported(name: str, **kwargs: Any) -> Path:
        path = work / f"{name}.onnx"
        export(model.directory, path, pooling=model.pooling, max_tokens=model.max_tokens, **kwargs)
        return path

    fp32 = OnnxEmbedder(model, exported("fp32", quantize=False), threads=threads)
    all_ffn = OnnxEmbedder(model, exported("ffn-fp32", quantize=True, fp32_ffn_layers=None), threads=threads)
    no_ffn = OnnxEmbedder(model, exported("all-int8", quantize=True, fp32_ffn_layers=()), threads=threads)
    torch8 = LocalEmbedder(EmbedderConfig(device="cpu", batch_size=8))
    torch32 = LocalEmbedder(EmbedderConfig(device="cpu", batch_size=32))
    import torch

    torch.set_num_threads(threads)
    return [
        Candidate("torch fp32, batches of 8 (before)", torch8.embed_documents),
        Candidate("torch fp32, batches of 32", torch32.embed_documents),
        Candidate("onnx fp32", fp32.embed_documents),
        Candidate("onnx int8, every MatMul (no fp32 layer)", no_ffn.embed_documents),
        Candidate("onnx int8, FFN outputs of all 6 layers in fp32", all_ffn.embed_documents),
        Candidate(
            f"onnx int8, layers 0-2 FFN out fp32 (default: one text a call, {threads} at once)",
            default.embed_documents,
        ),
        Candidate(
            "onnx int8, one text a call, 1 at once",
            OnnxEmbedder(model, default.path, threads=1).embed_documents,
        ),
        Candidate(
            f"onnx int8, padded batches of 1,024 tokens, {threads} threads each",
            PaddedBatches(default, threads, 1024, spinning=False).embed,
        ),
        Candidate(
            f"onnx int8, padded batches of 1,024 tokens, {threads} spinning threads",
            PaddedBatches(default, threads, 1024, spinning=True).embed,
        ),
    ]


def measure(candidates: list[Candidate], sample: list[str], repeats: int) -> None:
    for candidate in candidates:  # warm-up: first calls allocate and tune
        candidate.embed(sample[:16])
    for round_ in range(repeats):
        for candidate in candidates:
            wall, cpu = time.perf_counter(), time.process_time()
            vectors = candidate.embed(sample)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            candidate.rates.append(len(sample) / wall)
            candidate.cpu_rates.append(len(sample) / max(cpu, 1e-9))
            if candidate.vectors is None:
                candidate.vectors = vectors
            print(
                f"  round {round_ + 1}: {candidate.name}: {len(sample) / wall:.1f} chunks/s "
                f"(load {os.getloadavg()[0]:.1f})",
                file=sys.stderr,
                flush=True,
            )


def rows(candidates: list[Candidate]) -> list[Row]:
    reference = candidates[0]
    assert reference.vectors is not None
    base = statistics.median(reference.rates)
    out = []
    for c in candidates:
        assert c.vectors is not None
        cosines = (c.vectors * reference.vectors).sum(axis=1)
        rate = statistics.median(c.rates)
        out.append(
            Row(
                c.name,
                rate,
                rate / base,
                statistics.median(c.cpu_rates),
                float(cosines.mean()),
                float(cosines.min()),
                [round(r, 1) for r in c.rates],
            )
        )
    return out


COLD = textwrap.dedent(
    """
    import sys, time
    started = time.perf_counter()
    from codeseek.config import EmbedderConfig
    backend = sys.argv[1]
    if backend == "onnx":
        from pathlib import Path
        from codeseek.embedding.onnx_local import onnx_embedder
        embedder = onnx_embedder(EmbedderConfig(device="cpu"), cache_dir=Path(sys.argv[2]))
    else:
        from codeseek.embedding.local import LocalEmbedder
        embedder = LocalEmbedder(EmbedderConfig(device="cpu"))
    loaded = time.perf_counter()
    embedder.embed_query(sys.argv[3])
    done = time.perf_counter()
    heavy = sorted({m.split(".")[0] for m in sys.modules if m == "torch" or m.startswith(("torch.", "transformers.models"))})
    print(f"{loaded - started:.3f} {done - loaded:.3f} {','.join(heavy) or '-'} {type(embedder).__name__}")
    """
)


def cold_start(backend: str, cache: Path, repeats: int) -> dict[str, object]:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", COLD, backend, str(cache), QUERY],
            capture_output=True,
            text=True,
            check=True,
        )
        total = time.perf_counter() - started
        load_s, query_s, heavy, cls = done.stdout.split()
        runs.append((total, float(load_s), float(query_s), heavy, cls))
    return {
        "backend": backend,
        "embedder": runs[0][4],
        "process_s": statistics.median(r[0] for r in runs),
        "import_and_load_s": statistics.median(r[1] for r in runs),
        "first_query_s": statistics.median(r[2] for r in runs),
        "heavy_imports": runs[0][3],
    }


def eval_mrr(
    corpora: list[Path], embedders: list[tuple[str, Embedder]], limit: int
) -> list[dict[str, object]]:
    from codeseek.evaluation.evaluate import evaluate

    out = []
    for corpus in corpora:
        with tempfile.TemporaryDirectory() as work:
            report = evaluate(
                corpus,
                Config(),
                [e for _, e in embedders],
                Path(work),
                modes=("hybrid",),
                limit=limit,
                seed=0,
            )
        for (name, _), result in zip(embedders, report.results, strict=True):
            out.append(
                {
                    "corpus": corpus.name,
                    "candidate": name,
                    "queries": result.overall.queries,
                    "mrr": result.overall.mrr,
                    "recall_at_10": result.overall.recall_at_10,
                }
            )
            print(f"  eval {corpus.name}: {name}: MRR {result.overall.mrr:.3f}", file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="+", type=Path)
    parser.add_argument("--sample", type=int, default=800)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=available_cores())
    parser.add_argument("--contend", type=int, default=0, help="busy processes to run beside")
    parser.add_argument("--eval", nargs="*", type=Path, default=[], help="corpora for codeseek eval's MRR")
    parser.add_argument("--eval-limit", type=int, default=200)
    parser.add_argument("--eval-backends", nargs="+", choices=["torch", "onnx"], default=["torch", "onnx"])
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    result: dict[str, object] = {"threads": args.threads, "contend": args.contend, "cores": available_cores()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        default = build_default(work, args.threads)
        if not args.skip_speed:
            candidates = build_candidates(work, args.threads, default)
            texts = corpus_chunks(args.corpora, default.max_tokens)
            sample = random.Random(0).sample(texts, min(args.sample, len(texts)))
            tokens = [len(default._tokenizer.encode(t).ids) for t in sample]
            print(
                f"{len(texts)} chunks in {', '.join(p.name for p in args.corpora)}; sample {len(sample)}, "
                f"median {statistics.median(tokens):.0f} tokens; {args.threads} threads on "
                f"{available_cores()} cores; load before {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            hogs = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.contend)]
            for hog in hogs:
                hog.start()
            load_before = os.getloadavg()[0]
            try:
                measure(candidates, sample, args.repeats)
            finally:
                for hog in hogs:
                    hog.terminate()
            table = rows(candidates)
            result |= {"chunks": len(sample), "load_before": load_before, "load_after": os.getloadavg()[0]}
            result["rows"] = [asdict(r) for r in table]
            print(f"load after {os.getloadavg()[0]:.2f}\n")
            print("| candidate | chunks/s | speed-up | chunks per CPU-s | cosine mean | cosine min |")
            print("|---|---|---|---|---|---|")
            for r in table:
                print(
                    f"| {r.candidate} | {r.chunks_per_s:.1f} | {r.speedup:.2f}x | {r.chunks_per_cpu_s:.1f} "
                    f"| {r.cosine_mean:.4f} | {r.cosine_min:.4f} |"
                )
            cold = [cold_start("onnx", work / "cache", 3), cold_start("torch", work / "cache", 3)]
            result["cold"] = cold
            print("\n| cold process | import + load s | first query s | whole process s | torch imported |")
            print("|---|---|---|---|---|")
            for c in cold:
                print(
                    f"| {c['embedder']} | {c['import_and_load_s']:.2f} | {c['first_query_s']:.3f} "
                    f"| {c['process_s']:.2f} | {c['heavy_imports']} |"
                )
        if args.eval:
            backends: list[tuple[str, Embedder]] = []
            if "torch" in args.eval_backends:
                backends.append(("torch fp32", LocalEmbedder(EmbedderConfig(device="cpu"))))
            if "onnx" in args.eval_backends:
                backends.append(("onnx int8", default))
            mrr = eval_mrr(args.eval, backends, args.eval_limit)
            result["eval"] = mrr
            print("\n| corpus | candidate | queries | hybrid MRR@10 | R@10 |")
            print("|---|---|---|---|---|")
            for row in mrr:
                print(
                    f"| {row['corpus']} | {row['candidate']} | {row['queries']} | {row['mrr']:.3f} "
                    f"| {row['recall_at_10']:.3f} |"
                )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
