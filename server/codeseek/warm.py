"""The warm command line: `codeseek search`, `related` and `status` answered by the
language server that already holds the folder, over a Unix domain socket.

A cold command line pays for Python, LanceDB and (for a search by meaning) the model
before it answers; a language server holding the folder has all of that loaded. So the
server opens one socket per workspace folder, and the command line asks it first:

- **Where.** `socket_dir()`: `$CODESEEK_SOCKET_DIR`, else `$XDG_RUNTIME_DIR/codeseek`,
  else `codeseek-<uid>` in the temporary directory. The file is named by a hash of the
  folder's resolved path, so the command line finds it from the path alone.
- **Who.** Only the user: the directory is 0700 and owned by the user (the server
  refuses one that is not, rather than trust a directory someone else made), the socket
  file is 0600, and each side checks the other's uid with `SO_PEERCRED` where the system
  has it. No TCP port, nothing another account can open.
- **What.** One JSON line each way: `{"v": 1, "method": "search" | "related" | "status",
  "root", "settings", "env", "params"}`, answered by `{"v": 1, "ok": true, "pid",
  "warnings", "result"}` or `{"v": 1, "ok": false, "error": {"kind", "message"}}`. A
  malformed line gets an error answer; the server keeps serving.
- **Same answer.** The server answers only when the command line would have used the
  same index (same store, provider and model, from the same flags, `codeseek.toml` and
  environment), ranked the same way (query instruction, reranker, team index), and that
  index exists; otherwise it says so and the command line works
  alone. The result is the same JSON the command line prints from (`Hit.to_json`,
  `IndexStatus.to_json`), printed by the same code.
- **Never worse.** Anything unexpected on the command line's side (no server, a stale
  socket, a server killed mid-request, a timeout, an answer it cannot read) means it
  works alone, as if no server ran; `-v` says why.

The client half imports only the standard library's socket and json modules: a warm
call's time is Python's start-up and one round trip. The server half runs on the
server's threads and imports the rest only when it answers.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import struct
import threading
import time
from pathlib import Path

from codeseek.errors import UsageError

# Not `from typing import TYPE_CHECKING`: the client half imports nothing it does not
# use at run time (mypy treats any TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping
    from typing import Any

    from codeseek.config import Config
    from codeseek.service import FolderService

PROTOCOL_VERSION = 1
METHODS = ("search", "related", "status")
SOCKET_DIR_ENV = "CODESEEK_SOCKET_DIR"
NO_SERVER_ENV = "CODESEEK_NO_SERVER"
TIMEOUT_ENV = "CODESEEK_SERVER_TIMEOUT"
DEFAULT_TIMEOUT = 3.0
# A request is a query and a few flags; anything longer is not one of ours.
MAX_LINE = 1 << 20
# How long the server waits for a connected client's request line.
REQUEST_TIMEOUT = 5.0
# How long the server's start waits on a socket file another server may still hold.
PROBE_TIMEOUT = 0.5
# AF_UNIX paths are limited (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100


def _log() -> logging.Logger:
    """The server half's logger (the client half reports through `note`, and so never
    imports logging)."""
    import logging

    return logging.getLogger(__name__)


# Error kinds in an answer. Only "usage" is the user's to hear (the command line would
# have said the same alone); the others mean "work alone".
USAGE, UNAVAILABLE, PROTOCOL, DENIED, FAILED = "usage", "unavailable", "protocol", "denied", "failed"


# -- where ---------------------------------------------------------------------------------


def supported() -> bool:
    return hasattr(socket, "AF_UNIX") and hasattr(os, "getuid")


def socket_dir(env: Mapping[str, str] | None = None) -> Path:
    """The per-user directory that holds the sockets."""
    env = os.environ if env is None else env
    configured = env.get(SOCKET_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "codeseek"
    # As tempfile.gettempdir() would find it, without importing tempfile (the client
    # path stays small).
    tmp = env.get("TMPDIR") or env.get("TEMP") or env.get("TMP") or "/tmp"
    return Path(tmp) / f"codeseek-{os.getuid()}"


def socket_path(root: Path | str, env: Mapping[str, str] | None = None) -> Path:
    """The socket of the workspace folder `root` (a resolved path)."""
    digest = _sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return socket_dir(env) / f"{digest}.sock"


def _sha256(data: bytes) -> Any:
    # The small built-in SHA-256 module where there is one: hashlib loads OpenSSL,
    # a few milliseconds of a warm call for one short hash.
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]  # CPython <= 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]  # CPython >= 3.12
        except ImportError:
            from hashlib import sha256
    return sha256(data)


def _private_dir_ok(folder: Path) -> bool:
    """Whether `folder` is a real directory of ours that nobody else can enter."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077 == 0


