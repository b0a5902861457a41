"""The codeseek language server: pygls wiring, the session object, and `run_server`.

`CodeseekServer` holds a session: the settings, one `FolderService` per workspace folder
(service.py: the one owner of that folder's index), and the one embedder they share.
Handlers stay short: parse the params (`protocol`), call the services on a thread,
convert the result. The event loop never runs blocking work: the model load, indexing,
path resolution, LanceDB queries and embedding all happen on threads, and worker
threads reach the client only through the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from pygls.exceptions import FeatureRequestError, JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, default_converter

from codeseek import __version__
from codeseek.config import Config, ConfigProblem, load_config
from codeseek.embedding.base import Embedder
from codeseek.embedding.registry import ProviderChoice, choose_provider, create_embedder
from codeseek.errors import CodeseekError, EmbedderUnavailable, UsageError
from codeseek.lsp import hover, protocol, wire
from codeseek.lsp.progress import WorkDoneProgress
from codeseek.search import SearchRequest
from codeseek.service import Backoff, FolderService, RunObserver, search_folders
from codeseek.store.location import per_folder_store
from codeseek.warm import FolderSocket

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
            # The server reads files from disk when they are saved; it needs no buffer
            # contents, only which files are open (they are embedded first).
            text_document_sync_kind=types.TextDocumentSyncKind.None_,
            converter_factory=_raw_params_converter,
            protocol_cls=wire.CodeseekProtocol,
            max_workers=QUERY_THREADS,
        )
        self.overrides: dict[str, Any] = dict(overrides or {})
        self.settings: Mapping[str, Any] = {}
        self.settings_source = "initializationOptions"
        self.services: dict[Path, FolderService] = {}
        self.embedder: Embedder | None = None
        self.reranker: Any = None  # embedding.rerank.Reranker, when reranker.provider asks for one
        self.loop: asyncio.AbstractEventLoop | None = None
        self.watch_files = True  # tests of the editor path alone may turn the watchdog observer off
        # The command line's sockets, one per folder (warm.py): `codeseek search` and
        # friends ask the session that already holds the folder.
        self.cli_sockets: dict[Path, FolderSocket] = {}
        self._lock = threading.RLock()
        self._generation = 0  # bumped on restart, so a stale model load drops its result
        self._stopping = threading.Event()
        self._stopped = False
        self._stop_lock = threading.Lock()
        self._queries = ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="codeseek-query")
        self._hover_pool = ThreadPoolExecutor(2, thread_name_prefix="codeseek-hover")
        # Change events are routed to their folders in order, off the event loop.
        self._events = ThreadPoolExecutor(1, thread_name_prefix="codeseek-events")
        self._open: set[Path] = set()
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
        if multi_root:
            per_folder_store(root, config)
        return config, problems

    def _build_services(self, paths: Iterable[Path]) -> tuple[dict[Path, FolderService], list[ConfigProblem]]:
        paths = list(dict.fromkeys(p.resolve() for p in paths))
        services: dict[Path, FolderService] = {}
        problems: list[ConfigProblem] = []
        choice: ProviderChoice | None = None
        for path in paths:
            config, folder_problems = self.config_for(path, len(paths) > 1)
            problems += [_in_folder(p, path) for p in folder_problems]
            # One embedder serves every folder, so the first folder's settings choose it.
            choice = choice or choose_provider(config)
            try:
                services[path] = FolderService(
                    path,
                    config,
                    choice=choice,
                    on_run=self._observe_run,
                    on_failure=self._indexing_failed,
                )
            except CodeseekError as exc:
                log.error("workspace folder %s is skipped: %s", path, exc)
        return services, problems

    def show_problems(self, problems: Iterable[ConfigProblem]) -> None:
        lines = list(dict.fromkeys(str(p) for p in problems))
        if not lines:
            return
        message = "codeseek: some settings were ignored (the rest apply): " + "; ".join(lines)
        log.warning("%s", message)
        self.show_message(message, types.MessageType.Warning)

    # -- the background work ------------------------------------------------------------

    def start_services(self) -> None:
        """Start every folder's worker (chunking, so search by words works at once) and
        load the shared model on a thread; embedding starts when it is there."""
        with self._lock:
            services = list(self.services.values())
            embedder = self.embedder
            self._generation += 1
            generation = self._generation
        for service in services:
            if embedder is not None:
                service.attach_embedder(embedder)
            service.start(watch=self.watch_files)
            service.set_open_files(self._open)
        self._open_cli_sockets(services)
        if embedder is None and services:
            threading.Thread(
                target=self._load_embedder, args=(generation,), name="codeseek-model-load", daemon=True
            ).start()
        if services and (services[0].config.reranker.provider != "none" or self.reranker is not None):
            threading.Thread(
                target=self._load_reranker, args=(services[0].config,), name="codeseek-reranker", daemon=True
            ).start()

    def _open_cli_sockets(self, services: Iterable[FolderService]) -> None:
        """Answer the command line for these folders (a folder another live session
        already answers for stays with it)."""
        for service in services:
            with self._lock:
                old = self.cli_sockets.pop(service.root, None)
            if old is not None:
                old.stop()
            cli_socket = FolderSocket(service)
            if cli_socket.start():
                with self._lock:
                    self.cli_sockets[service.root] = cli_socket

    def _close_cli_sockets(self) -> None:
        with self._lock:
            sockets, self.cli_sockets = list(self.cli_sockets.values()), {}
        for cli_socket in sockets:
            cli_socket.stop()

    def _load_reranker(self, config: Config) -> None:
        """The session's second stage, when `reranker.provider` asks for one: one for
        every folder. A launched SGLang reranker starts in the background; until it is
        ready, search keeps the first-stage order and says so."""
        with self._lock:
            old, self.reranker = self.reranker, None
            services = list(self.services.values())
        if old is not None:
            old.close()
        reranker = None
        if config.reranker.provider != "none":
            from codeseek.embedding.rerank import create_reranker

            try:
                reranker = create_reranker(config)
            except CodeseekError as exc:
                log.error("cannot use the reranker: %s", exc)
                self.show_once(f"codeseek: cannot use the reranker: {exc}", types.MessageType.Error)
        with self._lock:
            self.reranker = reranker
        for service in services:
            service.attach_reranker(reranker)

    def _load_embedder(self, generation: int) -> None:
        with self._lock:
            services = list(self.services.values())
        if not services:
            return
        first = services[0]
        backoff = Backoff()
        started = time.perf_counter()
        while True:
            try:
                embedder = create_embedder(first.config, first.choice)
                break
            except EmbedderUnavailable as exc:
                delay = backoff.delay()
                log.warning("the embedding model is unavailable (%s); retrying in %.0fs", exc, delay)
                self._embedder_failed(str(exc))
                if self._stopping.wait(delay) or generation != self._generation:
                    return
            except CodeseekError as exc:
                self._embedder_failed(str(exc))
                log.error("cannot load the embedding model: %s", exc)
                self.show_once(f"codeseek: cannot load the embedding model: {exc}", types.MessageType.Error)
                return
        log.info("loaded %s in %.1fs", embedder.describe(), time.perf_counter() - started)
        with self._lock:
            if generation != self._generation or self._stopping.is_set():
                embedder.close()
                return
            self.embedder, self.startup_error = embedder, None
            services = list(self.services.values())
        for service in services:
            service.attach_embedder(embedder)

    def _embedder_failed(self, message: str) -> None:
        self.startup_error = message
        with self._lock:
            services = list(self.services.values())
        for service in services:
            service.embedder_failed(message)

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
        """Rebuild the folders' services (new settings, new folders); reload the model
        only when its settings changed."""
        new_services, problems = self._build_services(paths)
        with self._lock:
            old_services, self.services = self.services, new_services
            old_embedder = self.embedder if reload_embedder else None
            if reload_embedder:
                self.embedder = None
        self.show_problems(problems)
        self._close_cli_sockets()
        for service in old_services.values():
            service.stop()
        if old_embedder is not None:
            old_embedder.close()
        self.start_services()

    def stop_all(self) -> None:
        """Stop every thread and child process this session started. Idempotent; a
        second caller waits until the first is done."""
        with self._stop_lock:
            if not self._stopped:
                self._stop()
                self._stopped = True

    def _stop(self) -> None:
        self._close_cli_sockets()
        with self._lock:
            self._stopping.set()
            services, self.services = list(self.services.values()), {}
            embedder, self.embedder = self.embedder, None
        stoppers = [threading.Thread(target=s.stop, name="codeseek-stop", daemon=True) for s in services]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(STOP_TIMEOUT)
        if embedder is not None:
            embedder.close()  # an SGLang child process ends here
        reranker, self.reranker = self.reranker, None
        if reranker is not None:
            reranker.close()
        for pool in (self._queries, self._hover_pool, self._events):
            pool.shutdown(wait=False, cancel_futures=True)
        log.info("codeseek stopped")

    # -- lookups (worker threads) ---------------------------------------------------------

    def folder_of(self, path: Path) -> FolderService | None:
        """The innermost folder holding `path` (folders may nest), or None."""
        with self._lock:
            services = list(self.services.values())
        best: FolderService | None = None
        for service in services:
            if service.locate(path) is not None and (
                best is None or len(service.root.parts) > len(best.root.parts)
            ):
                best = service
        return best

    def route_changes(self, paths: Iterable[Path]) -> None:
        """Changed files (a save, the client's watcher) to their folders' batchers."""
        grouped: dict[FolderService, list[Path]] = {}
        for path in paths:
            service = self.folder_of(path)
            if service is not None:
                grouped.setdefault(service, []).append(path)
        for service, changed in grouped.items():
            service.files_changed(changed)

    def track_open(self, path: Path, is_open: bool) -> None:
        with self._lock:
            (self._open.add if is_open else self._open.discard)(path)
            open_files = set(self._open)
            services = list(self.services.values())
        for service in services:
            service.set_open_files(p for p in open_files if service.locate(p) is not None)

    def on_events_thread(self, work: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # shut down: nothing left to route to
            self._events.submit(work)

    async def in_thread(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._queries, work)

    def status_json(self) -> dict[str, Any]:
        with self._lock:
            services = list(self.services.values())
        return protocol.combined_status([(s.root, s.status()) for s in services])

    def search_json(self, params: protocol.SearchParams) -> dict[str, Any]:
        with self._lock:
            services = list(self.services.values())
        request = SearchRequest(
            params.query, params.limit, params.mode, params.languages, params.include, params.exclude
        )
        try:
            result = search_folders(services, request)
        except UsageError as exc:
            raise protocol.invalid(_param_name(exc.field), str(exc)) from None
        lines = protocol.LineLengths(self.workspace.position_encoding)
        return {
            "results": [protocol.hit_json(hit, service.root, lines) for service, hit in result.hits],
            "index": self.status_json(),
            "mode": result.mode,
            "degraded": bool(result.notes),
            "message": "; ".join(result.notes) or None,
            "densePercent": result.dense_percent,
        }

    def related_json(self, params: protocol.RelatedParams) -> dict[str, Any]:
        path = protocol.uri_to_path(params.uri)
        service = self.folder_of(path) if path is not None else None
        rel = service.locate(path) if service is not None and path is not None else None
        if service is None or not rel:
            raise protocol.invalid("textDocument.uri", f"{params.uri} is not inside a workspace folder")
        try:
            hits = service.related(rel, params.line + 1, params.limit)
        except CodeseekError as exc:
            log.info("related code in %s unavailable for now: %s", service.root, exc)
            hits = []
        lines = protocol.LineLengths(self.workspace.position_encoding)
        return {"results": [protocol.hit_json(hit, service.root, lines) for hit in hits]}

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
        if source is JsonRpcException and isinstance(self.protocol, wire.CodeseekProtocol):
            # pygls' read loop could not parse a message body: the protocol answers and warns.
            self.protocol.unreadable(error)
            return
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


def _param_name(field: str | None) -> str:
    return {"path": "textDocument.uri"}.get(field or "", field or "params")


def _in_folder(problem: ConfigProblem, root: Path) -> ConfigProblem:
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
        services, problems = ls._build_services(workspace_folders(params))
        with ls._lock:
            ls.services = services
        ls._pending_problems = problems
        log.info("codeseek %s serving %s", __version__, ", ".join(str(r) for r in services) or "no folder")

    @ls.feature(types.INITIALIZED)
    def initialized(ls: CodeseekServer, params: types.InitializedParams) -> None:
        ls.show_problems(ls._pending_problems)
        ls._pending_problems = []
        _watch_files_through_client(ls)
        ls.start_services()

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

        def change() -> None:
            gone = {r.resolve() for r in removed if r}
            with ls._lock:
                current = [p for p in ls.services if p not in gone]
            ls.restart(current + [p for p in added if p is not None], False)

        threading.Thread(target=change, name="codeseek-folders", daemon=True).start()

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: CodeseekServer, params: types.DidSaveTextDocumentParams) -> None:
        path = protocol.uri_to_path(params.text_document.uri)
        if path is not None:
            ls.on_events_thread(lambda: ls.route_changes([path]))

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CodeseekServer, params: types.DidOpenTextDocumentParams) -> None:
        path = protocol.uri_to_path(params.text_document.uri)
        if path is not None:
            ls.on_events_thread(lambda: ls.track_open(path, True))

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodeseekServer, params: types.DidCloseTextDocumentParams) -> None:
        path = protocol.uri_to_path(params.text_document.uri)
        if path is not None:
            ls.on_events_thread(lambda: ls.track_open(path, False))

    @ls.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: CodeseekServer, params: types.DidChangeWatchedFilesParams) -> None:
        paths = [p for p in (protocol.uri_to_path(c.uri) for c in params.changes) if p is not None]
        if paths:
            ls.on_events_thread(lambda: ls.route_changes(paths))

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: CodeseekServer, params: types.HoverParams) -> types.Hover | None:
        path = protocol.uri_to_path(params.text_document.uri)
        if path is None:
            return None
        line = params.position.line + 1

        def lookup() -> tuple[FolderService, list[Any]] | None:
            service = ls.folder_of(path)
            rel = service.locate(path) if service is not None else None
            if service is None or not rel or not service.config.hover.related or service.embedder is None:
                return None
            return service, service.related(rel, line, hover.HOVER_HITS)

        found = await hover.related_within_budget(ls._hover_pool, lookup)
        if not found:
            return None
        service, hits = found
        return hover.lsp_related_hover(hits, service.root)

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
            services = list(ls.services.values())
        for service in services:
            service.request_reindex(full=request.full)
        return await ls.in_thread(ls.status_json)


def _apply_settings(ls: CodeseekServer) -> None:
    """New settings: restart what they touch. The model reloads only when its own
    settings changed; index or store settings rebuild the folders' services; the rest
    (hover) applies in place."""
    with ls._lock:
        services = list(ls.services.values())
    if not services:
        return
    multi = len(services) > 1
    configs = {service: ls.config_for(service.root, multi) for service in services}
    problems = [_in_folder(p, service.root) for service, (_, ps) in configs.items() for p in ps]
    model_changed = any(
        (s.config.embedder, s.config.sglang, s.config.voyage) != (c.embedder, c.sglang, c.voyage)
        for s, (c, _) in configs.items()
    )
    index_changed = any(
        (s.config.index, s.config.store) != (c.index, c.store) for s, (c, _) in configs.items()
    )
    if model_changed or index_changed:
        log.info(
            "settings changed; restarting indexing%s", " and reloading the model" if model_changed else ""
        )
        paths = [service.root for service in services]
        threading.Thread(
            target=ls.restart, args=(paths, model_changed), name="codeseek-settings", daemon=True
        ).start()
        return
    ls.show_problems(problems)
    reranker_changed = any(s.config.reranker != c.reranker for s, (c, _) in configs.items())
    for service, (config, _) in configs.items():
        service.config.hover = config.hover
        service.config.reranker = config.reranker
    if reranker_changed:
        first = next(iter(configs.values()))[0]
        threading.Thread(
            target=ls._load_reranker, args=(first,), name="codeseek-reranker", daemon=True
        ).start()


def _watch_files_through_client(ls: CodeseekServer) -> None:
    """Ask the client to send `workspace/didChangeWatchedFiles` (when it can register
    watchers dynamically); our own observer still catches what the client misses, and
    the folder's one batcher folds the duplicates into one run."""
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
    # ... and not its read loop's traceback for a body that is not JSON (see `wire`).
    logging.getLogger("pygls.server").addFilter(wire.drop_read_loop_tracebacks)
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
