"""The codeseek language server: pygls wiring, the server object, and `run_server`.

`CodeseekServer` owns everything a session needs (settings, one `WorkspaceRoot` per
workspace folder, the one embedder they share, the thread pools), so tests build fresh
ones and nothing lives at module level. Handlers stay short: parse the params (see
`protocol`), delegate to the roots on a thread, convert the result. The event loop
never runs blocking work: the model load, indexing, LanceDB queries and embedding all
happen on threads, and worker threads reach the client only through the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import FeatureRequestError
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, default_converter

from codeseek import __version__
from codeseek.config import Config, ConfigProblem, load_config
from codeseek.embedding.base import Embedder
from codeseek.embedding.registry import ProviderChoice, choose_provider, create_embedder
from codeseek.engine import STORE_ENV
from codeseek.errors import CodeseekError, EmbedderUnavailable
from codeseek.lsp import hover, protocol
from codeseek.lsp.indexing import Backoff, RunObserver
from codeseek.lsp.progress import WorkDoneProgress
from codeseek.lsp.roots import WorkspaceRoot
from codeseek.search import SearchRequest

log = logging.getLogger(__name__)

T = TypeVar("T")

SETTINGS_SECTION = "codeseek"
# Background failures pop up at most this often; everything is in the log regardless.
ERROR_POPUP_INTERVAL = 300.0
QUERY_THREADS = 4
STOP_TIMEOUT = 10.0


def _raw_params_converter() -> Any:
    """pygls' converter, except that params of methods it does not know (ours) stay
    plain JSON instead of becoming namedtuples: `protocol` validates them."""
    converter = default_converter()

    def keep_raw(obj: dict[str, Any], cls: type) -> Any:
        return cls(**obj)

    converter.register_structure_hook(JsonRPCRequestMessage, keep_raw)
    converter.register_structure_hook(JsonRPCNotification, keep_raw)
    return converter


def settings_section(settings: Any) -> Mapping[str, Any]:
    """Our settings from `initializationOptions` or `didChangeConfiguration`: either
    codeseek's own object, or a whole settings tree holding it under "codeseek"."""
    if not isinstance(settings, Mapping):
        return {}
    inner = settings.get(SETTINGS_SECTION)
    return inner if isinstance(inner, Mapping) else settings


