"""Query -> hits: dense and full-text retrieval, fused, filtered, merged.

Hybrid fusion is a weighted sum of each list's normalised score, not equal-weight
reciprocal rank fusion: RRF gives a lexical-only match at rank 1 as much credit as the
dense winner, and on docstring-style queries (where the words rarely appear in the code)
that demotes the right answer. Dense similarity leads; BM25, normalised by the best
lexical score, adds a bounded bonus, so an exact identifier match still rises. The
lexical side scores the text and, weighted more, the definitions' names, and its weight
follows the two retrievers' agreement: where their top lists share no chunk, the
query's words matched only incidental code, and BM25 counts for half as much; where
they hold the same chunks, for twice as much.

Then the result list is shaped as users judge it: a definition is one hit (its pieces
collapsed, its signature as the preview); a block of statements counts less than a
definition; the definition an identifier-shaped query names comes first; a declaration
(stub, typing, prototype) is folded into its implementation's hit; import blocks never
lead unless the query names what they import. The weights were chosen with `codeseek
eval`, leave-one-corpus-out, on code bases nobody tuned for (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import numpy as np
import pathspec

from codeseek.chunking.languages import SUPPORTED_LANGUAGES, TEXT
from codeseek.embedding.base import Embedder
from codeseek.errors import EmbedderError, EmbedderUnavailable, RerankerError, UsageError
from codeseek.model import Hit, Span
from codeseek.store.lance import FTS_COLUMN, NAMES_COLUMN
from codeseek.store.schema import StoredChunk, sql_in

if TYPE_CHECKING:  # the reranker module pulls in HTTP clients: only when one is used
    from codeseek.embedding.rerank import Reranker

log = logging.getLogger(__name__)
T = TypeVar("T")

MODES = ("hybrid", "semantic", "lexical")
# The ranking's weights, chosen leave-one-corpus-out on twelve code bases in six
# languages (`benchmarks/loo.py`; docs/benchmarks.md, "Ranking (issue 12)"): with each
# corpus held out, the other eleven chose these in 11 of 12 cases, and the lexical and
# agreement weights in 12 of 12. With schema 6's chunks, w=0.2 hi=2 and w=0.25 hi=1.5
# tie in-sample (0.668; "Qualified names in words"), and these stay.
# How much of a hybrid score the lexical side may contribute (0..1), before the
# agreement of the two retrievers scales it (below).
LEXICAL_WEIGHT = 0.2
# The lexical weight is scaled by how far the two retrievers agree: from AGREEMENT_LOW
# times it when the full-text top AGREEMENT_TOP shares no chunk with the dense top
# AGREEMENT_TOP, to AGREEMENT_HIGH times it when they are the same chunks. Where they
# agree, the query's words are the code's (a name, an API's vocabulary) and BM25 is good
# evidence; where they do not, the words matched are incidental (`iterable`, `return`
# in a docstring-style query) and max-normalised BM25 would hand its noise a full share.
# Chosen leave-one-corpus-out with the lexical weight (all 12 folds chose 0.2, 0.5 and 2;
# docs/benchmarks.md, "Fusion by agreement").
AGREEMENT_TOP = 10
AGREEMENT_LOW = 0.5
AGREEMENT_HIGH = 2.0
# How much a match in a definition's name counts against one in its text, on the
# lexical side.
NAMES_WEIGHT = 2.0
# What a chunk that is not a function or method (a block of statements, imports, a
# type's header and fields, a Markdown section) keeps of its score: a function of the
# same relevance is what users look for.
BLOCK_WEIGHT = 0.7
# What a later piece of a function cut in pieces keeps of its score: the head (the
# signature and the first lines) says what the function does; a later piece's loop or
# error handling also matches queries about other code. Chosen leave-one-corpus-out with
# the lexical weight (0.9 in 10 of 12 folds): semantic MRR 0.555 -> 0.560, five corpora
# below the one-vector-per-function baseline -> three, hybrid unchanged within 0.003.
PIECE_WEIGHT = 0.9
IMPORTS = "imports"  # the kind of an import-only block (chunking/chunker.py)
CODE_KINDS = frozenset({"function", "method"})
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
    """A chunk as a hit: its definition's lines and signature when it is (part of) one."""
    start, end = chunk.definition_lines
    return Hit(
        path=chunk.path,
        start_line=start,
        end_line=end,
        score=round(float(score), 4),
        language=chunk.language,
        symbol=chunk.symbol,
        kind=chunk.kind,
        preview=_clip(chunk.signature)
        if chunk.signature
        else preview_of(chunk.text, chunk.symbol, chunk.language),
    )


