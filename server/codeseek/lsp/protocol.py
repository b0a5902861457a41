"""The `codeseek/*` methods on the wire: their names, their params (validated) and the
JSON shapes of their results.

Params arrive as plain JSON (the server's converter leaves custom params alone), are
checked here field by field, and a bad one raises `JsonRpcInvalidParams` naming the
field, so the client gets -32602 and the server carries on. Results are plain JSON
objects in the camelCase the rest of LSP uses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from codeseek.config import camel_case
from codeseek.model import Hit, IndexState, IndexStatus
from codeseek.search import MODES

SEARCH = "codeseek/search"
RELATED = "codeseek/related"
STATUS = "codeseek/status"
REINDEX = "codeseek/reindex"

MAX_SEARCH_LIMIT = 1000
MAX_RELATED_LIMIT = 100


# -- params -------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchParams:
    query: str
    limit: int = 10
    mode: str = "hybrid"
    languages: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class RelatedParams:
    uri: str
    line: int  # 0-based, as LSP counts
    character: int
    limit: int = 5


@dataclass(frozen=True)
class ReindexParams:
    full: bool = False


MAX_MESSAGE = 300  # characters: a message quoting a client's 4 KB URI is no use to anyone


def invalid(field: str, message: str) -> JsonRpcInvalidParams:
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return JsonRpcInvalidParams(message=f"Invalid params: {field}: {message}", data={"field": field})


def _object(params: Any, field: str = "params") -> Mapping[str, Any]:
    # An empty array too: Lua clients (Neovim) cannot tell `{}` from `[]` and send the latter.
    if params is None or (isinstance(params, Sequence) and not isinstance(params, str) and not params):
        return {}
    if not isinstance(params, Mapping):
        raise invalid(field, f"expected an object, got {json_type(params)}")
    return params


def json_type(value: Any) -> str:
    """A JSON value's type in words, for messages: `expected an integer, got a string`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "an array"
    return type(value).__name__


def _int(obj: Mapping[str, Any], key: str, field: str, default: int | None, low: int, high: int) -> int:
    value = obj.get(key, default)
    if value is None:
        if default is None:
            raise invalid(field, "is required")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field, f"expected an integer, got {json_type(value)}")
    if not low <= value <= high:
        raise invalid(field, f"must be between {low} and {high}, got {value}")
    return value