class CodeseekServer(LanguageServer):
    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        super().__init__(
            "codeseek",
            __version__,
            # The server reads files from disk when they are saved; it needs no buffer contents.
            text_document_sync_kind=types.TextDocumentSyncKind.None_,
            converter_factory=_raw_params_converter,
            max_workers=QUERY_THREADS,
        )
        self.overrides: dict[str, Any] = dict(overrides or {})
        self.settings: Mapping[str, Any] = {}
        self.settings_source = "initializationOptions"
        self.roots: dict[Path, WorkspaceRoot] = {}
        self.embedder: Embedder | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.watch_files = True  # tests of the editor path alone may turn the watchdog observer off
        self._lock = threading.RLock()
        self._generation = 0  # bumped on restart, so a stale model load drops its result
        self._stopping = threading.Event()
        self._stopped = False
        self._stop_lock = threading.Lock()
        self._queries = ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="codeseek-query")
        self._hover_pool = ThreadPoolExecutor(2, thread_name_prefix="codeseek-hover")
        self._shown: set[str] = set()
        self._last_popup = 0.0
        self._pending_problems: list[ConfigProblem] = []
        self.startup_error: str | None = None
        _register_features(self)

    # -- configuration ------------------------------------------------------------------

    def config_for(self, root: Path, multi_root: bool) -> tuple[Config, list[ConfigProblem]]:
        config, problems = load_config(
            root, (self.settings, self.settings_source), (self.overrides, "command line")
        )
        configured = config.store.path or os.environ.get(STORE_ENV)
        if multi_root and configured and Path(configured).expanduser().is_absolute():
            # One index per root: roots sharing an absolute store path get a folder each.
            digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
            config.store.path = str(Path(configured).expanduser() / f"{root.name or 'root'}-{digest}")
        return config, problems

    def _build_roots(self, paths: Iterable[Path]) -> tuple[dict[Path, WorkspaceRoot], list[ConfigProblem]]:
        paths = list(dict.fromkeys(p.resolve() for p in paths))
        roots: dict[Path, WorkspaceRoot] = {}
        problems: list[ConfigProblem] = []
        choice: ProviderChoice | None = None
        for path in paths:
            config, root_problems = self.config_for(path, len(paths) > 1)
            problems += [_in_root(p, path) for p in root_problems]
            # One embedder serves every root, so the first root's settings choose it.
            choice = choice or choose_provider(config)
            try:
                roots[path] = WorkspaceRoot(path, config, choice)
            except CodeseekError as exc:
                log.error("workspace folder %s is skipped: %s", path, exc)
        return roots, problems

    def show_problems(self, problems: Iterable[ConfigProblem]) -> None:
        lines = list(dict.fromkeys(str(p) for p in problems))
        if not lines:
            return
        message = "codeseek: some settings were ignored (the rest apply): " + "; ".join(lines)
        log.warning("%s", message)
        self.show_message(message, types.MessageType.Warning)

    # -- the background work ------------------------------------------------------------

    def start_indexing(self) -> None:
        """Load the shared embedder on a thread, then attach every root to it."""
        with self._lock:
            self._generation += 1
            generation = self._generation
        threading.Thread(
            target=self._load_embedder, args=(generation,), name="codeseek-model-load", daemon=True
        ).start()

    def _load_embedder(self, generation: int) -> None:
        with self._lock:
            roots = list(self.roots.values())
        if not roots:
            return
        first = roots[0]
        backoff = Backoff()
        started = time.perf_counter()
        while True:
            try:
                embedder = create_embedder(first.config, first.choice)
                break
            except EmbedderUnavailable as exc:
                delay = backoff.delay()
                log.warning("the embedding model is unavailable (%s); retrying in %.0fs", exc, delay)
                self.startup_error = str(exc)
                if self._stopping.wait(delay) or generation != self._generation:
                    return
            except CodeseekError as exc:
                self.startup_error = str(exc)
                log.error("cannot load the embedding model: %s", exc)
                self.show_once(f"codeseek: cannot load the embedding model: {exc}", types.MessageType.Error)
                return
        log.info("loaded %s in %.1fs", embedder.describe(), time.perf_counter() - started)
        with self._lock:
            if generation != self._generation or self._stopping.is_set():
                embedder.close()
                return
            self.embedder, self.startup_error = embedder, None
            roots = list(self.roots.values())
        for root in roots:
            self._attach(root, embedder)

    def _attach(self, root: WorkspaceRoot, embedder: Embedder) -> None:
        root.attach(
            embedder, on_run=self._observe_run, on_failure=self._indexing_failed, watch=self.watch_files
        )

    def _observe_run(self, title: str, cancel: threading.Event) -> RunObserver:
        loop = self.loop
        if loop is None or not self._client_shows_progress():
            return _LogProgress(title)
        return WorkDoneProgress(self, loop, title, cancel)

    def _client_shows_progress(self) -> bool:
        try:
            return bool(get_capability(self.client_capabilities, "window.work_done_progress", False))
        except RuntimeError:
            return False

    def _indexing_failed(self, message: str) -> None:
        self.show_once(message, types.MessageType.Error)

    def restart(self, paths: Iterable[Path], reload_embedder: bool) -> None:
        """Rebuild the roots (new settings, new folders); reload the model only when its
        settings changed."""
        new_roots, problems = self._build_roots(paths)
        with self._lock:
            old_roots, self.roots = self.roots, new_roots
            old_embedder = self.embedder if reload_embedder else None
            if reload_embedder:
                self.embedder = None
                self._generation += 1
            embedder = self.embedder
        self.show_problems(problems)
        for root in old_roots.values():
            root.stop()
        if old_embedder is not None:
            old_embedder.close()
        if embedder is None:
            self.start_indexing()
        else:
            for root in new_roots.values():
                self._attach(root, embedder)

    def stop_all(self) -> None:
        """Stop every thread and child process this session started. Idempotent; a
        second caller waits until the first is done."""
        with self._stop_lock:
            if not self._stopped:
                self._stop()
                self._stopped = True

    def _stop(self) -> None:
        with self._lock:
            self._stopping.set()
            roots, self.roots = list(self.roots.values()), {}
            embedder, self.embedder = self.embedder, None
        stoppers = [threading.Thread(target=r.stop, name="codeseek-stop", daemon=True) for r in roots]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(STOP_TIMEOUT)
        if embedder is not None:
            embedder.close()  # an SGLang child process ends here
        self._queries.shutdown(wait=False, cancel_futures=True)
        self._hover_pool.shutdown(wait=False, cancel_futures=True)
        log.info("codeseek stopped")

    # -- lookups ------------------------------------------------------------------------

    def root_of(self, path: Path) -> WorkspaceRoot | None:
        """The innermost root holding `path` (roots may nest), or None."""
        with self._lock:
            roots = list(self.roots.values())
        best: WorkspaceRoot | None = None
        for root in roots:
            if root.relative(path) is not None and (
                best is None or len(root.root.parts) > len(best.root.parts)
            ):
                best = root
        return best

    def paths_by_root(self, uris: Iterable[str]) -> dict[WorkspaceRoot, set[str]]:
        grouped: dict[WorkspaceRoot, set[str]] = {}
        for uri in uris:
            path = protocol.uri_to_path(uri)
            root = self.root_of(path) if path is not None else None
            if root is None or path is None:
                continue  # outside every root: not ours to index
            rel = root.relative(path)
            if rel:
                grouped.setdefault(root, set()).add(rel)
        return grouped

    async def in_thread(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._queries, work)

    def status_json(self) -> dict[str, Any]:
        with self._lock:
            roots = list(self.roots.values())
        statuses = []
        for root in roots:
            status = root.status()
            if not root.ready and self.startup_error:
                status.state, status.last_error = "error", self.startup_error
                status.embedder_available = False
            statuses.append((root.root, status))
        return protocol.combined_status(statuses)

    def search_json(self, params: protocol.SearchParams) -> dict[str, Any]:
        with self._lock:
            roots = list(self.roots.values())
        request = SearchRequest(
            params.query, params.limit, params.mode, params.languages, params.include, params.exclude
        )
        found: list[tuple[WorkspaceRoot, Any]] = []
        notes: list[str] = []
        modes: set[str] = set()
        for root in roots:
            try:
                result = root.search(request)
            except CodeseekError as exc:
                log.warning("search in %s failed: %s", root.root, exc)
                notes.append(f"{root.root.name}: {exc}")
                continue
            modes.add(result.mode)
            if result.degraded:
                notes.append(result.degraded if len(roots) == 1 else f"{root.root.name}: {result.degraded}")
            found += [(root, hit) for hit in result.hits]
        found.sort(key=lambda pair: pair[1].score, reverse=True)
        lines = protocol.LineLengths(self.workspace.position_encoding)
        return {
            "results": [protocol.hit_json(hit, root.root, lines) for root, hit in found[: params.limit]],
            "index": self.status_json(),
            "mode": params.mode if modes <= {params.mode} else "lexical",
            "degraded": bool(notes),
            "message": "; ".join(notes) or None,
        }

    def related_json(self, params: protocol.RelatedParams) -> dict[str, Any]:
        path = protocol.uri_to_path(params.uri)
        root = self.root_of(path) if path is not None else None
        rel = root.relative(path) if root is not None and path is not None else None
        if root is None or not rel:
            raise protocol.invalid("textDocument.uri", f"{params.uri} is not inside a workspace folder")
        hits = root.related(rel, params.line + 1, params.limit)
        lines = protocol.LineLengths(self.workspace.position_encoding)
        return {"results": [protocol.hit_json(hit, root.root, lines) for hit in hits]}

    # -- talking to the client from any thread -------------------------------------------

    def _on_loop(self, send: Callable[[], None]) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        if _running_loop() is loop:
            send()
            return
        # Closed between the check and the call: the session is over.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(send)

    def show_message(self, message: str, kind: types.MessageType) -> None:
        self._on_loop(lambda: self.window_show_message(types.ShowMessageParams(type=kind, message=message)))

    def show_once(self, message: str, kind: types.MessageType) -> None:
        """A pop-up for something the user can act on, once per session per message."""
        with self._lock:
            if message in self._shown:
                return
            self._shown.add(message)
        self.show_message(message, kind)

    def log_message(self, message: str, kind: types.MessageType) -> None:
        self._on_loop(lambda: self.window_log_message(types.LogMessageParams(type=kind, message=message)))

    def report_server_error(self, error: Exception, source: Any) -> None:
        """pygls' default shows every background error as a pop-up; a failing watcher or
        a client sending odd messages would flood the user. Log each, pop up rarely."""
        if source is FeatureRequestError:
            # The client already got this as the request's error response.
            log.debug("request failed: %s", error)
            return
        log.error("%s: %s", getattr(source, "__name__", source), error)
        now = time.monotonic()
        with self._lock:
            if now - self._last_popup < ERROR_POPUP_INTERVAL:
                return
            self._last_popup = now
        self.show_message(
            "codeseek: an internal error occurred; see the codeseek log for details",
            types.MessageType.Error,
        )


