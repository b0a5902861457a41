"""The index on disk: an embedded LanceDB database per workspace.

One *index* per (model, dimensions), so switching models never mixes vectors and
switching back re-uses the old index:
- `chunks_<key>`: one row per chunk (metadata, text, identifier-split `tokens` for
  full-text search, vector);
- `files_<key>`: one row per indexed file (content hash, size, mtime), written *after*
  its chunks, so a run killed in between is repaired by the next one;
- `vectors_<key>`: a cache of vectors by chunk content, so a renamed file or a branch
  switched away from and back costs no model call.
A small `meta.json` beside the tables holds the schema version, the last run and the
files skipped with their reasons.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from codeseek.errors import StoreError
from codeseek.model import Chunk

log = logging.getLogger(__name__)

# Bump when the tables' layout changes: an older index is then rebuilt, never misread.
SCHEMA_VERSION = 1
# Below this many chunks an exhaustive vector scan is as fast as an index (7 ms at
# 4,000 rows against 6 ms, on 2 cores); by 16,000 it costs 22 ms against 5 ms, and
# 85 ms at 100,000. benchmarks/vector_index_threshold.py measures it.
VECTOR_INDEX_MIN_ROWS = 10_000
# IVF partitions probed per query: enough to scan about this many rows (recall@10
# 0.95 at 16,000 chunks, 1.0 at 100,000, on clustered test vectors), and at least
# this share of the partitions as the table grows.
SCAN_ROWS_PER_QUERY = 8000
MIN_PROBE_FRACTION = 0.05
RETRAIN_GROWTH = 4
# A cache of vectors for chunks no longer in the index is trimmed past this factor of the
# live chunk count (plus a floor), so branch switches stay cheap without unbounded growth.
VECTOR_CACHE_SLACK = 2.0
VECTOR_CACHE_FLOOR = 20_000
# Old table versions are kept this long, so a concurrent reader (the language server
# while the CLI indexes) never loses the version it is reading.
KEEP_VERSIONS_FOR = timedelta(minutes=2)

_IDENT_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def identifier_words(text: str) -> str:
    """The text plus its identifiers split into words (`loadJsonFile`, `load_json_file`
    -> `load json file`), so a plain-English query finds code by its names."""
    extra: list[str] = []
    for ident in set(_IDENT.findall(text)):
        parts = _IDENT_PART.findall(ident)
        if len(parts) > 1:
            extra.append(" ".join(p.lower() for p in parts))
    return text + "\n" + "\n".join(extra)


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str
    hash: str
    size: int
    mtime_ns: int
    chunks: int


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
    score: float = 0.0


def _chunk_schema(dimensions: int) -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("path", pa.string()),
            ("language", pa.string()),
            ("symbol", pa.string()),
            ("kind", pa.string()),
            ("start_line", pa.int32()),
            ("end_line", pa.int32()),
            ("text", pa.string()),
            ("tokens", pa.string()),
            ("content_key", pa.string()),
            ("vector", pa.list_(pa.float32(), dimensions)),
        ]
    )


FILES_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("hash", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("chunks", pa.int32()),
    ]
)


def _vector_schema(dimensions: int) -> pa.Schema:
    return pa.schema([("content_key", pa.string()), ("vector", pa.list_(pa.float32(), dimensions))])


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(sql_string(v) for v in values)})"


def _vector_array(vectors: np.ndarray, dimensions: int) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel(), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, dimensions)


def partitions_for(rows: int) -> int:
    return max(16, int(math.sqrt(rows)))


def nprobes_for(rows: int) -> int:
    partitions = partitions_for(rows)
    per_partition = max(1, rows // partitions)
    wanted = max(math.ceil(SCAN_ROWS_PER_QUERY / per_partition), math.ceil(partitions * MIN_PROBE_FRACTION))
    return min(partitions, wanted)


class WriteLock:
    """An advisory lock on the store, so two processes (the language server and the CLI)
    never write the same index at once. Readers never take it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fh: Any = None
        self._local = threading.Lock()

    def acquire(self, blocking: bool = True) -> bool:
        if not self._local.acquire(blocking=blocking):
            return False
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: in-process lock only
            return True
        self._fh = self._path.open("a+")
        flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(self._fh, flags)
        except BlockingIOError:
            self._fh.close()
            self._fh = None
            self._local.release()
            return False
        return True

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing drops the flock
            self._fh = None
        self._local.release()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


