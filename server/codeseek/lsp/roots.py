"""One workspace root as the language server sees it: its config, its engine, the worker
that indexes it, and the two sources of change events (the editor, and a watchdog
observer for changes made outside the editor).

A root exists from `initialize` on, but gets its engine only once the shared embedder
is loaded (in the background, after `initialized`). Until then it answers status from
the index a previous session left, and search with full-text results from that index.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from codeseek.config import Config
from codeseek.embedding.base import Embedder
from codeseek.embedding.registry import ProviderChoice
from codeseek.engine import Engine
from codeseek.errors import CodeseekError, StoreError
from codeseek.lsp.indexing import Backoff, RootIndexer, RunFailed, RunStarted
from codeseek.model import Hit, IndexStatus
from codeseek.search import Searcher, SearchRequest, SearchResult
from codeseek.store.lance import IndexStore
from codeseek.workspace.discovery import IgnoreRules
from codeseek.workspace.watcher import ChangeBatcher, WorkspaceWatcher

log = logging.getLogger(__name__)

# What LanceDB raises when a table is read while a full rebuild replaces it.
_READ_ERRORS = (StoreError, RuntimeError, OSError, ValueError)

# Editor saves are coalesced for this long before indexing: a "save all" of twenty
# files becomes one update, while one save is indexed almost at once.
EDITOR_DEBOUNCE = 0.05
# Outside changes (git checkout, a formatter) come in bursts of file events.
WATCHER_DEBOUNCE = 0.2


class WorkspaceRoot:
    def __init__(self, root: Path, config: Config, choice: ProviderChoice) -> None:
        self.root = root.resolve()
        self.config = config
        self.choice = choice
        self.engine: Engine | None = None
        self.indexer: RootIndexer | None = None
        self._watcher: WorkspaceWatcher | None = None
        self._editor_events: ChangeBatcher | None = None
        self._lock = threading.Lock()
        self._status_engine = Engine(self.root, config, choice=choice)  # status only: loads nothing
        self.store_path = self._status_engine.store_path

    def __repr__(self) -> str:
        return f"WorkspaceRoot({str(self.root)!r})"

    @property
    def ready(self) -> bool:
        return self.engine is not None

    # -- life cycle ---------------------------------------------------------------------

    def attach(
        self,
        embedder: Embedder,
        *,
        on_run: RunStarted,
        on_failure: RunFailed,
        watch: bool = True,
        backoff: Backoff | None = None,
    ) -> None:
        """Start indexing with the shared embedder: an initial run, then updates on change."""
        engine = Engine(self.root, self.config, embedder=embedder, choice=self.choice)
        indexer = RootIndexer(engine, on_run=on_run, on_failure=on_failure, backoff=backoff)
        editor_events = ChangeBatcher(indexer.request_paths, EDITOR_DEBOUNCE, max(2.0, EDITOR_DEBOUNCE))
        with self._lock:
            self.engine, self.indexer, self._editor_events = engine, indexer, editor_events
        indexer.request_run()
        if watch:
            self._start_watcher(indexer, on_failure)

    def _start_watcher(self, indexer: RootIndexer, on_failure: RunFailed) -> None:
        try:
            rules = IgnoreRules.load(self.root, self.config.index.include, self.config.index.exclude)
            watcher = WorkspaceWatcher(self.root, rules, indexer.request_paths, WATCHER_DEBOUNCE)
            watcher.start()
        except CodeseekError as exc:
            # Saves in the editor still re-index; only outside changes go unnoticed.
            log.warning("%s", exc)
            on_failure(f"codeseek: {exc}; changes made outside the editor are not picked up")
            return
        with self._lock:
            self._watcher = watcher

    def stop(self) -> None:
        with self._lock:
            watcher, editor_events, indexer, engine = (
                self._watcher,
                self._editor_events,
                self.indexer,
                self.engine,
            )
            self._watcher = self._editor_events = self.indexer = None
            self.engine = None
        if watcher is not None:
            watcher.stop()
        if editor_events is not None:
            editor_events.close()
        if indexer is not None:
            indexer.stop()
        if engine is not None:
            engine.close()  # never the shared embedder: the server owns that

    # -- events -------------------------------------------------------------------------

    def relative(self, path: Path) -> str | None:
        return self._status_engine.relative(path)

    def files_changed(self, rel_paths: Iterable[str]) -> None:
        """Paths the editor saved or saw change; indexed after a short debounce."""
        editor_events = self._editor_events
        if editor_events is not None:
            editor_events.add(rel_paths)

    def reindex(self, rebuild: bool) -> None:
        indexer = self.indexer
        if indexer is not None:
            if rebuild:
                indexer.cancel_current()
            indexer.request_run(rebuild=rebuild)

    # -- queries (worker threads) -----------------------------------------------------

    def status(self) -> IndexStatus:
        engine, indexer = self.engine, self.indexer
        if engine is None:
            status = self._status_engine.status()
            status.state = "indexing" if status.state != "error" else status.state
            return status
        busy = indexer is not None and not indexer.idle
        try:
            status = engine.status()
        except _READ_ERRORS as exc:
            # A full rebuild drops and recreates the tables under a concurrent reader;
            # that is a moment of "indexing", not a failure worth an error response.
            log.info("index status of %s unavailable for now: %s", self.root, exc)
            return IndexStatus(
                state="indexing" if busy else "error",
                pending=engine.pending,
                provider=self.choice.provider,
                provider_reason=self.choice.reason,
                last_error=None if busy else str(exc),
                store_path=str(self.store_path),
            )
        if busy and status.state == "idle":
            status.state = "indexing"  # a run is queued or waiting to retry
        return status

    def search(self, request: SearchRequest) -> SearchResult:
        engine = self.engine
        if engine is not None:
            try:
                return engine.search(request)
            except _READ_ERRORS as exc:
                raise StoreError(f"the index cannot be read right now ({exc})") from exc
        # The model is still loading (or cannot load): what a previous session indexed
        # is still worth finding by its words.
        current = IndexStore.peek_current(self.store_path)
        if current is None:
            return SearchResult([], "lexical", "the index is not built yet")
        store = IndexStore(self.store_path, current["index_key"], int(current["dimensions"]))
        return Searcher(store, None).search(request)

    def related(self, rel_path: str, line: int, limit: int) -> list[Hit]:
        engine = self.engine
        if engine is None:
            return []
        try:
            return engine.related(rel_path, line, limit)
        except _READ_ERRORS as exc:
            log.info("related code in %s unavailable for now: %s", self.root, exc)
            return []