def _in_root(problem: ConfigProblem, root: Path) -> ConfigProblem:
    if problem.source.endswith("codeseek.toml"):
        return ConfigProblem(problem.key, problem.message, str(root / "codeseek.toml"))
    return problem


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _LogProgress:
    """Progress for a client that shows none: the start and the end go to the log."""

    def __init__(self, title: str) -> None:
        self._title = title
        log.info("%s", title)

    def progress(self, update: Any) -> None:
        pass

    def finish(self, message: str) -> None:
        log.info("%s: %s", self._title, message)


# -- handlers ---------------------------------------------------------------------------


def workspace_folders(params: types.InitializeParams) -> list[Path]:
    uris = [f.uri for f in params.workspace_folders or []]
    if not uris and params.root_uri:
        uris = [params.root_uri]
    paths = [protocol.uri_to_path(uri) for uri in uris]
    found = [p for p in paths if p is not None]
    if not found and params.root_path:
        found = [Path(params.root_path)]
    return found


def _register_features(ls: CodeseekServer) -> None:
    @ls.feature(types.INITIALIZE)
    def initialize(ls: CodeseekServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.settings = settings_section(params.initialization_options)
        roots, problems = ls._build_roots(workspace_folders(params))
        with ls._lock:
            ls.roots = roots
        ls._pending_problems = problems
        log.info("codeseek %s serving %s", __version__, ", ".join(str(r) for r in roots) or "no folder")

    @ls.feature(types.INITIALIZED)
    def initialized(ls: CodeseekServer, params: types.InitializedParams) -> None:
        ls.show_problems(ls._pending_problems)
        ls._pending_problems = []
        _watch_files_through_client(ls)
        ls.start_indexing()

    @ls.feature(types.SHUTDOWN)
    async def shutdown(ls: CodeseekServer, params: None) -> None:
        await asyncio.get_running_loop().run_in_executor(None, ls.stop_all)

    @ls.feature(types.EXIT)
    def exit_(ls: CodeseekServer, params: None) -> None:
        # Without a shutdown request first (a crashed client) this is where threads stop.
        ls.stop_all()

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: CodeseekServer, params: types.DidChangeConfigurationParams) -> None:
        if params.settings is None:
            return
        ls.settings, ls.settings_source = settings_section(params.settings), "settings"
        _apply_settings(ls)

    @ls.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(ls: CodeseekServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        removed = {protocol.uri_to_path(f.uri) for f in params.event.removed}
        added = [protocol.uri_to_path(f.uri) for f in params.event.added]
        with ls._lock:
            current = [p for p in ls.roots if p not in {r.resolve() for r in removed if r}]
        paths = current + [p for p in added if p is not None]
        threading.Thread(target=ls.restart, args=(paths, False), name="codeseek-folders", daemon=True).start()

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: CodeseekServer, params: types.DidSaveTextDocumentParams) -> None:
        for root, paths in ls.paths_by_root([params.text_document.uri]).items():
            root.files_changed(paths)

    @ls.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: CodeseekServer, params: types.DidChangeWatchedFilesParams) -> None:
        for root, paths in ls.paths_by_root(c.uri for c in params.changes).items():
            root.files_changed(paths)

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: CodeseekServer, params: types.HoverParams) -> types.Hover | None:
        path = protocol.uri_to_path(params.text_document.uri)
        root = ls.root_of(path) if path is not None else None
        rel = root.relative(path) if root is not None and path is not None else None
        if root is None or not rel or not root.ready or not root.config.hover.related:
            return None
        line = params.position.line + 1
        hits = await hover.related_within_budget(
            ls._hover_pool, lambda: root.related(rel, line, hover.HOVER_HITS)
        )
        return hover.lsp_related_hover(hits or [], root.root)

    @ls.feature(protocol.SEARCH)
    async def search(ls: CodeseekServer, params: Any) -> dict[str, Any]:
        request = protocol.parse_search(params)
        return await ls.in_thread(lambda: ls.search_json(request))

    @ls.feature(protocol.RELATED)
    async def related(ls: CodeseekServer, params: Any) -> dict[str, Any]:
        request = protocol.parse_related(params)
        return await ls.in_thread(lambda: ls.related_json(request))

    @ls.feature(protocol.STATUS)
    async def status(ls: CodeseekServer, params: Any) -> dict[str, Any]:
        protocol.parse_status(params)
        return await ls.in_thread(ls.status_json)

    @ls.feature(protocol.REINDEX)
    async def reindex(ls: CodeseekServer, params: Any) -> dict[str, Any]:
        request = protocol.parse_reindex(params)
        with ls._lock:
            roots = list(ls.roots.values())
        for root in roots:
            root.reindex(rebuild=request.full)
        return await ls.in_thread(ls.status_json)