def _clip(line: str) -> str:
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


def fuse(
    dense: Sequence[StoredChunk],
    lexical: Sequence[StoredChunk],
    lexical_weight: float = LEXICAL_WEIGHT,
    names: Sequence[StoredChunk] = (),
    names_weight: float = NAMES_WEIGHT,
    agreement: tuple[float, float] = (AGREEMENT_LOW, AGREEMENT_HIGH),
) -> list[tuple[StoredChunk, float]]:
    """Weighted sum of dense cosine similarity and the lexical score (BM25 over the
    text, plus `names_weight` times BM25 over the definitions' names, max-normalised).
    The lexical side's weight is `lexical_weight` scaled by the retrievers' agreement
    (`fusion_weight`)."""
    by_id: dict[str, StoredChunk] = {}
    dense_score: dict[str, float] = {}
    for c in dense:
        by_id.setdefault(c.id, c)
        dense_score[c.id] = max(0.0, c.score)
    lexical_score = lexical_scores(lexical, names, names_weight)
    lexical_weight = fusion_weight(lexical_weight, dense_score, lexical_score, *agreement)
    for c in (*lexical, *names):
        by_id.setdefault(c.id, c)
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


def fusion_weight(
    lexical_weight: float,
    dense_score: dict[str, float],
    lexical_score: dict[str, float],
    low: float = AGREEMENT_LOW,
    high: float = AGREEMENT_HIGH,
) -> float:
    """The lexical weight for one query: `lexical_weight` times `low` when the two
    retrievers' top AGREEMENT_TOP chunks are disjoint, up to times `high` when they are
    the same (linear in the shared share, never more than 0.9)."""
    if not dense_score or not lexical_score:
        return lexical_weight  # one side found nothing: nothing to agree on
    dense_top = sorted(dense_score, key=dense_score.__getitem__, reverse=True)[:AGREEMENT_TOP]
    lexical_top = sorted(lexical_score, key=lexical_score.__getitem__, reverse=True)[:AGREEMENT_TOP]
    shared = len(set(dense_top) & set(lexical_top)) / min(len(dense_top), len(lexical_top))
    return min(0.9, lexical_weight * (low + (high - low) * shared))


def lexical_scores(
    lexical: Sequence[StoredChunk], names: Sequence[StoredChunk], names_weight: float
) -> dict[str, float]:
    """BM25 over the text plus `names_weight` times BM25 over the names, per chunk id,
    divided by the best: a definition whose name the query spells gains on one that
    only mentions the words somewhere in its body."""
    raw: dict[str, float] = {}
    for c in lexical:
        raw[c.id] = raw.get(c.id, 0.0) + c.score
    for c in names:
        raw[c.id] = raw.get(c.id, 0.0) + names_weight * c.score
    best = max(raw.values(), default=0.0)
    return {cid: (score / best if best > 0 else 0.0) for cid, score in raw.items()}


# An identifier-shaped query: `parseDuration`, `wrap_text`, `Foo.bar`, `fmt::Display`.
_IDENTIFIER_QUERY = re.compile(r"^[A-Za-z_$][\w$]*(?:(?:\.|::|#)[A-Za-z_$][\w$]*)*$")
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words of import statements that name no module.
_IMPORT_KEYWORDS = frozenset(
    [
        "import",
        "from",
        "as",
        "require",
        "const",
        "let",
        "var",
        "use",
        "include",
        "using",
        "package",
        "extern",
        "crate",
        "static",
        "type",
    ]
)


def is_code_definition(chunk: StoredChunk) -> bool:
    """Whether a chunk is (part of) a function or method: what a query about behaviour is
    after. Blocks of statements, imports, Markdown sections, text windows and the rest of
    a type (a class's header and fields, a struct, an impl block) weigh less."""
    return bool(chunk.symbol) and chunk.kind in CODE_KINDS


