"""The index on disk: an embedded LanceDB database per workspace (store/schema.py says
what its tables hold).

Two kinds of handle, so that whoever reads can never damage what it reads:
- `IndexStore` reads. It never creates, repairs or writes anything; a table that is
  missing reads as empty, and data that cannot be read raises `StoreDamaged`.
- `IndexStore.writer()` takes the store's lock, then heals whatever is damaged (tables
  that cannot be opened or read, a damaged `meta.json`, an index file that fails, rows a
  killed run left half-written) and hands out an `IndexWriter`, the only code that writes.
  A rebuilt table refills from the vector cache when that survived, so healing costs no
  model calls.

Every LanceDB, pyarrow and OS error is turned into a `StoreError` here (store/errors.py).

A store may also live on object storage (`s3://`, `gs://`, `az://`: a team's shared
index). Writers on different machines then rely on LanceDB's commit protocol (a manifest
written with `If-None-Match`, rebased and retried on a lost race), never on a local lock;
the small record of itself lives in a table (`codeseek_meta`) instead of `meta.json`; and
healing never drops or rewrites a remote table, since other machines read and write it:
what cannot be read there is reported, not rebuilt.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import random
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from codeseek.errors import StoreDamaged, StoreError
from codeseek.memory import release_memory
from codeseek.model import Chunk
from codeseek.store.errors import STORE_EXCEPTIONS, is_panic, short, store_error
from codeseek.store.lancedb_import import import_lancedb
from codeseek.store.location import is_remote, mask_uri
from codeseek.store.meta import MetaFile
from codeseek.store.schema import (
    CHUNK_COLUMNS,
    FILES_SCHEMA,
    SCHEMA_VERSION,
    FileRecord,
    StoredChunk,
    chunk_rows,
    chunk_schema,
    file_rows,
    sql_in,
    sql_string,
    stored_chunks,
    vector_array,
    vector_schema,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

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
# A table is compacted (its small fragments merged, its indexes brought up to date, old
# versions dropped) after this many rows were merged into it, and at least this share
# of its size, not only at the end of a run: a first index of 100,000 chunks otherwise
# leaves hundreds of fragments that every merge by id and every search wades through.
# The share, because a compaction rewrites the whole table (LanceDB's target fragment is
# a million rows): compacting every 8,192 rows made 100,000 chunks' embedding phase
# rewrite the table a dozen times (30 s against 20 s for 12,000 vectors into 68,000).
COMPACT_EVERY_ROWS = 8192
COMPACT_SHARE = 0.25
# Rows per `IN (...)` filter: long lists of paths or keys go in slices.
SQL_SLICE = 500
FTS_COLUMN = "tokens"
# A remote store's record of itself (what meta.json holds locally): one row, key "meta".
META_TABLE = "codeseek_meta"
# A local database is a folder of one `<table>.lance` folder per table.
TABLE_FOLDER_SUFFIX = ".lance"
# How stale a remote reader's view of a table may be: each fresh look costs a LIST request
# (+15 to +35 ms a query against the test server), and a team index changes per publish.
REMOTE_READ_CONSISTENCY = timedelta(seconds=5)

# The definitions' names: a full-text index of their own, so a query that names a
# definition is scored against a few words, not diluted by a long body (search.py).
NAMES_COLUMN = "names"
TEXT_COLUMNS = (FTS_COLUMN, NAMES_COLUMN)


def partitions_for(rows: int) -> int:
    return max(16, int(math.sqrt(rows)))


def nprobes_for(rows: int) -> int:
    partitions = partitions_for(rows)
    per_partition = max(1, rows // partitions)
    wanted = max(math.ceil(SCAN_ROWS_PER_QUERY / per_partition), math.ceil(partitions * MIN_PROBE_FRACTION))
    return min(partitions, wanted)


def _slices(values: Sequence[str], size: int = SQL_SLICE) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


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
        try:
            self._fh = self._path.open("a+")
        except OSError as exc:
            self._local.release()
            raise store_error(exc, f"cannot lock the index at {self._path.parent}", writing=True) from None
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


class _NoLock:
    """A remote store's writers coordinate through LanceDB's commit protocol: a lock file
    on one machine would guard nothing on another."""

    def acquire(self, blocking: bool = True) -> bool:
        return True

    def release(self) -> None:
        pass

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        yield


class RemoteMeta:
    """`meta.json`'s job for a remote store: a one-row table, written by merge (so two
    publishers' records never tear each other)."""

    def __init__(self, store: IndexStore) -> None:
        self._store = store
        self.path = f"{store.where}/{META_TABLE}"

    def read(self) -> tuple[dict[str, Any], bool]:
        store = self._store
        table = store._table(META_TABLE)
        if table is None:
            return {}, False
        rows = store._call("cannot read the index's record", lambda: table.to_arrow().to_pylist())
        for row in rows:
            if row.get("key") == "meta":
                try:
                    data = json.loads(row.get("value") or "{}")
                except ValueError:
                    return {}, True
                return (data, False) if isinstance(data, dict) else ({}, True)
        return {}, False

    def write(self, meta: dict[str, Any]) -> None:
        store = self._store
        rows = pa.table({"key": ["meta"], "value": [json.dumps(meta)]}, schema=_META_SCHEMA)
        table = store._table(META_TABLE)
        if table is None:
            db = store._connect()
            table = store._call(
                "cannot create the index's record",
                lambda: db.create_table(META_TABLE, schema=_META_SCHEMA, exist_ok=True),
                writing=True,
            )
            with store._guard:
                store._tables[META_TABLE] = table
        store._call(
            "cannot write the index's record",
            lambda: (
                table.merge_insert("key")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(rows)
            ),
            writing=True,
        )


_META_SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False), ("value", pa.string())])