def _apply_settings(ls: CodeseekServer) -> None:
    """New settings: restart what they touch. The model reloads only when its own
    settings changed; index or store settings rebuild the roots; the rest (hover)
    applies in place."""
    with ls._lock:
        roots = list(ls.roots.values())
    if not roots:
        return
    multi = len(roots) > 1
    configs = {root: ls.config_for(root.root, multi) for root in roots}
    problems = [_in_root(p, root.root) for root, (_, ps) in configs.items() for p in ps]
    model_changed = any(
        (root.config.embedder, root.config.sglang, root.config.voyage) != (c.embedder, c.sglang, c.voyage)
        for root, (c, _) in configs.items()
    )
    index_changed = any(
        (root.config.index, root.config.store) != (c.index, c.store) for root, (c, _) in configs.items()
    )
    if model_changed or index_changed:
        log.info(
            "settings changed; restarting indexing%s", " and reloading the model" if model_changed else ""
        )
        paths = [root.root for root in roots]
        threading.Thread(
            target=ls.restart, args=(paths, model_changed), name="codeseek-settings", daemon=True
        ).start()
        return
    ls.show_problems(problems)
    for root, (config, _) in configs.items():
        root.config.hover = config.hover


def _watch_files_through_client(ls: CodeseekServer) -> None:
    """Ask the client to send `workspace/didChangeWatchedFiles` (when it can register
    watchers dynamically); our own observer still catches what the client misses."""
    if not get_capability(
        ls.client_capabilities, "workspace.did_change_watched_files.dynamic_registration", False
    ):
        return
    registration = types.Registration(
        id="codeseek-watched-files",
        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern="**/*")]
        ),
    )
    future = ls.client_register_capability(types.RegistrationParams(registrations=[registration]))

    def done(f: Any) -> None:
        if f.exception() is not None:
            log.info("the client does not watch files for codeseek: %s", f.exception())

    future.add_done_callback(done)


