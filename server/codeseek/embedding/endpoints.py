"""Where the SGLang embedder sends each request: one launched server, or several running ones.

`sglang.url` / `sglang.urls` name running servers (or one `sglang-router` in front of
several, which answers the same API and is just one URL here). Requests go to the
healthy server with the fewest requests in flight, so several servers share the work.
A server that fails a request (connection refused or reset, a timeout) is marked down
at once and the request is sent again to another one: a batch in flight on a server
that dies is not lost. A background thread re-checks down servers every few seconds
with the full readiness probe (health, model, one embedding) and takes them back once
they answer; a router's `/health` says OK even with no workers behind it, so health
alone is not enough. All servers must serve the same model at the same size, since
their vectors go into one index: a server that serves another is refused (at start,
a configuration error; later, a warning, and it is never used).

A launched server (sglang_server.py) is a single endpoint whose supervisor restarts it.
"""

from __future__ import annotations

import abc
import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from codeseek.embedding.sglang_server import ServerInfo, ServerNotReady, SglangSupervisor, probe_server
from codeseek.errors import ConfigError, EmbedderUnavailable

log = logging.getLogger(__name__)


@dataclass
class Endpoint:
    """One server, as the embedder sees it."""

    url: str
    info: ServerInfo | None = None  # from its last successful probe
    down: str | None = "not checked yet"  # why it is not used now; None when healthy
    down_since: float = 0.0
    refused: bool = False  # serves another model: never used
    in_flight: int = 0


class Endpoints(abc.ABC):
    """Picks the server for the next request and hears how it went."""

    @abc.abstractmethod
    def start(self) -> ServerInfo:
        """Wait for (or check) the servers; the served model as the first one answered."""

    @abc.abstractmethod
    def pick(self) -> Endpoint:
        """The server for the next request (call `release` after it), or
        EmbedderUnavailable when none can be tried now."""

    @abc.abstractmethod
    def release(self, endpoint: Endpoint, failure: str | None = None) -> bool:
        """The request to `endpoint` is over; `failure` says it could not reach it.
        Returns whether another server is up to send a failed request to at once."""

    @abc.abstractmethod
    def describe(self) -> str: ...

    def where(self, endpoint: Endpoint) -> str:
        """`endpoint` as an error message names it."""
        return endpoint.url

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


class SupervisedEndpoint(Endpoints):
    """The one server codeseek launched and keeps alive."""

    def __init__(self, supervisor: SglangSupervisor) -> None:
        self.supervisor = supervisor
        self._endpoint = Endpoint(url="")

    def start(self) -> ServerInfo:
        try:
            return self.supervisor.start()
        except BaseException:
            self.supervisor.stop()
            raise

    def pick(self) -> Endpoint:
        info = self.supervisor.ensure_available()
        return Endpoint(url=info.url, info=info)

    def release(self, endpoint: Endpoint, failure: str | None = None) -> bool:
        if failure is not None:
            self.supervisor.report_failure(failure)
        return False

    def describe(self) -> str:
        info = self.supervisor.info
        return info.url if info else ""

    def where(self, endpoint: Endpoint) -> str:
        return f"{endpoint.url} (log: {self.supervisor.log_path})"

    def close(self) -> None:
        self.supervisor.stop()