class IndexStore:
    """Read access to one index (model, dimensions) in one store folder, or at one
    object-store URI (then `storage_options` go to LanceDB: timeouts, allow_http)."""

    def __init__(
        self,
        path: Path | str,
        index_key: str,
        dimensions: int,
        *,
        storage_options: dict[str, str] | None = None,
    ) -> None:
        self.remote = is_remote(path)
        self.uri = str(path)
        # For messages and status: a URI without user info or signed query strings.
        self.where = mask_uri(self.uri) if self.remote else str(path)
        # The local folder; for a remote store only a name, never touched on disk.
        self.path = Path(self.where) if self.remote else Path(path)
        self.storage_options = dict(storage_options or {})
        self.index_key = index_key
        self.dimensions = dimensions
        if not self.remote and self.path.exists() and not self.path.is_dir():
            raise StoreError(f"the index location {self.path} exists and is not a directory")
        self.meta_file: MetaFile | RemoteMeta = RemoteMeta(self) if self.remote else MetaFile(self.path)
        self.lock: WriteLock | _NoLock = _NoLock() if self.remote else WriteLock(self.path / ".write.lock")
        self.chunks_name = f"chunks_{index_key}"
        self.files_name = f"files_{index_key}"
        self.vectors_name = f"vectors_{index_key}"
        self._db: Any = None
        self._tables: dict[str, Any] = {}
        self._guard = threading.RLock()
        self._vector_index: bool | None = None
        self._nprobes = 20
        self._writer_active = False

    def __repr__(self) -> str:
        return f"IndexStore({self.where!r}, {self.index_key!r})"

    # -- the boundary ------------------------------------------------------------------

    def _call(self, what: str, work: Callable[..., T], *args: Any, writing: bool = False) -> T:
        """Run one LanceDB operation, `work(*args)`; its errors become store errors."""
        try:
            return work(*args)
        except StoreError:
            raise
        except STORE_EXCEPTIONS as exc:
            raise store_error(exc, f"{what} ({self.where})", writing=writing, remote=self.remote) from None
        except BaseException as exc:
            if is_panic(exc):
                raise StoreDamaged(f"{what} ({self.where}): {short(exc)}") from None
            raise

    def _connect(self) -> Any:
        with self._guard:
            if self._db is None:
                lancedb = import_lancedb()
                if self.remote:
                    connect = lambda: lancedb.connect(  # noqa: E731
                        self.uri,
                        read_consistency_interval=REMOTE_READ_CONSISTENCY,
                        storage_options=self.storage_options,
                    )
                else:
                    connect = lambda: lancedb.connect(str(self.path), read_consistency_interval=timedelta(0))  # noqa: E731
                self._db = self._call("cannot open the index", connect)
            return self._db

    def _table_names(self) -> set[str]:
        if not self.remote:
            # A local database is a folder of `<table>.lance` folders: listed here without
            # LanceDB's namespace models, which a cold command never needs otherwise
            # (store/lancedb_import.py).
            try:
                return {
                    p.name[: -len(TABLE_FOLDER_SUFFIX)]
                    for p in self.path.iterdir()
                    if p.name.endswith(TABLE_FOLDER_SUFFIX) and p.is_dir()
                }
            except (FileNotFoundError, NotADirectoryError):
                return set()
            except OSError as exc:
                raise store_error(exc, f"cannot list the index's tables in {self.path}") from None
        db = self._connect()

        def names() -> set[str]:
            result = db.list_tables()
            return set(getattr(result, "tables", result))

        return self._call("cannot list the index's tables", names)

    def _table(self, name: str) -> Any | None:
        """The open table `name`, or None when it does not exist (yet)."""
        with self._guard:
            table = self._tables.get(name)
            if table is not None:
                return table
            if name not in self._table_names():
                return None
            db = self._connect()
            try:
                table = self._call(f"cannot open table {name}", lambda: db.open_table(name))
            except StoreDamaged as exc:
                # On object storage a table another publisher is creating right now is
                # listed before its first version is committed: missing, not damaged.
                if self.remote and "was not found" in str(exc):
                    return None
                raise
            self._tables[name] = table
            return table

    def forget_tables(self) -> None:
        """Drop cached table handles (after another process rebuilt them)."""
        with self._guard:
            self._tables.clear()
            self._vector_index = None

    def _read(self, what: str, name: str, work: Callable[[Any], T], empty: T) -> T:
        """Run `work(table)` on a table; a missing table reads as `empty`. A failure is
        retried once on freshly opened handles, since another process may have rebuilt
        the table since this one opened it."""
        for attempt in (0, 1):
            table = self._table(name)
            if table is None:
                return empty
            try:
                return self._call(what, work, table)
            except StoreDamaged:
                if attempt or self._writer_active:
                    raise
                self.forget_tables()
        raise AssertionError("unreachable")  # pragma: no cover

    # -- metadata ----------------------------------------------------------------------

    def read_meta(self) -> dict[str, Any]:
        return self.meta_file.read()[0]

    def index_meta(self) -> dict[str, Any]:
        section = self.read_meta().get("indexes", {})
        entry = section.get(self.index_key, {}) if isinstance(section, dict) else {}
        return dict(entry) if isinstance(entry, dict) else {}

    def schema_current(self) -> bool:
        return self.read_meta().get("schema_version") == SCHEMA_VERSION

    # -- reading -----------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether this index has been written at all."""
        return self.chunks_name in self._table_names() and self.schema_current()

    def count_chunks(self, where: str | None = None) -> int:
        return int(self._read("cannot count chunks", self.chunks_name, lambda t: t.count_rows(where), 0))

    def count_files(self) -> int:
        return int(self._read("cannot count files", self.files_name, lambda t: t.count_rows(), 0))

    def count_embedded(self) -> tuple[int, int]:
        """(chunks with a vector, chunks that get one)."""
        dense = self.count_chunks("dense = true")
        missing = self.count_chunks("dense = true AND vector IS NULL") if dense else 0
        return dense - missing, dense

    def file_records(self) -> dict[str, FileRecord]:
        def read(table: Any) -> dict[str, FileRecord]:
            return {r["path"]: FileRecord(**r) for r in table.to_arrow().to_pylist()}

        return self._read("cannot read the files table", self.files_name, read, {})

    def secrets_by_file(self) -> dict[str, int]:
        def read(table: Any) -> dict[str, int]:
            rows = table.search().where("secrets > 0").select(["path", "secrets"]).limit(None).to_arrow()
            return dict(zip(rows["path"].to_pylist(), rows["secrets"].to_pylist(), strict=True))

        return self._read("cannot read the files table", self.files_name, read, {})

    def all_paths(self) -> list[str]:
        def read(table: Any) -> list[str]:
            return sorted(table.search().select(["path"]).limit(None).to_arrow()["path"].to_pylist())

        return self._read("cannot read the files table", self.files_name, read, [])

    def languages(self) -> list[str]:
        def read(table: Any) -> list[str]:
            col = table.search().select(["language"]).limit(None).to_arrow()["language"]
            return sorted(set(col.to_pylist()))

        return self._read("cannot read the chunks table", self.chunks_name, read, [])

    def vector_search(self, vector: np.ndarray, limit: int, where: str | None = None) -> list[StoredChunk]:
        """Nearest embedded chunks by cosine similarity (vectors are normalised: 1 - dot)."""

        def search(table: Any) -> list[StoredChunk]:
            query = table.search(np.asarray(vector, dtype=np.float32), vector_column_name="vector")
            query = query.distance_type("dot").limit(limit).select([*CHUNK_COLUMNS, "_distance"])
            if self._has_vector_index(table):
                query = query.nprobes(self._nprobes)
            if where:
                query = query.where(where, prefilter=True)
            return stored_chunks(query.to_arrow(), "_distance", as_similarity=True)

        return self._read("cannot search the index", self.chunks_name, search, [])

    def _has_vector_index(self, table: Any) -> bool:
        if self._vector_index is None:
            self._vector_index = any("vector" in idx.columns for idx in table.list_indices())
            if self._vector_index:
                self._nprobes = nprobes_for(int(table.count_rows()))
        return self._vector_index

    def has_vector_index(self) -> bool:
        return self._read(
            "cannot list indexes",
            self.chunks_name,
            lambda t: any("vector" in idx.columns for idx in t.list_indices()),
            False,
        )

    def has_text_index(self) -> bool:
        """Whether every full-text column has its index."""
        return self._read(
            "cannot list indexes",
            self.chunks_name,
            lambda t: set(TEXT_COLUMNS) <= _text_indexed(t),
            False,
        )

    def text_search(
        self, text: str, limit: int, where: str | None = None, column: str = FTS_COLUMN
    ) -> list[StoredChunk]:
        """BM25 over `column`: the chunk text with its path and its identifiers split into
        words (`tokens`), or the definitions' names (`names`)."""
        if column not in TEXT_COLUMNS:
            raise ValueError(f"no full-text index on {column!r}")
        if not text.strip():
            return []

        def search(table: Any) -> list[StoredChunk]:
            if column not in _text_indexed(table):
                return []  # nothing written yet: the first batch creates the index
            query = table.search(text, query_type="fts", fts_columns=column)
            query = query.limit(limit).select([*CHUNK_COLUMNS, "_score"])
            if where:
                query = query.where(where, prefilter=True)
            return stored_chunks(query.to_arrow(), "_score")

        return self._read("cannot search the index", self.chunks_name, search, [])

    def chunk_at(self, path: str, line: int) -> tuple[StoredChunk, np.ndarray | None] | None:
        """The chunk of `path` that holds 1-based `line` (the innermost when nested), with
        its vector (None when it has none yet)."""
        where = f"path = {sql_string(path)} AND start_line <= {int(line)} AND end_line >= {int(line)}"

        def read(table: Any) -> tuple[StoredChunk, np.ndarray | None] | None:
            rows = table.search().where(where).select([*CHUNK_COLUMNS, "vector"]).limit(50).to_arrow()
            if rows.num_rows == 0:
                return None
            found = stored_chunks(rows)
            best = min(range(len(found)), key=lambda i: found[i].end_line - found[i].start_line)
            raw = rows["vector"][best].as_py()
            return found[best], (np.asarray(raw, dtype=np.float32) if raw is not None else None)

        return self._read("cannot read the chunks table", self.chunks_name, read, None)

    def definitions_named(self, symbols: Sequence[str], where: str | None = None) -> list[StoredChunk]:
        """Chunks of definitions with code (not declarations) whose symbol is one of
        `symbols`, in file order: what a declaration found by search is folded into."""
        if not symbols:
            return []
        clause = f"declaration = false AND {sql_in('symbol', symbols)}"
        if where:
            clause += f" AND ({where})"

        def read(table: Any) -> list[StoredChunk]:
            rows = table.search().where(clause).select(list(CHUNK_COLUMNS)).limit(len(symbols) * 50)
            return sorted(stored_chunks(rows.to_arrow()), key=lambda c: (c.path, c.start_line))

        return self._read("cannot read the chunks table", self.chunks_name, read, [])

    def chunks_of(self, path: str) -> list[StoredChunk]:
        def read(table: Any) -> list[StoredChunk]:
            rows = table.search().where(f"path = {sql_string(path)}").select(list(CHUNK_COLUMNS)).limit(None)
            return sorted(stored_chunks(rows.to_arrow()), key=lambda c: c.start_line)

        return self._read("cannot read the chunks table", self.chunks_name, read, [])

    def cached_vectors(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        def read(table: Any) -> dict[str, np.ndarray]:
            found: dict[str, np.ndarray] = {}
            for part in _slices(sorted(set(keys)), 1000):
                rows = (
                    table.search()
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

        if not keys:
            return {}
        return self._read("cannot read the vector cache", self.vectors_name, read, {})

    def unembedded(
        self, limit: int, first: Iterable[str] = (), only_first: bool = False
    ) -> list[PendingChunk]:
        """Up to `limit` chunks that want a vector and have none, those of the paths in
        `first` (open and recently changed files) before the others (`only_first`: none
        of the others)."""

        def read(table: Any) -> list[PendingChunk]:
            out: list[PendingChunk] = []
            base = "dense = true AND vector IS NULL"
            wanted = sorted(set(first))
            filters = [f"{base} AND {sql_in('path', part)}" for part in _slices(wanted)] if wanted else []
            if not only_first:
                filters.append(base)
            seen: set[str] = set()
            for where in filters:
                if len(out) >= limit:
                    break
                rows = (
                    table.search()
                    .where(where)
                    .select(["id", "path", "context", "text", "content_key"])
                    .limit(limit - len(out) + len(seen))
                    .to_arrow()
                    .to_pylist()
                )
                for row in rows:
                    if row["id"] not in seen and len(out) < limit:
                        seen.add(row["id"])
                        out.append(PendingChunk(**row))
            return out

        return self._read("cannot read the chunks table", self.chunks_name, read, [])

    def check(self, deep: bool = False) -> list[str]:
        """What cannot be read, without changing anything: [] when the index reads back.

        The quick check reads every file record and the key columns of every data file
        (a deleted or truncated fragment shows); `deep` reads every column and runs a
        full-text and a vector query (damaged index files show)."""
        problems: list[str] = []
        meta, damaged = self.meta_file.read()
        if damaged:
            problems.append("meta.json is damaged")
        if meta and meta.get("schema_version") not in (None, SCHEMA_VERSION):
            problems.append(f"the index was written by another version (schema {meta.get('schema_version')})")
        for name, columns in self._check_columns(deep).items():
            try:
                table = self._table(name)
                if table is not None:
                    self._call(f"cannot read table {name}", _scan, table, columns)
            except StoreError as exc:
                problems.append(str(exc))
                continue
        if deep and not problems:
            problems += self._check_indexes()
        return problems

    def _check_columns(self, deep: bool) -> dict[str, list[str] | None]:
        return {
            self.files_name: None,
            self.chunks_name: None if deep else ["id", "path"],
            self.vectors_name: None if deep else ["content_key"],
        }

    def _check_indexes(self) -> list[str]:
        problems = []
        table = self._table(self.chunks_name)
        if table is None:
            return []
        for column in TEXT_COLUMNS:
            try:
                self._call("the full-text index cannot be read", _probe_text_index, table, column)
            except StoreError as exc:
                problems.append(str(exc))
        try:
            self._call("the vector index cannot be read", lambda: _probe_vector_index(table, self.dimensions))
        except StoreError as exc:
            problems.append(str(exc))
        return problems

    # -- writing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self, *, deep: bool = False, root: Path | None = None) -> Iterator[IndexWriter]:
        """The one way to change the index: takes the lock (waiting for another process
        that holds it), heals what is damaged (`deep`: after a read failed, look harder),
        and yields the writer."""
        if not self.remote:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise store_error(exc, f"cannot create the index folder {self.path}", writing=True) from None
        with self.lock.held():
            self._writer_active = True
            self.forget_tables()  # another process may have written since
            try:
                writer = IndexWriter(self)
                writer.heal(deep=deep)
                yield writer
            finally:
                self._writer_active = False


class PendingChunk:
    """A stored chunk waiting for its vector: what the embedder needs of it."""

    __slots__ = ("content_key", "context", "id", "path", "text")

    def __init__(self, id: str, path: str, context: str | None, text: str, content_key: str) -> None:
        self.id = id
        self.path = path
        self.context = context or ""
        self.text = text
        self.content_key = content_key

    @property
    def embed_text(self) -> str:
        return Chunk(self.path, "", 0, 0, self.text, context=self.context).embed_text


def _scan(table: Any, columns: list[str] | None) -> None:
    """Read the columns of every fragment (all of them when `columns` is None)."""
    query = table.search().limit(None)
    if columns is not None:
        query = query.select(columns)
    for _ in query.to_batches(8192):
        pass


def _text_indexed(table: Any) -> set[str]:
    """The full-text columns that have their index."""
    return {column for idx in table.list_indices() for column in idx.columns if column in TEXT_COLUMNS}


def _probe_text_index(table: Any, column: str = FTS_COLUMN) -> None:
    if column in _text_indexed(table):
        table.search("codeseek", query_type="fts", fts_columns=column).limit(1).to_arrow()


def _probe_vector_index(table: Any, dimensions: int) -> None:
    if any("vector" in idx.columns for idx in table.list_indices()):
        probe = np.full(dimensions, 1.0 / math.sqrt(dimensions), dtype=np.float32)
        table.search(probe, vector_column_name="vector").distance_type("dot").limit(1).to_arrow()


class IndexWriter:
    """Writes to one index; exists only inside `IndexStore.writer()`, under the lock."""

    def __init__(self, store: IndexStore) -> None:
        self.store = store
        self.repairs: list[str] = []  # what healing fixed, for the log and the user
        self._text_index_known = False
        self._written_paths: set[str] = set()  # paths whose rows this writer wrote (remote dedupe)
        self._key_indexes: set[str] = set()  # tables whose key column has its B-tree
        self._written: dict[str, int] = {}  # rows written to each table since its compaction

    # -- tables ------------------------------------------------------------------------

    def _schemas(self) -> dict[str, pa.Schema]:
        s = self.store
        return {
            s.chunks_name: chunk_schema(s.dimensions),
            s.files_name: FILES_SCHEMA,
            s.vectors_name: vector_schema(s.dimensions),
        }

    def _table(self, name: str) -> Any:
        table = self.store._table(name)
        if table is None:
            table = self._create(name, self._schemas()[name])
        return table

    def _create(self, name: str, schema: pa.Schema) -> Any:
        store = self.store
        db = store._connect()
        if store.remote:
            # Another publisher may create it at the same moment: then both use one table.
            table = store._call(
                f"cannot create table {name}",
                lambda: db.create_table(name, schema=schema, exist_ok=True),
                writing=True,
            )
            with store._guard:
                store._tables[name] = table
            return table
        try:
            table = store._call(
                f"cannot create table {name}", lambda: db.create_table(name, schema=schema), writing=True
            )
        except StoreDamaged:
            # A folder left by a table whose manifest is gone: not a table, not empty.
            self._remove_folder(name)
            table = store._call(
                f"cannot create table {name}", lambda: db.create_table(name, schema=schema), writing=True
            )
        with store._guard:
            store._tables[name] = table
        return table

    def _drop(self, name: str) -> None:
        store = self.store
        with store._guard:
            store._tables.pop(name, None)
            store._vector_index = None
        db = store._connect()
        try:
            store._call(f"cannot drop table {name}", lambda: db.drop_table(name), writing=True)
        except StoreError as exc:
            log.info("dropping %s failed (%s); removing its folder", name, exc)
        self._remove_folder(name)

    def _remove_folder(self, name: str) -> None:
        if self.store.remote:
            return
        folder = self.store.path / f"{name}{TABLE_FOLDER_SUFFIX}"
        if folder.exists():
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                raise store_error(exc, f"cannot remove the damaged table {folder}", writing=True) from None

    def _rebuild(self, name: str, why: str) -> Any:
        if self.store.remote:
            # Other machines read and write this table: it is never dropped from here.
            raise StoreDamaged(
                f"table {name} of the shared index at {self.store.where} cannot be used ({why})"
            )
        log.warning("index table %s is damaged (%s); rebuilding it", name, why)
        self.repairs.append(f"{name.split('_', 1)[0]} table rebuilt ({why})")
        self._drop(name)
        return self._create(name, self._schemas()[name])

    # -- healing -----------------------------------------------------------------------

    def heal(self, deep: bool = False) -> None:
        """Bring the store to a state every reader can read: see the module docstring."""
        store = self.store
        if store.remote:
            self._check_remote()
            return
        meta, damaged = store.meta_file.read()
        if damaged:
            self.repairs.append("meta.json rewritten")
            log.warning("%s is damaged; rewriting it", store.meta_file.path)
            meta = {}
        version = meta.get("schema_version")
        names = store._table_names()
        if version != SCHEMA_VERSION and names and version is not None:
            log.warning(
                "index at %s has schema %s; rebuilding it for schema %s", store.path, version, SCHEMA_VERSION
            )
            self.repairs.append(f"rebuilt for a new layout (schema {version} -> {SCHEMA_VERSION})")
            for name in names:
                if name.startswith(("chunks_", "files_")):
                    self._drop(name)
        if damaged or version != SCHEMA_VERSION:
            meta["schema_version"] = SCHEMA_VERSION
            store.meta_file.write(meta)
        rebuilt: set[str] = set()
        for name, schema in self._schemas().items():
            if self._heal_table(name, schema, deep):
                rebuilt.add(name)
        pair = {store.chunks_name, store.files_name}
        if rebuilt & pair and not pair <= rebuilt:
            # Without its partner the other would claim files are indexed whose chunks
            # are gone (or hold chunks nobody tracks). The vector cache refills them.
            for name in pair - rebuilt:
                self._rebuild(name, "its partner table was rebuilt")
        self._reconcile()
        if deep:
            self._heal_indexes()

    def _check_remote(self) -> None:
        """A remote store is checked, never rebuilt: a layout this version cannot write is
        the publisher's to resolve (publish to a new URI), not a reason to drop tables
        other machines use. Full scans are left out too: each would read the whole index
        (vectors and all) over the network on every publish."""
        store = self.store
        meta, damaged = store.meta_file.read()
        version = meta.get("schema_version")
        names = store._table_names()
        if version not in (None, SCHEMA_VERSION) and names & set(self._schemas()):
            raise StoreError(
                f"the shared index at {store.where} has layout {version} and this codeseek writes "
                f"layout {SCHEMA_VERSION}: publish to a new location"
            )
        for name, schema in self._schemas().items():
            table = store._table(name)
            if table is None:
                continue
            actual = store._call(f"cannot read table {name}", lambda t=table: t.schema)
            if not actual.equals(schema, check_metadata=False):
                raise StoreError(f"table {name} of the shared index at {store.where} has unexpected columns")
        if damaged or version != SCHEMA_VERSION:
            meta["schema_version"] = SCHEMA_VERSION
            store.meta_file.write(meta)
        # Two columns of each table, not a scan: what a publisher that raced another one
        # left torn is redone by this run.
        self._reconcile()

    def _heal_table(self, name: str, schema: pa.Schema, deep: bool) -> bool:
        """Open and read `name`; rebuild it when either fails. True when rebuilt."""
        store = self.store
        try:
            table = store._table(name)
        except StoreError as exc:
            self._rebuild(name, str(exc))
            return True
        if table is None:
            return False
        try:
            actual = store._call(f"cannot read table {name}", lambda: table.schema)
        except StoreError as exc:
            self._rebuild(name, str(exc))
            return True
        if not actual.equals(schema, check_metadata=False):
            self._rebuild(name, "unexpected columns")
            return True
        columns = store._check_columns(deep)[name]
        try:
            store._call(f"cannot read table {name}", lambda: _scan(table, columns))
        except StoreError as exc:
            self._rebuild(name, str(exc))
            return True
        return False

    def _reconcile(self) -> None:
        """Every file's chunks and its record agree, so the next run redoes exactly the
        files that were torn. Chunks without a record (a run killed between the two
        commits) and chunks of another version of their file (two publishers writing one
        file at the same moment: one's chunks, the other's record) are removed; a record
        whose chunks are all gone is removed too, so the file counts as new."""
        store = self.store
        chunks = store._table(store.chunks_name)
        files = store._table(store.files_name)
        if chunks is None or files is None:
            return
        stored = store._call(
            "cannot read the chunks table",
            lambda: chunks.search().select(["path", "file_hash"]).limit(None).to_arrow(),
        )
        versions: dict[str, dict[str, int]] = {}
        for path, digest in zip(stored["path"].to_pylist(), stored["file_hash"].to_pylist(), strict=True):
            counts = versions.setdefault(path, {})
            counts[digest] = counts.get(digest, 0) + 1
        records = store._call(
            "cannot read the files table",
            lambda: files.search().select(["path", "hash", "chunks"]).limit(None).to_arrow().to_pylist(),
        )
        recorded = {r["path"]: r for r in records}
        orphans = sorted(versions.keys() - recorded.keys())
        # A record is whole when exactly its chunks are stored (one row per chunk); chunks
        # of the same code at the same place share an id across versions, so a torn
        # write can leave a record with part of its chunks.
        torn = sorted(
            p
            for p, r in recorded.items()
            if versions.get(p, {}) != ({r["hash"]: r["chunks"]} if r["chunks"] else {})
        )
        if orphans:
            log.info("removing chunks of %d files a killed run left without a record", len(orphans))
            self._delete_paths(chunks, "chunks", orphans)
        if torn:
            log.info("%d files have chunks that do not match their record; indexing them again", len(torn))
            self._delete_paths(chunks, "chunks", [p for p in torn if p in versions])
            self._delete_paths(files, "files", torn)

    def _delete_paths(self, table: Any, name: str, paths: Sequence[str]) -> None:
        for part in _slices(paths):
            self.store._call(
                f"cannot write the {name} table", table.delete, sql_in("path", part), writing=True
            )

    def _heal_indexes(self) -> None:
        store = self.store
        table = store._table(store.chunks_name)
        if table is None:
            return
        probes: list[tuple[str, Callable[[Any], None]]] = [
            *((column, functools.partial(_probe_text_index, column=column)) for column in TEXT_COLUMNS),
            ("vector", lambda t: _probe_vector_index(t, store.dimensions)),
        ]
        for column, probe in probes:
            try:
                store._call(f"cannot read the {column} index", probe, table)
            except StoreError as exc:
                log.warning("the %s index of %s is damaged (%s); rebuilding it", column, store.path, exc)
                self.repairs.append(f"{'full-text' if column in TEXT_COLUMNS else 'vector'} index rebuilt")
                self._drop_index(table, column)
                if column == "vector":
                    self.update_meta(vector_index_rows=0)

    def _drop_index(self, table: Any, column: str) -> None:
        store = self.store
        try:
            names = [
                idx.name
                for idx in store._call("cannot list indexes", table.list_indices)
                if column in idx.columns
            ]
        except StoreError:
            names = []
        for index_name in names:
            with contextlib.suppress(StoreError):
                store._call(f"cannot drop index {index_name}", table.drop_index, index_name, writing=True)
        # Whatever is left of it is replaced when the index is created again.
        if column in TEXT_COLUMNS:
            self.ensure_text_index(replace=True)
        store._vector_index = None

    # -- metadata ----------------------------------------------------------------------

    def update_meta(self, **values: Any) -> None:
        meta = self.store.read_meta()
        meta["schema_version"] = SCHEMA_VERSION
        section = meta.setdefault("indexes", {}).setdefault(self.store.index_key, {})
        section.update(values)
        self.store.meta_file.write(meta)

    def record_current(self, root: Path, provider: str, model: str, reason: str) -> None:
        """Mark this index as the one the workspace uses now, if it is not already."""
        meta = self.store.read_meta()
        current = {
            "index_key": self.store.index_key,
            "provider": provider,
            "model": model,
            "dimensions": self.store.dimensions,
            "reason": reason,
        }
        if meta.get("current") == current and meta.get("root") == str(root):
            return
        meta["schema_version"] = SCHEMA_VERSION
        meta["root"] = str(root)
        meta["current"] = current
        self.store.meta_file.write(meta)

    # -- rows --------------------------------------------------------------------------

    def file_records(self) -> dict[str, FileRecord]:
        return self.store.file_records()

    def replace_files(
        self,
        records: Sequence[FileRecord],
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        present: Sequence[bool] | None = None,
    ) -> None:
        """Replace every chunk of the files in `records` by `chunks` in one commit, so a
        search sees either the old version of a file or the new one, never both or
        neither; then record the files. `present[i]` False: chunk i has no vector yet."""
        if not records:
            return
        store = self.store
        present = [True] * len(chunks) if present is None else list(present)
        paths = sorted({r.path for r in records})
        self._written_paths.update(paths)
        rows = chunk_rows(chunks, vectors, present, store.dimensions, {r.path: r.hash for r in records})
        table = self._table(store.chunks_name)

        def write() -> bool:
            # On a remote store another publisher may add the same file at the same time:
            # only a merge by row id keeps its chunks from appearing twice.
            has_rows = store.remote or any(
                table.count_rows(sql_in("path", part)) > 0 for part in _slices(paths)
            )
            if not has_rows:
                if rows.num_rows:
                    table.add(rows)
                return False
            (
                table.merge_insert("id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(sql_in("path", paths))
                # Chunks without a vector yet are null rows, which the merge would
                # otherwise refuse as "variable length vectors".
                .execute(rows, on_bad_vectors="null")
            )
            return True

        # The chunks table itself decides between append and merge, not the files table:
        # a run killed after writing a file's chunks but before its record must not get
        # them appended twice.
        merged = store._call("cannot write the chunks table", write, writing=True)
        if rows.num_rows and not self._text_index_known:
            # Before the records: once a file shows as indexed, its words are searchable.
            self.ensure_text_index()
            self._text_index_known = True
        self._upsert_files(records)
        store._vector_index = None if store._vector_index is False else store._vector_index
        # Appends (a first index's chunking) make one fragment a batch and need no
        # compaction until the run's end; merges (changed files) leave deletions behind.
        self._wrote(store.chunks_name, rows.num_rows if merged else 0)

    def set_vectors(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Fill in the vectors of stored chunks (the second phase of a run)."""
        if not ids:
            return
        store = self.store
        rows = pa.table(
            {
                "id": pa.array(list(ids), pa.string()),
                "vector": vector_array(vectors.reshape(len(ids), store.dimensions), store.dimensions),
            }
        )
        table = self._table(store.chunks_name)
        store._call(
            "cannot write the chunks table",
            lambda: table.merge_insert("id").when_matched_update_all().execute(rows),
            writing=True,
        )
        self._wrote(store.chunks_name, len(ids))

    def _wrote(self, name: str, rows: int) -> None:
        """Count rows written to table `name`; compact it every COMPACT_EVERY_ROWS."""
        if name not in self._key_indexes and name in self._keys():
            self.ensure_key_index(name)
        self._written[name] = self._written.get(name, 0) + rows
        if self._written[name] >= COMPACT_EVERY_ROWS:
            # A compaction rewrites every fragment smaller than LanceDB's target (a
            # million rows), so the whole table: waiting for a share of the table keeps
            # a long first index's compactions at a few table sizes in all.
            size = int(self.store._call("cannot count rows", self._table(name).count_rows))
            if self._written[name] >= max(COMPACT_EVERY_ROWS, int(size * COMPACT_SHARE)):
                self.compact(name)

    def settle_chunks(self, appended: int) -> None:
        """After a first index's chunking appended `appended` rows: one compaction folds
        its fragments and brings the full-text and id indexes over all of them, for the
        searches and the merges by id of the (long) embedding phase that follows."""
        if appended >= COMPACT_EVERY_ROWS:
            self.compact(self.store.chunks_name)

    def compact(self, name: str) -> None:
        """Merge the small fragments of table `name`, fold new rows into its indexes and
        drop old versions, then hand the memory that took back to the system."""
        store = self.store
        self._written[name] = 0
        table = self._table(name)

        def run() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table.optimize(cleanup_older_than=KEEP_VERSIONS_FOR)

        store._call(f"cannot optimize table {name}", run, writing=True)
        release_memory()

    def _upsert_files(self, records: Sequence[FileRecord]) -> None:
        self._written_paths.update(r.path for r in records)
        table = self._table(self.store.files_name)
        rows = file_rows(records)
        self.store._call(
            "cannot write the files table",
            lambda: (
                table.merge_insert("path")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(rows)
            ),
            writing=True,
        )

    def touch_files(self, records: Sequence[FileRecord]) -> None:
        """Record a new mtime for files whose content did not change (a `touch`, a
        checkout that rewrote identical files), so the next run costs a stat again."""
        if records:
            self._upsert_files(records)

    def delete_files(self, paths: Iterable[str]) -> None:
        """Remove files and their chunks: chunks first, so a crash in between leaves a
        file row without chunks, which the next writer notices and repairs."""
        store = self.store
        chunks = self._table(store.chunks_name)
        files = self._table(store.files_name)
        wanted = sorted(set(paths))
        self._delete_paths(chunks, "chunks", wanted)
        self._delete_paths(files, "files", wanted)

    def clear(self) -> None:
        """Empty this index, vector cache included (`index --full`). Rows are deleted
        rather than tables dropped, so a concurrent reader (a search while the server
        rebuilds) sees an empty version, never a missing table. A shared index keeps its
        vector cache: every branch and commit publishing there shares it."""
        names = [self.store.chunks_name, self.store.files_name]
        if not self.store.remote:
            names.append(self.store.vectors_name)
        for name in names:
            table = self._table(name)
            self.store._call(f"cannot clear table {name}", table.delete, "true", writing=True)
        self.update_meta(vector_index_rows=0)

    # -- vector cache --------------------------------------------------------------------

    def cached_vectors(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        return self.store.cached_vectors(keys)

    def cache_vectors(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        if not keys:
            return
        store = self.store
        rows = pa.table(
            {"content_key": list(keys), "vector": vector_array(vectors, store.dimensions)},
            schema=vector_schema(store.dimensions),
        )
        table = self._table(store.vectors_name)
        store._call(
            "cannot write the vector cache",
            lambda: table.merge_insert("content_key").when_not_matched_insert_all().execute(rows),
            writing=True,
        )
        self._wrote(store.vectors_name, len(keys))

    def _trim_vector_cache(self) -> None:
        store = self.store
        if store.remote:
            return  # other branches' vectors: what makes publishing their commits cheap
        vectors = self._table(store.vectors_name)
        chunks = self._table(store.chunks_name)
        live = int(store._call("cannot count chunks", chunks.count_rows))
        limit = max(VECTOR_CACHE_FLOOR, int(live * VECTOR_CACHE_SLACK))
        if int(store._call("cannot count the vector cache", vectors.count_rows)) <= limit:
            return

        def keys(table: Any) -> list[str]:
            return table.search().select(["content_key"]).limit(None).to_arrow()["content_key"].to_pylist()

        in_use = set(store._call("cannot read the chunks table", lambda: keys(chunks)))
        stale = [
            k for k in store._call("cannot read the vector cache", lambda: keys(vectors)) if k not in in_use
        ]
        for part in _slices(stale, 1000):
            store._call(
                "cannot trim the vector cache",
                vectors.delete,
                sql_in("content_key", part),
                writing=True,
            )

    # -- maintenance ---------------------------------------------------------------------

    def ensure_text_index(self, replace: bool = False) -> None:
        """The full-text index, created once there are rows (LanceDB searches rows added
        after it too, until `optimize` folds them in)."""
        import_lancedb()
        from lancedb.index import FTS

        store = self.store
        table = self._table(store.chunks_name)
        indexed = set() if replace else store._call("cannot list indexes", _text_indexed, table)
        missing = [column for column in TEXT_COLUMNS if column not in indexed]
        if not missing:
            return
        if int(store._call("cannot count chunks", table.count_rows)) == 0:
            return
        for column in missing:
            store._call(
                "cannot build the full-text index",
                functools.partial(table.create_index, column, config=FTS(with_position=False), replace=True),
                writing=True,
            )

    def dedupe_remote(self, attempts: int = 3) -> int:
        """Rows another publisher inserted under the same key at the same moment, made one
        again; returns how many extra rows were removed. LanceDB rebases two concurrent
        `merge_insert`s that both insert one new key as two compatible appends (measured:
        53 chunk rows for 28 ids when two publishers raced on every commit), so a publisher
        checks the keys of what it wrote. Each pass deletes the duplicated keys and adds one
        row back; a pass that raced with the other publisher's is repeated."""
        store = self.store
        if not store.remote or not self._written_paths:
            return 0
        removed = 0
        for attempt in range(attempts):
            found = sum(
                self._dedupe(name, key, schema)
                for name, key, schema in (
                    (store.chunks_name, "id", chunk_schema(store.dimensions)),
                    (store.files_name, "path", FILES_SCHEMA),
                )
            )
            removed += found
            if not found:
                break
            time.sleep(random.uniform(0.1, 0.5) * (attempt + 1))
        return removed

    def _dedupe(self, name: str, key: str, schema: pa.Schema) -> int:
        store = self.store
        table = self._table(name)
        counts: dict[str, int] = {}
        for part in _slices(sorted(self._written_paths)):
            keys = store._call(
                f"cannot read the {name} table",
                lambda p=part: table.search().where(sql_in("path", p)).select([key]).limit(None).to_arrow(),
            )[key].to_pylist()
            for k in keys:
                counts[k] = counts.get(k, 0) + 1
        duplicated = sorted(k for k, n in counts.items() if n > 1)
        for part in _slices(duplicated):
            rows = store._call(
                f"cannot read the {name} table",
                lambda p=part: table.search().where(sql_in(key, p)).limit(None).to_arrow().to_pylist(),
            )
            one: dict[str, dict[str, Any]] = {}
            for row in rows:
                kept = one.get(row[key])
                if kept is None or (kept.get("vector") is None and row.get("vector") is not None):
                    one[row[key]] = row
            unique = pa.Table.from_pylist(
                [{f: r.get(f) for f in schema.names} for r in one.values()], schema=schema
            )
            store._call(f"cannot write the {name} table", table.delete, sql_in(key, part), writing=True)
            store._call(f"cannot write the {name} table", table.add, unique, writing=True)
        if duplicated:
            log.info(
                "%s: %d keys another publisher wrote at the same time made one again", name, len(duplicated)
            )
        return sum(counts[k] - 1 for k in duplicated)

    def _keys(self) -> dict[str, str]:
        """The column each table is merged on, row by row."""
        return {self.store.chunks_name: "id", self.store.vectors_name: "content_key"}

    def ensure_key_index(self, name: str) -> None:
        """A B-tree over the key column of table `name` (chunk ids, the vector cache's
        content keys), created once there are rows: filling in vectors merges by id and
        looks up and adds cached vectors by key, and without it each of those scans the
        whole table, a cost that grows with every batch of a first index."""
        store = self.store
        column = self._keys()[name]
        table = self._table(name)

        def state() -> str:
            if any(idx.columns == [column] for idx in table.list_indices()):
                return "built"
            return "missing" if table.count_rows() else "no rows yet"

        found = store._call("cannot list indexes", state)
        if found == "no rows yet":
            return
        if found == "missing":
            from lancedb.index import BTree

            store._call(
                f"cannot build the {column} index",
                lambda: table.create_index(column, config=BTree(), replace=True),
                writing=True,
            )
        self._key_indexes.add(name)

    def optimize(self) -> None:
        """After a run: every table compacted, its full-text and id indexes brought up to
        date, old versions removed; the vector index built or retrained once nothing
        waits for a vector (built during a long first index, it would be rebuilt again
        and again as the table grows)."""
        store = self.store
        if store.remote and self._written_paths:
            self.dedupe_remote()
            store.forget_tables()  # the other publisher's last commits, not the version opened first
            self._reconcile()
        for name in (store.chunks_name, store.files_name, store.vectors_name):
            self.compact(name)
        self.ensure_text_index()
        rows = store.count_chunks("vector IS NOT NULL")
        waiting = store.count_chunks("dense = true AND vector IS NULL")
        if rows >= VECTOR_INDEX_MIN_ROWS and not waiting:
            trained = int(store.index_meta().get("vector_index_rows") or 0)
            # New rows join the existing partitions on optimize; once the table has
            # grown well past what the partitions were trained on, they are retrained.
            # Built after compaction: an index remapped by a compaction right after its
            # build searched 3x slower (17 ms against 5 ms at 100,000 chunks).
            if not store.has_vector_index() or rows > RETRAIN_GROWTH * max(trained, 1):
                self._create_vector_index(rows)
        self._trim_vector_cache()

    def _create_vector_index(self, rows: int) -> None:
        # IVF_FLAT keeps exact vectors (no quantisation loss) and built in 14 s at 100,000
        # rows here, against 64 s for IVF_PQ, at the same query latency.
        import_lancedb()
        from lancedb.index import IvfFlat

        store = self.store
        partitions = partitions_for(rows)
        log.info("building a vector index over %d chunks (%d partitions)", rows, partitions)
        table = self._table(store.chunks_name)
        store._call(
            "cannot build the vector index",
            lambda: table.create_index(
                "vector", config=IvfFlat(distance_type="dot", num_partitions=partitions), replace=True
            ),
            writing=True,
        )
        store._vector_index = None
        self.update_meta(vector_index_rows=rows)
