"""A team index: one shared index on object storage, searched at once, under a local
overlay for what differs here.

Everything is keyed by content. A publisher (`codeseek index PATH --publish URI`, run in
CI) brings the shared index up to its workspace: files are diffed by content hash and
chunk vectors come from the shared vector cache by chunk content, so publishing a commit
costs model calls only for chunks nobody embedded before, whatever branch embedded them.
Publishers on different machines coordinate through LanceDB's commit protocol; a commit
that loses a race it cannot rebase is retried here (`publish`).

A teammate (`store.shared = URI`) keeps an ordinary local index as an *overlay*: a file
whose content hash equals the shared one is recorded there without chunks (the shared
index serves it); any other file (a local edit, another branch, an untracked file) is
chunked locally, with its vectors taken from the shared cache first. A shared file that
is not here (deleted, ignored) is *hidden*. Search (`TeamSource`, the same chunk source
the Searcher uses for one folder) asks both and lets the overlay win for its files.

The storage may go away. Every call to it has a deadline; after a failure it is left
alone for a while, so the editor never waits on it twice in a row; search then answers
from the overlay and the last fetched list of shared files (`team.json` beside the local
index), and says so.
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import numpy as np

from codeseek.config import Config
from codeseek.errors import StoreConflict, StoreError, StoreUnreachable
from codeseek.model import TeamStatus
from codeseek.store.errors import short
from codeseek.store.lance import FTS_COLUMN, IndexStore
from codeseek.store.location import mask_uri, storage_options
from codeseek.store.schema import FileRecord, StoredChunk, sql_in

log = logging.getLogger(__name__)
T = TypeVar("T")

# A search waits this long for the shared index; past it, it answers from the overlay.
SEARCH_DEADLINE_S = 8.0
# Fetching the list of shared files (a read of its files table).
FETCH_DEADLINE_S = 30.0
# After a failure the storage is not asked again for this long.
RETRY_AFTER_S = 30.0
# An index run re-reads the shared list when it is older than this.
REFETCH_AFTER_S = 60.0
# Commits that lost a race LanceDB could not rebase are retried this often, with backoff.
PUBLISH_ATTEMPTS = 8
# Excluded paths up to this many go into the shared query itself; more are filtered after.
MAX_PREFILTER_PATHS = 2000
TEAM_FILE = "team.json"


def within(seconds: float, what: str, work: Callable[[], T]) -> T:
    """`work()` with a deadline. LanceDB calls cannot be interrupted: one that overruns is
    left to finish on its own thread (its result is dropped) and the caller hears now."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="codeseek-shared", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise StoreUnreachable(f"{what}: no answer within {seconds:.0f}s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def publish(index: Callable[[], T], where: str, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run a publishing index run, again on a new version of the shared index when it lost a
    commit race (a run is incremental: a retry redoes only what did not commit)."""
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        try:
            return index()
        except StoreConflict as exc:
            if attempt == PUBLISH_ATTEMPTS:
                raise StoreConflict(
                    f"publishing to {where} lost {attempt} commit races with other publishers; "
                    f"run it again ({exc})"
                ) from None
            delay = min(8.0, 0.25 * 2**attempt) * random.uniform(0.5, 1.5)
            log.info("publishing to %s: another publisher committed first; retrying in %.1fs", where, delay)
            sleep(delay)
        except StoreUnreachable as exc:
            raise StoreUnreachable(
                f"publishing to {where} stopped: {exc}. Everything committed before stays; "
                "run the same command again to finish"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class SharedState:
    """The last fetched list of the shared index's files, kept in `team.json`."""

    uri: str  # masked
    index_key: str
    files: dict[str, str] = field(default_factory=dict)  # path -> content hash
    chunks: int = 0
    fetched_at: str | None = None  # ISO 8601, UTC

    def to_json(self) -> dict[str, object]:
        return {
            "uri": self.uri,
            "index_key": self.index_key,
            "files": self.files,
            "chunks": self.chunks,
            "fetched_at": self.fetched_at,
        }


class TeamIndex:
    """The shared index at `uri` as one folder's service sees it (see the module docstring).
    Thread-safe: the worker fetches while searches read."""

    def __init__(self, uri: str, local_dir: Path, index_key: str, dimensions: int, config: Config) -> None:
        self.where = mask_uri(uri)
        self.shared = IndexStore(
            uri, index_key, dimensions, storage_options=storage_options(config, writing=False)
        )
        self._file = local_dir / TEAM_FILE
        self._lock = threading.Lock()
        self._state = self._load(index_key)
        self._failed_at: float | None = None
        self._error: str | None = None
        self._fetched_mono: float | None = None
        self._overlay: dict[str, str] | None = None  # the overlay's files and hashes, once known
        self._view: tuple[frozenset[str], frozenset[str], bool] = (frozenset(), frozenset(), False)
        self._view_of: tuple[object, object] | None = None

    # -- the shared list ------------------------------------------------------------------

    def _load(self, index_key: str) -> SharedState:
        empty = SharedState(self.where, index_key)
        try:
            data = json.loads(self._file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return empty
        if not isinstance(data, dict) or data.get("uri") != self.where or data.get("index_key") != index_key:
            return empty
        files = data.get("files")
        if not isinstance(files, dict):
            return empty
        return SharedState(
            self.where,
            index_key,
            {str(k): str(v) for k, v in files.items()},
            int(data.get("chunks") or 0),
            data.get("fetched_at") if isinstance(data.get("fetched_at"), str) else None,
        )

    def _save(self, state: SharedState) -> None:
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._file.parent, prefix=".team-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(state.to_json(), fh)
            os.replace(tmp, self._file)
        except OSError as exc:
            # Only the offline fallback needs it; the shared index still works without.
            log.warning("cannot keep the shared index's file list at %s: %s", self._file, exc)

    def cooling(self) -> bool:
        """Whether the storage failed recently and is left alone for now."""
        with self._lock:
            return self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER_S

    def _failed(self, exc: BaseException) -> None:
        message = short(exc)
        with self._lock:
            self._failed_at = time.monotonic()
            self._error = message
        log.warning("the shared index at %s is unreachable: %s", self.where, message)

    def _answered(self) -> None:
        with self._lock:
            self._failed_at = None
            self._error = None

    def fetch(self, deadline: float = FETCH_DEADLINE_S) -> bool:
        """Read the shared index's file list (within `deadline` seconds). True when it was
        read; False when the storage is away (the last fetched list stays in use)."""
        if self.cooling():
            return False
        shared = self.shared

        def read() -> tuple[dict[str, FileRecord], int]:
            shared.forget_tables()  # see the latest publish, not the version opened first
            return shared.file_records(), shared.count_chunks()

        try:
            records, chunks = within(deadline, f"reading the shared index at {self.where}", read)
        except StoreError as exc:
            self._failed(exc)
            return False
        state = SharedState(
            self.where,
            shared.index_key,
            {path: r.hash for path, r in records.items()},
            chunks,
            datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        with self._lock:
            self._state = state
            self._fetched_mono = time.monotonic()
        self._answered()
        self._save(state)
        return True

    def stale(self, max_age: float = REFETCH_AFTER_S) -> bool:
        """Whether the shared list is old enough to read again (and the storage is not
        being left alone after a failure). A publish since then may have moved files on."""
        with self._lock:
            fresh = self._fetched_mono is not None and time.monotonic() - self._fetched_mono < max_age
        return not fresh and not self.cooling()

    def fetch_if_stale(self, max_age: float = REFETCH_AFTER_S) -> bool:
        return self.fetch() if self.stale(max_age) else False

    @property
    def state(self) -> SharedState:
        with self._lock:
            return self._state

    # -- what the overlay indexer asks (indexer.SharedBase) ---------------------------------

    def hash_of(self, path: str) -> str | None:
        return self.state.files.get(path)

    def vectors(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        if not keys or self.cooling():
            return {}
        try:
            found = within(
                FETCH_DEADLINE_S,
                f"reading the shared vector cache at {self.where}",
                lambda: self.shared.cached_vectors(keys),
            )
        except StoreError as exc:
            self._failed(exc)
            return {}
        self._answered()
        return found

    # -- the overlay --------------------------------------------------------------------

    def stale_records(self, records: Mapping[str, FileRecord]) -> list[str]:
        """Overlay records whose side changed with the shared list: a file recorded as
        served by the shared index whose shared version moved on, or a file chunked here
        whose content the shared index now has. Dropping them makes the next run redo them."""
        files = self.state.files
        return sorted(p for p, r in records.items() if (r.chunks == 0) != (files.get(p) == r.hash))

    def note_overlay(self, records: Mapping[str, FileRecord]) -> None:
        """The overlay's files after a run (or as found on disk at start)."""
        overlay = {p: r.hash for p, r in records.items()}
        with self._lock:
            self._overlay = overlay

    def view(self) -> tuple[frozenset[str], frozenset[str], bool]:
        """(files the overlay serves: their content differs here, shared files this
        workspace lacks, whether the overlay is known). Until the overlay is built, the
        shared index is searched whole."""
        with self._lock:
            state, overlay = self._state, self._overlay
            if self._view_of is not None and self._view_of[0] is state and self._view_of[1] is overlay:
                return self._view
        if overlay is None:
            view: tuple[frozenset[str], frozenset[str], bool] = (frozenset(), frozenset(), False)
        else:
            files = state.files
            owned = frozenset(p for p, h in overlay.items() if files.get(p) != h)
            hidden = frozenset(p for p in files if p not in overlay)
            view = (owned, hidden, True)
        with self._lock:
            self._view, self._view_of = view, (state, overlay)
        return view

    def source(self, overlay: IndexStore) -> TeamSource:
        return TeamSource(self, overlay)

    def status(self) -> TeamStatus:
        state = self.state
        owned, hidden, _ = self.view()
        with self._lock:
            error = self._error
        return TeamStatus(
            shared=self.where,
            shared_files=len(state.files),
            shared_chunks=state.chunks,
            overlay_files=len(owned),
            hidden=len(hidden),
            fetched_at=state.fetched_at,
            reachable=error is None,
            error=error,
        )

    def unreachable_note(self) -> str:
        state = self.state
        with self._lock:
            error = self._error or "not answering"
        since = f"as of {state.fetched_at}" if state.fetched_at else "never fetched"
        return (
            f"the shared index at {self.where} is unreachable ({error}); showing local changes "
            f"only (shared file list {since})"
        )


def _and(*clauses: str | None) -> str | None:
    parts = [c for c in clauses if c]
    return " AND ".join(f"({c})" for c in parts) or None


class TeamSource:
    """The chunks a search sees: the shared index's, less the files the overlay serves or
    this workspace lacks, plus the overlay's. The same chunk source a Searcher uses for a
    single index (search.ChunkSource), so fusion, filters and reranking are unchanged."""

    def __init__(self, team: TeamIndex, overlay: IndexStore) -> None:
        self.team = team
        self.overlay = overlay
        self.owned, self.hidden, self.overlay_known = team.view()
        self.files = team.state.files
        self.note: str | None = None  # why the shared index was left out, for the result

    # -- the two sides ---------------------------------------------------------------------

    def _shared(self, what: str, work: Callable[[], list[StoredChunk]]) -> list[StoredChunk]:
        team = self.team
        if team.cooling():
            self.note = team.unreachable_note()
            return []
        try:
            found = within(SEARCH_DEADLINE_S, f"{what} at {team.where}", work)
        except StoreError as exc:
            team._failed(exc)
            self.note = team.unreachable_note()
            return []
        team._answered()
        excluded = self.owned | self.hidden
        files = self.files
        # A chunk counts only when it belongs to the file version the list names: rows a
        # concurrent publisher wrote after the list was read wait for the next fetch.
        return [
            c
            for c in found
            if c.path not in excluded
            and (not files or files.get(c.path) == (c.file_hash or files.get(c.path)))
        ]

    def _shared_where(self, where: str | None) -> str | None:
        excluded = sorted(self.owned | self.hidden)
        if excluded and len(excluded) <= MAX_PREFILTER_PATHS:
            return _and(where, f"NOT ({sql_in('path', excluded)})")
        return where

    def _overlay(
        self, work: Callable[[str | None], list[StoredChunk]], where: str | None
    ) -> list[StoredChunk]:
        if not self.owned:
            return []
        owned = sorted(self.owned)
        clause = sql_in("path", owned) if len(owned) <= MAX_PREFILTER_PATHS else None
        try:
            found = work(_and(where, clause))
        except StoreError as exc:
            log.warning("cannot search the local overlay: %s", exc)
            self.note = f"local changes not searched ({exc})"
            return []
        return [c for c in found if c.path in self.owned]

    @staticmethod
    def _merge(a: list[StoredChunk], b: list[StoredChunk], limit: int) -> list[StoredChunk]:
        # One row per id: two publishers racing may have left a chunk twice for a moment.
        unique: dict[str, StoredChunk] = {}
        for chunk in sorted(a + b, key=lambda c: c.score, reverse=True):
            unique.setdefault(chunk.id, chunk)
        return list(unique.values())[:limit]

    # -- search.ChunkSource ------------------------------------------------------------------

    def vector_search(self, vector: np.ndarray, limit: int, where: str | None = None) -> list[StoredChunk]:
        shared_where = self._shared_where(where)
        shared = self._shared(
            "searching the shared index", lambda: self.team.shared.vector_search(vector, limit, shared_where)
        )
        local = self._overlay(lambda w: self.overlay.vector_search(vector, limit, w), where)
        return self._merge(shared, local, limit)

    def text_search(
        self, text: str, limit: int, where: str | None = None, column: str = FTS_COLUMN
    ) -> list[StoredChunk]:
        shared_where = self._shared_where(where)
        shared = self._shared(
            "searching the shared index",
            lambda: self.team.shared.text_search(text, limit, shared_where, column=column),
        )
        local = self._overlay(lambda w: self.overlay.text_search(text, limit, w, column=column), where)
        return self._merge(shared, local, limit)

    def definitions_named(self, symbols: Sequence[str], where: str | None = None) -> list[StoredChunk]:
        shared = self._shared(
            "reading the shared index",
            lambda: self.team.shared.definitions_named(symbols, self._shared_where(where)),
        )
        local = self._overlay(lambda w: self.overlay.definitions_named(symbols, w), where)
        # In file order, as a single index gives them: the first is the one folded into.
        return sorted(shared + local, key=lambda c: (c.path, c.start_line))

    def all_paths(self) -> list[str]:
        return sorted((set(self.files) - self.hidden) | self.owned)

    def chunk_at(self, path: str, line: int) -> tuple[StoredChunk, np.ndarray | None] | None:
        if path in self.owned or path not in self.files:
            return self.overlay.chunk_at(path, line)
        if self.team.cooling():
            self.note = self.team.unreachable_note()
            return None
        try:
            return within(
                SEARCH_DEADLINE_S,
                f"reading the shared index at {self.team.where}",
                lambda: self.team.shared.chunk_at(path, line),
            )
        except StoreError as exc:
            self.team._failed(exc)
            self.note = self.team.unreachable_note()
            return None