def named_definition(query: str, chunk: StoredChunk) -> bool:
    """Whether an identifier-shaped query is the name of the definition the chunk is
    (part of): `load`, `JsonStore.load` or `jsonstore.load` for `JsonStore.load`."""
    query = query.strip()
    if not chunk.symbol or not _IDENTIFIER_QUERY.match(query):
        return False
    wanted = query.replace("::", ".").replace("#", ".").lower()
    symbol = chunk.symbol.lower()
    return symbol == wanted or symbol.endswith("." + wanted)


_COMPOUND = re.compile(r"[_.$#:]|[a-z][A-Z]")


def mentions_identifier(query: str, chunk: StoredChunk) -> bool:
    """Whether a compound identifier-shaped query (`STRIPE_SECRET_KEY`, `parseDuration`,
    `Foo.bar`; not a plain word, which would lift every chunk that uses it) appears as a
    whole in the chunk's code: where a constant or a setting of that name is."""
    query = query.strip()
    if not _IDENTIFIER_QUERY.match(query) or not _COMPOUND.search(query):
        return False
    return re.search(rf"(?<![\w$]){re.escape(query)}(?![\w$])", chunk.text) is not None


def names_a_module(query: str, chunk: StoredChunk) -> bool:
    """Whether the query names one of the modules an import block imports."""
    imported = {w.lower() for w in _WORDS.findall(chunk.text)} - _IMPORT_KEYWORDS
    return any(w.lower() in imported for w in _WORDS.findall(query))


@dataclass
class _Entry:
    """One definition (or block) in a result list: its best chunk and score."""

    chunk: StoredChunk
    score: float
    declared: list[Span] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.chunk.path, *self.chunk.definition_lines)