def ensure_private_dir(folder: Path) -> bool:
    """Create `folder` (0700) or check the existing one; False when it cannot be trusted:
    a symlink, or a directory another account owns."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
        st = os.lstat(folder)
    except OSError as exc:
        _log().warning("cannot create %s for the command line's socket: %s", folder, exc)
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        _log().warning(
            "%s is not a directory of this user's; the command line will not use this server", folder
        )
        return False
    if st.st_mode & 0o077:
        os.chmod(folder, 0o700)  # ours, made by an older version or by hand
    return True


def peer_uid(conn: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (None where the system
    cannot say; there the 0700 directory is the guard)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    creds = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


# -- the client: the command line --------------------------------------------------------


def client_timeout(env: Mapping[str, str] | None = None) -> float:
    env = os.environ if env is None else env
    try:
        value = float(env.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


def client_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What of the command line's environment chooses its index: the store override,
    and whether a Voyage key is set (never the key)."""
    env = os.environ if env is None else env
    return {"store": env.get("CODESEEK_STORE") or None, "voyage_key": bool(env.get("VOYAGE_API_KEY"))}


def ask(
    root: Path,
    method: str,
    params: Mapping[str, Any],
    settings: Mapping[str, Any],
    *,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    note: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """The server's answer for the folder `root` (resolved), or None: no server, or one
    that cannot answer this (the command line then works alone). Raises UsageError when
    the server found the request itself wrong, with the message the command line alone
    would have given. `note` hears why it worked alone, or that the server answered (the
    CLI's -v)."""
    note = note or _quiet
    if not supported():
        return None
    path = socket_path(root, env)
    if not _private_dir_ok(path.parent):
        note(f"no usable socket directory at {path.parent}; working alone")
        return None
    request = {
        "v": PROTOCOL_VERSION,
        "method": method,
        "root": str(root),
        "settings": dict(settings),
        "env": client_env(env),
        "params": dict(params),
    }
    started = time.perf_counter()
    timeout = client_timeout(env) if timeout is None else timeout
    try:
        answer = _round_trip(path, request, timeout)
    except (OSError, ValueError) as exc:  # socket.timeout is an OSError; bad JSON a ValueError
        if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
            note(f"no language server holds {root} ({type(exc).__name__}); working alone")
        else:
            note(f"the language server did not answer ({exc or type(exc).__name__}); working alone")
        return None
    if not isinstance(answer, dict) or answer.get("v") != PROTOCOL_VERSION:
        note("the language server answered in another protocol; working alone")
        return None
    if answer.get("ok") is True and isinstance(answer.get("result"), dict):
        elapsed = (time.perf_counter() - started) * 1000
        note(f"answered by the language server (pid {answer.get('pid')}) in {elapsed:.0f} ms")
        return answer
    error = answer.get("error")
    if not isinstance(error, dict):
        error = {}
    kind, message = str(error.get("kind", "")), str(error.get("message", ""))
    if kind == USAGE:
        raise UsageError(message)
    note(f"the language server cannot answer this ({kind}: {message}); working alone")
    return None


def _quiet(message: str) -> None:
    pass


def _round_trip(path: Path, request: dict[str, Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(path))
        uid = peer_uid(conn)
        if uid is not None and uid != os.getuid():
            raise PermissionError(f"the socket {path} belongs to uid {uid}")
        conn.sendall(json.dumps(request).encode("utf-8") + b"\n")
        line = _read_line(conn, deadline)
    return json.loads(line)


def _read_line(conn: socket.socket, deadline: float) -> bytes:
    """One newline-terminated line (without it); OSError on EOF, timeout or overflow."""
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        conn.settimeout(remaining)
        data = conn.recv(65536)
        if not data:
            raise ConnectionResetError("the connection closed before a full line")
        end = data.find(b"\n")
        if end >= 0:
            chunks.append(data[:end])
            return b"".join(chunks)
        chunks.append(data)
        size += len(data)
        if size > MAX_LINE:
            raise ConnectionError("the line is too long")


# -- the server: one socket per folder of a language server ------------------------------


class FolderSocket:
    """Answers the command line for one folder's service (started and stopped by the
    language server, lsp/server.py). `uid` is whom to serve: the server's own user."""

    def __init__(
        self,
        service: FolderService,
        *,
        env: Mapping[str, str] | None = None,
        uid: int | None = None,
    ) -> None:
        self.service = service
        self.path = socket_path(service.root, env)
        self.uid = os.getuid() if uid is None else uid
        self.answered = 0  # requests answered with a result (tests, logs)
        self._listener: socket.socket | None = None
        self._inode: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FolderSocket({str(self.service.root)!r}, {str(self.path)!r})"

    def start(self) -> bool:
        """Listen; False (and the command line works alone) when this folder's socket
        cannot be made safely or another live server already answers for it."""
        if not supported():
            return False
        if len(str(self.path)) > MAX_SOCKET_PATH:
            _log().warning(
                "the socket path %s is too long; the command line will not use this server", self.path
            )
            return False
        if not ensure_private_dir(self.path.parent):
            return False
        for _attempt in (0, 1):
            if not self._clear_stale():
                _log().info("another codeseek server answers the command line for %s", self.service.root)
                return False
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                # bind() fails if the name exists: two servers starting at once never
                # take over each other's socket.
                listener.bind(str(self.path))
            except OSError as exc:
                listener.close()
                if exc.errno in (errno.EADDRINUSE, errno.EEXIST):
                    continue
                _log().warning("cannot open the command line's socket %s: %s", self.path, exc)
                return False
            break
        else:
            return False
        try:
            os.chmod(self.path, 0o600)
            st = os.lstat(self.path)
            listener.listen(16)
            # A timeout so that the accept loop sees a stop even where closing the
            # socket does not wake it.
            listener.settimeout(1.0)
        except OSError as exc:
            listener.close()
            _log().warning("cannot open the command line's socket %s: %s", self.path, exc)
            return False
        with self._lock:
            self._listener = listener
            self._inode = (st.st_dev, st.st_ino)
            self._thread = threading.Thread(
                target=self._accept_loop, name=f"codeseek-cli-{self.service.root.name}", daemon=True
            )
            self._thread.start()
        _log().info("answering the command line for %s at %s", self.service.root, self.path)
        return True

    def _clear_stale(self) -> bool:
        """Remove a socket file no live server listens on; False when one does."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return True
        if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
            # Our directory is 0700, so this is ours; not a socket, so not a server's.
            os.unlink(self.path)
            return True
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(PROBE_TIMEOUT)
            try:
                probe.connect(str(self.path))
            except (ConnectionRefusedError, FileNotFoundError):
                pass
            except OSError as exc:
                _log().info("the socket %s does not answer (%s); taking it over", self.path, exc)
            else:
                return False
        _log().info("removing the stale socket %s", self.path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        return True

    def stop(self) -> None:
        """Stop answering and remove the socket file (only if it is still ours)."""
        self._stopping.set()
        with self._lock:
            listener, self._listener = self._listener, None
            inode, self._inode = self._inode, None
            thread, self._thread = self._thread, None
        if listener is None:
            return
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        if inode is not None:
            with contextlib.suppress(OSError):
                st = os.lstat(self.path)
                if (st.st_dev, st.st_ino) == inode:
                    os.unlink(self.path)
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                _log().exception("the command line's socket failed; it is closed")
                return
            threading.Thread(
                target=self._serve, args=(conn,), name="codeseek-cli-request", daemon=True
            ).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                uid = peer_uid(conn)
                if uid is not None and uid != self.uid:
                    _log().warning("refused a command-line connection from uid %d", uid)
                    # Its line is read (and ignored) all the same: closing on unread data
                    # would reset the connection before the refusal arrives.
                    self._read_request(conn)
                    answer = _error(DENIED, "this server answers only its own user")
                else:
                    answer = self._answer_line(conn)
                conn.sendall(json.dumps(answer).encode("utf-8") + b"\n")
            except OSError as exc:
                _log().debug("a command-line connection ended early: %s", exc)

    def _read_request(self, conn: socket.socket) -> bytes:
        return _read_line(conn, time.monotonic() + REQUEST_TIMEOUT)

    def _answer_line(self, conn: socket.socket) -> dict[str, Any]:
        try:
            line = self._read_request(conn)
        except (TimeoutError, ConnectionError) as exc:
            return _error(PROTOCOL, f"no request line: {exc}")
        try:
            request = json.loads(line)
        except ValueError as exc:
            return _error(PROTOCOL, f"the request is not JSON: {exc}")
        return self.answer(request)

    def answer(self, request: Any) -> dict[str, Any]:
        """The answer to one request (a parsed JSON line); never raises."""
        from codeseek.errors import CodeseekError

        started = time.perf_counter()
        try:
            answer = self._answer(request)
        except _Refusal as exc:
            return _error(exc.kind, str(exc))
        except UsageError as exc:
            return _error(USAGE, str(exc))
        except CodeseekError as exc:
            # The command line alone may do better (it heals a damaged index itself).
            return _error(FAILED, str(exc))
        except Exception as exc:  # a bug must not end the socket, or the session
            _log().exception("answering the command line failed")
            return _error(FAILED, f"internal error: {type(exc).__name__}: {exc}")
        with self._lock:
            self.answered += 1
        _log().debug(
            "answered the command line's %s in %.1f ms",
            request.get("method"),
            (time.perf_counter() - started) * 1000,
        )
        return answer

    def _answer(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            raise _Refusal(PROTOCOL, "the request is not a JSON object")
        if request.get("v") != PROTOCOL_VERSION:
            raise _Refusal(
                PROTOCOL, f"unsupported protocol version {request.get('v')!r} (this is {PROTOCOL_VERSION})"
            )
        method = request.get("method")
        if method not in METHODS:
            raise _Refusal(PROTOCOL, f"unknown method {method!r}")
        params = _field(request, "params", dict)
        settings = _field(request, "settings", dict)
        env = _field(request, "env", dict)
        if _field(request, "root", str) != str(self.service.root):
            raise _Refusal(UNAVAILABLE, "this socket serves another folder")
        warnings = self._same_index(settings, env)
        service = self.service
        if method == "status":
            result: dict[str, Any] = {"status": service.status().to_json()}
        elif method == "search":
            result = self._search(params)
        else:
            result = self._related(params)
        return {"v": PROTOCOL_VERSION, "ok": True, "pid": os.getpid(), "warnings": warnings, "result": result}

    def _same_index(self, settings: dict[str, Any], env: dict[str, Any]) -> list[str]:
        """The warnings the command line would print about its settings, when it would
        use this folder's index; otherwise _Refusal (it then works alone, and says what
        it says)."""
        from codeseek.config import load_config
        from codeseek.embedding.registry import VOYAGE_KEY_ENV, choose_provider, describe_model
        from codeseek.service import index_key
        from codeseek.store.location import STORE_ENV, resolve_store_path
        from codeseek.store.meta import peek_current

        service = self.service
        config, problems = load_config(service.root, (settings, "command line"))
        if any(p.source == "command line" for p in problems):
            raise _Refusal(UNAVAILABLE, "the command line's settings have problems")
        store_env = {STORE_ENV: str(env["store"])} if env.get("store") else {}
        store_path = resolve_store_path(service.root, config, env=store_env)
        if store_path != service.store_path:
            raise _Refusal(
                UNAVAILABLE, f"the command line uses the store {store_path}, this server {service.store_path}"
            )
        choice = choose_provider(config, env={VOYAGE_KEY_ENV: "set"} if env.get("voyage_key") else {})
        if choice.provider != service.choice.provider:
            raise _Refusal(
                UNAVAILABLE, f"the command line uses {choice.provider}, this server {service.choice.provider}"
            )
        info = describe_model(config, choice)
        if info is not None:
            key: str | None = index_key(info.model_id, info.dimensions)
        else:
            # A remote store keeps its record in a table, not meta.json: no quick peek.
            current = peek_current(store_path) if isinstance(store_path, Path) else None
            key = str(current["index_key"]) if current else None
        store = service.store()
        if store is None or key != store.index_key:
            raise _Refusal(UNAVAILABLE, "the command line uses another model's index")
        # The same index, searched differently: the query's instruction, the second
        # stage, a team index beside it (settings the editor may set for its server).
        if _ranking(config) != _ranking(service.config):
            raise _Refusal(UNAVAILABLE, "the command line would rank the results differently")
        return [str(p) for p in problems]

    def _require_index(self) -> None:
        # The command line alone would index the folder first (and wait on this
        # server's lock to write it): it may as well wait alone.
        if not self.service.has_index():
            raise _Refusal(UNAVAILABLE, "the first index is not written yet")

    def _search(self, params: dict[str, Any]) -> dict[str, Any]:
        from codeseek.search import SearchRequest

        request = SearchRequest(
            _field(params, "query", str),
            _field(params, "limit", int),
            _field(params, "mode", str),
            _strings(params, "languages"),
            _strings(params, "include"),
            _strings(params, "exclude"),
        )
        self._require_index()
        result = self.service.search(request)
        return {
            "hits": [hit.to_json() for hit in result.hits],
            "mode": result.mode,
            "degraded": result.degraded,
            "dense_percent": result.dense_percent,
        }

    def _related(self, params: dict[str, Any]) -> dict[str, Any]:
        from codeseek.service import require_chunk, require_file

        rel = require_file(self.service, _field(params, "path", str))
        line = _field(params, "line", int)
        self._require_index()
        hits = self.service.related(rel, line, _field(params, "limit", int))
        if not hits:
            require_chunk(self.service, rel, line)  # nothing, or nothing there?
        return {"hits": [hit.to_json() for hit in hits]}


def _ranking(config: Config) -> tuple[Any, ...]:
    """The settings, beyond the index's identity, that change what a search returns."""
    return (
        config.embedder.query_instruction,
        config.reranker.provider,
        config.reranker.model,
        config.reranker.candidates,
        config.store.shared,
    )


class _Refusal(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Refusal(PROTOCOL, f"{name!r} must be a {kind.__name__}")
    return value


def _strings(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Refusal(PROTOCOL, f"{name!r} must be a list of strings")
    return value


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "ok": False, "error": {"kind": kind, "message": message}}
