"""The command line's socket to a running server (warm.py), in one process: who may
connect, what a request may look like, stale sockets, and the client's fallbacks. The
real server and CLI processes are in tests/lsp/test_warm_cli.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeseek import warm
from codeseek.config import Config
from codeseek.embedding.base import Embedder
from codeseek.errors import UsageError
from codeseek.service import FolderService

DATA = Path(__file__).parent.parent / "data"
needs_unix = pytest.mark.skipif(not warm.supported(), reason="no Unix domain sockets here")
pytestmark = needs_unix


@pytest.fixture(scope="module")
def socket_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # Short: AF_UNIX paths are limited to about 100 bytes.
    folder = Path(os.environ.get(warm.SOCKET_DIR_ENV, "/tmp")) / f"unit-{os.getpid()}"
    return {warm.SOCKET_DIR_ENV: str(folder), "CODESEEK_STORE": str(tmp_path_factory.mktemp("store"))}


@pytest.fixture(scope="module")
def indexed(
    tmp_path_factory: pytest.TempPathFactory, minilm: Embedder, socket_env: dict[str, str]
) -> FolderService:
    """The sample workspace indexed once for the module, its store where the CLI would
    find it (the tests only read it)."""
    root = tmp_path_factory.mktemp("warm") / "workspace"
    shutil.copytree(DATA / "workspace", root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CODESEEK_STORE", socket_env["CODESEEK_STORE"])
        service = FolderService(root.resolve(), Config(), embedder=minilm)
    service.index()
    return service


@pytest.fixture
def serving(indexed: FolderService, socket_env: dict[str, str]) -> Iterator[warm.FolderSocket]:
    server = warm.FolderSocket(indexed, env=socket_env)
    assert server.start()
    yield server
    server.stop()


def raw(path: Path, payload: bytes) -> dict[str, Any]:
    """Send raw bytes, read the one answer line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(path))
        conn.sendall(payload)
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def ask(service: FolderService, env: dict[str, str], method: str, params: dict[str, Any]) -> Any:
    return warm.ask(service.root, method, params, {}, env=env, timeout=10)


SEARCH = {"query": "retry with exponential backoff", "limit": 3, "mode": "hybrid"}


def test_served_search_is_the_services_answer(serving: warm.FolderSocket, socket_env: dict[str, str]) -> None:
    answer = ask(
        serving.service, socket_env, "search", {**SEARCH, "languages": [], "include": [], "exclude": []}
    )
    assert answer is not None and answer["pid"] == os.getpid()
    assert answer["result"]["hits"][0]["symbol"] == "retry_with_backoff"
    assert answer["result"]["dense_percent"] == 100 and answer["result"]["degraded"] is None
    assert serving.answered == 1


def test_private_directory_and_socket_modes(serving: warm.FolderSocket) -> None:
    folder = os.lstat(serving.path.parent)
    sock = os.lstat(serving.path)
    assert stat.S_ISDIR(folder.st_mode) and stat.S_IMODE(folder.st_mode) == 0o700
    assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o600
    assert folder.st_uid == sock.st_uid == os.getuid()
    # The name is a hash of the folder: nothing about the user's paths shows in /tmp.
    assert serving.service.root.name not in serving.path.name


def test_a_too_open_directory_of_ours_is_closed_and_another_users_refused(tmp_path: Path) -> None:
    folder = tmp_path / "sockets"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    assert warm.ensure_private_dir(folder)
    assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o700
    link = tmp_path / "link"
    link.symlink_to(folder)
    assert not warm.ensure_private_dir(link)  # a symlink could point anywhere
    if os.getuid() == 0:
        other = tmp_path / "theirs"
        other.mkdir(mode=0o700)
        os.chown(other, 65534, 65534)
        assert not warm.ensure_private_dir(other)


def test_peer_credentials_name_the_connecting_user() -> None:
    if not hasattr(socket, "SO_PEERCRED"):
        pytest.skip("no SO_PEERCRED here")
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert warm.peer_uid(left) == warm.peer_uid(right) == os.getuid()


def test_a_server_of_another_user_refuses_us(indexed: FolderService, socket_env: dict[str, str]) -> None:
    """The SO_PEERCRED check: a server that serves uid N answers nobody else."""
    if not hasattr(socket, "SO_PEERCRED"):
        pytest.skip("no SO_PEERCRED here")
    server = warm.FolderSocket(indexed, env=socket_env, uid=os.getuid() + 1)
    assert server.start()
    try:
        answer = raw(server.path, b'{"v": 1, "method": "status"}\n')
        assert answer["ok"] is False and answer["error"]["kind"] == warm.DENIED
        assert ask(indexed, socket_env, "status", {}) is None  # the CLI works alone
        assert server.answered == 0
    finally:
        server.stop()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to become another user")
