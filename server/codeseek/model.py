"""Plain data shared by every stage of the pipeline: what a chunk is, what a hit is, what
state an index is in."""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

_IDENT_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def split_identifier(name: str) -> list[str]:
    """An identifier's words, lowercased: `loadJsonFile`, `load_json_file` and
    `LoadJSONFile` -> load, json, file."""
    return [part.lower() for part in _IDENT_PART.findall(name)]


# What `Chunk.embed_text` is made of; part of every content key, so a change to it misses
# the vector cache instead of reusing vectors of another text. b"": path, context, code
# (schema 3 and older); b"2": context and code.
EMBED_FORMAT = b"2\x00"


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of one file that is embedded and searched as a unit.

    `text` is exactly the file's lines `start_line..end_line` (1-based, inclusive);
    `context` is what the embedder sees before the text: for a whole function or method,
    the names of what encloses it and its own, in words (`session get`); for the head of
    a function cut in pieces, its name in words and then the enclosing signatures (class
    header, impl line, ...); for other pieces and definitions, the enclosing signatures.
    `embed_text` is what is sent to the model.

    A definition too long for one chunk is split in pieces; every piece carries the whole
    definition's lines (`def_start..def_end`), so search can return the definition once.
    """

    path: str  # relative to the workspace root, forward slashes
    language: str
    start_line: int
    end_line: int
    text: str
    symbol: str | None = None  # qualified name, e.g. "JsonStore.load"
    kind: str | None = None  # function, method, class, ...
    context: str = ""  # names in words and/or enclosing signatures, one per line
    signature: str | None = None  # the definition's own first line, the hit's preview
    def_start: int = 0  # lines of the whole definition this chunk belongs to; 0: the chunk's own
    def_end: int = 0
    declaration: bool = False  # a declaration only (a stub, a prototype, an abstract method)
    dense: bool = True  # worth a vector: False for import blocks and trivial pieces

    @property
    def embed_text(self) -> str:
        """The enclosing signatures followed by the code. Not the path: without a `# path`
        line first, held-out semantic MRR rose on eight of twelve corpora and hybrid MRR on
        ten (docs/benchmarks.md, "Ranking (issue 12)"); the path's words count through
        the full-text side."""
        if self.context:
            return self.context.rstrip("\n") + "\n" + self.text
        return self.text

    @property
    def content_key(self) -> str:
        """Key of the vector cache: the embedded content, so a renamed or moved file, or
        a branch switched away from and back, re-uses its vectors. The format tag keeps
        vectors of an older embedded text (schema 3 embedded the path too) from being
        taken for ones of this text."""
        h = hashlib.blake2b(digest_size=16)
        h.update(EMBED_FORMAT)
        h.update(self.context.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
        h.update(self.text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    @property
    def definition_lines(self) -> tuple[int, int]:
        """The whole definition's lines (the chunk's own when it is not a piece)."""
        if self.def_start and self.def_end:
            return self.def_start, self.def_end
        return self.start_line, self.end_line


@dataclass(frozen=True, slots=True)
class Span:
    """Lines of one file (1-based, inclusive): where a declaration of a hit's symbol is."""

    path: str
    start_line: int
    end_line: int


@dataclass(slots=True)
class Hit:
    """One search result, as the CLI prints it (`--json`) and the LSP layer converts it.

    A definition is one hit: its whole lines, however many chunks it was cut into, and
    its signature as the preview. Declarations of the same symbol without code (a `.pyi`
    stub, a `.d.ts` typing, a prototype) are folded into it as `also_declared_in`."""

    path: str
    start_line: int
    end_line: int
    score: float
    language: str
    symbol: str | None
    kind: str | None
    preview: str
    also_declared_in: list[Span] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.also_declared_in:
            del data["also_declared_in"]  # only where there is one: most hits have none
        return data


class SkipReason(str, enum.Enum):
    """Why a file is not indexed. The value is what a user reads."""

    SECRET = "secret (never indexed)"
    BINARY = "binary"
    MINIFIED = "minified"
    SOURCE_MAP = "source map"
    GENERATED = "generated"
    NOT_TEXT = "not UTF-8 text"
    OUTSIDE = "symlink to outside the workspace"
    VANISHED = "vanished (deleted while indexing)"
    NOT_REGULAR = "not a regular file"
    UNREADABLE = "unreadable"
    UNREADABLE_DIR = "unreadable directory"
    TOO_LARGE = "too large"


@dataclass(frozen=True, slots=True)
class SkippedFile:
    path: str
    reason: SkipReason
    detail: str = ""  # e.g. "10.5 MB > 1.0 MB limit", "permission denied"

    @property
    def why(self) -> str:
        """The reason as a user reads it: "too large (10.5 MB > 1.0 MB limit)"."""
        return f"{self.reason.value} ({self.detail})" if self.detail else self.reason.value

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.why}

    @staticmethod
    def from_json(data: dict[str, Any]) -> SkippedFile:
        """Read back what `to_json` wrote (an index's metadata)."""
        text = str(data.get("reason", ""))
        for reason in SkipReason:
            if text == reason.value:
                return SkippedFile(str(data["path"]), reason)
            if text.startswith(reason.value + " (") and text.endswith(")"):
                return SkippedFile(str(data["path"]), reason, text[len(reason.value) + 2 : -1])
        return SkippedFile(str(data["path"]), SkipReason.UNREADABLE, text)


class IndexState(str, enum.Enum):
    IDLE = "idle"
    INDEXING = "indexing"
    ERROR = "error"


