"""Session-level behaviour of the real server: a multi-root workspace, settings (bad keys
reported, the rest applied, changes at run time), logging to the client and to a log
file, and a clean shutdown. One server for the module."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from .conftest import SERVER_COMMAND, copy_workspace, make_client, request, wait_indexed

pytestmark = pytest.mark.asyncio(loop_scope="module")

INVOICE = '''def compute_invoice_tax(amount, rate):
    """The value-added tax owed on an invoice amount."""
    return round(amount * rate, 2)
'''


class Session:
    def __init__(self, client: LanguageClient, roots: list[Path], log_file: Path) -> None:
        self.client = client
        self.roots = roots
        self.log_file = log_file


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Session]:
    base = tmp_path_factory.mktemp("multi")
    app = copy_workspace(base / "app")
    billing = base / "billing"
    billing.mkdir()
    (billing / "invoice.py").write_text(INVOICE)
    billing = billing.resolve()
    log_file = base / "server.log"
    config = ClientServerConfig(
        server_command=[*SERVER_COMMAND, "--log-file", str(log_file)], client_factory=make_client
    )
    client = await config.start()
    assert isinstance(client, LanguageClient)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            workspace_folders=[
                types.WorkspaceFolder(uri=app.as_uri(), name="app"),
                types.WorkspaceFolder(uri=billing.as_uri(), name="billing"),
            ],
            initialization_options={
                "codeseek": {
                    "store": {"path": str(base / "store")},
                    "hover": {"related": False},
                    "embedder": {"bogus": 1},
                    "index": {"maxFileBytes": "big"},
                }
            },
        )
    )
    yield Session(client, [app, billing], log_file)
    server = client._server
    if server is not None and server.returncode is None:
        await client.shutdown_session()
    await client.stop()


def hover_params(root: Path) -> types.HoverParams:
    return types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=(root / "src/storage/retry.py").as_uri()),
        position=types.Position(line=6, character=4),
    )


async def test_one_index_per_root_and_search_across_all(session: Session, tmp_path: Path) -> None:
    client = session.client
    # Two roots: two initial runs.
    status = await wait_indexed(client, runs=2)
    assert status["files"] == 9 + 1
    by_uri = {r["uri"]: r for r in status["roots"]}
    assert set(by_uri) == {root.as_uri() for root in session.roots}
    assert by_uri[session.roots[1].as_uri()]["files"] == 1
    stores = {r["storePath"] for r in status["roots"]}
    assert len(stores) == 2  # one store each, under the configured path

    tax = await request(client, "codeseek/search", {"query": "tax owed on an invoice", "limit": 3})
    assert tax["results"][0]["symbol"] == "compute_invoice_tax"
    assert tax["results"][0]["uri"] == (session.roots[1] / "invoice.py").as_uri()
    retry = await request(client, "codeseek/search", {"query": "retry with exponential backoff", "limit": 3})
    assert retry["results"][0]["uri"].startswith(session.roots[0].as_uri())


async def test_bad_settings_are_named_and_the_rest_applies(session: Session) -> None:
    client = session.client
    (message,) = [m for m in client.messages if "settings" in m.message]
    assert message.type == types.MessageType.Warning
    assert "embedder.bogus" in message.message and "index.maxFileBytes" in message.message
    # hover.related = false applied despite the bad keys next to it.
    assert await client.text_document_hover_async(hover_params(session.roots[0])) is None


async def test_settings_change_at_run_time(session: Session) -> None:
    client = session.client
    shown = len(client.messages)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codeseek": {"hover": {"related": True}, "nope": 1}})
    )

    async def hover() -> Any:
        return await client.text_document_hover_async(hover_params(session.roots[0]))

    deadline = time.monotonic() + 10
    while (result := await hover()) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert result is not None and "Related code" in result.contents.value
    new = [m.message for m in client.messages[shown:]]
    assert any("nope" in m for m in new)


async def test_logs_go_to_the_client_and_the_log_file(session: Session) -> None:
    logged = "\n".join(m.message for m in session.client.log_messages)
    assert "loaded local:sentence-transformers/all-MiniLM-L6-v2" in logged
    assert "indexed" in logged
    text = session.log_file.read_text()
    assert "codeseek.lsp" in text and "indexed" in text


async def test_shutdown_and_exit_stop_cleanly(session: Session) -> None:
    client = session.client
    server = client._server
    assert server is not None
    started = time.monotonic()
    await client.shutdown_session()  # shutdown, then exit, then wait for the process
    assert server.returncode == 0
    assert time.monotonic() - started < 15
    text = session.log_file.read_text()
    assert "codeseek stopped" in text
    assert "Traceback" not in text


async def test_tcp_transport() -> None:
    """`codeseek serve --tcp HOST:PORT` speaks the same protocol over a socket. No
    workspace folder, so no model is loaded: this stays quick."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [*SERVER_COMMAND, "--tcp", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        client = make_client()
        deadline = time.monotonic() + 20
        while True:
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        await asyncio.wait_for(
            client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities())), 20
        )
        status = await request(client, "codeseek/status", {})
        assert status["state"] == "idle" and status["files"] == 0 and status["roots"] == []
        result = await request(client, "codeseek/search", {"query": "anything"})
        assert result["results"] == []
        await asyncio.wait_for(client.shutdown_async(None), 20)
        client.exit(None)
        assert await asyncio.to_thread(process.wait, 20) == 0
        await client.stop()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()
