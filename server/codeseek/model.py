"""Plain data shared by every stage of the pipeline: what a chunk is, what a hit is."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of one file that is embedded and searched as a unit.

    `text` is exactly the file's lines `start_line..end_line` (1-based, inclusive);
    `context` holds the enclosing signatures (class header, impl line, ...) that the
    embedder sees before the text, and `embed_text` is what is sent to the model.
    """

    path: str  # relative to the workspace root, forward slashes
    language: str
    start_line: int
    end_line: int
    text: str
    symbol: str | None = None  # qualified name, e.g. "JsonStore.load"
    kind: str | None = None  # function, method, class, ...
    context: str = ""  # enclosing signatures, one per line

    @property
    def embed_text(self) -> str:
        """The header (path and enclosing signatures) followed by the code."""
        header = f"# {self.path}\n"
        if self.context:
            header += self.context.rstrip("\n") + "\n"
        return header + self.text

    @property
    def content_key(self) -> str:
        """Key of the vector cache: the embedded content without the path, so a renamed
        or moved file, or a branch switched away from and back, re-uses its vectors."""
        h = hashlib.blake2b(digest_size=16)
        h.update(self.context.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
        h.update(self.text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()


@dataclass(slots=True)
class Hit:
    """One search result, as the CLI prints it (`--json`) and the LSP layer converts it."""

    path: str
    start_line: int
    end_line: int
    score: float
    language: str
    symbol: str | None
    kind: str | None
    preview: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(slots=True)
class IndexStatus:
    """The index's state, as `codeseek status` and `codeseek/status` report it."""

    state: str = "idle"  # idle | indexing | error
    files: int = 0
    chunks: int = 0
    pending: int = 0
    provider: str | None = None
    provider_reason: str | None = None
    model: str | None = None
    dimensions: int | None = None
    last_indexed_at: str | None = None  # ISO 8601, UTC
    last_error: str | None = None
    skipped: list[SkippedFile] = field(default_factory=list)
    store_path: str | None = None
    embedder_available: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