@dataclass(slots=True)
class TeamStatus:
    """Where a folder's search results come from when it searches a shared team index."""

    shared: str  # the shared index's URI, without credentials
    shared_files: int = 0  # files in the shared index (as last fetched)
    shared_chunks: int = 0
    overlay_files: int = 0  # files searched from the local overlay: their content differs here
    hidden: int = 0  # shared files this workspace does not have (deleted, ignored)
    fetched_at: str | None = None  # ISO 8601, UTC: when the shared file list was last read
    reachable: bool = True
    error: str | None = None  # why the shared index is not answering

    def to_json(self) -> dict[str, Any]:
        return {
            "shared": self.shared,
            "shared_files": self.shared_files,
            "shared_chunks": self.shared_chunks,
            "overlay_files": self.overlay_files,
            "hidden": self.hidden,
            "fetched_at": self.fetched_at,
            "reachable": self.reachable,
            "error": self.error,
        }


@dataclass(slots=True)
class IndexStatus:
    """One folder's index, as `codeseek status` and `codeseek/status` report it.

    Built by the folder's service (service.py), the one owner of this state."""

    state: IndexState = IndexState.IDLE
    files: int = 0
    chunks: int = 0
    pending: int = 0  # changed paths waiting for the next run
    embedded: int = 0  # chunks with a vector
    dense_total: int = 0  # chunks that get a vector (the rest are found by their words only)
    provider: str | None = None
    provider_reason: str | None = None
    model: str | None = None
    dimensions: int | None = None
    last_indexed_at: str | None = None  # ISO 8601, UTC: the last complete run
    last_error: str | None = None
    complete: bool = False  # every file chunked by a run that finished
    message: str | None = None  # what is going on, in a line ("rebuilding the damaged index")
    progress: IndexProgress | None = None  # the run in progress, if any
    skipped: list[SkippedFile] = field(default_factory=list)
    secrets: dict[str, int] = field(default_factory=dict)  # path -> secrets masked in it
    store_path: str | None = None
    embedder_available: bool = True
    team: TeamStatus | None = None  # a shared team index under a local overlay (store.shared)

    @property
    def dense_percent(self) -> int:
        """How much of what gets a vector has one, rounded down (100 when nothing does)."""
        if self.dense_total <= 0:
            return 100
        return min(100, int(100 * self.embedded / self.dense_total))

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "files": self.files,
            "chunks": self.chunks,
            "pending": self.pending,
            "embedded": self.embedded,
            "dense_total": self.dense_total,
            "dense_percent": self.dense_percent,
            "provider": self.provider,
            "provider_reason": self.provider_reason,
            "model": self.model,
            "dimensions": self.dimensions,
            "last_indexed_at": self.last_indexed_at,
            "last_error": self.last_error,
            "complete": self.complete,
            "message": self.message,
            "progress": self.progress.to_json() if self.progress else None,
            "skipped": [s.to_json() for s in self.skipped],
            "secrets": dict(sorted(self.secrets.items())),
            "store_path": self.store_path,
            "embedder_available": self.embedder_available,
            "team": self.team.to_json() if self.team else None,
        }


class Phase(str, enum.Enum):
    DISCOVER = "discover"
    CHUNK = "chunk"  # read, chunk and write for full-text search
    EMBED = "embed"  # fill in vectors
    OPTIMIZE = "optimize"
    DONE = "done"


@dataclass(slots=True)
class IndexProgress:
    """Where a run is: what the CLI's progress bar and lines, the server's work-done
    progress and VS Code's status bar show.

    While chunking, the files of this run and the chunks they gave; while embedding, the
    whole index: chunks with a vector out of those that get one (so a run that continues
    an interrupted one, or the server's embedding in steps, counts on from where the
    index is), with the recent rate and the time left at it."""

    phase: Phase
    files_done: int = 0
    files_total: int = 0
    chunks_done: int = 0  # chunks written (CHUNK); chunks of the index with a vector (EMBED)
    chunks_total: int = 0  # (EMBED) chunks of the index that get a vector
    rate: float | None = None  # chunks embedded per second, over the recent past
    eta_seconds: float | None = None
    message: str = ""

    def summary(self) -> str:
        """One line: "120/2,913 files · 8,400 chunks" while chunking, "32% embedded ·
        38,000/118,567 chunks · 29 chunks/s · about 46 min left" while embedding."""
        if self.phase is Phase.CHUNK and self.files_total:
            return f"{self.files_done:,}/{self.files_total:,} files · {self.chunks_done:,} chunks"
        if self.phase is Phase.EMBED and self.chunks_total:
            parts = [
                f"{self.percentage}% embedded",
                f"{self.chunks_done:,}/{self.chunks_total:,} chunks",
            ]
            if self.rate:
                parts.append(f"{self.rate:,.0f} chunks/s" if self.rate >= 10 else f"{self.rate:.1f} chunks/s")
            if self.eta_seconds is not None:
                parts.append(f"{format_duration(self.eta_seconds)} left")
            return " · ".join(parts)
        return self.message or self.phase.value

    @property
    def percentage(self) -> int | None:
        if self.phase is Phase.CHUNK and self.files_total:
            return min(100, int(100 * self.files_done / self.files_total))
        if self.phase is Phase.EMBED and self.chunks_total:
            return min(100, int(100 * self.chunks_done / self.chunks_total))
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "files_done": self.files_done,
            "files_total": self.files_total,
            "chunks_done": self.chunks_done,
            "chunks_total": self.chunks_total,
            "rate": round(self.rate, 1) if self.rate else None,
            "eta_seconds": round(self.eta_seconds) if self.eta_seconds is not None else None,
            "message": self.summary(),
        }


def format_duration(seconds: float) -> str:
    """ "about 40 s", "about 3 min", "about 1 h 20 min"."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"
