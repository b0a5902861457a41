"""`codeseek bench`: the speed and memory claims, measured on the user's own code.

Everything runs on a temporary copy of the workspace with temporary stores; the user's
files and index are never touched. What is measured:

- full index time, split into the indexer's phases (discover, read + chunk, embed,
  store, optimize); reading and chunking run in a background thread while the previous
  batch embeds, so the phases can add up to more than the wall time;
- pipeline overhead: full index time divided by the time the same embedder, warm and in
  the same process, takes to embed the same (unique) chunk texts in one call;
- re-index time with nothing changed (median of three runs);
- save-to-searchable: a function renamed in one file, `FolderService.update` on it, and a
  search until the new name is found (median of several edits);
- search latency, query embedding included (`Searcher.search`, the query cache emptied
  before each query), per mode, at the repository's size and at `scale` chunks: the
  repository's own chunks copied with perturbed vectors into a separate store, searched
  first by exhaustive scan, then with the IVF vector index `IndexStore.optimize` builds
  above `VECTOR_INDEX_MIN_ROWS`; the ANN's recall@10 against the exhaustive scan;
- peak resident memory of the process (model included).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codeseek.chunking.chunker import chunk_file
from codeseek.chunking.secrets import mask_secrets
from codeseek.config import Config
from codeseek.embedding.base import Embedder, estimate_tokens, normalize
from codeseek.errors import CodeseekError, WorkspaceError
from codeseek.evaluation.evaluate import copy_workspace, forget_cached_queries, percentile
from codeseek.indexer import chunk_tokens_for
from codeseek.model import Chunk
from codeseek.search import MODES, Searcher, SearchRequest
from codeseek.service import FolderService, index_key
from codeseek.store.lance import VECTOR_INDEX_MIN_ROWS, IndexStore
from codeseek.store.schema import FileRecord
from codeseek.workspace.discovery import SkipFile, discover, read_source

SEARCH_QUERIES = 200
SAVE_EDITS = 5
REINDEX_RUNS = 3
SCALE_BATCH_ROWS = 10_000
SCALE_CHUNKS_PER_FILE = 50
# Noise added to a copied vector: a norm of about 0.5, so a copy keeps a cosine of about
# 0.9 with its original: clustered like real code, never identical.
SCALE_NOISE_NORM = 0.5
# Queries when the workspace documents nothing: plain descriptions of common code.
FALLBACK_QUERIES = (
    "read a configuration file",
    "parse command line arguments",
    "retry a request after a failure",
    "convert a string to lower case",
    "write data to a file",
    "handle an error and log it",
    "compute a hash of the content",
    "sort items by key",
)

Notify = Callable[[str], None]


@dataclass
class LatencyStats:
    queries: int
    mean_ms: float
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencyStats:
        ms = [s * 1000 for s in seconds]
        return cls(len(ms), sum(ms) / len(ms) if ms else 0.0, percentile(ms, 50), percentile(ms, 99))


@dataclass
class ScaleResult:
    chunks: int
    write_seconds: float  # generating and writing the rows
    optimize_seconds: float  # full-text and vector index builds
    vector_index: bool
    exhaustive: LatencyStats  # semantic search before the vector index exists
    search: dict[str, LatencyStats]  # per mode, after optimize
    ann_recall_at_10: float | None  # IVF top 10 against the exhaustive top 10


@dataclass
class BenchReport:
    workspace: str
    provider: str
    model: str
    dimensions: int
    files: int = 0
    chunks: int = 0
    model_load_seconds: float = 0.0
    index_seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    chunks_embedded: int = 0
    embed_alone_seconds: float = 0.0
    reindex_unchanged_seconds: float = 0.0
    save_to_searchable_ms: list[float] = field(default_factory=list)
    search: dict[str, LatencyStats] = field(default_factory=dict)
    scale: ScaleResult | None = None
    peak_rss_mb_after_index: float | None = None
    peak_rss_mb: float | None = None

    @property
    def pipeline_overhead(self) -> float | None:
        return self.index_seconds / self.embed_alone_seconds if self.embed_alone_seconds > 0 else None

    @property
    def save_to_searchable_median_ms(self) -> float | None:
        return float(np.median(self.save_to_searchable_ms)) if self.save_to_searchable_ms else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pipeline_overhead"] = self.pipeline_overhead
        data["save_to_searchable_median_ms"] = self.save_to_searchable_median_ms
        return data


def peak_rss_mb() -> float | None:
    """The process's peak resident memory so far; None where the OS does not say."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def bench(
    source: Path,
    config: Config,
    embedder: Embedder,
    work_dir: Path,
    *,
    scale: int = 100_000,
    queries: int = SEARCH_QUERIES,
    model_load_seconds: float = 0.0,
    notify: Notify | None = None,
) -> BenchReport:
    """Measure `embedder` on a copy of `source` in `work_dir` (an empty temporary folder
    the caller removes). `scale` 0 skips the scaled search test."""
    say = notify or (lambda message: None)
    say("copying the workspace")
    corpus = copy_workspace(source, config, work_dir / "workspace", strip=False)
    if corpus.files == 0:
        raise WorkspaceError(f"{source}: no files to index (all ignored, skipped or empty)")
    run_config = config.copy()
    run_config.store.path = str(work_dir / "store")
    service = FolderService(corpus.root, run_config, embedder=embedder)
    report = BenchReport(
        str(source),
        embedder.provider,
        embedder.model_id,
        embedder.dimensions,
        model_load_seconds=model_load_seconds,
    )
    embedder.embed_documents(["warm up"])  # first-call costs (allocations, kernels) are not indexing

    say("indexing the whole workspace")
    full = service.index(full=True)
    if full.chunks == 0:
        raise WorkspaceError(f"{source}: nothing to index (every file is empty)")
    report.files, report.chunks = full.files, full.chunks
    report.index_seconds = full.seconds
    timings = full.timings
    report.phases = {
        "discover": timings.get("discover", 0.0),
        "parse_and_chunk": timings.get("read", 0.0) + timings.get("chunk", 0.0),
        "embed": timings.get("embed", 0.0),
        "store": timings.get("store", 0.0),
        "optimize": timings.get("optimize", 0.0),
    }
    report.chunks_embedded = full.chunks_embedded
    report.peak_rss_mb_after_index = peak_rss_mb()

    say("embedding the same chunk texts alone")
    chunks = _unique_chunks(corpus.root, run_config, embedder)
    started = time.perf_counter()
    vectors = embedder.embed_documents([c.embed_text for c in chunks])
    report.embed_alone_seconds = time.perf_counter() - started

    say("re-indexing with nothing changed")
    runs = []
    for _ in range(REINDEX_RUNS):
        again = service.index()
        if again.indexed:
            raise CodeseekError(f"re-index with nothing changed re-indexed {again.indexed} files")
        runs.append(again.seconds)
    report.reindex_unchanged_seconds = float(np.median(runs))

    say("timing save-to-searchable")
    report.save_to_searchable_ms = _save_to_searchable(service)

    query_texts = _queries(corpus.pairs, chunks)
    say(f"timing {queries} searches per mode at {report.chunks} chunks")
    searcher = service.searcher()
    assert searcher is not None
    report.search = {mode: _time_searches(searcher, embedder, query_texts, mode, queries) for mode in MODES}

    if scale > report.chunks:
        say(f"building a {scale}-chunk store")
        report.scale = _scaled(
            work_dir / "scaled", embedder, chunks, vectors, scale, query_texts, queries, say
        )
    report.peak_rss_mb = peak_rss_mb()
    return report


