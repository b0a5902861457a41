"""Query -> hits: dense and full-text retrieval, fused, filtered, merged.

Hybrid fusion is a weighted sum of each list's normalised score, not equal-weight
reciprocal rank fusion: RRF gives a lexical-only match at rank 1 as much credit as the
dense winner, and on docstring-style queries (where the words rarely appear in the code)
that demotes the right answer. Dense similarity leads; BM25, normalised by the best
lexical score, adds a bounded bonus, so an exact identifier match still rises.
The weight was tuned with `codeseek eval` on several code bases (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import numpy as np
import pathspec

from codeseek.chunking.languages import SUPPORTED_LANGUAGES, TEXT
from codeseek.embedding.base import Embedder
from codeseek.errors import EmbedderError, EmbedderUnavailable, RerankerError, UsageError
from codeseek.model import Hit
from codeseek.store.schema import StoredChunk, sql_in

if TYPE_CHECKING:  # the reranker module pulls in HTTP clients: only when one is used
    from codeseek.embedding.rerank import Reranker

log = logging.getLogger(__name__)
T = TypeVar("T")

MODES = ("hybrid", "semantic", "lexical")
# How much of a hybrid score the lexical side may contribute (0..1).
LEXICAL_WEIGHT = 0.25
# Candidates fetched from each retriever per requested hit, before fusion and merging.
OVERFETCH = 5
# Path filters with at most this many matching files are pushed into the query.
MAX_PREFILTER_PATHS = 2000
PREVIEW_CHARS = 160


@dataclass
class SearchRequest:
    query: str
    limit: int = 10
    mode: str = "hybrid"
    languages: Sequence[str] = ()
    include: Sequence[str] = ()  # globs, gitignore syntax, relative to the workspace root
    exclude: Sequence[str] = ()


KNOWN_LANGUAGES = (*SUPPORTED_LANGUAGES, TEXT)


@dataclass
class SearchResult:
    hits: list[Hit]
    mode: str  # the mode actually used
    degraded: str | None = None  # why the requested mode could not be honoured (or not reranked)
    dense_percent: int = 100  # how much of the index has its vectors yet
    reranked: bool = False  # the second stage reordered the top candidates


def check_request(request: SearchRequest) -> None:
    """A request's values, checked before any work: an unknown mode or language, or a
    glob that does not parse, is the user's to fix (UsageError naming the value)."""
    if request.mode not in MODES:
        raise UsageError(f"unknown search mode {request.mode!r}; modes are {', '.join(MODES)}", "mode")
    unknown = [lang for lang in request.languages if lang.lower() not in KNOWN_LANGUAGES]
    if unknown:
        raise UsageError(
            f"unknown language {unknown[0]!r}; known languages are {', '.join(KNOWN_LANGUAGES)}", "languages"
        )
    for name, globs in (("include", request.include), ("exclude", request.exclude)):
        for glob in globs:
            try:
                pathspec.GitIgnoreSpec.from_lines([glob])
            except (ValueError, TypeError) as exc:
                raise UsageError(f"bad glob {glob!r}: {exc}", name) from None


_COMMENT_PREFIXES = ("//", "#", "/*", "*", "--", ";", '"""', "'''", "<!--")


