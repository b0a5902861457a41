"""One workspace folder's index, and its one owner.

`FolderService` owns everything about a folder's index: its configuration, its store,
the embedder it uses (shared with other folders in the server), its worker thread, the
one change batcher that editor saves, the client's file watcher and codeseek's own
watcher all feed, and its status. Only the service changes that state, always inside
`try/finally`, so an error can never leave a folder "indexing" forever. Everything
else asks it.

The command line drives a service synchronously (`index`, `search`, `related`,
`status`); the language server starts its worker (`start`) and hands it change events.

Words first: a folder is chunked and searchable by its words before it is embedded, and
embedding fills in afterwards, open and recently changed files first (indexer.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from codeseek.config import Config
from codeseek.embedding.base import Embedder, model_slug
from codeseek.embedding.registry import ModelInfo, ProviderChoice, choose_provider, describe_model
from codeseek.errors import (
    CodeseekError,
    EmbedderError,
    EmbedderUnavailable,
    IndexCancelled,
    StoreDamaged,
    StoreError,
    StoreFull,
    UsageError,
    WorkspaceError,
)
from codeseek.indexer import (
    CHUNKS_PER_BATCH,
    Indexer,
    IndexReport,
    ProgressCallback,
    RateMeter,
    SecretMasker,
    chunk_tokens_for,
)
from codeseek.model import Hit, IndexProgress, IndexState, IndexStatus, Phase, SkippedFile
from codeseek.search import Searcher, SearchRequest, SearchResult, check_request
from codeseek.store.lance import IndexStore
from codeseek.store.location import is_remote, mask_uri, resolve_store_path, storage_options
from codeseek.store.meta import peek_current
from codeseek.team import SEARCH_DEADLINE_S, TeamIndex, TeamSource
from codeseek.workspace.discovery import IgnoreRules
from codeseek.workspace.watcher import ChangeBatcher, WorkspaceWatcher

if TYPE_CHECKING:  # the reranker module pulls in HTTP clients: only when one is used
    from codeseek.embedding.rerank import Reranker

log = logging.getLogger(__name__)

# Change events (an editor save, the client's watcher, codeseek's own watcher) are
# coalesced for this long: one save, reported three ways, is one run.
CHANGE_DEBOUNCE = 0.15
CHANGE_MAX_DELAY = 2.0
# A background embedding step: long enough to amortise the writer, short enough that a
# save waits at most a few seconds behind it.
EMBED_STEP_CHUNKS = CHUNKS_PER_BATCH * 2
# An update of at most this many paths (an editor save, a formatter run) is quick and
# not worth a progress notification; a branch switch is.
QUIET_UPDATE_PATHS = 20
RECENT_PATHS = 200
# While a run works, the counts status reports are re-read at most this often.
FACTS_INTERVAL = 2.0


def default_secret_masker() -> SecretMasker | None:
    try:
        from codeseek.chunking.secrets import mask_secrets
    except ImportError:
        return None

    def mask_and_count(path: str, text: str) -> tuple[str, int]:
        # The index keeps a count a file; the findings' lines and kinds are not stored.
        masked, findings = mask_secrets(path, text)
        return masked, len(findings)

    return mask_and_count


def index_key(model_id: str, dimensions: int) -> str:
    return f"{model_slug(model_id)}_{dimensions}"


class RunObserver(Protocol):
    """Follows one piece of background work: progress while it runs, one `finish`."""

    def progress(self, update: IndexProgress) -> None: ...

    def finish(self, message: str) -> None: ...


#: (title, cancel event the observer may set) -> observer; the server shows progress with it.
RunStarted = Callable[[str, threading.Event], RunObserver]
#: Something went wrong that the user should hear about (once; the server rate-limits).
Failure = Callable[[str], None]


class _Silent:
    def progress(self, update: IndexProgress) -> None:
        pass

    def finish(self, message: str) -> None:
        pass


@dataclass
class Backoff:
    """Delays between retries: first, doubling up to `ceiling`; `reset` after a success."""

    first: float = 1.0
    ceiling: float = 60.0
    _next: float = field(default=0.0, init=False)

    def delay(self) -> float:
        self._next = self.first if self._next == 0 else min(self._next * 2, self.ceiling)
        return self._next

    def reset(self) -> None:
        self._next = 0.0


@dataclass
class _Facts:
    """What the index holds, as status reports it."""

    files: int = 0
    chunks: int = 0
    embedded: int = 0
    dense_total: int = 0
    secrets: dict[str, int] = field(default_factory=dict)
    last_indexed_at: str | None = None
    complete: bool = False
    skipped: list[SkippedFile] = field(default_factory=list)
    provider_reason: str | None = None

    def apply(self, status: IndexStatus) -> None:
        status.files, status.chunks = self.files, self.chunks
        status.embedded, status.dense_total = self.embedded, self.dense_total
        status.secrets = dict(self.secrets)
        status.last_indexed_at = self.last_indexed_at
        status.complete = self.complete and self.embedded >= self.dense_total
        status.skipped = list(self.skipped)
        if self.provider_reason:
            status.provider_reason = self.provider_reason


@dataclass
class _Job:
    run: bool = False  # a whole-folder run (covers any paths)
    rebuild: bool = False  # ... from scratch
    paths: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return self.run or bool(self.paths)

    def merge(self, other: _Job) -> None:
        self.run |= other.run
        self.rebuild |= other.rebuild
        self.paths |= other.paths
        if self.run:
            self.paths.clear()  # a whole run re-checks every file


class _NotYet(Exception):
    """The work needs the shared model, which the server has not attached yet."""


class FolderService:
    """One workspace folder's index (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        config: Config,
        *,
        choice: ProviderChoice | None = None,
        embedder: Embedder | None = None,
        mask_secrets: SecretMasker | None = None,  # None: codeseek's own (chunking/secrets.py)
        on_run: RunStarted | None = None,
        on_failure: Failure | None = None,
        backoff: Backoff | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        root = Path(root).expanduser()
        if not root.exists():
            raise WorkspaceError(f"workspace {root} does not exist")
        if not root.is_dir():
            raise WorkspaceError(f"workspace {root} is not a directory")
        self.root = root.resolve()
        self.config = config
        self.choice = choice or (
            ProviderChoice(embedder.provider, "given by the caller") if embedder else choose_provider(config)
        )
        self.store_path = resolve_store_path(self.root, config)
        self._team: TeamIndex | None = None
        self._info: ModelInfo | None = describe_model(config, self.choice)
        self._embedder = embedder
        self._reranker = reranker
        self._owns_reranker = False
        self._mask_secrets = mask_secrets or default_secret_masker()
        self._on_run = on_run or (lambda title, cancel: _Silent())
        self._on_failure = on_failure or (lambda message: None)
        self._lock = threading.RLock()
        self._store: IndexStore | None = None
        self._rules: IgnoreRules | None = None
        # The status: changed only by the methods below, under the lock.
        self._state = IndexState.IDLE
        self._last_error: str | None = None
        self._message: str | None = None
        self._progress: IndexProgress | None = None
        self._embedder_error: str | None = None
        self._deep_heal = False
        self.runs = 0  # whole-folder or path runs completed (tests, logs)
        # The worker (language server only).
        self._cond = threading.Condition(self._lock)
        self._pending = _Job()
        self._busy = False
        self._stopped = False
        self._not_before = 0.0
        self._cancel = threading.Event()
        self._backoff = backoff or Backoff()
        self._worker: threading.Thread | None = None
        self._batcher: ChangeBatcher | None = None
        self._watcher: WorkspaceWatcher | None = None
        self._indexed_stat: dict[str, tuple[int, int] | None] = {}
        self._recent: list[str] = []
        self._open: set[str] = set()
        self._backlog = False  # chunks are waiting for vectors
        self._meter = RateMeter()
        self._facts: _Facts | None = None  # the worker's last reading of the index
        self._facts_read = 0.0
        # The background embedding's one progress, across its steps, and its cancel.
        self._embed_observer: RunObserver | None = None
        self._embed_cancel = threading.Event()
        self._owns_embedder = False
        # The CLI loads a model when it needs one; in the server the session loads one
        # model for every folder and attaches it (`attach_embedder`).
        self._may_load_embedder = True

    def __repr__(self) -> str:
        return f"FolderService({str(self.root)!r})"

    # -- which index -------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder | None:
        return self._embedder

    def _identity(self) -> tuple[str, int, str, str] | None:
        """(index key, dimensions, provider, model) of the index this folder uses now:
        from the loaded embedder, else from the settings, else from the index's own record."""
        embedder = self._embedder
        if embedder is not None:
            return (
                index_key(embedder.model_id, embedder.dimensions),
                embedder.dimensions,
                embedder.provider,
                embedder.model_id,
            )
        if self._info is not None:
            info = self._info
            return index_key(info.model_id, info.dimensions), info.dimensions, info.provider, info.model_id
        current = None if isinstance(self.store_path, str) else peek_current(self.store_path)
        if current is None:
            return None
        return (
            str(current["index_key"]),
            int(current["dimensions"]),
            str(current.get("provider") or self.choice.provider),
            str(current.get("model") or ""),
        )

    def store(self) -> IndexStore | None:
        """The index this folder uses now (None when nothing names it yet)."""
        identity = self._identity()
        if identity is None:
            return None
        key, dims = identity[0], identity[1]
        with self._lock:
            if self._store is None or self._store.index_key != key:
                options = storage_options(self.config, writing=True) if is_remote(self.store_path) else None
                self._store = IndexStore(self.store_path, key, dims, storage_options=options)
            return self._store

    def team(self) -> TeamIndex | None:
        """The shared team index this folder searches under its local overlay
        (`store.shared`), for the index this folder uses now; None without one."""
        uri = self.config.store.shared
        if not uri or isinstance(self.store_path, str):
            return None  # the overlay is a local index: a remote store is published, not overlaid
        identity = self._identity()
        if identity is None:
            return None
        with self._lock:
            if self._team is not None and self._team.shared.index_key == identity[0]:
                return self._team
            team = self._team = TeamIndex(uri, Path(self.store_path), identity[0], identity[1], self.config)
        store = self.store()
        try:
            if store is not None and store.exists():
                team.note_overlay(store.file_records())  # the overlay a previous run left
        except StoreError as exc:
            log.info("cannot read the local overlay of %s yet: %s", self.root, exc)
        return team

    def _chunk_tokens(self) -> int | None:
        if self._embedder is not None:
            return chunk_tokens_for(self._embedder.max_tokens)
        if self._info is not None:
            return chunk_tokens_for(self._info.max_tokens)
        return None

    def _ignore_rules(self) -> IgnoreRules:
        with self._lock:
            if self._rules is None:
                self._rules = IgnoreRules.load(
                    self.root, self.config.index.include, self.config.index.exclude
                )
            return self._rules

    def has_index(self) -> bool:
        """Whether this folder's index was ever written (searchable, maybe partly). Over a
        team index: whether the overlay was built (it records every file, shared or not)."""
        with self._lock:
            if self._worker is not None:
                return self._facts is not None and self._facts.files > 0
        store = self.store()
        try:
            return store is not None and store.exists() and store.count_files() > 0
        except StoreError:
            return False

    # -- the state, changed only here ----------------------------------------------------

    @contextlib.contextmanager
    def _running(self, message: str | None = None) -> Iterator[None]:
        """State `indexing` while the block runs; `idle` or `error` after it, always."""
        with self._lock:
            self._state = IndexState.INDEXING
            self._message = message
        outcome_error: str | None = None
        try:
            yield
        except (IndexCancelled, _NotYet):
            raise
        except EmbedderUnavailable as exc:
            outcome_error = f"waiting for the embedding model: {exc}"
            with self._lock:
                self._embedder_error = str(exc)
            raise
        except StoreDamaged as exc:
            outcome_error = f"the index is damaged and will be rebuilt: {exc}"
            with self._lock:
                self._deep_heal = True
            raise
        except CodeseekError as exc:
            outcome_error = str(exc)
            raise
        except Exception as exc:
            outcome_error = f"internal error: {type(exc).__name__}: {exc}"
            raise
        finally:
            with self._lock:
                self._progress = None
                self._message = None
                if outcome_error is not None:
                    self._state = IndexState.ERROR
                    self._last_error = outcome_error
                else:
                    self._state = IndexState.IDLE
                    self._last_error = None
                    self._embedder_error = None

    def _observe(self, update: IndexProgress, forward: ProgressCallback | None) -> None:
        with self._lock:
            self._progress = update
            background = self._worker is not None and threading.current_thread() is self._worker
        if background:
            self._refresh_facts(force=False)
        if forward is not None:
            forward(update)

    # -- synchronous work: the CLI, and the worker thread ---------------------------------

    def index(
        self,
        *,
        full: bool = False,
        embed: bool = True,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Bring the index up to date with the folder; then embed what waits for a vector
        (unless `embed` is False). Raises what the user must hear about."""
        started = time.perf_counter()
        with self._running():
            report = self._index_run(full=full, paths=None, embed=embed, progress=progress, cancel=cancel)
        report.seconds = time.perf_counter() - started
        return report

    def update(
        self,
        paths: Iterable[str],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Re-index these workspace-relative paths and embed their chunks."""
        with self._running():
            return self._index_run(full=False, paths=set(paths), embed=True, progress=progress, cancel=cancel)

    def _need_embedder(self) -> Embedder:
        if self._embedder is None:
            if not self._may_load_embedder:
                raise _NotYet
            from codeseek.embedding.registry import create_embedder

            embedder = create_embedder(self.config, self.choice)
            with self._lock:
                if self._embedder is None:
                    self._embedder = embedder
                    self._owns_embedder = True
        assert self._embedder is not None
        return self._embedder

    def _indexer(self, store: IndexStore, chunk_tokens: int) -> Indexer:
        return Indexer(
            self.root,
            self.config,
            store,
            chunk_tokens=chunk_tokens,
            embedder=self._embedder,
            rules=self._ignore_rules(),
            base=self.team(),
            **({"mask_secrets": self._mask_secrets} if self._mask_secrets else {}),
        )

    def _index_run(
        self,
        *,
        full: bool,
        paths: set[str] | None,
        embed: bool,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        first: Iterable[str] = (),
    ) -> IndexReport:
        chunk_tokens = self._chunk_tokens()
        if chunk_tokens is None:
            self._need_embedder()  # only a running model can name its index (SGLang)
            chunk_tokens = self._chunk_tokens()
        store = self.store()
        assert store is not None and chunk_tokens is not None
        identity = self._identity()
        assert identity is not None
        notify: ProgressCallback = lambda update: self._observe(update, progress)  # noqa: E731
        deep, self._deep_heal = self._deep_heal, False
        indexer = self._indexer(store, chunk_tokens)
        team = self.team()
        if team is not None:
            team.fetch_if_stale()  # which files the overlay need not hold
        with store.writer(deep=deep) as writer:
            if writer.repairs:
                log.warning("repaired the index of %s: %s", self.root, "; ".join(writer.repairs))
            writer.record_current(self.root, identity[2], identity[3], self.choice.reason)
            if team is not None:
                stale = team.stale_records(writer.file_records())
                if stale:
                    writer.delete_files(stale)
            if paths is None:
                report = indexer.run(writer, full=full, progress=notify, cancel=cancel)
            else:
                report = indexer.update_paths(writer, paths, progress=notify, cancel=cancel)
            changed = bool(report.indexed or report.removed or full)
            if embed:
                # Loaded only now: the folder is searchable by its words while it loads.
                indexer.embedder = self._need_embedder()
                # A save (a few paths) embeds its own chunks only; a backlog waiting
                # behind it goes on in the background's steps, after it.
                indexer.embed_pending(
                    writer,
                    first=[*first, *(paths or ())],
                    only_first=paths is not None,
                    progress=notify,
                    cancel=cancel,
                    report=report,
                    meter=self._meter,
                )
                changed = changed or report.chunks_embedded > 0 or report.chunks_cached > 0
            if changed:
                notify(IndexProgress(Phase.OPTIMIZE, message="optimizing the index"))
                writer.optimize()
            report.files = store.count_files()
            report.chunks = store.count_chunks()
            embedded, dense = store.count_embedded()
            report.chunks_pending = dense - embedded
            if team is not None:
                team.note_overlay(store.file_records())
        with self._lock:
            self._backlog = report.chunks_pending > 0
            self.runs += 1
        return report

    def load_embedder(self) -> Embedder:
        """The model, loaded now if this service may load one (the CLI)."""
        return self._need_embedder()

    def embed(
        self,
        *,
        max_chunks: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> int:
        """Embed what waits for a vector (all of it, or up to `max_chunks`)."""
        self._need_embedder()
        return self.embed_step(max_chunks, cancel=cancel, progress=progress)

    def embed_step(
        self,
        max_chunks: int | None = EMBED_STEP_CHUNKS,
        cancel: threading.Event | None = None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Embed up to `max_chunks` chunks that wait for a vector (the worker's filler
        work; all of them when None); returns how many got one."""
        embedder = self._embedder
        store = self.store()
        chunk_tokens = self._chunk_tokens()
        if embedder is None or store is None or chunk_tokens is None:
            return 0
        with self._lock:
            first = list(dict.fromkeys([*self._open, *reversed(self._recent)]))
        notify: ProgressCallback = lambda update: self._observe(update, progress)  # noqa: E731
        with self._running(), store.writer() as writer:
            indexer = self._indexer(store, chunk_tokens)
            indexer.embedder = embedder
            done = indexer.embed_pending(
                writer, first=first, max_chunks=max_chunks, cancel=cancel, progress=notify, meter=self._meter
            )
            embedded, dense = store.count_embedded()
            remaining = dense - embedded
            if remaining <= 0 and done:
                writer.optimize()
        with self._lock:
            self._backlog = remaining > 0
        return done

    # -- queries -----------------------------------------------------------------------

    def searcher(self) -> Searcher | None:
        store = self.store()
        if store is None:
            return None
        reason = None
        if self._embedder is None:
            reason = self._embedder_error or "the embedding model is still loading"
        team = self.team()
        source = store if team is None else team.source(store)
        return Searcher(source, self._embedder, unavailable=reason, reranker=self._second_stage())

    def _second_stage(self) -> Reranker | None:
        """The reranker, when `reranker.provider` asks for one: the session's (server),
        or one this service creates on first use (CLI)."""
        if self._reranker is None and self._may_load_embedder and self.config.reranker.provider != "none":
            from codeseek.embedding.rerank import create_reranker

            with self._lock:
                if self._reranker is None:
                    self._reranker = create_reranker(self.config)
                    self._owns_reranker = True
        return self._reranker

    def attach_reranker(self, reranker: Reranker | None) -> None:
        """The session's reranker (the server creates one for every folder)."""
        with self._lock:
            self._reranker = reranker

    def search(self, request: SearchRequest) -> SearchResult:
        check_request(request)
        team = self.team()
        if team is not None and not team.state.files and not team.cooling():
            team.fetch(SEARCH_DEADLINE_S)  # a teammate's first search: the shared list, before any run
        elif team is not None and team.stale() and self._worker is not None:
            # A publish may have moved shared files on since the list was read: the worker
            # reads it again and moves files between the overlay and the shared side.
            self.request_reindex()
        has_shared = team is not None and bool(team.state.files)
        searcher = self.searcher()  # after the fetch: it searches the list as it is now
        if searcher is None or not (has_shared or self.has_index()):
            return SearchResult([], "lexical", "the index is not built yet", dense_percent=0)
        try:
            result = searcher.search(request)
        except StoreDamaged:
            self._report_damage()
            raise
        if isinstance(searcher.store, TeamSource) and searcher.store.note:
            # The shared index did not answer: the hits are the overlay's alone.
            note = searcher.store.note
            result.degraded = f"{result.degraded}; {note}" if result.degraded else note
        with self._lock:
            facts = self._facts if self._worker is not None else None
        if facts is not None:
            result.dense_percent = (
                100 if facts.dense_total == 0 else min(100, 100 * facts.embedded // facts.dense_total)
            )
        else:
            local = self.store()
            result.dense_percent = self._dense_percent(local) if local is not None else 0
        return result

    def related(self, path: str, line: int, limit: int = 5) -> list[Hit]:
        searcher = self.searcher()
        if searcher is None:
            return []
        try:
            return searcher.related(path, line, limit)
        except StoreDamaged:
            self._report_damage()
            raise

    def locate(self, path: str | Path) -> str | None:
        """A path as the index names it (relative, forward slashes), or None if outside."""
        p = Path(path)
        if not p.is_absolute():
            p = self.root / p
        for candidate in (p.absolute(), p.resolve()):
            try:
                return candidate.relative_to(self.root).as_posix()
            except ValueError:
                continue
        return None

    def _dense_percent(self, store: IndexStore) -> int:
        try:
            embedded, dense = store.count_embedded()
        except StoreError:
            return 0
        return 100 if dense == 0 else min(100, int(100 * embedded / dense))

    def _report_damage(self) -> None:
        """A read failed on damaged files: the next write heals, and looks hard."""
        with self._cond:
            self._deep_heal = True
            self._message = "the index is damaged; rebuilding it"
            if self._worker is not None and not self._stopped:
                self._pending.merge(_Job(run=True))
                self._cond.notify_all()

    # -- status ------------------------------------------------------------------------

    def status(self, *, check: bool = False) -> IndexStatus:
        """The folder's state, from this one place. Never loads a model. With a worker
        running it answers from what the worker last read of the index (no I/O, so it is
        instant even while LanceDB is busy); otherwise it reads the index, and `check`
        also reads its files to find damage (the CLI's `status`)."""
        with self._lock:
            status = IndexStatus(
                state=self._state,
                last_error=self._last_error,
                message=self._message,
                progress=self._progress,
                pending=len(self._pending.paths),
                provider=self.choice.provider,
                provider_reason=self.choice.reason,
                store_path=mask_uri(self.store_path)
                if isinstance(self.store_path, str)
                else str(self.store_path),
                embedder_available=self._embedder_error is None,
            )
            background = self._worker is not None
            facts = self._facts if background else None
        identity = self._identity()
        if identity is not None:
            status.model, status.dimensions = identity[3] or None, identity[1]
        team = self.team()
        if team is not None:
            status.team = team.status()
        problems: list[str] = []
        if facts is None and not background:
            try:
                facts = self._read_facts()
                store = self.store()
                problems = store.check() if check and store is not None else []
            except StoreDamaged as exc:
                problems = [str(exc)]
            except StoreError as exc:
                status.state = IndexState.ERROR
                status.last_error = str(exc)
                return status
        if facts is not None:
            facts.apply(status)
        if problems:
            status.state = IndexState.ERROR if status.state is IndexState.IDLE else status.state
            status.last_error = "the index is damaged and will be rebuilt by the next run: " + problems[0]
        elif status.state is IndexState.IDLE and self._worker is not None:
            # In the background, "idle" means done: chunked, and embedded as far as a
            # model that answers can take it (while it loads, the work still waits).
            with self._lock:
                waiting_for_vectors = status.embedded < status.dense_total and self._embedder_error is None
                if self._busy or self._pending or waiting_for_vectors or self._facts is None:
                    status.state = IndexState.INDEXING
        return status

    def _read_facts(self) -> _Facts | None:
        store = self.store()
        if store is None:
            return None
        meta = store.index_meta()
        current = store.read_meta().get("current") or {}
        facts = _Facts(
            last_indexed_at=meta.get("last_indexed_at"),
            complete=bool(meta.get("complete")),
            skipped=[SkippedFile.from_json(s) for s in meta.get("skipped", []) if isinstance(s, dict)],
            provider_reason=current.get("reason") if self._embedder is None and self._info is None else None,
        )
        if store.exists():
            facts.files = store.count_files()
            facts.chunks = store.count_chunks()
            facts.embedded, facts.dense_total = store.count_embedded()
            facts.secrets = store.secrets_by_file()
        return facts

    def _refresh_facts(self, force: bool = True) -> None:
        """Re-read the index's counts for `status` (worker thread only; at most every
        FACTS_INTERVAL seconds unless `force`)."""
        now = time.monotonic()
        if not force and now - self._facts_read < FACTS_INTERVAL:
            return
        self._facts_read = now
        try:
            facts = self._read_facts()
        except StoreError as exc:
            log.info("cannot read the index of %s for its status: %s", self.root, exc)
            return
        with self._lock:
            self._facts = facts

    # -- background work: the language server ---------------------------------------------

    def start(self, *, watch: bool = True) -> None:
        """Index in the background from now on: a first run, then on every change."""
        with self._lock:
            if self._worker is not None:
                return
            self._may_load_embedder = False
            self._batcher = ChangeBatcher(self._paths_changed, CHANGE_DEBOUNCE, CHANGE_MAX_DELAY)
            self._worker = threading.Thread(
                target=self._work, name=f"codeseek-index-{self.root.name}", daemon=True
            )
            self._pending.merge(_Job(run=True))
            self._worker.start()
        if watch:
            self._start_watcher()

    def _start_watcher(self) -> None:
        assert self._batcher is not None
        try:
            watcher = WorkspaceWatcher(self.root, self._ignore_rules(), self._batcher)
            watcher.start()
        except CodeseekError as exc:
            # Saves in the editor still re-index; only outside changes go unnoticed.
            log.warning("%s", exc)
            self._on_failure(f"codeseek: {exc}; changes made outside the editor are not picked up")
            return
        with self._lock:
            self._watcher = watcher

    def attach_embedder(self, embedder: Embedder) -> None:
        """The shared model is loaded: embedding can start (and searches use it)."""
        with self._cond:
            before = self._identity()
            self._embedder = embedder
            self._embedder_error = None
            self._info = self._info or ModelInfo(
                embedder.provider, embedder.model_id, embedder.dimensions, embedder.max_tokens
            )
            self._backlog = True
            now = self._identity()
            if before is None or now is None or before[0] != now[0]:
                # Only the model could name this index (SGLang), or it names another one.
                self._pending.merge(_Job(run=True))
            self._cond.notify_all()

    def embedder_failed(self, message: str) -> None:
        """The shared model cannot load (yet): search stays full-text and says why."""
        with self._lock:
            self._embedder_error = message

    def files_changed(self, paths: Iterable[str | Path]) -> None:
        """Paths saved in the editor or reported by a file watcher (absolute or relative)."""
        batcher = self._batcher
        if batcher is None:
            return
        rel = [r for r in (self.locate(p) for p in paths) if r]
        if rel:
            batcher.add(rel)

    def set_open_files(self, paths: Iterable[str | Path]) -> None:
        """Files open in the editor: embedded before the rest."""
        with self._lock:
            self._open = {r for r in (self.locate(p) for p in paths) if r}

    def request_reindex(self, full: bool = False) -> None:
        with self._cond:
            if full:
                self._cancel.set()
            self._pending.merge(_Job(run=True, rebuild=full))
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending, running or waiting for vectors (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy or self._pending or (self._backlog and self._embedder is not None):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.5))
            return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching and indexing; joins the worker. What was committed stays."""
        with self._cond:
            self._stopped = True
            self._pending = _Job()
            self._cancel.set()
            self._cond.notify_all()
            worker, watcher, batcher = self._worker, self._watcher, self._batcher
            self._watcher = self._batcher = None
        if watcher is not None:
            watcher.stop()
        if batcher is not None:
            batcher.close()
        if worker is not None and threading.current_thread() is not worker:
            worker.join(timeout)
            if worker.is_alive():
                log.warning("indexing of %s did not stop within %.0fs", self.root, timeout)
        self._end_embedding("Stopped")

    def close(self) -> None:
        """Stop, and release a model this service loaded itself (never a shared one)."""
        self.stop()
        if self._owns_embedder and self._embedder is not None:
            self._embedder.close()
        if self._owns_reranker and self._reranker is not None:
            self._reranker.close()

    # -- the worker ----------------------------------------------------------------------

    def _paths_changed(self, paths: set[str]) -> None:
        """A batch of changed paths from the batcher: those that really changed since
        they were last indexed become one job."""
        changed = {p for p in paths if self._stat(p) != self._indexed_stat.get(p, ())}
        if not changed:
            return
        with self._cond:
            if self._stopped:
                return
            self._pending.merge(_Job(paths=changed))
            self._cond.notify_all()

    def _stat(self, rel: str) -> tuple[int, int] | None:
        try:
            st = os.stat(self.root / rel)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    def _take(self) -> _Job | None:
        """The next job; an empty job means "embed a step"."""
        with self._cond:
            while True:
                if self._stopped:
                    return None
                wait = self._not_before - time.monotonic()
                if wait <= 0 and self._pending:
                    job, self._pending = self._pending, _Job()
                    break
                if wait <= 0 and self._backlog and self._embedder is not None:
                    job = _Job()
                    break
                self._cond.wait(wait if wait > 0 else None)
            self._busy = True
            self._cancel = threading.Event()
            return job

    def _work(self) -> None:
        self._refresh_facts()
        while (job := self._take()) is not None:
            try:
                self._execute(job)
            except Exception:
                # A bug in one run must not end indexing for the session; the status
                # already says "error" with the message (see `_running`).
                log.exception("indexing %s failed unexpectedly", self.root)
                self._retry_later(job)
            finally:
                self._refresh_facts()
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _execute(self, job: _Job) -> None:
        if not job:
            self._embed_in_background()
            return
        if job.run:
            title = (
                f"Rebuilding the index of {self.root.name}" if job.rebuild else f"Indexing {self.root.name}"
            )
            observer = self._on_run(title, self._cancel)
        elif len(job.paths) > QUIET_UPDATE_PATHS:
            observer = self._on_run(f"Updating the index of {self.root.name}", self._cancel)
        else:
            observer = _Silent()
        paths = None if job.run else set(job.paths)
        # What the files look like as the job starts: an event whose file differs from
        # this (changed during or after the job) is news; one that matches is a late
        # duplicate of what this job covers.
        seen = {p: self._stat(p) for p in paths} if paths is not None else None
        try:
            with self._running():
                report = self._index_run(
                    full=job.rebuild,
                    paths=paths,
                    embed=self._embedder is not None and not job.run,
                    progress=observer.progress,
                    cancel=self._cancel,
                )
        except IndexCancelled:
            log.info("indexing %s was cancelled", self.root)
            observer.finish("Cancelled")
            return
        except _NotYet:
            # Only the model can name this index (SGLang): attaching it queues the run.
            observer.finish("Waiting for the embedding model")
            return
        except (EmbedderUnavailable, StoreFull, StoreDamaged) as exc:
            observer.finish(f"Waiting: {exc}")
            self._retry_later(job, immediately=isinstance(exc, StoreDamaged))
            return
        except (EmbedderError, CodeseekError) as exc:
            log.error("indexing %s failed: %s", self.root, exc)
            observer.finish(f"Failed: {exc}")
            self._on_failure(f"codeseek: indexing {self.root.name} failed: {exc}")
            return
        self._backoff.reset()
        self._remember(seen)
        log.info(
            "indexed %s: %d files re-chunked, %d unchanged, %d removed; %d files, %d chunks, %d waiting for vectors (%.2fs)",
            self.root,
            report.indexed,
            report.unchanged,
            report.removed,
            report.files,
            report.chunks,
            report.chunks_pending,
            report.seconds,
        )
        observer.finish(f"{report.files} files, {report.chunks} chunks")

    def _embed_in_background(self) -> None:
        """One step of the backlog. The steps of one backlog show as one progress, from
        the first step to the last (or to the user's cancel, or a failure)."""
        with self._lock:
            observer, cancelled = self._embed_observer, self._embed_cancel
            if observer is None:
                cancelled = self._embed_cancel = threading.Event()
        if observer is None:
            observer = self._on_run(f"Embedding {self.root.name}", cancelled)
            with self._lock:
                self._embed_observer = observer
        if cancelled.is_set():
            # Cancelled from the editor: the backlog waits for the next change or reindex.
            with self._lock:
                self._backlog = False
            self._end_embedding("Cancelled")
            return
        try:
            self.embed_step(EMBED_STEP_CHUNKS, cancel=self._cancel, progress=observer.progress)
        except IndexCancelled:
            return  # stopped: `stop` ends the progress
        except (EmbedderUnavailable, StoreFull, StoreDamaged) as exc:
            self._end_embedding(f"Waiting: {exc}")
            self._retry_later(_Job(), immediately=isinstance(exc, StoreDamaged))
            return
        except CodeseekError as exc:
            log.error("embedding %s failed: %s", self.root, exc)
            with self._lock:
                self._backlog = False  # until the next change or model reload
            self._end_embedding(f"Failed: {exc}")
            self._on_failure(f"codeseek: embedding {self.root.name} failed: {exc}")
            return
        self._backoff.reset()
        with self._lock:
            finished = not self._backlog
        if finished:
            log.info("embedded every chunk of %s", self.root)
            self._end_embedding("embedded")

    def _end_embedding(self, message: str) -> None:
        with self._lock:
            observer, self._embed_observer = self._embed_observer, None
        if observer is not None:
            observer.finish(message)

    def _retry_later(self, job: _Job, immediately: bool = False) -> None:
        delay = 0.0 if immediately else self._backoff.delay()
        if delay:
            log.warning("indexing %s waits %.0fs before retrying", self.root, delay)
        with self._cond:
            if self._stopped:
                return
            if job:
                job.merge(self._pending)
                self._pending = job
            self._not_before = time.monotonic() + delay

    def _remember(self, seen: dict[str, tuple[int, int] | None] | None) -> None:
        """What a finished job saw of its paths (None: a whole run, which saw them all),
        so a late duplicate event for the same save starts no second run."""
        with self._lock:
            if seen is None:
                self._indexed_stat.clear()
                return
            self._indexed_stat.update(seen)
            self._recent = [*[p for p in self._recent if p not in seen], *sorted(seen)][-RECENT_PATHS:]


@dataclass
class FoldersResult:
    """Hits from several folders, best first, each with its folder."""

    hits: list[tuple[FolderService, Hit]]
    mode: str  # the mode used (the requested one, or "lexical" where the model was down)
    notes: list[str]  # why a folder answered less than asked, one note per folder
    dense_percent: int  # the least-embedded folder's share


def search_folders(services: Iterable[FolderService], request: SearchRequest) -> FoldersResult:
    """One search over several folders (the language server's workspace; the CLI's
    repeated -w): each folder's hits, merged by score. A folder that cannot answer is
    named in the notes; the others still answer."""
    check_request(request)
    services = list(services)
    found: list[tuple[FolderService, Hit]] = []
    notes: list[str] = []
    modes: set[str] = set()
    dense = 100
    for service in services:
        name = service.root.name if len(services) > 1 else ""
        try:
            result = service.search(request)
        except UsageError:
            raise
        except CodeseekError as exc:
            log.warning("search in %s failed: %s", service.root, exc)
            notes.append(f"{name}: {exc}" if name else str(exc))
            continue
        modes.add(result.mode)
        dense = min(dense, result.dense_percent)
        if result.degraded:
            notes.append(f"{name}: {result.degraded}" if name else result.degraded)
        found += [(service, hit) for hit in result.hits]
    found.sort(key=lambda pair: pair[1].score, reverse=True)
    mode = request.mode if modes <= {request.mode} else "lexical"
    return FoldersResult(found[: request.limit], mode, notes, dense)


def require_file(service: FolderService, path: str) -> str:
    """`path` (relative to the folder or absolute) as the index names it, or UsageError:
    a file that does not exist is said to not exist, one outside the folder to be outside."""
    candidate = Path(path)
    absolute = candidate if candidate.is_absolute() else service.root / candidate
    if not absolute.exists():
        raise UsageError(f"{path}: no such file", "path")
    rel = service.locate(absolute)
    if rel is None:
        raise UsageError(f"{path} is not inside the workspace {service.root}", "path")
    if not absolute.is_file():
        raise UsageError(f"{path} is not a file", "path")
    return rel


def require_chunk(service: FolderService, rel: str, line: int) -> None:
    """UsageError unless the index holds a chunk at `rel`:`line` (what `related` needs)."""
    store = service.store()
    if store is None or store.chunk_at(rel, line) is None:
        raise UsageError(f"{rel}:{line} is not in the index (ignored, skipped, or past the end of the file)")