def collapse(ranked: Sequence[tuple[StoredChunk, float]]) -> list[_Entry]:
    """One entry per definition: pieces of one split function (adjacent or not) become
    one, at the best piece's score. Input and output are best first."""
    entries: dict[tuple[str, int, int], _Entry] = {}
    for chunk, score in ranked:
        entry = _Entry(chunk, score)
        if entry.key not in entries:
            entries[entry.key] = entry
    return sorted(entries.values(), key=lambda e: e.score, reverse=True)


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    for suffix in (".d.ts", ".d.mts", ".d.cts"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name.rsplit(".", 1)[0]


def _implementation(declaration: StoredChunk, candidates: Sequence[StoredChunk]) -> StoredChunk | None:
    """The implementation of a declaration's symbol among `candidates` (best first): one
    in a file of the same name (`more.pyi` -> `more.py`) when there is one."""
    same = [c for c in candidates if not c.declaration and c.symbol == declaration.symbol]
    if not same:
        return None
    stem = _stem(declaration.path)
    return next((c for c in same if _stem(c.path) == stem), same[0])


def fold_declarations(
    entries: list[_Entry], lookup: Callable[[list[str]], list[StoredChunk]], window: int
) -> list[_Entry]:
    """A declaration never outranks the implementation of its symbol: among the first
    `window` entries, each declaration is folded into its implementation's entry (which
    takes the better score and lists where else it is declared). The implementation is
    found among the entries, else by `lookup` (the store, by symbol); a declaration with
    no implementation anywhere (a stub-only package) keeps its place."""
    wanted = [e.chunk.symbol for e in entries[:window] if e.chunk.declaration and e.chunk.symbol]
    if not wanted:
        return entries
    found = lookup(sorted(set(wanted)))
    out = list(entries)
    for entry in entries[:window]:
        chunk = entry.chunk
        if not chunk.declaration or not chunk.symbol:
            continue
        impl = _implementation(chunk, [e.chunk for e in out if e is not entry])
        if impl is None:
            impl = _implementation(chunk, found)
        if impl is None:
            continue
        target = next((e for e in out if e.key == (impl.path, *impl.definition_lines)), None)
        if target is None:
            target = _Entry(impl, entry.score)
            out.append(target)
        target.score = max(target.score, entry.score)
        target.declared.append(Span(chunk.path, *chunk.definition_lines))
        target.declared.extend(entry.declared)
        out.remove(entry)
    out.sort(key=lambda e: e.score, reverse=True)
    return out


def demote_imports(entries: list[_Entry], query: str) -> list[_Entry]:
    """Import blocks go after everything else unless the query names a module they import."""
    kept = [e for e in entries if e.chunk.kind != IMPORTS or names_a_module(query, e.chunk)]
    return kept + [e for e in entries if e.chunk.kind == IMPORTS and e not in kept]


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

    def text_search(
        self, text: str, limit: int, where: str | None = None, column: str = FTS_COLUMN
    ) -> list[StoredChunk]: ...

    def definitions_named(self, symbols: Sequence[str], where: str | None = None) -> list[StoredChunk]: ...

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
        # The ranking's weights (docs/benchmarks.md: chosen leave-one-corpus-out); eval
        # sets them to measure others.
        self.lexical_weight = LEXICAL_WEIGHT
        self.names_weight = NAMES_WEIGHT
        self.block_weight = BLOCK_WEIGHT
        self.piece_weight = PIECE_WEIGHT
        self.agreement_low = AGREEMENT_LOW
        self.agreement_high = AGREEMENT_HIGH

    def search(self, request: SearchRequest) -> SearchResult:
        check_request(request)
        limit = max(1, request.limit)
        path_filter = PathFilter(request.include, request.exclude)
        where, post_filter = self._where(request.languages, path_filter)
        fetch = limit * OVERFETCH * (4 if post_filter else 1)
        if self.reranker is not None:
            fetch = max(fetch, self.reranker.candidates * 2)
        mode, degraded = request.mode, None
        query = request.query

        # In hybrid mode the full-text queries run beside the query embedding and the
        # vector search: they then cost nothing on top (at 100,000 chunks, 5 ms of a
        # 38 ms sequential search). LanceDB and torch release the GIL while they work.
        def full_text() -> tuple[list[StoredChunk], list[StoredChunk]]:
            return (
                self.store.text_search(query, fetch, where),
                self.store.text_search(query, fetch, where, column=NAMES_COLUMN),
            )

        lexical_job: _Background[tuple[list[StoredChunk], list[StoredChunk]]] | None = None
        if mode == "hybrid":
            lexical_job = _Background(full_text)
        dense: list[StoredChunk] = []
        if mode in ("semantic", "hybrid"):
            try:
                if self.embedder is None:
                    raise EmbedderUnavailable(self.unavailable or "no embedding model is loaded")
                vector = self.embedder.embed_query(query)
                dense = self.store.vector_search(vector, fetch, where)
            except EmbedderError as exc:
                # The model is down (a dead SGLang server, no network for Voyage):
                # full-text results are better than none, and the result says so.
                degraded = f"semantic search unavailable ({exc}); showing full-text results"
                log.warning("%s", degraded)
                mode = "lexical"
        lexical: list[StoredChunk] = []
        names: list[StoredChunk] = []
        if lexical_job is not None:
            lexical, names = lexical_job.result()
        elif mode == "lexical":
            lexical, names = full_text()
        if mode == "semantic":
            ranked = [(c, c.score) for c in dense]
        elif mode == "lexical":
            scores = lexical_scores(lexical, names, self.names_weight)
            seen = {c.id: c for c in (*lexical, *names)}
            ranked = sorted(((seen[i], s) for i, s in scores.items()), key=lambda p: p[1], reverse=True)
        else:
            ranked = fuse(
                dense,
                lexical,
                self.lexical_weight,
                names,
                self.names_weight,
                (self.agreement_low, self.agreement_high),
            )
        if post_filter is not None:
            ranked = [(c, s) for c, s in ranked if post_filter(c.path)]
        merged = self._rank(query, ranked, mode, limit, where, post_filter)
        reranked = False
        if self.reranker is not None and merged:
            merged, note = self._rerank(query, merged)
            reranked = note is None
            if note:
                degraded = f"{degraded}; {note}" if degraded else note
        return SearchResult([self._hit(e) for e in merged[:limit]], mode, degraded, reranked=reranked)

    def _rank(
        self,
        query: str,
        ranked: list[tuple[StoredChunk, float]],
        mode: str,
        limit: int,
        where: str | None,
        post_filter: PathFilter | None,
    ) -> list[_Entry]:
        """Scores per chunk to a result list that ranks definitions as users expect:
        blocks weigh less than definitions, the definition an identifier-shaped query
        names comes first (not in semantic mode, which ranks by meaning alone), one
        entry per definition, declarations folded into their implementations, import
        blocks last unless the query names what they import."""
        weighted = []
        for chunk, score in ranked:
            if chunk.def_start and chunk.start_line > chunk.def_start:
                score *= self.piece_weight  # a later piece of a function cut in pieces
            named = mode != "semantic" and named_definition(query, chunk)
            # `STRIPE_SECRET_KEY` set in a block of constants: above every chunk that only
            # shares its words, below the definition of that name.
            mentioned = not named and mode != "semantic" and mentions_identifier(query, chunk)
            if not is_code_definition(chunk) and not mentioned:
                score *= self.block_weight
            if named:
                score += 2.0  # fusion gives at most 1: above everything else
            elif mentioned:
                score += 1.0
            weighted.append((chunk, score))
        weighted.sort(key=lambda pair: pair[1], reverse=True)

        def lookup(symbols: list[str]) -> list[StoredChunk]:
            found = self.store.definitions_named(symbols, where)
            return [c for c in found if post_filter is None or post_filter(c.path)]

        entries = fold_declarations(collapse(weighted), lookup, window=max(limit * 2, 20))
        return demote_imports(entries, query)

    @staticmethod
    def _hit(entry: _Entry) -> Hit:
        hit = to_hit(entry.chunk, entry.score)
        hit.also_declared_in = sorted(set(entry.declared), key=lambda s: (s.path, s.start_line))
        return hit

    def _rerank(self, query: str, ranked: list[_Entry]) -> tuple[list[_Entry], str | None]:
        """The top candidates in the reranker's order (its scores), the rest after them;
        when the reranker is down or over its budget, the first-stage order and why."""
        assert self.reranker is not None
        top, rest = ranked[: self.reranker.candidates], ranked[self.reranker.candidates :]
        try:
            scores = self.reranker.rerank(query, [e.chunk.text for e in top])
        except RerankerError as exc:
            log.warning("not reranked: %s", exc)
            return ranked, f"not reranked ({exc}); showing first-stage order"
        order = sorted(range(len(top)), key=lambda i: scores[i], reverse=True)
        reordered = []
        for i in order:
            top[i].score = scores[i]
            reordered.append(top[i])
        return reordered + rest, None

    def related(self, path: str, line: int, limit: int = 5) -> list[Hit]:
        """Code most similar to the chunk holding `path:line`: neither the definition
        that chunk is (part of), nor declarations of the same symbol, nor import blocks;
        one row per definition, declarations folded into their implementations."""
        found = self.store.chunk_at(path, line)
        if found is None:
            return []
        chunk, vector = found
        if vector is None or not np.any(vector):
            return []  # not embedded yet, or nothing to compare (an import block)
        first, last = chunk.definition_lines

        def in_own_definition(c: StoredChunk, start: int, end: int) -> bool:
            return c.path == chunk.path and start <= last and first <= end

        candidates = self.store.vector_search(vector, (limit + 1) * OVERFETCH * 2)
        ranked = [
            (c, c.score * (1.0 if is_code_definition(c) else self.block_weight))
            for c in candidates
            if c.id != chunk.id
            and c.kind != IMPORTS
            and not in_own_definition(c, c.start_line, c.end_line)
            and not (chunk.symbol and c.symbol == chunk.symbol and (c.declaration or chunk.declaration))
        ]
        ranked.sort(key=lambda pair: pair[1], reverse=True)
        entries = fold_declarations(collapse(ranked), self.store.definitions_named, window=max(limit * 2, 20))
        # An implementation the fold looked up in the store may be the chunk's own.
        return [self._hit(e) for e in entries if not in_own_definition(e.chunk, *e.chunk.definition_lines)][
            :limit
        ]

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
