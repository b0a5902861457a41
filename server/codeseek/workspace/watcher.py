"""Turns file-system events in the workspace into batches of changed paths for the indexer.

An editor save, a `git checkout` or a formatter run produce bursts of events, often
several per file; the indexer wants each changed path once, after the burst settles.
`ChangeBatcher` does the coalescing (and knows nothing of watchdog, so it is easy to
test); `WorkspaceWatcher` feeds it from a watchdog observer, dropping ignored paths.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
    FileSystemMovedEvent,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from codeseek.errors import WorkspaceError
from codeseek.workspace.discovery import GIT_INFO_EXCLUDE, IgnoreRules, is_ignore_file

logger = logging.getLogger(__name__)

# Events that can mean a file's content or existence changed. Opens and reads are left
# out on purpose: the indexer reading files must not trigger more indexing.
# (A folder's own "modified" event only says its listing changed; its children's
# created/deleted events say which.)
WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileClosedEvent,
    FileAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]


class ChangeBatcher:
    """Coalesces paths and hands them to `on_batch` once they stop arriving.

    A batch is delivered `debounce` seconds after the last `add`, or `max_delay`
    seconds after the first path of the batch at the latest, so a change that never
    settles (a build writing continuously) is still indexed. `on_batch` runs on the
    batcher's thread (or the caller's, for `flush`), never twice at once, and must not
    block for long. Thread-safe.
    """

    def __init__(
        self, on_batch: Callable[[set[str]], None], debounce: float = 0.15, max_delay: float = 2.0
    ) -> None:
        if debounce < 0 or max_delay < debounce:
            raise ValueError(f"need 0 <= debounce <= max_delay, got {debounce} and {max_delay}")
        self._on_batch = on_batch
        self._debounce = debounce
        self._max_delay = max_delay
        self._pending: set[str] = set()
        self._first = 0.0
        self._last = 0.0
        self._closed = False
        self._cond = threading.Condition()
        # Held while taking and delivering a batch, so batches arrive in the order taken;
        # re-entrant so that `on_batch` may call `flush`.
        self._delivering = threading.RLock()
        self._thread = threading.Thread(target=self._run, name="codeseek-change-batcher", daemon=True)
        self._thread.start()

    def add(self, rel_paths: Iterable[str]) -> None:
        paths = set(rel_paths)
        if not paths:
            return
        with self._cond:
            if self._closed:
                return
            now = time.monotonic()
            if not self._pending:
                self._first = now
            self._last = now
            self._pending |= paths
            self._cond.notify()

    def flush(self) -> None:
        """Deliver what is pending now, on the caller's thread."""
        with self._delivering:
            self._deliver(self._take())

    def close(self) -> None:
        """Stop the timer thread. Paths still pending are dropped: the next discovery finds them."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _take(self) -> set[str]:
        with self._cond:
            batch, self._pending = self._pending, set()
            return batch

    def _deliver(self, batch: set[str]) -> None:
        if not batch:
            return
        try:
            self._on_batch(batch)
        except Exception:
            # A failing consumer must not stop the watcher; the next batch gets another go.
            logger.exception("handling %d changed paths failed", len(batch))

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    if not self._pending:
                        self._cond.wait()
                        continue
                    due = min(self._last + self._debounce, self._first + self._max_delay)
                    delay = due - time.monotonic()
                    if delay <= 0:
                        break
                    self._cond.wait(delay)
            with self._delivering:
                self._deliver(self._take())


class WorkspaceWatcher:
    """Watches the workspace recursively and reports changed paths, relative to the root,
    to `sink` (a `ChangeBatcher`, which coalesces them with the editor's own reports).

    Ignored paths never reach the sink. A move reports both its source and its
    destination; a folder created, deleted or moved is reported as the folder's path,
    which the consumer treats as "everything under it". A change to an ignore file is
    reported too (see `discovery.is_ignore_file`), since it can change what is indexed.
    """

    def __init__(
        self,
        root: Path,
        rules: IgnoreRules,
        sink: ChangeBatcher,
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self._prefix = os.fspath(self.root).rstrip(os.sep) + os.sep
        self._rules = rules
        self._sink = sink
        self._observer: BaseObserver | None = None

    def start(self) -> None:
        if self._observer is not None:
            return
        observer = Observer()
        observer.schedule(
            _EventHandler(self, self._sink), os.fspath(self.root), recursive=True, event_filter=WATCHED_EVENTS
        )
        try:
            observer.start()
        except OSError as exc:
            hint = " (on Linux, raise fs.inotify.max_user_watches)" if exc.errno == 28 else ""
            raise WorkspaceError(
                f"cannot watch {self.root} for changes: {exc.strerror or exc}{hint}"
            ) from None
        self._observer = observer

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join()

    def relevant_paths(self, event: FileSystemEvent) -> list[str]:
        """The workspace-relative paths an event should report (none if all are ignored)."""
        raw = [event.src_path]
        if isinstance(event, FileSystemMovedEvent):
            raw.append(event.dest_path)
        paths = []
        for path in raw:
            rel = self._relative(os.fsdecode(path))
            if rel is not None and self._is_relevant(rel, event.is_directory):
                paths.append(rel)
        return paths

    def _relative(self, path: str) -> str | None:
        if not path.startswith(self._prefix):
            return None  # the root itself, or an empty move side
        rel = path[len(self._prefix) :]
        return rel.replace(os.sep, "/") if os.sep != "/" else rel

    def _is_relevant(self, rel: str, is_dir: bool) -> bool:
        if not is_dir and is_ignore_file(rel):
            if rel == GIT_INFO_EXCLUDE:
                return True
            parent = rel.rpartition("/")[0]
            return not parent or not self._rules.is_ignored(parent, is_dir=True)
        return not self._rules.is_ignored(rel, is_dir)


class _EventHandler(FileSystemEventHandler):
    def __init__(self, watcher: WorkspaceWatcher, batcher: ChangeBatcher) -> None:
        self._watcher = watcher
        self._batcher = batcher

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            paths = self._watcher.relevant_paths(event)
        except Exception:
            # An unexpected path must not kill watchdog's thread (and with it all watching).
            logger.exception("cannot handle file event %r", event)
            return
        if paths:
            self._batcher.add(paths)
