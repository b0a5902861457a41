"""Launch, supervise and share local SGLang servers: one for embeddings, one for reranking.

One supervisor serves both roles; each role is its own server, with its own port, state
file and log, because SGLang serves one model per server and the two models run
differently:

* **embedding** (Qwen3-Embedding): `--is-embedding`; ready when `/v1/embeddings` answers.
* **reranker** (Qwen3-Reranker): a decoder-only yes/no scorer, so launched *without*
  `--is-embedding` and with the model's prompt as `--chat-template` (SGLang recognises a
  decoder-only reranker by that template; RERANKER_TEMPLATE) and `--disable-radix-cache`
  as SGLang's documentation launches it; ready when `/v1/rerank` answers.

When codeseek launches both on one machine they share the GPU, and SGLang's default
static memory fraction (most of the GPU) would leave nothing for the second: each then
gets SHARED_GPU_MEM_FRACTION unless `sglang.extraArgs` sets `--mem-fraction-static`.
Anything else in `sglang.extraArgs` reaches both servers unchanged, data parallelism
(`--dp-size N` on an N-GPU machine) included: SGLang's extra scheduler processes live in
the server's process group, which is what stop and the watchdog terminate.

Lifecycle, in the order things happen:

* **Re-use first.** Servers are recorded in a small JSON state file in the user cache
  directory, keyed by the launch command without its port (interpreter, model path,
  dtype, extra arguments). A codeseek process that finds a healthy server there uses it
  instead of loading the model a second time. A file lock around "look, else launch"
  makes a second process that starts at the same moment wait for the first one's server.
* **Launch.** `python -m sglang.launch_server --model-path M --is-embedding --host
  127.0.0.1 --port P [--dtype D] [extra args]` in its own session (so a Ctrl-C in the
  terminal does not reach it), output appended to a log file next to the state file.
  Ready means `/health` answers 200, `/v1/models` names the model and a one-item
  embedding (or rerank) request answers; a launch that exits or times out first fails
  with the tail of SGLang's log in the message. `start()` waits for that (an embedder
  cannot do anything before); `start_in_background()` returns at once (a reranker is an
  extra: search keeps its first-stage order until the server is ready).
* **Supervise.** A monitor thread restarts a dead server with exponential backoff and
  gives up after a run of launches that never became ready (a model that does not fit,
  a broken install); while it is down, `ensure_available` raises EmbedderUnavailable
  (RerankerUnavailable for the reranker).
* **Stop.** `stop()` (also run at interpreter exit) terminates the server's process
  group. If codeseek is killed outright, a watchdog process (sglang_watchdog.py) notices
  its pipe closing and does the same, so no GPU process is left behind.

Ownership: the process that launched a server owns it and stops it when it exits, even
if another codeseek process is using it. Such a re-user notices the server going away
(its health checks fail and the recorded process is gone), takes the lock and launches
its own server, becoming the owner; until that one is ready its embedder raises
EmbedderUnavailable, so search falls back to full text and indexing waits.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from codeseek.config import SglangConfig
from codeseek.embedding.base import model_slug
from codeseek.embedding.sglang_watchdog import group_alive
from codeseek.errors import (
    CodeseekError,
    ConfigError,
    EmbedderError,
    EmbedderUnavailable,
    RerankerError,
    RerankerUnavailable,
)

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
STATE_VERSION = 1
READINESS_PROBE_TEXT = "def codeseek_readiness_probe(): pass"
READINESS_PROBE_QUERY = "a readiness probe"
LOG_TAIL_LINES = 25
LOG_ROTATE_BYTES = 20 * 1024 * 1024
STABLE_SECONDS = 60.0  # a server up this long before dying resets the restart backoff
# Options codeseek sets itself; repeating them in sglang.extraArgs would contradict it.
RESERVED_ARGS = ("--model-path", "--model", "--is-embedding", "--host", "--port", "--dtype")
MEM_FRACTION_ARG = "--mem-fraction-static"
# Each server's share of GPU memory (weights and KV cache) when codeseek launches both
# roles on one machine; together they leave a fifth for activations and CUDA graphs.
SHARED_GPU_MEM_FRACTION = "0.4"
RERANKER_TEMPLATE_NAME = "qwen3_reranker.jinja"
# Qwen3-Reranker's prompt, as its model card gives it, in the form SGLang renders for
# `/v1/rerank`: the query as messages[0], the document as messages[1], and the request's
# `instruct`. SGLang serves a model as a decoder-only yes/no reranker only when its chat
# template contains the system line's 'answer can only be "yes" or "no"'; the score is
# p(yes) / (p(yes) + p(no)) for the token after this prompt.
RERANKER_TEMPLATE = (
    "{#- Qwen3-Reranker's prompt, written by codeseek for SGLang's /v1/rerank -#}\n"
    "<|im_start|>system\n"
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
    'Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n"
    '<Instruct>: {{ instruct | default("Given a web search query, retrieve relevant passages that answer the query") }}\n'
    '<Query>: {{ messages[0]["content"] }}\n'
    '<Document>: {{ messages[1]["content"] }}<|im_end|>\n'
    "<|im_start|>assistant\n"
    "<think>\n\n</think>{{ '\\n\\n' }}"
)


class Role(enum.Enum):
    """What a launched server is for; each role is its own server."""

    EMBEDDING = "embedding"
    RERANKER = "reranker"


def default_state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("codeseek")) / "sglang"


def build_launch_command(
    settings: SglangConfig,
    model_path: str,
    port: int,
    *,
    role: Role = Role.EMBEDDING,
    chat_template: Path | None = None,
    share_gpu: bool = False,
) -> list[str]:
    """The exact command line that starts SGLang for `model_path` on `port` in `role`
    (a reranker needs the path its `chat_template` is written to). `share_gpu`: the
    other role's server is launched on this machine too."""
    python = settings.python or sys.executable
    if python and os.sep in python and not os.path.isabs(python):
        # SGLang runs from the state folder (see `_spawn`), where a relative path would
        # no longer point where the user meant: relative to where codeseek was started.
        python = os.path.abspath(python)
    if not python:
        raise ConfigError(
            "sglang.python: cannot tell which Python runs SGLang; set it to an interpreter path"
        )
    reserved = RESERVED_ARGS + (("--chat-template",) if role is Role.RERANKER else ())
    for arg in settings.extra_args:
        name = arg.split("=", 1)[0]
        if name in reserved:
            raise ConfigError(
                f"sglang.extraArgs: {name} is set by codeseek "
                "(use embedder.model, reranker.model, sglang.port or sglang.dtype)"
            )
    command = [python, "-m", "sglang.launch_server", "--model-path", model_path]
    if role is Role.EMBEDDING:
        command += ["--is-embedding"]
    else:
        if chat_template is None:
            raise ValueError("a reranker is launched with its chat template")
        command += ["--chat-template", str(chat_template), "--disable-radix-cache"]
    command += ["--host", HOST, "--port", str(port)]
    if settings.dtype:
        command += ["--dtype", settings.dtype]
    if share_gpu and not any(arg.split("=", 1)[0] == MEM_FRACTION_ARG for arg in settings.extra_args):
        command += [MEM_FRACTION_ARG, SHARED_GPU_MEM_FRACTION]
    return command + list(settings.extra_args)


