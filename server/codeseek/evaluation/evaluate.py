"""`codeseek eval`: CodeSearchNet-style retrieval quality on a repository's own code.

1. The workspace's files (as the indexer would see them: ignore rules, size limit) are
   copied to a temporary folder, with the docs of every documented function removed
   (`pairs.strip_docs`; line numbers unchanged).
2. Each embedder indexes that copy into its own temporary store; the user's workspace
   and index are never touched.
3. Every query (a docstring's first paragraph) is searched in each mode, and its rank is
   the position of the first result that hits the target (`EvalPair.is_hit`: same file,
   overlapping lines). Recall@k is the share of queries ranked k or better; MRR is the
   mean of 1/rank, with queries not in the top 10 counting 0 (MRR@10).
4. Latency is the wall time of one `Searcher.search` call, query embedding included,
   after one untimed warm-up query per mode.

Mode `functions` is not a codeseek search mode but the baseline it must beat: a plain
index of one vector per function (`baseline.py`), the same model, queries and hit rule.

With `index_cache`, the stores outlive the run: the next run on the same workspace
re-chunks every file with the current code (so a chunking change is measured) but takes
each vector whose chunk text is unchanged from the store's vector cache, and the baseline
its function vectors from a file beside it. A setting that changes only search costs
no model time at all then.

Without latency (`measure_latency=False`, for tuning runs that only need ranks), each
query is embedded once and its vector reused by every mode and weight (and, with the
index cache, by later runs).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codeseek.chunking.languages import language_for_path
from codeseek.config import Config
from codeseek.embedding.base import Embedder, InputType
from codeseek.errors import WorkspaceError
from codeseek.evaluation.baseline import BASELINE_MODE, FunctionIndex, load_vectors, save_vectors, text_key
from codeseek.evaluation.pairs import (
    EVAL_LANGUAGES,
    MIN_QUERY_WORDS,
    EvalPair,
    build_pairs,
    find_documented_functions,
    strip_docs,
)
from codeseek.search import MODES, Searcher, SearchRequest
from codeseek.service import FolderService, index_key
from codeseek.store.lance import IndexStore
from codeseek.workspace.discovery import SkipFile, discover, read_source

TOP_K = 10
RECALL_AT = (1, 5, 10)
# What `codeseek eval` measures by default: codeseek's three search modes, then the
# one-vector-per-function baseline that its semantic mode should at least match.
EVAL_MODES = (*MODES, BASELINE_MODE)

Notify = Callable[[str], None]


@dataclass
class Corpus:
    """A workspace copied for evaluation, and the pairs its original docs gave."""

    root: Path  # the copy
    files: int
    documented_functions: int
    pairs: list[EvalPair]
    paths: list[str] = field(default_factory=list)  # the copied files, relative


def copy_workspace(source: Path, config: Config, dest: Path, *, strip: bool) -> Corpus:
    """Copy the files the indexer would index from `source` into `dest` (created), with
    the docs of documented functions removed when `strip`. Returns the pairs found."""
    found = discover(
        source,
        include=config.index.include,
        exclude=config.index.exclude,
        max_file_bytes=config.index.max_file_bytes,
    )
    dest.mkdir(parents=True, exist_ok=True)
    documented = 0
    functions = []
    paths: list[str] = []
    for file in found.files:
        try:
            text = read_source(file.abs_path, config.index.max_file_bytes)
        except SkipFile:
            continue
        language = language_for_path(file.path, text[:200].split("\n", 1)[0])
        if language in EVAL_LANGUAGES:
            in_file = find_documented_functions(file.path, text, language)
            documented += len(in_file)
            functions.extend(in_file)
            if strip and in_file:
                text = strip_docs(text, in_file)
        target = dest / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        # newline="" writes the text's own line endings back unchanged.
        with target.open("w", encoding="utf-8", errors="surrogatepass", newline="") as fh:
            fh.write(text)
        paths.append(file.path)
    return Corpus(dest, len(paths), documented, build_pairs(functions), paths)


def sample_pairs(pairs: Sequence[EvalPair], limit: int | None, seed: int) -> list[EvalPair]:
    """At most `limit` pairs, drawn with a fixed seed so a run can be repeated; in
    (path, line) order either way."""
    chosen = list(pairs)
    if limit is not None and limit < len(chosen):
        chosen = random.Random(seed).sample(chosen, limit)
    return sorted(chosen, key=lambda p: (p.path, p.start_line))


# --- metrics ----------------------------------------------------------------------------


@dataclass
class Metrics:
    queries: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr: float  # MRR@10
    latency_ms_mean: float
    latency_ms_p50: float
    latency_ms_p95: float


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `pct`% of the values at
    or below it (no interpolation, so it is always a measured value)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def compute_metrics(ranks: Sequence[int | None], latencies_s: Sequence[float]) -> Metrics:
    """Metrics of one run: `ranks` holds each query's 1-based rank of its first hit in
    the top 10 (None when missed), `latencies_s` each query's search time in seconds."""
    n = len(ranks)
    if n == 0:
        return Metrics(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def recall(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n

    ms = [s * 1000 for s in latencies_s]
    return Metrics(
        queries=n,
        recall_at_1=recall(1),
        recall_at_5=recall(5),
        recall_at_10=recall(10),
        mrr=sum(1 / r for r in ranks if r is not None and r <= TOP_K) / n,
        latency_ms_mean=sum(ms) / len(ms) if ms else 0.0,
        latency_ms_p50=percentile(ms, 50),
        latency_ms_p95=percentile(ms, 95),
    )


def first_hit_rank(pair: EvalPair, hits: Sequence[Any]) -> int | None:
    for rank, hit in enumerate(hits[:TOP_K], 1):
        if pair.is_hit(hit.path, hit.start_line, hit.end_line):
            return rank
    return None


# --- running ----------------------------------------------------------------------------


@dataclass
class RunResult:
    """One (embedder, mode[, weight]) row of the table."""

    embedder: str  # provider
    model: str
    dimensions: int
    mode: str
    lexical_weight: float | None  # hybrid only
    overall: Metrics
    languages: dict[str, Metrics]
    degraded: int = 0  # queries the searcher answered in a lesser mode
    # Each query's rank of its first hit (1-based), None when not in the top 10; in the
    # order of `EvalReport.queries`, so a user can see which queries failed.
    ranks: list[int | None] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.mode == "hybrid" and self.lexical_weight is not None:
            return f"hybrid@{self.lexical_weight:g}"
        return self.mode


@dataclass
class IndexRun:
    embedder: str
    model: str
    dimensions: int
    files: int
    chunks: int
    seconds: float
    chunks_embedded: int = 0  # sent to the model; the rest came from the vector cache
    functions: int = 0  # the baseline's vectors
    functions_embedded: int = 0
    functions_seconds: float = 0.0


@dataclass
class EvalReport:
    workspace: str
    files: int
    documented_functions: int
    pairs_available: int
    pairs_by_language: dict[str, int]
    limit: int | None
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)  # config overrides (`--set`)
    latency_measured: bool = True
    queries: list[EvalPair] = field(default_factory=list)
    indexes: list[IndexRun] = field(default_factory=list)
    results: list[RunResult] = field(default_factory=list)

    @property
    def pairs(self) -> int:
        return sum(self.pairs_by_language.values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pairs"] = self.pairs
        for row, result in zip(data["results"], self.results, strict=True):
            row["label"] = result.label
        return data


def evaluate(
    source: Path,
    config: Config,
    embedders: Sequence[Embedder],
    work_dir: Path,
    *,
    modes: Sequence[str] = EVAL_MODES,
    limit: int | None = None,
    seed: int = 0,
    lexical_weights: Sequence[float] = (),
    ranking: dict[str, float] | None = None,
    index_cache: Path | None = None,
    settings: dict[str, Any] | None = None,
    measure_latency: bool = True,
    notify: Notify | None = None,
) -> EvalReport:
    """Evaluate each embedder in each mode on `source`'s documented functions.

    `work_dir` (an empty temporary folder the caller removes) receives the stripped copy
    and, without `index_cache`, one store per embedder. `lexical_weights`, when given,
    evaluates hybrid mode once per weight instead of at the built-in weight; `ranking`
    sets other weights of the searcher (`names_weight`, `block_weight`, `piece_weight`) for every mode.
    `settings` only records the config overrides the caller applied. Raises WorkspaceError when the
    workspace has no usable documented function."""
    say = notify or (lambda message: None)
    for mode in modes:
        if mode not in EVAL_MODES:
            raise ValueError(f"unknown mode {mode!r}")
    say("copying the workspace without its docstrings and doc comments")
    corpus = copy_workspace(source, config, work_dir / "workspace", strip=True)
    if not corpus.pairs:
        found = (
            f"found {corpus.documented_functions}, all too short, tests or duplicates"
            if corpus.documented_functions
            else "found none"
        )
        raise WorkspaceError(
            f"{source}: no documented functions to evaluate on (eval needs functions in "
            f"{', '.join(EVAL_LANGUAGES)} with a docstring or doc comment of at least "
            f"{MIN_QUERY_WORDS} words; {found})"
        )
    pairs = sample_pairs(corpus.pairs, limit, seed)
    by_language: dict[str, int] = {}
    for pair in pairs:
        by_language[pair.language] = by_language.get(pair.language, 0) + 1
    report = EvalReport(
        workspace=str(source),
        files=corpus.files,
        documented_functions=corpus.documented_functions,
        pairs_available=len(corpus.pairs),
        pairs_by_language=dict(sorted(by_language.items())),
        limit=limit,
        seed=seed,
        settings={**(settings or {}), **(ranking or {})},
        latency_measured=measure_latency,
        queries=pairs,
    )
    search_modes = [m for m in modes if m != BASELINE_MODE]
    for number, given in enumerate(embedders, 1):
        key = index_key(given.model_id, given.dimensions)
        cache = _cache_dir(index_cache, source) if index_cache is not None else None
        embedder: Embedder = given
        if not measure_latency:
            embedder = QueryVectors(given, cache / f"queries-{key}.npz" if cache is not None else None)
        run = IndexRun(embedder.provider, embedder.model_id, embedder.dimensions, corpus.files, 0, 0.0)
        report.indexes.append(run)
        searcher: Searcher | None = None
        if search_modes:
            run_config = config.copy()
            run_config.store.path = str(cache / key if cache is not None else work_dir / f"store-{number}")
            service = FolderService(corpus.root, run_config, embedder=embedder)
            store = service.store()
            if cache is not None and store is not None:
                _forget_files(store)
            say(f"indexing the copy with {embedder.describe()}")
            index = service.index(full=cache is None)
            run.files, run.chunks, run.seconds = index.files, index.chunks, index.seconds
            run.chunks_embedded = index.chunks_embedded
            searcher = service.searcher()
            if searcher is not None:
                for name, value in (ranking or {}).items():
                    if not hasattr(searcher, name):
                        raise ValueError(f"unknown ranking weight {name!r}")
                    setattr(searcher, name, value)
        for mode in modes:
            if mode == BASELINE_MODE:
                say(f"embedding every function once with {embedder.describe()} (the baseline)")
                functions = FunctionIndex.build(
                    corpus.root,
                    corpus.paths,
                    embedder,
                    cache / f"functions-{key}.npz" if cache is not None else None,
                )
                run.functions, run.functions_embedded = len(functions.functions), functions.embedded
                run.functions_seconds = functions.seconds
                say(f"searching {len(pairs)} queries, {embedder.describe()}, {mode}")
                report.results.append(_run_functions(functions, embedder, pairs, measure_latency))
                continue
            assert searcher is not None
            weights: Sequence[float | None] = (
                list(lexical_weights) if mode == "hybrid" and lexical_weights else [None]
            )
            for weight in weights:
                say(f"searching {len(pairs)} queries, {embedder.describe()}, {mode}")
                report.results.append(_run_mode(searcher, embedder, pairs, mode, weight, measure_latency))
        if isinstance(embedder, QueryVectors):
            embedder.save()
    return report


class QueryVectors(Embedder):
    """An embedder that embeds each query once and then answers from memory (and from
    `file`, where given, across runs): for runs that rank and do not time."""

    def __init__(self, inner: Embedder, file: Path | None) -> None:
        super().__init__()
        self.inner = inner
        self.provider, self.model_id = inner.provider, inner.model_id
        self.dimensions, self.max_tokens = inner.dimensions, inner.max_tokens
        self.native_dimensions = inner.native_dimensions
        self._file = file
        self._known = load_vectors(file) if file is not None else {}
        self._new = 0

    def embed_batch(self, texts: list[str], input_type: InputType) -> Any:
        return self.inner.embed_batch(texts, input_type)

    def embed_documents(self, texts: Sequence[str]) -> Any:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> Any:
        key = text_key(text)
        vector = self._known.get(key)
        if vector is None:
            vector = self._known[key] = self.inner.embed_query(text)
            self._new += 1
        return vector

    def describe(self) -> str:
        return self.inner.describe()

    def save(self) -> None:
        if self._file is not None and self._new:
            save_vectors(self._file, self._known)
            self._new = 0


def _cache_dir(index_cache: Path, source: Path) -> Path:
    """One folder per workspace (by its resolved path) in the index cache."""
    real = str(source.resolve())
    return index_cache / f"{source.resolve().name or 'root'}-{hashlib.sha256(real.encode()).hexdigest()[:12]}"


def _forget_files(store: IndexStore) -> None:
    """Drop every file from a cached store, keeping its vector cache: the run then
    chunks every file again with the current code, and embeds only new chunk texts."""
    with store.writer() as writer:
        writer.delete_files(list(store.file_records()))


def _run_mode(
    searcher: Searcher,
    embedder: Embedder,
    pairs: Sequence[EvalPair],
    mode: str,
    weight: float | None,
    measure_latency: bool = True,
) -> RunResult:
    default_weight = searcher.lexical_weight
    if weight is not None:
        searcher.lexical_weight = weight
    degraded = 0

    def search(query: str) -> Sequence[Any]:
        nonlocal degraded
        result = searcher.search(SearchRequest(query, TOP_K, mode))
        degraded += result.mode != mode
        return result.hits

    try:
        if measure_latency:
            search(pairs[0].query)  # warm-up, untimed
            degraded = 0
        ranks, latencies = _measure(embedder, pairs, search, measure_latency)
    finally:
        searcher.lexical_weight = default_weight
    return _result(
        embedder,
        mode,
        (weight if weight is not None else default_weight) if mode == "hybrid" else None,
        pairs,
        ranks,
        latencies,
        degraded,
    )


def _run_functions(
    index: FunctionIndex, embedder: Embedder, pairs: Sequence[EvalPair], measure_latency: bool = True
) -> RunResult:
    def search(query: str) -> Sequence[Any]:
        return index.search(query, embedder, TOP_K)

    if measure_latency:
        search(pairs[0].query)  # warm-up, untimed
    ranks, latencies = _measure(embedder, pairs, search, measure_latency)
    return _result(embedder, BASELINE_MODE, None, pairs, ranks, latencies, 0)


def _measure(
    embedder: Embedder,
    pairs: Sequence[EvalPair],
    search: Callable[[str], Sequence[Any]],
    measure_latency: bool = True,
) -> tuple[list[int | None], list[float]]:
    """Each pair's rank of its first hit, and each search's wall time (a new query's:
    the embedder's query cache is emptied first, unless latency does not matter)."""
    ranks: list[int | None] = []
    latencies: list[float] = []
    for pair in pairs:
        if measure_latency:
            forget_cached_queries(embedder)
        started = time.perf_counter()
        hits = search(pair.query)
        latencies.append(time.perf_counter() - started)
        ranks.append(first_hit_rank(pair, hits))
    return ranks, latencies


def _result(
    embedder: Embedder,
    mode: str,
    weight: float | None,
    pairs: Sequence[EvalPair],
    ranks: list[int | None],
    latencies: list[float],
    degraded: int,
) -> RunResult:
    languages: dict[str, Metrics] = {}
    for language in sorted({p.language for p in pairs}):
        chosen = [i for i, p in enumerate(pairs) if p.language == language]
        languages[language] = compute_metrics([ranks[i] for i in chosen], [latencies[i] for i in chosen])
    return RunResult(
        embedder=embedder.provider,
        model=embedder.model_id,
        dimensions=embedder.dimensions,
        mode=mode,
        lexical_weight=weight,
        overall=compute_metrics(ranks, latencies),
        languages=languages,
        degraded=degraded,
        ranks=ranks,
    )


def forget_cached_queries(embedder: Embedder) -> None:
    """Empty the embedder's query-vector cache, so a timed search pays for embedding its
    query as a new query would: each mode and weight searches the same queries again."""
    embedder.forget_queries()


# --- the table ----------------------------------------------------------------------------


def format_report(report: EvalReport) -> str:
    """The results as plain-text tables: overall, then per language when there are several."""
    lines = [
        f"workspace  {report.workspace}",
        f"queries    {report.pairs} of {report.pairs_available} usable documented functions"
        + (f" (sampled, seed {report.seed})" if report.pairs < report.pairs_available else "")
        + f"; {report.documented_functions} documented functions in {report.files} files",
        "           " + ", ".join(f"{lang} {n}" for lang, n in report.pairs_by_language.items()),
    ]
    if report.settings:
        lines.append("settings   " + ", ".join(f"{k}={v}" for k, v in report.settings.items()))
    for index in report.indexes:
        if index.chunks:
            cached = index.chunks - index.chunks_embedded
            lines.append(
                f"index      {index.model} ({index.dimensions} dims): {index.files} files, "
                f"{index.chunks} chunks in {index.seconds:.1f}s"
                + (f" ({cached} vectors from the cache)" if cached > 0 else "")
            )
        if index.functions:
            lines.append(
                f"baseline   {index.model}: {index.functions} functions, one vector each, "
                f"in {index.functions_seconds:.1f}s"
            )
    lines.append("")
    header = ["model", "mode", "queries", "R@1", "R@5", "R@10", "MRR", "mean ms", "p50 ms", "p95 ms"]
    timed = report.latency_measured
    rows = [_row(result.model, result.label, result.overall, timed) for result in report.results]
    lines.extend(_table(header, rows))
    degraded = sum(r.degraded for r in report.results)
    if degraded:
        lines.append(f"\nwarning: {degraded} searches fell back to full-text (the embedder failed)")
    if len(report.pairs_by_language) > 1:
        lines.append("")
        rows = [
            [language, *_row(result.model, result.label, metrics, timed)]
            for result in report.results
            for language, metrics in result.languages.items()
        ]
        lines.extend(_table(["language", *header], rows))
    return "\n".join(lines)


def _row(model: str, label: str, m: Metrics, timed: bool = True) -> list[str]:
    latency = (
        [f"{m.latency_ms_mean:.1f}", f"{m.latency_ms_p50:.1f}", f"{m.latency_ms_p95:.1f}"]
        if timed
        else ["-"] * 3
    )
    return [
        model,
        label,
        str(m.queries),
        f"{m.recall_at_1:.3f}",
        f"{m.recall_at_5:.3f}",
        f"{m.recall_at_10:.3f}",
        f"{m.mrr:.3f}",
        *latency,
    ]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    numeric = {i for i, h in enumerate(header) if h not in ("model", "mode", "language")}

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]