def _strings(obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise invalid(key, f"expected an array of strings, got {json_type(value)}")
    for i, item in enumerate(value):
        _text(item, f"{key}[{i}]")
    return tuple(value)


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise invalid(field, f"expected a string, got {json_type(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can spell a lone surrogate (`"\ud800"`); no tokenizer or file system takes one.
        raise invalid(field, "is not valid Unicode (it holds a lone surrogate)") from None
    return value


def parse_search(params: Any) -> SearchParams:
    obj = _object(params)
    query = obj.get("query")
    if query is None:
        raise invalid("query", "is required")
    if not _text(query, "query").strip():
        raise invalid("query", "is empty")
    mode = obj.get("mode") or "hybrid"
    if mode not in MODES:
        raise invalid("mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    return SearchParams(
        query=query,
        limit=_int(obj, "limit", "limit", 10, 1, MAX_SEARCH_LIMIT),
        mode=mode,
        languages=tuple(lang.lower() for lang in _strings(obj, "languages")),
        include=_strings(obj, "include"),
        exclude=_strings(obj, "exclude"),
    )


def parse_related(params: Any) -> RelatedParams:
    obj = _object(params)
    if "textDocument" not in obj:
        raise invalid("textDocument", "is required")
    document = _object(obj["textDocument"], "textDocument")
    uri = document.get("uri")
    if not isinstance(uri, str) or not uri:
        raise invalid("textDocument.uri", "expected a file URI")
    _text(uri, "textDocument.uri")
    if not uri.startswith("file:"):
        raise invalid("textDocument.uri", f"only file URIs are indexed, got {uri!r}")
    if "position" not in obj:
        raise invalid("position", "is required")
    position = _object(obj["position"], "position")
    return RelatedParams(
        uri=uri,
        line=_int(position, "line", "position.line", None, 0, 2**31 - 1),
        character=_int(position, "character", "position.character", 0, 0, 2**31 - 1),
        limit=_int(obj, "limit", "limit", 5, 1, MAX_RELATED_LIMIT),
    )


def parse_reindex(params: Any) -> ReindexParams:
    obj = _object(params)
    full = obj.get("full", False)
    if full is None:
        full = False
    if not isinstance(full, bool):
        raise invalid("full", f"expected true or false, got {json_type(full)}")
    return ReindexParams(full=full)


def parse_status(params: Any) -> None:
    _object(params)


def uri_to_path(uri: str) -> Path | None:
    """The local path of a `file://` URI; None for any other scheme or a malformed one."""
    if not uri.startswith("file:"):
        return None
    path = to_fs_path(uri)
    if not path or "\x00" in path:
        return None  # `%00`: no file system takes a NUL in a name
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        return None  # a lone surrogate (JSON can spell `\ud800`): no file has that name either
    return Path(path)


# -- results ------------------------------------------------------------------------


class LineLengths:
    """Lengths of files' lines in the client's position units, read once per file.

    A hit's range ends at the end of its last line, which LSP counts in UTF-16 code
    units unless the client negotiated another encoding."""

    def __init__(self, encoding: str | None) -> None:
        self._encoding = encoding or types.PositionEncodingKind.Utf16
        self._files: dict[Path, list[str] | None] = {}

    def end_of(self, path: Path, line: int) -> int:
        """Length of 1-based `line` of `path`; 0 when the file cannot be read."""
        if path not in self._files:
            try:
                self._files[path] = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self._files[path] = None
        lines = self._files[path]
        if not lines or not 1 <= line <= len(lines):
            return 0
        text = lines[line - 1]
        if self._encoding == types.PositionEncodingKind.Utf8:
            return len(text.encode("utf-8"))
        if self._encoding == types.PositionEncodingKind.Utf32:
            return len(text)
        return len(text.encode("utf-16-le")) // 2


def hit_json(hit: Hit, root: Path, lines: LineLengths) -> dict[str, Any]:
    """A Hit on the wire; `alsoDeclaredIn` (LSP Locations of the declarations folded into
    it: a `.pyi` stub, a `.d.ts` typing) only where there are some."""
    out = {
        **_location(root, hit.path, hit.start_line, hit.end_line, lines),
        "score": hit.score,
        "language": hit.language,
        "symbol": hit.symbol,
        "kind": hit.kind,
        "preview": hit.preview,
    }
    if hit.also_declared_in:
        out["alsoDeclaredIn"] = [
            _location(root, span.path, span.start_line, span.end_line, lines) for span in hit.also_declared_in
        ]
    return out


def _location(
    root: Path, relative: str, start_line: int, end_line: int, lines: LineLengths
) -> dict[str, Any]:
    path = root / relative
    return {
        "uri": path.as_uri(),
        "range": {
            "start": {"line": start_line - 1, "character": 0},
            "end": {"line": end_line - 1, "character": lines.end_of(path, end_line)},
        },
    }


def status_json(status: IndexStatus) -> dict[str, Any]:
    """IndexStatus with camelCase keys (docs/interfaces.md), including what the server adds
    (`embedded`, `denseTotal`, `densePercent`, `complete`, `message`, `progress`,
    `providerReason`, `skipped`, `secrets`, `storePath`, `embedderAvailable`, `team`)."""
    out = {camel_case(key): value for key, value in status.to_json().items()}
    for nested in ("progress", "team"):
        if out.get(nested):
            out[nested] = {camel_case(k): v for k, v in out[nested].items()}
    return out


def combined_status(statuses: Sequence[tuple[Path, IndexStatus]]) -> dict[str, Any]:
    """One IndexStatus for a multi-root workspace (totals, the busiest state, the first
    error), with each folder's own under `roots`."""
    if not statuses:
        return {**status_json(IndexStatus()), "roots": []}
    per_root = [{"uri": root.as_uri(), **status_json(s)} for root, s in statuses]
    if len(statuses) == 1:
        return {**per_root[0], "roots": per_root}
    states = {s.state for _, s in statuses}
    state = (
        IndexState.INDEXING
        if IndexState.INDEXING in states
        else IndexState.ERROR
        if IndexState.ERROR in states
        else IndexState.IDLE
    )
    first = statuses[0][1]
    stamps = [s.last_indexed_at for _, s in statuses if s.last_indexed_at]
    errors = [f"{root.name}: {s.last_error}" for root, s in statuses if s.last_error]
    messages = [f"{root.name}: {s.message}" for root, s in statuses if s.message]
    embedded = sum(s.embedded for _, s in statuses)
    dense = sum(s.dense_total for _, s in statuses)
    busy = next((per_root[i]["progress"] for i, (_, s) in enumerate(statuses) if s.progress), None)
    return {
        "state": state.value,
        "files": sum(s.files for _, s in statuses),
        "chunks": sum(s.chunks for _, s in statuses),
        "pending": sum(s.pending for _, s in statuses),
        "embedded": embedded,
        "denseTotal": dense,
        "densePercent": 100 if dense == 0 else min(100, int(100 * embedded / dense)),
        "provider": first.provider,
        "providerReason": first.provider_reason,
        "model": first.model,
        "dimensions": first.dimensions,
        # The oldest folder's last run: the whole workspace is at least this fresh.
        "lastIndexedAt": min(stamps) if len(stamps) == len(statuses) else None,
        "lastError": "; ".join(errors) or None,
        "complete": all(s.complete for _, s in statuses),
        "message": "; ".join(messages) or None,
        "progress": busy,
        "skipped": [
            {**sk.to_json(), "uri": (root / sk.path).as_uri()} for root, s in statuses for sk in s.skipped
        ],
        "secrets": {(root / path).as_uri(): n for root, s in statuses for path, n in s.secrets.items()},
        "storePath": None,
        "embedderAvailable": all(s.embedder_available for _, s in statuses),
        "team": None,  # per folder, under `roots`: each folder has its own shared index
        "roots": per_root,
    }