def server_key(settings: SglangConfig, model_path: str, **launch: Any) -> str:
    """Names a server by what it serves and how, not where: two processes with the same
    settings share one server whatever port it got. `launch`: build_launch_command's
    keyword arguments."""
    template = build_launch_command(settings, model_path, 0, **launch)
    digest = hashlib.sha256(json.dumps(template).encode()).hexdigest()[:12]
    return f"{model_slug(model_path)[:48]}-{digest}"


@dataclass(frozen=True)
class ServerInfo:
    """What the readiness probe learned about a running server."""

    url: str
    model: str  # the served model name, sent back in every request
    dimensions: int | None  # the full vector size (None for a reranker)
    max_model_len: int | None


class ServerNotReady(Exception):
    """The server is not (yet) answering as it should in its role."""


def probe_server(
    http: httpx.Client, url: str, timeout: float = 30.0, role: Role = Role.EMBEDDING
) -> ServerInfo:
    """Check `url` is a ready SGLang server in `role`: health, model name, and one
    embedding (or one rerank)."""
    try:
        health = http.get(f"{url}/health", timeout=min(timeout, 10.0))
        if health.status_code != 200:
            raise ServerNotReady(f"/health answered {health.status_code}")
        models = http.get(f"{url}/v1/models", timeout=min(timeout, 10.0))
        if models.status_code != 200:
            raise ServerNotReady(f"/v1/models answered {models.status_code}")
        cards = models.json().get("data") or []
        if not cards or not isinstance(cards[0], dict) or not cards[0].get("id"):
            raise ServerNotReady("/v1/models names no model")
        model = str(cards[0]["id"])
        max_len = cards[0].get("max_model_len")
        if role is Role.RERANKER:
            _probe_rerank(http, url, model, timeout)
            return ServerInfo(url=url, model=model, dimensions=None, max_model_len=_positive(max_len))
        answer = http.post(
            f"{url}/v1/embeddings",
            json={"model": model, "input": [READINESS_PROBE_TEXT], "encoding_format": "float"},
            timeout=timeout,
        )
        if answer.status_code != 200:
            raise ServerNotReady(f"the embedding probe answered {answer.status_code}: {answer.text[:300]}")
        vector = answer.json()["data"][0]["embedding"]
        if not isinstance(vector, list) or not vector:
            raise ServerNotReady("the embedding probe returned no vector")
    except httpx.HTTPError as exc:
        raise ServerNotReady(f"{type(exc).__name__}: {exc}") from exc
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ServerNotReady(f"unexpected answer: {exc!r}") from exc
    return ServerInfo(url=url, model=model, dimensions=len(vector), max_model_len=_positive(max_len))


