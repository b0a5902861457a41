"""The warm command line against the real server: `codeseek search`, `related` and
`status` in fresh processes are answered by a running `codeseek serve` that holds the
folder, print what the command line alone prints, and fall back to working alone when
that server is killed mid-request. One server for the module; the last test kills it.
(warm.py's socket rules and malformed requests: tests/unit/test_warm.py.)"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from codeseek import warm

from .conftest import SERVER_COMMAND, copy_workspace, eventually, make_client, request

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not warm.supported(), reason="no Unix domain sockets here"),
]

SERVED = "answered by the language server (pid {pid})"
QUERY = "retry with exponential backoff"


@dataclass
class Session:
    client: LanguageClient
    root: Path
    env: dict[str, str]
    pid: int


@dataclass
class Done:
    code: int
    out: str
    err: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Session]:
    base = tmp_path_factory.mktemp("warm")
    root = copy_workspace(base / "workspace")
    # The server and the command line find the same store the same way.
    env = {**os.environ, "CODESEEK_STORE": str(base / "store")}
    env.pop(warm.NO_SERVER_ENV, None)
    config = ClientServerConfig(server_command=SERVER_COMMAND, client_factory=make_client, server_env=env)
    client = await config.start()
    assert isinstance(client, LanguageClient)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="workspace")],
        )
    )
    await eventually(
        lambda: request(client, "codeseek/status", {}),
        lambda s: s["state"] == "idle" and s["files"] > 0 and s["densePercent"] == 100,
        timeout=120,
    )
    assert client._server is not None
    yield Session(client, root, env, client._server.pid)
    if client._server.returncode is None:
        await client.shutdown_session()
    await client.stop()


async def codeseek(session: Session, *argv: str, env: dict[str, str] | None = None) -> Done:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "codeseek",
        *argv,
        "-w",
        str(session.root),
        env=env or session.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return Done(proc.returncode or 0, out.decode(), err.decode())


async def test_the_cli_asks_the_running_server_and_prints_what_it_prints_alone(session: Session) -> None:
    served_by = SERVED.format(pid=session.pid)
    for argv in (["search", QUERY, "--json"], ["status"]):
        served = await codeseek(session, *argv, "-v")
        alone = await codeseek(session, *argv, "--no-server")
        assert served.code == alone.code == 0, served.err + alone.err
        assert served_by in served.err
        assert served.out == alone.out
    related = await codeseek(session, "related", "src/storage/retry.py:5", "-v")
    assert related.code == 0 and served_by in related.err
    assert "src/storage/" in related.out
    # A usage error found by the server reads as the command line's own.
    bad = await codeseek(session, "search", QUERY, "--lang", "cobol")
    assert bad.code == 2 and bad.err.startswith("codeseek: error: unknown language 'cobol'")
    assert bad.err.count("\n") == 1


async def test_no_server_flag_and_environment_skip_it(session: Session) -> None:
    flag = await codeseek(session, "status", "--json", "-v", "--no-server")
    env = await codeseek(session, "status", "--json", "-v", env={**session.env, warm.NO_SERVER_ENV: "1"})
    for done in (flag, env):
        assert done.code == 0 and '"files": 9' in done.out
        assert "answered by the language server" not in done.err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="watches the CLI's sockets in /proc")
async def test_the_cli_works_alone_when_the_server_dies_mid_request(session: Session) -> None:
    expected = await codeseek(session, "search", QUERY, "--mode", "lexical", "--json")
    path = warm.socket_path(session.root, session.env)
    assert path.exists()
    os.kill(session.pid, signal.SIGSTOP)  # it accepts no more, answers nothing
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "codeseek",
            *("search", QUERY, "--mode", "lexical", "--json", "-v", "-w", str(session.root)),
            env={**session.env, warm.TIMEOUT_ENV: "60"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # Kill the server once the CLI has connected and waits for the answer.
        await eventually(lambda: _sockets_of(proc.pid), lambda n: n > 0, timeout=60)
        await asyncio.sleep(0.2)
    finally:
        os.kill(session.pid, signal.SIGKILL)
        os.kill(session.pid, signal.SIGCONT)
        assert session.client._server is not None
        await session.client._server.wait()
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert out.decode() == expected.out
    assert "did not answer" in err.decode() and "Traceback" not in err.decode()
    # The killed server's socket file is left behind: the next call works alone, quietly.
    assert path.exists()
    again = await codeseek(session, "search", QUERY, "--mode", "lexical", "--json")
    assert again.code == 0 and again.out == expected.out and again.err == ""


async def _sockets_of(pid: int) -> int:
    count = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
            except OSError:
                continue
    except OSError:
        return 0
    return count