def preview_of(text: str, symbol: str | None, language: str | None = None) -> str:
    """One line that identifies the chunk: its definition line when the symbol is
    known, else the first line with code on it (doc comments and decorators skipped)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return ""
    if language in ("markdown", "text"):
        code = lines  # a heading is the best preview of a section
    else:
        code = [ln for ln in lines if not ln.startswith(_COMMENT_PREFIXES) and not ln.startswith("@")]
    line = (code or lines)[0]
    if symbol:
        name = symbol.rsplit(".", 1)[-1]
        line = next((ln for ln in code if name in ln), line)
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


def to_hit(chunk: StoredChunk, score: float) -> Hit:
    return Hit(
        path=chunk.path,
        start_line=chunk.start_line,
        end_line=chunk.end_line,
        score=round(float(score), 4),
        language=chunk.language,
        symbol=chunk.symbol,
        kind=chunk.kind,
        preview=preview_of(chunk.text, chunk.symbol, chunk.language),
    )


def fuse(
    dense: Sequence[StoredChunk], lexical: Sequence[StoredChunk], lexical_weight: float = LEXICAL_WEIGHT
) -> list[tuple[StoredChunk, float]]:
    """Weighted sum of dense cosine similarity and max-normalised BM25."""
    by_id: dict[str, StoredChunk] = {}
    dense_score: dict[str, float] = {}
    lexical_score: dict[str, float] = {}
    for c in dense:
        by_id.setdefault(c.id, c)
        dense_score[c.id] = max(0.0, c.score)
    best = max((c.score for c in lexical), default=0.0)
    for c in lexical:
        by_id.setdefault(c.id, c)
        lexical_score[c.id] = c.score / best if best > 0 else 0.0
    # A chunk found only lexically has no dense similarity at hand; the weakest dense
    # score retrieved is a fair (slightly generous) stand-in.
    floor = min(dense_score.values(), default=0.0)
    fused = [
        (
            chunk,
            (1 - lexical_weight) * dense_score.get(cid, floor) + lexical_weight * lexical_score.get(cid, 0.0),
        )
        for cid, chunk in by_id.items()
    ]
    fused.sort(key=lambda pair: pair[1], reverse=True)
    return fused


def merge_adjacent(ranked: Sequence[tuple[StoredChunk, float]]) -> list[tuple[StoredChunk, float]]:
    """Pieces of one definition (an oversized function split in parts) that both rank
    become one hit spanning them, at the better score; overlapping chunks likewise."""
    kept: list[tuple[StoredChunk, float]] = []
    for chunk, score in ranked:
        for i, (other, other_score) in enumerate(kept):
            if other.path != chunk.path:
                continue
            overlaps = chunk.start_line <= other.end_line and other.start_line <= chunk.end_line
            adjacent = chunk.start_line == other.end_line + 1 or other.start_line == chunk.end_line + 1
            if overlaps or (adjacent and chunk.symbol and chunk.symbol == other.symbol):
                first, second = (other, chunk) if other.start_line <= chunk.start_line else (chunk, other)
                merged = StoredChunk(
                    id=other.id,
                    path=other.path,
                    language=other.language,
                    symbol=other.symbol or chunk.symbol,
                    kind=other.kind or chunk.kind,
                    start_line=min(other.start_line, chunk.start_line),
                    end_line=max(other.end_line, chunk.end_line),
                    text=first.text if overlaps else first.text + "\n" + second.text,
                    score=other_score,
                )
                kept[i] = (merged, max(other_score, score))
                break
        else:
            kept.append((chunk, score))
    return kept


class PathFilter:
    """include/exclude globs (gitignore syntax) over workspace-relative paths."""

    def __init__(self, include: Sequence[str], exclude: Sequence[str]) -> None:
        self._include = pathspec.GitIgnoreSpec.from_lines(include) if include else None
        self._exclude = pathspec.GitIgnoreSpec.from_lines(exclude) if exclude else None

    @property
    def active(self) -> bool:
        return self._include is not None or self._exclude is not None

    def __call__(self, path: str) -> bool:
        if self._include is not None and not self._include.match_file(path):
            return False
        return not (self._exclude is not None and self._exclude.match_file(path))


class _Background(Generic[T]):
    """Runs one call on a short-lived thread; `result()` joins it and re-raises."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="codeseek-lexical", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class ChunkSource(Protocol):
    """Where a Searcher finds chunks: one index (store.lance.IndexStore), or a shared team
    index under a local overlay (team.TeamSource). Scores: cosine similarity (vector) and
    BM25 (text), as the Searcher fuses them."""

    def vector_search(
        self, vector: np.ndarray, limit: int, where: str | None = None
    ) -> list[StoredChunk]: ...

    def text_search(self, text: str, limit: int, where: str | None = None) -> list[StoredChunk]: ...

    def all_paths(self) -> list[str]: ...

    def chunk_at(self, path: str, line: int) -> tuple[StoredChunk, np.ndarray | None] | None: ...