def _probe_rerank(http: httpx.Client, url: str, model: str, timeout: float) -> None:
    answer = http.post(
        f"{url}/v1/rerank",
        json={
            "model": model,
            "query": READINESS_PROBE_QUERY,
            "documents": [READINESS_PROBE_TEXT],
            "return_documents": False,
        },
        timeout=timeout,
    )
    if answer.status_code != 200:
        raise ServerNotReady(f"the rerank probe answered {answer.status_code}: {answer.text[:300]}")
    results = answer.json()
    if not isinstance(results, list) or not results or not isinstance(results[0].get("score"), (int, float)):
        raise ServerNotReady(f"the rerank probe returned no score: {answer.text[:300]}")


def _positive(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and value > 0 else None


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the server itself will: a closed socket lingering in TIME_WAIT is no obstacle.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); /proc tells them apart where it exists.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def read_log_tail(path: Path, start: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines written to the log since byte `start`."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.seek(max(start, end - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# What each role's supervisor raises: a failure, and "down for now" (a subclass of it).
_ROLE_ERRORS: dict[Role, tuple[type[CodeseekError], type[CodeseekError]]] = {
    Role.EMBEDDING: (EmbedderError, EmbedderUnavailable),
    Role.RERANKER: (RerankerError, RerankerUnavailable),
}


@dataclass
class _Launched:
    process: subprocess.Popen[bytes]
    watchdog: subprocess.Popen[bytes] | None
    watchdog_pipe: int | None  # our end; closing it tells the watchdog to stop the server
    log_offset: int
    ready_at: float = 0.0


class SglangSupervisor:
    """Finds, launches and keeps alive the SGLang server for one model, role and settings.

    `share_gpu`: codeseek launches the other role's server on this machine too (see the
    module's note on GPU memory)."""

    def __init__(
        self,
        settings: SglangConfig,
        model_path: str,
        *,
        role: Role = Role.EMBEDDING,
        share_gpu: bool = False,
        state_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        restart_backoff: tuple[float, float] = (1.0, 60.0),
        max_failed_starts: int = 5,
        health_interval: float = 2.0,
        stop_grace: float = 10.0,
    ) -> None:
        self.settings = settings
        self.model_path = model_path
        self.role = role
        self.state_dir = state_dir or default_state_dir()
        self._launch_options: dict[str, Any] = {"role": role, "share_gpu": share_gpu}
        if role is Role.RERANKER:
            self._launch_options["chat_template"] = self.state_dir / RERANKER_TEMPLATE_NAME
        # Settings that cannot work fail here, at once, not in a background start.
        self.key = server_key(settings, model_path, **self._launch_options)
        self._error, self._unavailable = _ROLE_ERRORS[role]
        self._what = "SGLang" if role is Role.EMBEDDING else "the SGLang reranker"
        self.state_path = self.state_dir / f"{self.key}.json"
        self.lock_path = self.state_dir / f"{self.key}.lock"
        self.log_path = self.state_dir / f"{self.key}.log"
        self._env = dict(os.environ if env is None else env)
        self._backoff_initial, self._backoff_max = restart_backoff
        self._max_failed_starts = max_failed_starts
        self._health_interval = health_interval
        self._stop_grace = stop_grace
        # Our own loopback server: no proxy from the environment may sit in between.
        self._http = httpx.Client(trust_env=False)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._monitor: threading.Thread | None = None
        self._launched: _Launched | None = None
        self._info: ServerInfo | None = None
        self._down_reason: str | None = "not started"
        self._gave_up = False
        self._crash_streak = 0  # deaths in a row of servers that did not stay up for long
        # A request failed: the server is marked down until the monitor sees it answer
        # again (or restarts it), so nobody is handed an address that refuses them.
        self._suspect = False

    # -- public -----------------------------------------------------------------------

    @property
    def info(self) -> ServerInfo | None:
        return self._info

    @property
    def owner(self) -> bool:
        """Whether this process launched the server it uses (and so stops it)."""
        return self._launched is not None

    @property
    def server_pid(self) -> int | None:
        launched = self._launched
        return launched.process.pid if launched else None

    @property
    def watchdog_pid(self) -> int | None:
        launched = self._launched
        return launched.watchdog.pid if launched and launched.watchdog else None

    def start(self) -> ServerInfo:
        """Re-use a healthy server or launch one; block until it is ready.

        Raises ConfigError for settings that cannot work and EmbedderError (quoting the
        log; RerankerError for the reranker) when the server does not come up within
        `sglang.startup_timeout`."""
        self._prepare()
        deadline = time.monotonic() + self.settings.startup_timeout
        with self._state_lock(deadline):
            info = self._reuse_recorded(deadline) or self._launch_and_wait(deadline)
        with self._lock:
            self._info, self._down_reason, self._suspect = info, None, False
        # A normal exit stops the server gracefully; a kill is the watchdog's job.
        atexit.register(self.stop)
        self._monitor = threading.Thread(
            target=self._monitor_loop, name="codeseek-sglang-monitor", daemon=True
        )
        self._monitor.start()
        return info

    def start_in_background(self) -> None:
        """Re-use or launch the server without waiting for it: until it is ready,
        `ensure_available` raises (the unavailable error) saying it is starting, and a
        launch that fails is retried as a crashed server is."""
        self._prepare()
        with self._lock:
            self._down_reason = "starting"
        atexit.register(self.stop)
        self._monitor = threading.Thread(
            target=self._start_then_monitor, name=f"codeseek-sglang-{self.role.value}", daemon=True
        )
        self._monitor.start()

    def ensure_available(self) -> ServerInfo:
        """The server to talk to now, or EmbedderUnavailable (RerankerUnavailable) while
        it is down."""
        with self._lock:
            if self._info is not None and self._down_reason is None:
                return self._info
            reason = self._down_reason or "not started"
        if self.role is Role.EMBEDDING:
            raise self._unavailable(f"the SGLang server is down: {reason} (log: {self.log_path})")
        raise self._unavailable(f"the SGLang reranker is not available: {reason} (log: {self.log_path})")

    def wait_available(self, timeout: float) -> ServerInfo | None:
        """Wait up to `timeout` seconds for the server; None if it is not up by then."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._info is not None and self._down_reason is None:
                    return self._info
                if self._gave_up or self._stopping.is_set():
                    return None
            if time.monotonic() >= deadline:
                return None
            self._stopping.wait(min(0.1, max(0.0, deadline - time.monotonic())))

    def report_failure(self, error: str) -> None:
        """The client could not reach the server. It is marked down at once (a dying
        process can still be "running" for a moment, so its exit is not waited for), and
        the monitor is woken: it restarts a dead server, or takes a live one back into
        use as soon as it answers its health check."""
        log.debug("SGLang request failed: %s", error)
        launched = self._launched
        with self._lock:
            if launched is not None and launched.process.poll() is not None:
                self._down_reason = f"SGLang exited with code {launched.process.returncode}; restarting"
            elif self._down_reason is None:
                self._down_reason = f"not answering ({error}); checking it"
                self._suspect = True
        self._wake.set()

    def stop(self) -> None:
        """Stop supervising; terminate the server if this process launched it."""
        self._stopping.set()
        self._wake.set()
        monitor = self._monitor
        if monitor is not None and monitor is not threading.current_thread():
            monitor.join(timeout=self._stop_grace + 5)
        with self._lock:
            launched, self._launched = self._launched, None
            self._info, self._down_reason = None, "stopped"
        if launched is not None:
            self._terminate(launched)
            self._forget_state(launched.process.pid)
        self._http.close()
        atexit.unregister(self.stop)

    def _prepare(self) -> None:
        if self._monitor is not None:
            raise RuntimeError("the SGLang supervisor is already started")
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            template = self._launch_options.get("chat_template")
            if template is not None:
                _write_if_changed(template, RERANKER_TEMPLATE)
        except OSError as exc:
            raise self._error(f"cannot write to the SGLang state folder {self.state_dir}: {exc}") from exc

    def _start_then_monitor(self) -> None:
        self._relaunch(0.0)
        self._monitor_loop()

    # -- re-use -------------------------------------------------------------------------

    def _reuse_recorded(self, deadline: float) -> ServerInfo | None:
        """A healthy server from the state file, waiting while a recorded one is alive but
        not answering yet; None when there is nothing to re-use."""
        state = self._read_state()
        if state is None:
            return None
        pid, url = state.get("pid"), state.get("url")
        if not isinstance(pid, int) or not isinstance(url, str):
            self._forget_state(None)
            return None
        while True:
            try:
                info = probe_server(self._http, url, timeout=10.0, role=self.role)
            except ServerNotReady as exc:
                if not process_alive(pid):
                    log.info("the recorded SGLang server (pid %d) is gone; launching a new one", pid)
                    self._forget_state(pid)
                    return None
                # Alive but not answering: busy or still loading. Launching a second copy
                # of the model would likely not fit on the GPU, so wait for this one.
                if time.monotonic() > deadline:
                    raise self._unavailable(
                        f"the SGLang server at {url} (pid {pid}, shared with another codeseek process) "
                        f"is running but not answering: {exc}"
                    ) from exc
                if self._stopping.wait(0.5):
                    raise self._error("stopped while waiting for a shared SGLang server") from None
                continue
            log.info("re-using the SGLang server at %s (pid %d)", url, pid)
            return info

    # -- launch -------------------------------------------------------------------------

    def _launch_and_wait(self, deadline: float) -> ServerInfo:
        # sglang.port is the embedding server's; a reranker takes a free port.
        port = self.settings.port if self.role is Role.EMBEDDING else None
        if port is not None and not port_is_free(port):
            raise self._error(
                f"sglang.port {port} is already in use by another program; "
                "choose another port or leave sglang.port unset for a free one"
            )
        port = port or find_free_port()
        command = build_launch_command(self.settings, self.model_path, port, **self._launch_options)
        url = f"http://{HOST}:{port}"
        launched = self._spawn(command)
        with self._lock:
            self._launched = launched
        try:
            info = self._wait_ready(launched, url, deadline)
        except BaseException:
            with self._lock:
                self._launched = None
            self._terminate(launched)
            raise
        launched.ready_at = time.monotonic()
        self._write_state(launched, url, command)
        log.info("%s is ready at %s (pid %d, log %s)", self._what, url, launched.process.pid, self.log_path)
        return info

    def _spawn(self, command: list[str]) -> _Launched:
        if self.log_path.exists() and self.log_path.stat().st_size > LOG_ROTATE_BYTES:
            self.log_path.replace(self.log_path.with_suffix(".log.1"))
        log_file = self.log_path.open("ab")
        try:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log_file.write(f"\n--- codeseek {stamp}: starting {' '.join(command)}\n".encode())
            log_file.flush()
            offset = log_file.tell()
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=self._env,
                    # `python -m` imports from its working folder first: started in a
                    # workspace holding types.py or json.py, SGLang would import those.
                    # The state folder holds only codeseek's own JSON, lock and log files.
                    cwd=self.state_dir,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ConfigError(f"sglang.python: cannot run {command[0]!r}: {exc.strerror or exc}") from exc
        finally:
            log_file.close()
        watchdog, pipe = self._spawn_watchdog(process.pid)
        log.info("launched %s (pid %d): %s", self._what, process.pid, " ".join(command))
        return _Launched(process, watchdog, pipe, offset)

    def _spawn_watchdog(self, pgid: int) -> tuple[subprocess.Popen[bytes] | None, int | None]:
        if os.name != "posix":  # pragma: no cover - SGLang itself is Linux-only
            return None, None
        read_end, write_end = os.pipe()
        try:
            watchdog = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "codeseek.embedding.sglang_watchdog",
                    str(pgid),
                    str(self._stop_grace),
                ],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=self._env,
                cwd=self.state_dir,  # as for SGLang: never import from the workspace
                start_new_session=True,
            )
        except OSError as exc:
            os.close(write_end)
            log.warning(
                "cannot start the SGLang watchdog (%s); a killed codeseek may leave SGLang running", exc
            )
            return None, None
        finally:
            os.close(read_end)
        return watchdog, write_end

    def _wait_ready(self, launched: _Launched, url: str, deadline: float) -> ServerInfo:
        last = "no answer yet"
        while True:
            code = launched.process.poll()
            if code is not None:
                raise self._error(
                    self._failure_message(f"SGLang exited with code {code} while starting", launched)
                )
            if self._stopping.is_set():
                raise self._error("stopped while SGLang was starting")
            try:
                return probe_server(self._http, url, timeout=30.0, role=self.role)
            except ServerNotReady as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise self._error(
                    self._failure_message(
                        f"SGLang did not become ready within {self.settings.startup_timeout:g} s "
                        f"(sglang.startupTimeout; last check: {last})",
                        launched,
                    )
                )
            time.sleep(0.25)

    def _failure_message(self, what: str, launched: _Launched) -> str:
        tail = read_log_tail(self.log_path, launched.log_offset)
        hint = ""
        if "No module named sglang" in tail:
            hint = "\nSGLang is not installed for that interpreter: pip install 'codeseek-lsp[sglang]' (or set sglang.python)"
        body = f"\n--- last lines of {self.log_path} ---\n{tail}" if tail else f" (log: {self.log_path})"
        return f"{what}{hint}{body}"

    def _terminate(self, launched: _Launched) -> None:
        """SIGTERM the server's process group, SIGKILL what outlives the grace period."""
        process = launched.process
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._stop_grace
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=self._stop_grace)
        # SGLang's scheduler and detokenizer normally follow their parent within moments.
        deadline = min(deadline, time.monotonic() + 2.0)
        while group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        if launched.watchdog_pipe is not None:
            with contextlib.suppress(OSError):
                os.close(launched.watchdog_pipe)
            launched.watchdog_pipe = None
        if launched.watchdog is not None:
            try:
                launched.watchdog.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - it polls twice a second
                launched.watchdog.kill()

    # -- supervision ----------------------------------------------------------------------

    def _monitor_loop(self) -> None:
        failures = 0  # consecutive failed health checks of a server we do not own
        while not self._stopping.is_set() and not self._gave_up:
            self._wake.wait(timeout=0.2 if self._launched else self._health_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            launched = self._launched
            if launched is not None:
                code = launched.process.poll()
                if code is not None:
                    self._on_server_died(launched, code)
                elif self._suspect:
                    self._recheck()
            else:
                info = self._info
                healthy = info is not None and self._healthy(info.url)
                failures = 0 if healthy else failures + 1
                if healthy and self._suspect:
                    self._recheck()
                if failures >= 2:
                    failures = 0
                    self._take_over()

    def _recheck(self) -> None:
        """A request failed but the server seems alive: use it again once it answers."""
        info = self._info
        if info is not None and self._healthy(info.url):
            with self._lock:
                if self._suspect and self._info is info:
                    self._suspect, self._down_reason = False, None

    def _healthy(self, url: str) -> bool:
        try:
            return self._http.get(f"{url}/health", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _on_server_died(self, launched: _Launched, code: int) -> None:
        self._suspect = False
        tail = read_log_tail(self.log_path, launched.log_offset, lines=10)
        log.warning(
            "SGLang (pid %d) exited with code %d; restarting. Last log lines:\n%s",
            launched.process.pid,
            code,
            tail,
        )
        with self._lock:
            self._launched = None
            self._down_reason = f"SGLang exited with code {code}; restarting"
        self._terminate(launched)  # the rest of its process group, and the watchdog
        self._forget_state(launched.process.pid)
        # A server that crashes soon after every start (a request that kills it, a GPU
        # fault) must not be relaunched in a tight loop: back off across such crashes.
        stable = launched.ready_at and time.monotonic() - launched.ready_at > STABLE_SECONDS
        self._crash_streak = 0 if stable else self._crash_streak + 1
        self._relaunch(min(self._backoff_initial * 2**self._crash_streak, self._backoff_max))

    def _take_over(self) -> None:
        """The shared server stopped answering: re-use its replacement or launch our own."""
        with self._lock:
            self._down_reason = "the shared SGLang server stopped answering"
        self._relaunch(0.0)

    def _relaunch(self, delay: float) -> None:
        """Re-use a recorded server or launch one, retrying with backoff; gives up after
        `max_failed_starts` launches in a row that never became ready."""
        failed_starts = 0
        while not self._stopping.is_set():
            if delay and self._stopping.wait(delay):
                return
            deadline = time.monotonic() + self.settings.startup_timeout
            try:
                with self._state_lock(deadline):
                    info = self._reuse_recorded(deadline) or self._launch_and_wait(deadline)
            except self._unavailable as exc:
                # Someone else's server is alive but busy: keep using the state file's word.
                with self._lock:
                    self._down_reason = str(exc)
                delay = self._backoff_initial
                continue
            except (self._error, ConfigError) as exc:
                failed_starts += 1
                if failed_starts >= self._max_failed_starts or isinstance(exc, ConfigError):
                    log.error("giving up on %s after %d failed starts: %s", self._what, failed_starts, exc)
                    with self._lock:
                        self._down_reason = f"gave up after {failed_starts} failed starts: {exc}"
                        self._gave_up = True
                    return
                with self._lock:
                    self._down_reason = f"restarting after a failed start: {exc}"
                delay = min(max(delay * 2, self._backoff_initial), self._backoff_max)
                continue
            with self._lock:
                self._info, self._down_reason, self._suspect = info, None, False
            return

    # -- state file -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _state_lock(self, deadline: float) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX: no sharing between processes
            yield
            return
        with self.lock_path.open("a") as fh:
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise self._error(
                            f"another codeseek process has been starting SGLang for {self.model_path} "
                            f"for too long (lock: {self.lock_path})"
                        ) from None
                    if self._stopping.wait(0.2):
                        raise self._error(
                            "stopped while waiting for another process to start SGLang"
                        ) from None
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("ignoring an unreadable SGLang state file %s", self.state_path)
            return None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            return None
        return state

    def _write_state(self, launched: _Launched, url: str, command: list[str]) -> None:
        state = {
            "version": STATE_VERSION,
            "key": self.key,
            "pid": launched.process.pid,
            "url": url,
            "model_path": self.model_path,
            "role": self.role.value,
            "command": command,
            "log_path": str(self.log_path),
            "owner_pid": os.getpid(),
            "started_at": time.time(),
        }
        tmp = self.state_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_path)

    def _forget_state(self, pid: int | None) -> None:
        """Remove the state file if it still describes `pid` (None: whatever it says)."""
        state = self._read_state()
        if state is None or pid is None or state.get("pid") == pid:
            with contextlib.suppress(FileNotFoundError):
                self.state_path.unlink()


def _write_if_changed(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, unless it already holds exactly that (another
    codeseek process may be reading it at this moment)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except FileNotFoundError:
        pass
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