# -- logging and start-up ---------------------------------------------------------------


class _ClientLogHandler(logging.Handler):
    """Forwards codeseek's log records to the client as `window/logMessage`."""

    KINDS = (
        (logging.ERROR, types.MessageType.Error),
        (logging.WARNING, types.MessageType.Warning),
        (logging.INFO, types.MessageType.Info),
    )

    def __init__(self, server: CodeseekServer) -> None:
        super().__init__(logging.INFO)
        self._server = server
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._local, "busy", False):
            return  # a record logged while sending one: never recurse
        self._local.busy = True
        try:
            kind = next((k for level, k in self.KINDS if record.levelno >= level), types.MessageType.Log)
            self._server.log_message(self.format(record), kind)
        except Exception:
            self.handleError(record)
        finally:
            self._local.busy = False


def configure_logging(server: CodeseekServer, log_file: str | None) -> list[logging.Handler]:
    """codeseek logs to the client, to stderr (warnings) and to `log_file`; never stdout."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = []
    client = _ClientLogHandler(server)
    client.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.WARNING)
    stderr.setFormatter(fmt)
    handlers += [client, stderr]
    if log_file:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(fmt)
        handlers.append(file_handler)
        pygls_log = logging.getLogger("pygls")
        pygls_log.addHandler(file_handler)
    # pygls logs every message it sends at INFO: only its problems are worth keeping.
    logging.getLogger("pygls").setLevel(logging.WARNING)
    codeseek_log = logging.getLogger("codeseek")
    codeseek_log.setLevel(logging.DEBUG if log_file else logging.INFO)
    codeseek_log.propagate = False
    for handler in handlers:
        codeseek_log.addHandler(handler)
    return handlers


def claim_stdout() -> BinaryIO:
    """The protocol's own handle on stdout; file descriptor 1 then points at stderr, so
    a stray print, in Python or in a native library, can never corrupt the protocol."""
    protocol_fd = os.dup(sys.stdout.fileno())
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "wb", buffering=0)


def run_server(
    tcp: tuple[str, int] | None = None,
    log_file: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> None:
    """Serve one client over stdio, or over TCP at `tcp`; `settings` (command-line flags)
    apply over every other layer."""
    server = CodeseekServer(settings)
    configure_logging(server, log_file)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        if tcp is not None:
            server.start_tcp(*tcp)
        else:
            server.start_io(sys.stdin.buffer, claim_stdout())
    finally:
        server.stop_all()


__all__ = ["CodeseekServer", "run_server"]
