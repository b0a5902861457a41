"""Keeps one root's index up to date from one worker thread.

Index runs of one root must not overlap (they share the store's write lock, and two
runs would embed the same files twice), and bursts of requests should collapse: a
hundred saved files during a run become one update after it, a full run asked for
while paths are pending covers them. So every request lands in a small pending state
(`run wanted?`, `rebuild?`, `paths`) that the worker takes whole.

When the embedding backend is unreachable (`EmbedderUnavailable`: a dead SGLang
server, no network for Voyage) the job is put back and retried with exponential
backoff: indexing waits and resumes by itself, while search falls back to full text.
Nothing here knows about LSP; the server plugs in progress reporting and failure
messages through callbacks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from codeseek.engine import Engine
from codeseek.errors import CodeseekError, EmbedderUnavailable, IndexCancelled
from codeseek.indexer import IndexProgress, IndexReport

log = logging.getLogger(__name__)

# An update of at most this many paths (an editor save, a formatter run) is quick and
# not worth a progress notification; a branch switch is.
QUIET_UPDATE_PATHS = 20


class RunObserver(Protocol):
    """Follows one index run: progress while it works, one `finish` at the end."""

    def progress(self, update: IndexProgress) -> None: ...

    def finish(self, message: str) -> None: ...


#: Called when a run starts: (title, cancel event the observer may set) -> observer.
RunStarted = Callable[[str, threading.Event], RunObserver]
#: Called when a run fails with something the user should know about.
RunFailed = Callable[[str], None]


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
class _Job:
    run: bool = False  # a whole-workspace run (covers any paths)
    rebuild: bool = False  # ... from scratch
    paths: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return self.run or bool(self.paths)

    def merge(self, other: _Job) -> None:
        self.run |= other.run
        self.rebuild |= other.rebuild
        self.paths |= other.paths


class RootIndexer:
    """The worker thread of one workspace root."""

    def __init__(
        self,
        engine: Engine,
        *,
        on_run: RunStarted | None = None,
        on_failure: RunFailed | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.engine = engine
        self._on_run = on_run or (lambda title, cancel: _Silent())
        self._on_failure = on_failure or (lambda message: None)
        self._backoff = backoff or Backoff()
        self._cond = threading.Condition()
        self._pending = _Job()
        self._busy = False
        self._stopped = False
        self._not_before = 0.0  # monotonic time before which no retry starts
        self._cancel = threading.Event()
        self.last_report: IndexReport | None = None
        self._thread = threading.Thread(
            target=self._work, name=f"codeseek-index-{engine.root.name}", daemon=True
        )
        self._thread.start()

    # -- requests (any thread) --------------------------------------------------------

    def request_run(self, rebuild: bool = False) -> None:
        self._submit(_Job(run=True, rebuild=rebuild))

    def request_paths(self, rel_paths: Iterable[str]) -> None:
        paths = {p for p in rel_paths if p}
        if paths:
            self._submit(_Job(paths=paths))

    def cancel_current(self) -> None:
        self._cancel.set()

    @property
    def idle(self) -> bool:
        with self._cond:
            return not self._busy and not self._pending

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending or running (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy or self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the current run, drop what is pending, and join the thread."""
        with self._cond:
            self._stopped = True
            self._pending = _Job()
            self._cancel.set()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("indexing of %s did not stop within %.0fs", self.engine.root, timeout)

    # -- the worker ---------------------------------------------------------------------

    def _submit(self, job: _Job) -> None:
        with self._cond:
            if self._stopped:
                return
            self._pending.merge(job)
            if self._pending.run:
                # A whole run re-checks every file; listing paths too would only repeat work.
                self._pending.paths.clear()
            self.engine.pending = len(self._pending.paths)
            self._cond.notify_all()

    def _take(self) -> _Job | None:
        with self._cond:
            while True:
                if self._stopped:
                    return None
                wait = self._not_before - time.monotonic()
                if self._pending and wait <= 0:
                    break
                self._cond.wait(wait if self._pending else None)
            job, self._pending = self._pending, _Job()
            self._busy = True
            self._cancel = threading.Event()
            self.engine.pending = 0
            return job

    def _work(self) -> None:
        while (job := self._take()) is not None:
            try:
                self._execute(job)
            except Exception:
                # A bug in one run must not end indexing for the session.
                log.exception("indexing %s failed unexpectedly", self.engine.root)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _execute(self, job: _Job) -> None:
        root = self.engine.root
        if job.run:
            title = f"Rebuilding the index of {root.name}" if job.rebuild else f"Indexing {root.name}"
            observer = self._on_run(title, self._cancel)
        elif len(job.paths) > QUIET_UPDATE_PATHS:
            observer = self._on_run(f"Updating the index of {root.name}", self._cancel)
        else:
            observer = _Silent()
        try:
            if job.run:
                report = self.engine.index(full=job.rebuild, progress=observer.progress, cancel=self._cancel)
            else:
                report = self.engine.update_paths(job.paths, progress=observer.progress, cancel=self._cancel)
        except IndexCancelled:
            log.info("indexing %s was cancelled", root)
            observer.finish("Cancelled")
            return
        except EmbedderUnavailable as exc:
            delay = self._backoff.delay()
            log.warning("indexing %s waits: %s; retrying in %.0fs", root, exc, delay)
            observer.finish(f"Waiting for the embedding model: {exc}")
            with self._cond:
                if not self._stopped:
                    job.merge(self._pending)
                    self._pending = job
                    self._not_before = time.monotonic() + delay
                    self.engine.pending = len(job.paths)
            return
        except CodeseekError as exc:
            log.error("indexing %s failed: %s", root, exc)
            observer.finish(f"Failed: {exc}")
            self._on_failure(f"codeseek: indexing {root.name} failed: {exc}")
            return
        self._backoff.reset()
        self.last_report = report
        log.info(
            "indexed %s: %d files re-chunked, %d unchanged, %d removed; %d files, %d chunks (%.2fs)",
            root,
            report.indexed,
            report.unchanged,
            report.removed,
            report.files,
            report.chunks,
            report.seconds,
        )
        observer.finish(f"{report.files} files, {report.chunks} chunks")
