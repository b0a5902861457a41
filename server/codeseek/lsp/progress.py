"""Index runs shown as `window/workDoneProgress`: begin, reports of files done / total,
end; cancellable from the client.

Runs happen on worker threads, while pygls must only be driven from its event loop,
so an observer hands every update to the loop; there one coroutine per run creates the
token, sends `begin`, then forwards reports in order until `end`. Reports are
throttled: the client needs a moving bar, not one message per file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

from codeseek.model import IndexProgress

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)

REPORT_INTERVAL = 0.1  # seconds between two reports of one run
_END = object()


class WorkDoneProgress:
    """A `RunObserver` (see `indexing`) that drives one client progress bar."""

    def __init__(
        self,
        server: LanguageServer,
        loop: asyncio.AbstractEventLoop,
        title: str,
        cancel: threading.Event,
    ) -> None:
        self._server = server
        self._loop = loop
        self._title = title
        self._cancel = cancel
        self._token = f"codeseek-index-{uuid.uuid4().hex[:12]}"
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._last_report = 0.0
        self._finished = False
        self._lock = threading.Lock()
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._drive()))

    # -- RunObserver (worker thread) ----------------------------------------------------

    def progress(self, update: IndexProgress) -> None:
        now = time.monotonic()
        with self._lock:
            if self._finished:
                return
            throttled = update.percentage not in (None, 0, 100)
            if throttled and now - self._last_report < REPORT_INTERVAL:
                return
            self._last_report = now
        self._put(lsp_progress_report(update))

    def finish(self, message: str) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        self._put(types.WorkDoneProgressEnd(message=message))
        self._put(_END)

    def _put(self, item: object) -> None:
        # A closed loop means the session is over: nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    # -- the event loop -----------------------------------------------------------------

    async def _drive(self) -> None:
        progress = self._server.work_done_progress
        try:
            await progress.create_async(self._token)
        except Exception as exc:  # the client refused or cannot show progress: log only
            log.info("no progress bar for %r: %s", self._title, exc)
            await self._drain()
            return
        token_future = progress.tokens.get(self._token)
        if token_future is not None:
            # pygls cancels this future on `window/workDoneProgress/cancel`.
            token_future.add_done_callback(lambda _f: self._cancel.set())
        progress.begin(
            self._token,
            types.WorkDoneProgressBegin(title=self._title, cancellable=True, percentage=0),
        )
        try:
            while (item := await self._queue.get()) is not _END:
                if isinstance(item, types.WorkDoneProgressEnd):
                    progress.end(self._token, item)
                elif isinstance(item, types.WorkDoneProgressReport):
                    progress.report(self._token, item)
        finally:
            progress.tokens.pop(self._token, None)

    async def _drain(self) -> None:
        while await self._queue.get() is not _END:
            pass


def lsp_progress_report(update: IndexProgress) -> types.WorkDoneProgressReport:
    """Files while chunking, chunks with their rate and time left while embedding: the
    same line the CLI prints, which VS Code's status bar shows."""
    return types.WorkDoneProgressReport(
        message=update.summary(), percentage=update.percentage, cancellable=True
    )
