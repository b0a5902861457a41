"""The real language server with `store.shared`: it searches a team index published to an
S3-compatible server on loopback (tests/s3.py) at once, finds a teammate's local edit
through its overlay, reports where results come from in `codeseek/status`, and answers
from the overlay, saying so, when the storage goes away."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from codeseek import cli
from s3 import S3Server

from .conftest import copy_workspace, eventually, request, server_config
from .ts_protocol import interfaces, shape_problems

EDITED = "src/storage/json_store.py"
# The tests share the module's server, so they run on the module's event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module", autouse=True)
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Server, str]]:
    """The sample workspace published by the command line, as CI would. Autouse: the
    server process is started before the client fixture's own arguments are made, and it
    must inherit this environment."""
    with S3Server() as server:
        environment = {**server.endpoint.environment(), "AWS_ALLOW_HTTP": "true"}
        saved = {k: os.environ.get(k) for k in environment}
        os.environ.update(environment)  # the server process inherits it
        try:
            uri = server.create_bucket("team-lsp") + "/index"
            ci = copy_workspace(tmp_path_factory.mktemp("ci") / "repo")
            err = io.StringIO()
            assert cli.main(["index", str(ci), "--publish", uri], out=io.StringIO(), err=err) == 0, (
                err.getvalue()
            )
            yield server, uri
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_workspace(tmp_path_factory.mktemp("mate") / "workspace")
    text = (root / EDITED).read_text()
    text += "\n\ndef frobnicate_widgets(count):\n    '''Frobnicate the given number of widgets.'''\n    return count * 42\n"
    (root / EDITED).write_text(text)
    return root


@pytest_lsp.fixture(scope="module", config=server_config())
async def client(  # type: ignore[no-untyped-def]
    lsp_client: LanguageClient,
    shared: tuple[S3Server, str],
    workspace: Path,
    tmp_path_factory: pytest.TempPathFactory,
):
    store = tmp_path_factory.mktemp("store")
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="workspace")],
            initialization_options={"store": {"path": str(store), "shared": shared[1]}},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def search(client: LanguageClient, query: str) -> dict[str, Any]:
    return await request(client, "codeseek/search", {"query": query, "limit": 5})


async def test_the_server_searches_the_shared_index_and_the_local_edit(
    client: LanguageClient, shared: tuple[S3Server, str]
) -> None:
    server, uri = shared
    found = await eventually(
        lambda: search(client, "frobnicate widgets"),
        lambda r: bool(r["results"]) and r["results"][0]["symbol"] == "frobnicate_widgets",
        timeout=60,
    )
    assert not found["degraded"]
    other = await search(client, "matrix multiplication")
    assert other["results"] and other["results"][0]["uri"].endswith("native/matrix.rs")

    status = await request(client, "codeseek/status", {})
    team = status["roots"][0]["team"]
    assert team["shared"] == uri and team["overlayFiles"] == 1 and team["reachable"]
    assert team["sharedFiles"] >= 8 and team["fetchedAt"]
    assert shape_problems(team, "TeamStatus", interfaces()) == []
    assert server.endpoint.secret_access_key not in str(status)

    server.kill()  # the storage goes away
    result = await search(client, "frobnicate widgets")
    assert result["results"] and result["results"][0]["symbol"] == "frobnicate_widgets"
    assert result["degraded"] and "unreachable" in result["message"]
    assert all(hit["uri"].endswith(EDITED) for hit in result["results"])