def test_another_user_cannot_connect(serving: warm.FolderSocket) -> None:
    """A real second account (nobody) cannot even reach the socket."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(str(serving.path))
            code = 1
        except PermissionError:
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"this is not json\n", "not JSON"),
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"v": 2, "method": "status"}\n', "unsupported protocol version 2"),
        (b'{"method": "status"}\n', "unsupported protocol version None"),
        (b'{"v": 1, "method": "index"}\n', "unknown method 'index'"),
        (
            b'{"v": 1, "method": "search", "root": "/", "settings": {}, "env": {}}\n',
            "'params' must be a dict",
        ),
        (b"\xff\xfe\n", "not JSON"),
    ],
)
def test_malformed_requests_get_an_error_answer(
    serving: warm.FolderSocket, payload: bytes, message: str
) -> None:
    answer = raw(serving.path, payload)
    assert answer == {
        "v": 1,
        "ok": False,
        "error": {"kind": warm.PROTOCOL, "message": answer["error"]["message"]},
    }
    assert message in answer["error"]["message"]


def test_bad_params_a_hangup_and_a_wrong_folder_leave_the_server_serving(
    serving: warm.FolderSocket, socket_env: dict[str, str]
) -> None:
    base = {
        "v": 1,
        "root": str(serving.service.root),
        "settings": {},
        "env": {"store": socket_env["CODESEEK_STORE"], "voyage_key": False},
    }
    answer = raw(
        serving.path, json.dumps({**base, "method": "search", "params": {"query": 3}}).encode() + b"\n"
    )
    assert answer["error"] == {"kind": warm.PROTOCOL, "message": "'query' must be a str"}
    answer = raw(
        serving.path,
        json.dumps({**base, "method": "status", "root": "/elsewhere", "params": {}}).encode() + b"\n",
    )
    assert answer["error"]["kind"] == warm.UNAVAILABLE
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:  # connects, says nothing, leaves
        conn.connect(str(serving.path))
    answer = raw(serving.path, json.dumps({**base, "method": "status", "params": {}}).encode() + b"\n")
    assert answer["ok"] is True and answer["result"]["status"]["files"] == 9


def test_usage_errors_come_back_as_the_cli_would_say_them(
    serving: warm.FolderSocket, socket_env: dict[str, str]
) -> None:
    with pytest.raises(UsageError, match="unknown language 'cobol'"):
        ask(
            serving.service,
            socket_env,
            "search",
            {**SEARCH, "languages": ["cobol"], "include": [], "exclude": []},
        )
    with pytest.raises(UsageError, match="no such file"):
        ask(serving.service, socket_env, "related", {"path": "src/nope.py", "line": 1, "limit": 3})
    with pytest.raises(UsageError, match="is not in the index"):
        ask(
            serving.service,
            socket_env,
            "related",
            {"path": "src/storage/retry.py", "line": 10_000, "limit": 3},
        )


def test_another_index_is_not_answered_for(
    serving: warm.FolderSocket, socket_env: dict[str, str], tmp_path: Path
) -> None:
    """The CLI with another store, model or provider would search another index: the
    server says so and the CLI works alone."""
    status: dict[str, Any] = {}
    assert ask(serving.service, socket_env, "status", status) is not None
    assert (
        ask(serving.service, {**socket_env, "CODESEEK_STORE": str(tmp_path / "other")}, "status", status)
        is None
    )
    assert (
        warm.ask(serving.service.root, "status", status, {"embedder.dimensions": 128}, env=socket_env) is None
    )
    assert (
        warm.ask(serving.service.root, "status", status, {"embedder.provider": "voyage"}, env=socket_env)
        is None
    )
    # The same index searched otherwise (a setting the editor gave its server, say).
    (serving.service.root / "codeseek.toml").write_text('[embedder]\nqueryInstruction = "Find code"\n')
    try:
        assert ask(serving.service, socket_env, "status", status) is None
    finally:
        (serving.service.root / "codeseek.toml").unlink()
    # A flag the CLI itself rejects: it works alone, and says so itself.
    assert (
        warm.ask(serving.service.root, "status", status, {"embedder.provider": "x"}, env=socket_env) is None
    )
    assert serving.answered == 1


def test_a_stale_socket_is_removed_at_start_and_a_live_one_kept(
    indexed: FolderService, socket_env: dict[str, str]
) -> None:
    path = warm.socket_path(indexed.root, socket_env)
    assert warm.ensure_private_dir(path.parent)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # a killed server's file: nobody listens
    assert path.exists()
    assert warm.ask(indexed.root, "status", {}, {}, env=socket_env, timeout=10) is None  # stale: work alone
    first = warm.FolderSocket(indexed, env=socket_env)
    assert first.start()
    try:
        second = warm.FolderSocket(indexed, env=socket_env)
        assert not second.start()  # the first still answers for the folder
        assert warm.ask(indexed.root, "status", {}, {}, env=socket_env, timeout=10) is not None
    finally:
        first.stop()
    assert not path.exists()


def test_a_server_that_hangs_up_or_stalls_means_working_alone(
    tmp_path: Path, socket_env: dict[str, str]
) -> None:
    """What the CLI sees when a server dies mid-request, answers garbage, or hangs."""
    root = tmp_path.resolve()
    path = warm.socket_path(root, socket_env)
    assert warm.ensure_private_dir(path.parent)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    replies = [b"", b"garbage\n", b'{"v": 7, "ok": true}\n', None]

    def serve() -> None:
        for reply in replies:
            conn, _ = listener.accept()
            conn.recv(65536)
            if reply is None:
                threading.Event().wait(1.0)  # longer than the client waits
            else:
                conn.sendall(reply)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        for reply in replies:
            assert (
                warm.ask(root, "status", {}, {}, env=socket_env, timeout=0.3 if reply is None else 5) is None
            )
    finally:
        thread.join(5)
        listener.close()
        path.unlink()