class Searcher:
    """Searches one folder's chunks (one index, or a team index with its overlay). Without
    an embedder (`unavailable` says why: the model is loading, the server is down) it
    answers with full-text results."""

    def __init__(
        self,
        store: ChunkSource,
        embedder: Embedder | None,
        unavailable: str | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.unavailable = unavailable
        self.reranker = reranker
        self.lexical_weight = LEXICAL_WEIGHT

    def search(self, request: SearchRequest) -> SearchResult:
        check_request(request)
        limit = max(1, request.limit)
        path_filter = PathFilter(request.include, request.exclude)
        where, post_filter = self._where(request.languages, path_filter)
        fetch = limit * OVERFETCH * (4 if post_filter else 1)
        if self.reranker is not None:
            fetch = max(fetch, self.reranker.candidates * 2)
        mode, degraded = request.mode, None
        # In hybrid mode the full-text query runs beside the query embedding and the
        # vector search: it then costs nothing on top (at 100,000 chunks, 5 ms of a
        # 38 ms sequential search). LanceDB and torch release the GIL while they work.
        lexical_job: _Background[list[StoredChunk]] | None = None
        if mode == "hybrid":
            lexical_job = _Background(lambda: self.store.text_search(request.query, fetch, where))
        dense: list[StoredChunk] = []
        if mode in ("semantic", "hybrid"):
            try:
                if self.embedder is None:
                    raise EmbedderUnavailable(self.unavailable or "no embedding model is loaded")
                vector = self.embedder.embed_query(request.query)
                dense = self.store.vector_search(vector, fetch, where)
            except EmbedderError as exc:
                # The model is down (a dead SGLang server, no network for Voyage):
                # full-text results are better than none, and the result says so.
                degraded = f"semantic search unavailable ({exc}); showing full-text results"
                log.warning("%s", degraded)
                mode = "lexical"
        lexical: list[StoredChunk] = []
        if lexical_job is not None:
            lexical = lexical_job.result()
        elif mode == "lexical":
            lexical = self.store.text_search(request.query, fetch, where)
        if mode == "semantic":
            ranked = [(c, c.score) for c in dense]
        elif mode == "lexical":
            best = max((c.score for c in lexical), default=1.0) or 1.0
            ranked = [(c, c.score / best) for c in lexical]
        else:
            ranked = fuse(dense, lexical, self.lexical_weight)
        if post_filter is not None:
            ranked = [(c, s) for c, s in ranked if post_filter(c.path)]
        merged = merge_adjacent(ranked)
        reranked = False
        if self.reranker is not None and merged:
            merged, note = self._rerank(request.query, merged)
            reranked = note is None
            if note:
                degraded = f"{degraded}; {note}" if degraded else note
        return SearchResult([to_hit(c, s) for c, s in merged[:limit]], mode, degraded, reranked=reranked)

    def _rerank(
        self, query: str, ranked: list[tuple[StoredChunk, float]]
    ) -> tuple[list[tuple[StoredChunk, float]], str | None]:
        """The top candidates in the reranker's order (its scores), the rest after them;
        when the reranker is down or over its budget, the first-stage order and why."""
        assert self.reranker is not None
        top, rest = ranked[: self.reranker.candidates], ranked[self.reranker.candidates :]
        try:
            scores = self.reranker.rerank(query, [c.text for c, _ in top])
        except RerankerError as exc:
            log.warning("not reranked: %s", exc)
            return ranked, f"not reranked ({exc}); showing first-stage order"
        order = sorted(range(len(top)), key=lambda i: scores[i], reverse=True)
        return [(top[i][0], scores[i]) for i in order] + rest, None

    def related(self, path: str, line: int, limit: int = 5) -> list[Hit]:
        """Code most similar to the chunk holding `path:line`, that chunk itself excluded."""
        found = self.store.chunk_at(path, line)
        if found is None:
            return []
        chunk, vector = found
        if vector is None or not np.any(vector):
            return []  # not embedded yet, or nothing to compare (an import block)
        candidates = self.store.vector_search(vector, (limit + 1) * OVERFETCH)
        ranked = [
            (c, c.score)
            for c in candidates
            if c.id != chunk.id
            and not (
                c.path == chunk.path and c.start_line <= chunk.end_line and chunk.start_line <= c.end_line
            )
        ]
        return [to_hit(c, s) for c, s in merge_adjacent(ranked)[:limit]]

    def _where(
        self, languages: Sequence[str], path_filter: PathFilter
    ) -> tuple[str | None, PathFilter | None]:
        clauses = []
        if languages:
            clauses.append(sql_in("language", [lang.lower() for lang in languages]))
        post: PathFilter | None = None
        if path_filter.active:
            matching = [p for p in self.store.all_paths() if path_filter(p)]
            if len(matching) <= MAX_PREFILTER_PATHS:
                clauses.append(sql_in("path", matching) if matching else "false")
            else:
                post = path_filter
        return (" AND ".join(f"({c})" for c in clauses) or None), post