def _unique_chunks(root: Path, config: Config, embedder: Embedder) -> list[Chunk]:
    """The chunks the indexer embedded, one per content key, cut the way it cuts them."""
    max_tokens = chunk_tokens_for(embedder.max_tokens)  # as the indexer sizes them
    found = discover(
        root,
        include=config.index.include,
        exclude=config.index.exclude,
        max_file_bytes=config.index.max_file_bytes,
    )
    unique: dict[str, Chunk] = {}
    for file in found.files:
        try:
            text = read_source(file.abs_path, config.index.max_file_bytes)
        except SkipFile:
            continue
        text, _ = mask_secrets(file.path, text)  # as the indexer masks them
        for chunk in chunk_file(file.path, text, max_tokens=max_tokens, count_tokens=estimate_tokens):
            unique.setdefault(chunk.content_key, chunk)
    return list(unique.values())


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _save_to_searchable(service: FolderService) -> list[float]:
    """Rename a function in one file (a one-function change, as an editor's save makes
    it), then time `update_paths` plus searches until the new name is found."""
    target = _renamable_function(service)
    if target is None:
        return []
    path, name = target
    file = service.root / path
    samples: list[float] = []
    current = name
    for edit in range(1, SAVE_EDITS + 1):
        new = f"{name}Zqx{edit}"
        # newline="" keeps the file's own line endings; surrogatepass round-trips what
        # the copy wrote.
        with file.open(encoding="utf-8", errors="surrogatepass", newline="") as fh:
            text = fh.read()
        with file.open("w", encoding="utf-8", errors="surrogatepass", newline="") as fh:
            fh.write(re.sub(rf"\b{re.escape(current)}\b", new, text, count=1))
        started = time.perf_counter()
        service.update([path])
        deadline = started + 30
        while time.perf_counter() < deadline:
            hits = service.search(SearchRequest(new, 5, "lexical")).hits
            if any(h.path == path for h in hits):
                samples.append((time.perf_counter() - started) * 1000)
                break
        current = new
    return samples