class IndexStore:
    """The tables of one workspace's index for one (model, dimensions)."""

    def __init__(self, path: Path, index_key: str, dimensions: int) -> None:
        import lancedb

        self.path = path
        self.index_key = index_key
        self.dimensions = dimensions
        if path.exists() and not path.is_dir():
            raise StoreError(f"the index location {path} exists and is not a directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._db = lancedb.connect(str(path), read_consistency_interval=timedelta(0))
        except (OSError, ValueError, RuntimeError) as exc:
            raise StoreError(f"cannot open the index at {path}: {exc}") from exc
        self.lock = WriteLock(path / ".write.lock")
        self._chunks_name = f"chunks_{index_key}"
        self._files_name = f"files_{index_key}"
        self._vectors_name = f"vectors_{index_key}"
        self._meta_path = path / "meta.json"
        self._check_schema_version()
        self._chunks = self._open_or_create(self._chunks_name, _chunk_schema(dimensions))
        self._files = self._open_or_create(self._files_name, FILES_SCHEMA)
        self._vectors = self._open_or_create(self._vectors_name, _vector_schema(dimensions))
        has_chunks = self._chunks.count_rows() > 0
        if has_chunks != (self._files.count_rows("chunks > 0") > 0):
            # One of the pair was rebuilt (damaged) or a run died between them: without
            # its partner the other would claim files are indexed whose chunks are gone.
            # The vector cache survives, so re-indexing costs little model time.
            log.warning("index at %s is inconsistent; it will be rebuilt", path)
            for name in (self._chunks_name, self._files_name):
                self._db.drop_table(name)
            self._chunks = self._open_or_create(self._chunks_name, _chunk_schema(dimensions))
            self._files = self._open_or_create(self._files_name, FILES_SCHEMA)
        self._fts_ready = self._has_index("tokens")
        self._vector_index_known: bool | None = None
        self._nprobes = 20

    # -- opening -------------------------------------------------------------------

    def _check_schema_version(self) -> None:
        meta = self.read_meta()
        version = meta.get("schema_version")
        if version is not None and version != SCHEMA_VERSION:
            log.warning(
                "index at %s has schema %s, rebuilding it for schema %s", self.path, version, SCHEMA_VERSION
            )
            for name in self._table_names():
                self._db.drop_table(name)
            meta = {}
        if version != SCHEMA_VERSION:
            meta["schema_version"] = SCHEMA_VERSION
            self.write_meta(meta)

    def _table_names(self) -> list[str]:
        result = self._db.list_tables()
        names = getattr(result, "tables", result)
        return list(names)

    def _open_or_create(self, name: str, schema: pa.Schema) -> Any:
        try:
            if name in self._table_names():
                table = self._db.open_table(name)
                if table.schema.equals(schema, check_metadata=False):
                    return table
                log.warning("table %s has an unexpected layout; rebuilding it", name)
                self._db.drop_table(name)
            return self._db.create_table(name, schema=schema)
        except (OSError, ValueError, RuntimeError) as exc:
            # A damaged table is rebuilt rather than left for the user to delete by hand.
            log.warning("table %s cannot be opened (%s); rebuilding it", name, exc)
            with contextlib.suppress(Exception):
                self._db.drop_table(name)
            try:
                return self._db.create_table(name, schema=schema)
            except (OSError, ValueError, RuntimeError) as exc2:
                raise StoreError(f"cannot create table {name} in {self.path}: {exc2}") from exc2

    def _has_index(self, column: str) -> bool:
        try:
            return any(column in idx.columns for idx in self._chunks.list_indices())
        except (OSError, RuntimeError):  # pragma: no cover
            return False

    @staticmethod
    def peek_current(path: Path) -> dict[str, Any] | None:
        """The index a workspace used last (key, provider, model, dimensions), read
        without opening the database or loading a model; None if there is none."""
        try:
            meta = json.loads((path / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        current = meta.get("current") if isinstance(meta, dict) else None
        return current if isinstance(current, dict) and "index_key" in current else None

    def record_current(self, root: Path, provider: str, model: str, reason: str) -> None:
        """Mark this index as the one the workspace uses now (what `peek_current` reads)."""
        meta = self.read_meta()
        meta["root"] = str(root)
        meta["current"] = {
            "index_key": self.index_key,
            "provider": provider,
            "model": model,
            "dimensions": self.dimensions,
            "reason": reason,
        }
        self.write_meta(meta)

    # -- metadata ------------------------------------------------------------------

    def read_meta(self) -> dict[str, Any]:
        try:
            data = json.loads(self._meta_path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Atomically: a reader sees the old file or the new one, never half of one."""
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".meta-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(meta, fh, indent=1)
            os.replace(tmp, self._meta_path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise StoreError(f"cannot write {self._meta_path}: {exc}") from exc

    def update_meta(self, **values: Any) -> None:
        meta = self.read_meta()
        section = meta.setdefault("indexes", {}).setdefault(self.index_key, {})
        section.update(values)
        self.write_meta(meta)

    def index_meta(self) -> dict[str, Any]:
        return dict(self.read_meta().get("indexes", {}).get(self.index_key, {}))

    # -- files ---------------------------------------------------------------------

    def file_records(self) -> dict[str, FileRecord]:
        data = self._files.to_arrow().to_pylist()
        return {r["path"]: FileRecord(**r) for r in data}

    def count_chunks(self) -> int:
        return int(self._chunks.count_rows())

    def count_files(self) -> int:
        return int(self._files.count_rows())

    # -- writing -------------------------------------------------------------------

    def replace_files(
        self,
        records: Sequence[FileRecord],
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
    ) -> None:
        """Replace every chunk of the files in `records` by `chunks` in one commit, so a
        search sees either the old version of a file or the new one, never both or
        neither; then record the files' hashes. Caller holds the write lock."""
        if not records:
            return
        paths = sorted({r.path for r in records})
        table = self._chunk_table(chunks, vectors)
        if self._chunks.count_rows() == 0 or not self._any_rows_for(paths):
            if table.num_rows:
                self._chunks.add(table)
        else:
            (
                self._chunks.merge_insert("id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(sql_in("path", paths))
                .execute(table)
            )
        self._upsert_files(records)

    def _any_rows_for(self, paths: Sequence[str]) -> bool:
        # The chunks table itself, not the files table: a run killed after writing a
        # file's chunks but before its record must not get them appended twice.
        return any(
            self._chunks.count_rows(sql_in("path", paths[start : start + 500])) > 0
            for start in range(0, len(paths), 500)
        )

    def _chunk_table(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> pa.Table:
        ids: list[str] = []
        seen: dict[str, int] = {}
        for c in chunks:
            base = f"{c.path}#{c.start_line}-{c.end_line}#{c.content_key[:16]}"
            n = seen.get(base, 0)
            seen[base] = n + 1
            ids.append(base if n == 0 else f"{base}#{n}")
        return pa.table(
            {
                "id": ids,
                "path": [c.path for c in chunks],
                "language": [c.language for c in chunks],
                "symbol": [c.symbol for c in chunks],
                "kind": [c.kind for c in chunks],
                "start_line": pa.array([c.start_line for c in chunks], pa.int32()),
                "end_line": pa.array([c.end_line for c in chunks], pa.int32()),
                "text": [c.text for c in chunks],
                "tokens": [identifier_words(f"{c.symbol or ''}\n{c.path}\n{c.text}") for c in chunks],
                "content_key": [c.content_key for c in chunks],
                "vector": _vector_array(vectors.reshape(len(chunks), self.dimensions), self.dimensions),
            },
            schema=_chunk_schema(self.dimensions),
        )

    def _upsert_files(self, records: Sequence[FileRecord]) -> None:
        table = pa.table(
            {
                "path": [r.path for r in records],
                "hash": [r.hash for r in records],
                "size": pa.array([r.size for r in records], pa.int64()),
                "mtime_ns": pa.array([r.mtime_ns for r in records], pa.int64()),
                "chunks": pa.array([r.chunks for r in records], pa.int32()),
            },
            schema=FILES_SCHEMA,
        )
        self._files.merge_insert("path").when_matched_update_all().when_not_matched_insert_all().execute(
            table
        )

    def touch_files(self, records: Sequence[FileRecord]) -> None:
        """Record a new mtime for files whose content did not change (a `touch`, a
        checkout that rewrote identical files), so the next run costs a stat again."""
        if records:
            self._upsert_files(records)

    def clear(self) -> None:
        """Empty this index, vector cache included (`index --full`). Caller holds the
        write lock. Rows are deleted rather than tables dropped, so a concurrent
        reader (a search while the server rebuilds) sees an empty version, never a
        missing table."""
        for table in (self._chunks, self._files, self._vectors):
            table.delete("true")
        self.update_meta(vector_index_rows=0)

    def delete_files(self, paths: Iterable[str]) -> None:
        """Remove files and their chunks: chunks first, so a crash in between leaves a
        file row without chunks, which the next run notices and repairs."""
        paths = sorted(set(paths))
        for start in range(0, len(paths), 500):
            where = sql_in("path", paths[start : start + 500])
            self._chunks.delete(where)
            self._files.delete(where)

    # -- vector cache --------------------------------------------------------------

    def cached_vectors(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = sorted(set(keys))
        for start in range(0, len(unique), 1000):
            part = unique[start : start + 1000]
            rows = (
                self._vectors.search()
                .where(sql_in("content_key", part))
                .select(["content_key", "vector"])
                .limit(len(part) * 2)
                .to_arrow()
            )
            if rows.num_rows:
                matrix = rows["vector"].combine_chunks().flatten().to_numpy().reshape(-1, self.dimensions)
                for key, vec in zip(rows["content_key"].to_pylist(), matrix, strict=True):
                    found[key] = vec
        return found

    def cache_vectors(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        if not keys:
            return
        table = pa.table(
            {"content_key": list(keys), "vector": _vector_array(vectors, self.dimensions)},
            schema=_vector_schema(self.dimensions),
        )
        self._vectors.merge_insert("content_key").when_not_matched_insert_all().execute(table)

    def _trim_vector_cache(self) -> None:
        live = self.count_chunks()
        limit = max(VECTOR_CACHE_FLOOR, int(live * VECTOR_CACHE_SLACK))
        if self._vectors.count_rows() <= limit:
            return
        in_use = set(
            self._chunks.search().select(["content_key"]).limit(None).to_arrow()["content_key"].to_pylist()
        )
        cached = (
            self._vectors.search().select(["content_key"]).limit(None).to_arrow()["content_key"].to_pylist()
        )
        stale = [k for k in cached if k not in in_use]
        for start in range(0, len(stale), 1000):
            self._vectors.delete(sql_in("content_key", stale[start : start + 1000]))

    # -- maintenance ---------------------------------------------------------------

    def optimize(self) -> None:
        """After a run: full-text and vector indexes brought up to date, small fragments
        compacted, old versions removed. Caller holds the write lock."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for table in (self._chunks, self._files, self._vectors):
                table.optimize(cleanup_older_than=KEEP_VERSIONS_FOR)
        rows = self.count_chunks()
        if rows and not self._fts_ready:
            from lancedb.index import FTS

            self._chunks.create_index("tokens", config=FTS(with_position=False), replace=True)
            self._fts_ready = True
        if rows >= VECTOR_INDEX_MIN_ROWS:
            trained = int(self.index_meta().get("vector_index_rows") or 0)
            # New rows join the existing partitions on optimize; once the table has
            # grown well past what the partitions were trained on, they are retrained.
            # Built after compaction: an index remapped by a compaction right after its
            # build searched 3x slower (17 ms against 5 ms at 100,000 chunks).
            if not self._has_index("vector") or rows > RETRAIN_GROWTH * max(trained, 1):
                self._create_vector_index(rows)
        self._trim_vector_cache()

    def _create_vector_index(self, rows: int) -> None:
        # IVF_FLAT keeps exact vectors (no quantisation loss) and built in 14 s at 100,000
        # rows here, against 64 s for IVF_PQ, at the same query latency.
        partitions = self._partitions(rows)
        log.info("building a vector index over %d chunks (%d partitions)", rows, partitions)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._chunks.create_index(
                metric="dot", index_type="IVF_FLAT", num_partitions=partitions, vector_column_name="vector"
            )
        self._vector_index_known = None
        self.update_meta(vector_index_rows=rows)

    @staticmethod
    def _partitions(rows: int) -> int:
        return partitions_for(rows)

    def has_vector_index(self) -> bool:
        return self._has_index("vector")

    # -- reading -------------------------------------------------------------------

    _COLUMNS = ("id", "path", "language", "symbol", "kind", "start_line", "end_line", "text")

    def _rows(self, table: pa.Table, score_column: str | None, as_similarity: bool) -> list[StoredChunk]:
        data = table.to_pydict()
        out: list[StoredChunk] = []
        for i in range(table.num_rows):
            score = 0.0
            if score_column:
                raw = float(data[score_column][i])
                score = 1.0 - raw if as_similarity else raw
            values = {c: data[c][i] for c in self._COLUMNS}
            out.append(StoredChunk(**values, score=score))
        return out

    def vector_search(self, vector: np.ndarray, limit: int, where: str | None = None) -> list[StoredChunk]:
        """Nearest chunks by cosine similarity (vectors are normalised: 1 - dot distance)."""
        query = self._chunks.search(np.asarray(vector, dtype=np.float32), vector_column_name="vector")
        query = query.distance_type("dot").limit(limit).select([*self._COLUMNS, "_distance"])
        if self._has_vector_index_cached():
            query = query.nprobes(self._nprobes)
        if where:
            query = query.where(where, prefilter=True)
        return self._rows(query.to_arrow(), "_distance", as_similarity=True)

    def _has_vector_index_cached(self) -> bool:
        if self._vector_index_known is None:
            self._vector_index_known = self.has_vector_index()
            if self._vector_index_known:
                self._nprobes = nprobes_for(self.count_chunks())
        return self._vector_index_known

    def text_search(self, text: str, limit: int, where: str | None = None) -> list[StoredChunk]:
        """BM25 over the chunk text and its identifiers split into words."""
        if not text.strip() or self.count_chunks() == 0:
            return []
        query = self._chunks.search(text, query_type="fts", fts_columns="tokens")
        query = query.limit(limit).select([*self._COLUMNS, "_score"])
        if where:
            query = query.where(where, prefilter=True)
        try:
            return self._rows(query.to_arrow(), "_score", as_similarity=False)
        except (ValueError, RuntimeError) as exc:
            # No full-text index yet (a first run still embedding): scan instead.
            log.debug("full-text search failed (%s); no results", exc)
            return []

    def chunk_at(self, path: str, line: int) -> tuple[StoredChunk, np.ndarray] | None:
        """The chunk of `path` that holds 1-based `line` (the innermost when nested), with its vector."""
        where = f"path = {sql_string(path)} AND start_line <= {int(line)} AND end_line >= {int(line)}"
        table = self._chunks.search().where(where).select([*self._COLUMNS, "vector"]).limit(50).to_arrow()
        if table.num_rows == 0:
            return None
        rows = self._rows(table, None, False)
        best = min(range(len(rows)), key=lambda i: rows[i].end_line - rows[i].start_line)
        vector = np.asarray(table["vector"][best].as_py(), dtype=np.float32)
        return rows[best], vector

    def chunks_of(self, path: str) -> list[StoredChunk]:
        table = (
            self._chunks.search().where(f"path = {sql_string(path)}").select(list(self._COLUMNS)).limit(None)
        )
        return sorted(self._rows(table.to_arrow(), None, False), key=lambda c: c.start_line)

    def languages(self) -> list[str]:
        col = self._chunks.search().select(["language"]).limit(None).to_arrow()["language"]
        return sorted(set(col.to_pylist()))

    def all_paths(self) -> list[str]:
        return sorted(self._files.to_arrow()["path"].to_pylist())