class EndpointPool(Endpoints):
    """Running servers given by URL: least-loaded choice, failover, background re-checks."""

    def __init__(
        self,
        urls: list[str],
        http: httpx.Client,
        *,
        setting: str = "sglang.urls",
        probe_timeout: float = 30.0,
        health_interval: float = 5.0,
    ) -> None:
        self.endpoints = [Endpoint(url=url) for url in urls]
        self._setting = setting  # where the user wrote the URLs, for messages
        self._http = http
        self._probe_timeout = probe_timeout
        self._health_interval = health_interval
        self._lock = threading.Lock()
        self._turn = itertools.count()  # breaks ties between equally loaded servers
        self._reference: ServerInfo | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._checker: threading.Thread | None = None

    def start(self) -> ServerInfo:
        """Probe every server at once. At least one must answer, and all that answer must
        serve the same model at the same size; the rest are re-checked in the background."""
        with ThreadPoolExecutor(max_workers=min(8, len(self.endpoints))) as pool:
            results = list(pool.map(self._probe, self.endpoints))
        answered = [(e, r) for e, r in zip(self.endpoints, results, strict=True) if isinstance(r, ServerInfo)]
        if not answered:
            if len(results) == 1:
                raise EmbedderUnavailable(
                    f"the SGLang server at {self.endpoints[0].url} ({self._setting}) is not answering: {results[0]}"
                )
            reasons = "; ".join(f"{e.url}: {r}" for e, r in zip(self.endpoints, results, strict=True))
            raise EmbedderUnavailable(
                f"none of the SGLang servers in {self._setting} is answering ({reasons})"
            )
        first, reference = answered[0]
        for endpoint, info in answered[1:]:
            if not _same_model(info, reference):
                raise ConfigError(
                    f"{self._setting}: every server must serve the same model, but {first.url} serves "
                    f"{_model(reference)} and {endpoint.url} serves {_model(info)}"
                )
        self._reference = reference
        now = time.monotonic()
        for endpoint, result in zip(self.endpoints, results, strict=True):
            if isinstance(result, ServerInfo):
                endpoint.info, endpoint.down = result, None
            else:
                endpoint.down, endpoint.down_since = str(result), now
                log.warning(
                    "the SGLang server at %s is not answering (%s); will try it again", endpoint.url, result
                )
        self._checker = threading.Thread(target=self._check_loop, name="codeseek-sglang-health", daemon=True)
        self._checker.start()
        return reference

    def pick(self) -> Endpoint:
        with self._lock:
            usable = [e for e in self.endpoints if not e.refused]
            healthy = [e for e in usable if e.down is None]
            if healthy:
                turn = next(self._turn)
                n = len(healthy)
                chosen = min((healthy[(turn + k) % n] for k in range(n)), key=lambda e: e.in_flight)
            elif usable:
                # None is known to be up: try the one that failed longest ago, which the
                # health check may simply not have seen coming back yet.
                chosen = min(usable, key=lambda e: e.down_since)
            else:
                raise EmbedderUnavailable(f"every server in {self._setting} serves another model")
            chosen.in_flight += 1
            return chosen

    def release(self, endpoint: Endpoint, failure: str | None = None) -> bool:
        with self._lock:
            endpoint.in_flight -= 1
            if failure is None:
                if endpoint.down is not None:
                    log.info("the SGLang server at %s answers again", endpoint.url)
                endpoint.down = None
            else:
                if endpoint.down is None:
                    log.warning(
                        "the SGLang server at %s failed a request (%s); sending its work elsewhere",
                        endpoint.url,
                        failure,
                    )
                    endpoint.down_since = time.monotonic()
                endpoint.down = failure
                self._wake.set()
            return any(e.down is None and not e.refused for e in self.endpoints)

    def describe(self) -> str:
        urls = [e.url for e in self.endpoints]
        return urls[0] if len(urls) == 1 else f"{len(urls)} servers ({', '.join(urls)})"

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()
        checker = self._checker
        if checker is not None and checker is not threading.current_thread():
            # A probe of a remote server that hangs must not hold up closing; the thread
            # is a daemon and ends with its probe.
            checker.join(timeout=2.0)

    # -- health -------------------------------------------------------------------------

    def _probe(self, endpoint: Endpoint) -> ServerInfo | str:
        try:
            return probe_server(self._http, endpoint.url, timeout=self._probe_timeout)
        except ServerNotReady as exc:
            return str(exc)

    def _check_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._health_interval)
            self._wake.clear()
            if self._stopping.wait(min(1.0, self._health_interval)):  # let a failure burst settle
                return
            with self._lock:
                down = [e for e in self.endpoints if e.down is not None and not e.refused]
            for endpoint in down:
                if self._stopping.is_set():
                    return
                try:
                    result = self._probe(endpoint)
                except RuntimeError:  # the embedder closed the HTTP client: we are stopping
                    if self._stopping.is_set():
                        return
                    raise
                with self._lock:
                    if not isinstance(result, ServerInfo):
                        endpoint.down = result
                    elif self._reference is not None and not _same_model(result, self._reference):
                        endpoint.refused = True
                        endpoint.down = f"serves {_model(result)}, not {_model(self._reference)}"
                        log.warning("not using the SGLang server at %s: it %s", endpoint.url, endpoint.down)
                    else:
                        endpoint.info, endpoint.down = result, None
                        log.info("the SGLang server at %s is back", endpoint.url)


def _same_model(a: ServerInfo, b: ServerInfo) -> bool:
    return (a.model, a.dimensions) == (b.model, b.dimensions)


def _model(info: ServerInfo) -> str:
    return f"{info.model} ({info.dimensions} dimensions)"