def _renamable_function(service: FolderService) -> tuple[str, str] | None:
    """A (path, name) whose name occurs as a word in its file: a function in the middle
    of the workspace, so the pick is stable from run to run."""
    store = service.store()
    assert store is not None
    paths = store.all_paths()
    for path in paths[len(paths) // 2 :] + paths[: len(paths) // 2]:
        for chunk in store.chunks_of(path):
            if chunk.kind not in ("function", "method") or not chunk.symbol:
                continue
            name = chunk.symbol.rsplit(".", 1)[-1]
            if (
                len(name) >= 3
                and _IDENTIFIER.match(name)
                and re.search(rf"\b{re.escape(name)}\b", chunk.text)
            ):
                return path, name
    return None


def _queries(pairs: Sequence[Any], chunks: Sequence[Chunk]) -> list[str]:
    """Realistic queries: the workspace's own docstrings, else its symbols in words."""
    texts = [p.query for p in pairs]
    if len(texts) < 20:
        words = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")
        for chunk in chunks:
            if chunk.symbol:
                phrase = " ".join(w.lower() for w in words.findall(chunk.symbol))
                if len(phrase.split()) >= 2:
                    texts.append(phrase)
    return list(dict.fromkeys(texts)) or list(FALLBACK_QUERIES)


def _time_searches(
    searcher: Searcher, embedder: Embedder, queries: Sequence[str], mode: str, count: int
) -> LatencyStats:
    searcher.search(SearchRequest(queries[0], 10, mode))  # warm-up
    seconds = []
    for i in range(count):
        forget_cached_queries(embedder)
        started = time.perf_counter()
        searcher.search(SearchRequest(queries[i % len(queries)], 10, mode))
        seconds.append(time.perf_counter() - started)
    return LatencyStats.of(seconds)


def _scaled(
    path: Path,
    embedder: Embedder,
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    total: int,
    queries: Sequence[str],
    count: int,
    say: Notify,
) -> ScaleResult:
    """Search at `total` chunks: the workspace's chunks repeated under synthetic paths,
    each copy's vector perturbed, written through `IndexStore` like an indexing run."""
    dims = embedder.dimensions
    store = IndexStore(path, index_key(embedder.model_id, dims), dims)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    with store.writer() as writer:
        for batch_start in range(0, total, SCALE_BATCH_ROWS):
            rows = range(batch_start, min(total, batch_start + SCALE_BATCH_ROWS))
            batch: list[Chunk] = []
            for i in rows:
                base = chunks[i % len(chunks)]
                folder = f"synthetic/{i // SCALE_CHUNKS_PER_FILE:05d}"
                batch.append(
                    Chunk(
                        f"{folder}/{base.path}",
                        base.language,
                        base.start_line,
                        base.end_line,
                        base.text,
                        base.symbol,
                        base.kind,
                        base.context,
                    )
                )
            picked = vectors[np.arange(rows.start, rows.stop) % len(chunks)]
            noise = rng.normal(0.0, SCALE_NOISE_NORM / np.sqrt(dims), picked.shape).astype(np.float32)
            per_file: dict[str, int] = {}
            for chunk in batch:
                per_file[chunk.path] = per_file.get(chunk.path, 0) + 1
            records = [FileRecord(p, "synthetic", 0, 0, n) for p, n in per_file.items()]
            writer.replace_files(records, batch, normalize(picked + noise))
        write_seconds = time.perf_counter() - started

        say(f"timing exhaustive semantic search at {total} chunks")
        searcher = Searcher(store, embedder)
        exhaustive = _time_searches(searcher, embedder, queries, "semantic", count)
        probe = list(queries[: min(len(queries), 100)])
        probe_vectors = [embedder.embed_query(q) for q in probe]
        exact = [{c.id for c in store.vector_search(v, 10)} for v in probe_vectors]

        say(f"building the full-text and vector indexes over {total} chunks")
        started = time.perf_counter()
        writer.optimize()
        optimize_seconds = time.perf_counter() - started
    has_index = store.has_vector_index()
    recall = None
    if has_index:
        found = [{c.id for c in store.vector_search(v, 10)} for v in probe_vectors]
        recall = float(np.mean([len(a & e) / max(1, len(e)) for a, e in zip(found, exact, strict=True)]))
    say(f"timing searches at {total} chunks")
    searcher = Searcher(store, embedder)
    search = {mode: _time_searches(searcher, embedder, queries, mode, count) for mode in MODES}
    return ScaleResult(total, write_seconds, optimize_seconds, has_index, exhaustive, search, recall)


def format_report(report: BenchReport) -> str:
    ms = report.save_to_searchable_median_ms
    lines = [
        f"workspace   {report.workspace}",
        f"model       {report.provider}:{report.model} ({report.dimensions} dims), "
        f"loaded in {report.model_load_seconds:.1f}s",
        f"size        {report.files} files, {report.chunks} chunks ({report.chunks_embedded} embedded)",
        "",
        f"full index  {report.index_seconds:.2f}s",
    ]
    for phase, seconds in report.phases.items():
        share = seconds / report.index_seconds * 100 if report.index_seconds else 0.0
        lines.append(f"  {phase.replace('_', ' '):<17}{seconds:8.2f}s  {share:5.1f}%")
    overhead = report.pipeline_overhead
    lines += [
        f"embedding alone      {report.embed_alone_seconds:.2f}s (same texts, same embedder, warm)",
        f"pipeline overhead    {overhead:.2f}x" if overhead else "pipeline overhead    n/a",
        f"re-index, unchanged  {report.reindex_unchanged_seconds * 1000:.0f} ms",
        f"save to searchable   {ms:.0f} ms (median of {len(report.save_to_searchable_ms)} edits)"
        if ms is not None
        else "save to searchable   n/a (no function to edit)",
        "",
        f"search at {report.chunks} chunks (query embedding included)",
    ]
    lines += _latency_lines(report.search)
    scale = report.scale
    if scale is not None:
        index_note = (
            f"IVF vector index (built above {VECTOR_INDEX_MIN_ROWS} chunks)"
            if scale.vector_index
            else "no vector index"
        )
        lines += [
            "",
            f"search at {scale.chunks} chunks ({index_note}; written in {scale.write_seconds:.1f}s, "
            f"indexes built in {scale.optimize_seconds:.1f}s)",
        ]
        lines += _latency_lines({"semantic, exhaustive": scale.exhaustive, **scale.search})
        if scale.ann_recall_at_10 is not None:
            lines.append(f"  ANN recall@10 against the exhaustive scan: {scale.ann_recall_at_10:.3f}")
    if report.peak_rss_mb is not None:
        lines += [
            "",
            f"peak memory  {report.peak_rss_mb_after_index:.0f} MB after indexing, "
            f"{report.peak_rss_mb:.0f} MB overall (resident, model included)",
        ]
    return "\n".join(lines)


def _latency_lines(stats: dict[str, LatencyStats]) -> list[str]:
    lines = [f"  {'mode':<22}{'p50 ms':>8}{'p99 ms':>8}{'mean ms':>9}"]
    for mode, s in stats.items():
        lines.append(f"  {mode:<22}{s.p50_ms:8.1f}{s.p99_ms:8.1f}{s.mean_ms:9.1f}")
    return lines
