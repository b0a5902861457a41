"""The shape of an index on disk: its tables' columns, and the rows codeseek reads back.

No LanceDB here, only pyarrow: what a row means is independent of how it is stored.

One *index* per (model, dimensions) holds three tables:
- `chunks_<key>`: one row per chunk; `vector` is null until the chunk is embedded (a new
  index is searchable by its words before its vectors are in) and stays null for chunks
  that are not worth a vector (`dense` false: import blocks);
- `files_<key>`: one row per indexed file, written *after* its chunks;
- `vectors_<key>`: a cache of vectors by chunk content, so a renamed file, a branch
  switched away from and back, or a rebuilt index costs no model call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from codeseek.model import Chunk, split_identifier

# Bump when the chunks or files tables change shape or meaning: an older index is then
# rebuilt (from the vector cache, which keeps its own shape), never misread.
# 3: chunks carry their file's content hash (`file_hash`), so a reader of a shared index
#    can tell a chunk of the file version it knows from one a concurrent publisher wrote;
#    definitions' ranges, signatures and declarations filled in, import blocks, `names`
#    holds the definition's names only (with a full-text index of its own).
# 4: the embedded text is the context and the code, without the path (content keys
#    changed with it, so the vector cache misses and every chunk is embedded again).
# 5: the chunk that starts a function or method has the function's name in words as the
#    first line of its context (embedded; content keys changed, every such chunk is
#    embedded again).
# 6: a whole function's context is its qualified name in words, without the enclosing
#    signatures, and a container with one method is cut at it (content keys changed:
#    those chunks are embedded again).
SCHEMA_VERSION = 6

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def identifier_words(text: str) -> str:
    """The text plus its identifiers split into words (`loadJsonFile`, `load_json_file`
    -> `load json file`), so a plain-English query finds code by its names."""
    extra: list[str] = []
    for ident in set(_IDENT.findall(text)):
        parts = split_identifier(ident)
        if len(parts) > 1:
            extra.append(" ".join(parts))
    return text + "\n" + "\n".join(extra)


def name_words(chunk: Chunk) -> str:
    """What names a chunk, for the full-text field searched beside the body: its
    definition's qualified name (`JsonStore.load`) and that name split into words
    (`json store load`); empty for chunks that define nothing (blocks, imports). A query
    that names a definition then matches its few words here, not one line of a long body."""
    if not chunk.symbol:
        return ""
    return identifier_words(chunk.symbol)


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str
    hash: str
    size: int
    mtime_ns: int
    chunks: int
    secrets: int = 0  # secrets masked in the file's text before it was indexed


@dataclass(slots=True)
class StoredChunk:
    """A chunk as read back from the index, with its search score when it was searched."""

    id: str
    path: str
    language: str
    symbol: str | None
    kind: str | None
    start_line: int
    end_line: int
    text: str
    signature: str | None = None
    def_start: int = 0
    def_end: int = 0
    declaration: bool = False
    dense: bool = True
    file_hash: str | None = None  # content hash of the file version the chunk came from
    score: float = 0.0

    @property
    def definition_lines(self) -> tuple[int, int]:
        if self.def_start and self.def_end:
            return self.def_start, self.def_end
        return self.start_line, self.end_line


#: Columns read back into a StoredChunk.
CHUNK_COLUMNS = (
    "id",
    "path",
    "language",
    "symbol",
    "kind",
    "start_line",
    "end_line",
    "text",
    "signature",
    "def_start",
    "def_end",
    "declaration",
    "dense",
    "file_hash",
)


def chunk_schema(dimensions: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            ("path", pa.string()),
            ("language", pa.string()),
            ("symbol", pa.string()),
            ("kind", pa.string()),
            ("start_line", pa.int32()),
            ("end_line", pa.int32()),
            ("text", pa.string()),
            ("context", pa.string()),  # enclosing signatures, embedded before the text
            ("signature", pa.string()),
            ("def_start", pa.int32()),
            ("def_end", pa.int32()),
            ("declaration", pa.bool_()),
            ("dense", pa.bool_()),
            ("tokens", pa.string()),  # full text: the code, its path and its identifiers in words
            ("names", pa.string()),  # full text: the definition's qualified name, and in words
            ("content_key", pa.string()),
            ("file_hash", pa.string()),  # the file's content hash (FileRecord.hash)
            ("vector", pa.list_(pa.float32(), dimensions)),  # null: not (yet) embedded
        ]
    )


FILES_SCHEMA = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        ("hash", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("chunks", pa.int32()),
        ("secrets", pa.int32()),
    ]
)


def vector_schema(dimensions: int) -> pa.Schema:
    return pa.schema(
        [pa.field("content_key", pa.string(), nullable=False), ("vector", pa.list_(pa.float32(), dimensions))]
    )


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(sql_string(v) for v in values)})"


def vector_array(vectors: np.ndarray, dimensions: int, present: Sequence[bool] | None = None) -> pa.Array:
    """A fixed-size-list column; rows where `present` is False are null."""
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel(), type=pa.float32())
    if present is None or all(present):
        return pa.FixedSizeListArray.from_arrays(flat, dimensions)
    mask = pa.array([not p for p in present], type=pa.bool_())
    return pa.FixedSizeListArray.from_arrays(flat, dimensions, mask=mask)


def chunk_id(chunk: Chunk, seen: dict[str, int]) -> str:
    """A row id stable across runs for the same content at the same place."""
    base = f"{chunk.path}#{chunk.start_line}-{chunk.end_line}#{chunk.content_key[:16]}"
    n = seen.get(base, 0)
    seen[base] = n + 1
    return base if n == 0 else f"{base}#{n}"


def chunk_rows(
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    present: Sequence[bool],
    dimensions: int,
    file_hashes: Mapping[str, str] | None = None,
) -> pa.Table:
    """Rows of the chunks table; `vectors[i]` is stored only where `present[i]`;
    `file_hashes` gives each chunk's file's content hash by path."""
    hashes = file_hashes or {}
    seen: dict[str, int] = {}
    return pa.table(
        {
            "id": [chunk_id(c, seen) for c in chunks],
            "path": [c.path for c in chunks],
            "language": [c.language for c in chunks],
            "symbol": [c.symbol for c in chunks],
            "kind": [c.kind for c in chunks],
            "start_line": pa.array([c.start_line for c in chunks], pa.int32()),
            "end_line": pa.array([c.end_line for c in chunks], pa.int32()),
            "text": [c.text for c in chunks],
            "context": [c.context for c in chunks],
            "signature": [c.signature for c in chunks],
            "def_start": pa.array([c.definition_lines[0] for c in chunks], pa.int32()),
            "def_end": pa.array([c.definition_lines[1] for c in chunks], pa.int32()),
            "declaration": pa.array([c.declaration for c in chunks], pa.bool_()),
            "dense": pa.array([c.dense for c in chunks], pa.bool_()),
            "tokens": [identifier_words(f"{c.symbol or ''}\n{c.path}\n{c.text}") for c in chunks],
            "names": [name_words(c) for c in chunks],
            "content_key": [c.content_key for c in chunks],
            "file_hash": [hashes.get(c.path) for c in chunks],
            "vector": vector_array(vectors.reshape(len(chunks), dimensions), dimensions, present),
        },
        schema=chunk_schema(dimensions),
    )


def file_rows(records: Sequence[FileRecord]) -> pa.Table:
    return pa.table(
        {
            "path": [r.path for r in records],
            "hash": [r.hash for r in records],
            "size": pa.array([r.size for r in records], pa.int64()),
            "mtime_ns": pa.array([r.mtime_ns for r in records], pa.int64()),
            "chunks": pa.array([r.chunks for r in records], pa.int32()),
            "secrets": pa.array([r.secrets for r in records], pa.int32()),
        },
        schema=FILES_SCHEMA,
    )


def stored_chunks(
    table: pa.Table, score_column: str | None = None, as_similarity: bool = False
) -> list[StoredChunk]:
    """Rows read back; `score_column` is LanceDB's `_distance` (turned into a cosine
    similarity when `as_similarity`: vectors are normalised, dot distance is 1 - cos) or
    `_score` (BM25)."""
    data = table.to_pydict()
    out: list[StoredChunk] = []
    for i in range(table.num_rows):
        score = 0.0
        if score_column:
            raw = float(data[score_column][i])
            score = 1.0 - raw if as_similarity else raw
        values = {c: data[c][i] for c in CHUNK_COLUMNS if c in data}
        out.append(StoredChunk(**values, score=score))
    return out
