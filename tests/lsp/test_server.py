"""The real `codeseek serve` process, with the bundled model and a real LanceDB store,
driven over stdio by pytest-lsp: one server for the whole module (the model loads once).

The tests run in file order and build on each other's state (the initial index, then
edits to it), as one editor session would.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcRequestCancelled
from pytest_lsp import LanguageClient, client_capabilities

from .conftest import copy_workspace, eventually, finished_runs, request, server_config, symbols, wait_indexed

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_workspace(tmp_path_factory.mktemp("lsp") / "workspace")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest_lsp.fixture(scope="module", config=server_config())
async def client(lsp_client: LanguageClient, workspace: Path, store: Path):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="workspace")],
            initialization_options={"store": {"path": str(store)}},
        )
    )
    yield
    await lsp_client.shutdown_session()


def uri(workspace: Path, rel: str) -> str:
    return (workspace / rel).as_uri()


async def search(client: LanguageClient, query: str, **params: Any) -> dict[str, Any]:
    return await request(client, "codeseek/search", {"query": query, **params})


async def test_requests_answer_while_the_index_is_built(client: LanguageClient) -> None:
    # Right after `initialized` the model is still loading and nothing is indexed yet;
    # the server answers anyway, and says so.
    started = time.perf_counter()
    status = await request(client, "codeseek/status", {})
    result = await search(client, "retry with backoff")
    assert time.perf_counter() - started < 2
    assert status["state"] == "indexing"
    assert result["index"]["state"] in ("indexing", "idle")
    assert isinstance(result["results"], list)


async def test_initial_index_reports_progress_to_the_end(client: LanguageClient) -> None:
    status = await wait_indexed(client)
    # Words first, then meaning: one run chunks every file, the next embeds the chunks.
    runs = {run[0].title.split()[0]: run for run in finished_runs(client)}
    assert set(runs) == {"Indexing", "Embedding"}
    begin, *reports, end = runs["Indexing"]
    assert isinstance(begin, types.WorkDoneProgressBegin) and begin.cancellable
    assert any(
        r.message and r.message.startswith("9/9 files · ") and r.message.endswith(" chunks") for r in reports
    )
    assert isinstance(end, types.WorkDoneProgressEnd)
    # One progress for the whole backlog, counting the index's vectors, ended when done.
    _, *reports, end = runs["Embedding"]
    assert any(r.message and "% embedded · " in r.message and " chunks" in r.message for r in reports)
    assert reports[-1].percentage == 100
    assert isinstance(end, types.WorkDoneProgressEnd) and end.message == "embedded"
    assert status["densePercent"] == 100 and status["complete"]
    assert status["files"] == 9
    assert status["chunks"] >= 15
    assert status["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert status["dimensions"] == 384
    assert status["lastIndexedAt"] and status["lastError"] is None
    assert status["provider"] == "local"


async def test_search_finds_code_by_meaning(client: LanguageClient, workspace: Path) -> None:
    result = await search(client, "retry an operation with exponential backoff", limit=3)
    top = result["results"][0]
    assert top["symbol"] == "retry_with_backoff"
    assert top["uri"] == uri(workspace, "src/storage/retry.py")
    assert top["range"]["start"] == {"line": 4, "character": 0}  # `def` is on line 5
    end_line = top["range"]["end"]["line"]
    source = (workspace / "src/storage/retry.py").read_text().splitlines()
    assert top["range"]["end"]["character"] == len(source[end_line])
    assert top["language"] == "python" and top["kind"] == "function"
    assert "def retry_with_backoff" in top["preview"]
    assert len(result["results"]) <= 3
    assert result["index"]["state"] == "idle" and result["index"]["files"] == 9
    assert result["degraded"] is False


async def test_search_filters(client: LanguageClient, workspace: Path) -> None:
    go = await search(client, "http handler", languages=["Go"])
    assert go["results"] and {h["language"] for h in go["results"]} == {"go"}
    web = await search(client, "shopping cart total", include=["web/**"])
    assert web["results"] and all("/web/" in h["uri"] for h in web["results"])
    no_web = await search(client, "shopping cart total", exclude=["web/"])
    assert all("/web/" not in h["uri"] for h in no_web["results"])
    lexical = await search(client, "retry_with_backoff", mode="lexical", limit=1)
    assert symbols(lexical) == ["retry_with_backoff"] and lexical["mode"] == "lexical"


async def test_related_excludes_the_chunk_itself(client: LanguageClient, workspace: Path) -> None:
    result = await request(
        client,
        "codeseek/related",
        {
            "textDocument": {"uri": uri(workspace, "src/storage/retry.py")},
            "position": {"line": 6, "character": 4},
        },
    )
    assert result["results"]
    assert all(h["symbol"] != "retry_with_backoff" for h in result["results"])
    assert len(result["results"]) <= 5


async def test_hover_shows_related_code_quickly(client: LanguageClient, workspace: Path) -> None:
    params = types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri(workspace, "src/storage/json_store.py")),
        position=types.Position(line=10, character=8),
    )
    await client.text_document_hover_async(params)  # the first one warms the store up
    started = time.perf_counter()
    hover = await client.text_document_hover_async(params)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5  # generous: the server's own budget is 80 ms, the rest is the pipe
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent)
    text = hover.contents.value
    assert text.startswith("**Related code**")
    links = [line for line in text.splitlines() if line.startswith("- [")]
    assert 1 <= len(links) <= 3
    assert all("](file://" in line and "#L" in line for line in links)
    assert not any("`JsonStore.__init__`" in line for line in links)  # not the chunk under the cursor


async def test_status_is_camel_case(client: LanguageClient) -> None:
    status = await request(client, "codeseek/status", {})
    for key in (
        "state",
        "files",
        "chunks",
        "pending",
        "provider",
        "model",
        "dimensions",
        "lastIndexedAt",
        "lastError",
    ):
        assert key in status
    assert "last_indexed_at" not in status


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("codeseek/search", {}, "query"),
        ("codeseek/search", {"query": 42}, "query"),
        ("codeseek/search", {"query": "x", "limit": "ten"}, "limit"),
        ("codeseek/search", {"query": "x", "limit": 0}, "limit"),
        ("codeseek/search", {"query": "x", "mode": "fuzzy"}, "mode"),
        ("codeseek/search", {"query": "x", "languages": "python"}, "languages"),
        ("codeseek/search", {"query": "x", "include": ["ok", 3]}, "include[1]"),
        ("codeseek/related", {"position": {"line": 1, "character": 0}}, "textDocument"),
        (
            "codeseek/related",
            {"textDocument": {"uri": "untitled:1"}, "position": {"line": 1}},
            "textDocument.uri",
        ),
        (
            "codeseek/related",
            {"textDocument": {"uri": "file:///x.py"}, "position": {"line": -1}},
            "position.line",
        ),
        ("codeseek/reindex", {"full": "yes"}, "full"),
    ],
)
async def test_invalid_params_name_the_field(
    client: LanguageClient, method: str, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(JsonRpcInvalidParams) as caught:
        await request(client, method, params)
    assert caught.value.code == -32602
    assert f" {field}:" in caught.value.message
    # ... and the server keeps running.
    assert (await request(client, "codeseek/status", {}))["files"] == 9


async def test_related_outside_the_workspace_is_invalid(client: LanguageClient, tmp_path: Path) -> None:
    with pytest.raises(JsonRpcInvalidParams, match="not inside a workspace folder"):
        await request(
            client,
            "codeseek/related",
            {"textDocument": {"uri": (tmp_path / "x.py").as_uri()}, "position": {"line": 0, "character": 0}},
        )


async def test_cancel_search(client: LanguageClient) -> None:
    future = client.protocol.send_request(
        "codeseek/search", {"query": "parse a configuration file", "limit": 200}, msg_id="search-to-cancel"
    )
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="search-to-cancel"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(asyncio.wrap_future(future), 10)
    assert (await search(client, "retry with backoff", limit=1))["results"]


async def test_outside_edit_is_found_and_old_code_gone(client: LanguageClient, workspace: Path) -> None:
    """A change made behind the editor's back (git, a formatter) reaches the index
    through the server's own file watcher."""
    retry = workspace / "src/storage/retry.py"
    retry.write_text(retry.read_text().replace("retry_with_backoff", "reattempt_quaternion_frobnication"))
    found = await eventually(
        lambda: search(client, "reattempt_quaternion_frobnication", mode="lexical", limit=1),
        lambda r: symbols(r) == ["reattempt_quaternion_frobnication"],
        timeout=15,
    )
    assert found["results"][0]["uri"] == uri(workspace, "src/storage/retry.py")
    old = await search(client, "retry_with_backoff", mode="lexical", limit=5)
    assert "retry_with_backoff" not in symbols(old)


async def test_saved_file_is_found_and_old_code_gone(client: LanguageClient, workspace: Path) -> None:
    store_py = workspace / "src/storage/json_store.py"
    text = store_py.read_text()
    assert "class JsonStore" in text
    store_py.write_text(text.replace("class JsonStore", "class ZanzibarLedgerVault"))
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=store_py.as_uri()))
    )
    await eventually(
        lambda: search(client, "ZanzibarLedgerVault", mode="lexical", limit=3),
        lambda r: any((s or "").startswith("ZanzibarLedgerVault") for s in symbols(r)),
        timeout=15,
    )
    old = await search(client, "JsonStore", mode="lexical", limit=10)
    assert not any((s or "").startswith("JsonStore") for s in symbols(old))


async def test_new_and_deleted_files(client: LanguageClient, workspace: Path) -> None:
    new = workspace / "src/geometry.py"
    new.write_text("def hypotenuse_length(a, b):\n    return (a * a + b * b) ** 0.5\n")
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=new.as_uri(), type=types.FileChangeType.Created)]
        )
    )
    await eventually(
        lambda: search(client, "hypotenuse_length", mode="lexical", limit=1),
        lambda r: symbols(r) == ["hypotenuse_length"],
        timeout=15,
    )
    new.unlink()
    await eventually(
        lambda: search(client, "hypotenuse_length", mode="lexical", limit=1),
        lambda r: "hypotenuse_length" not in symbols(r),
        timeout=15,
    )


async def test_reindex_reports_progress(client: LanguageClient) -> None:
    before = len(finished_runs(client))
    status = await request(client, "codeseek/reindex", {"full": True})
    assert status["state"] in ("indexing", "idle")
    status = await wait_indexed(client, runs=before + 1)
    assert status["files"] == 9


async def test_nothing_printed_but_protocol_and_no_popups(client: LanguageClient) -> None:
    # Any stray stdout would have broken the session long before this test; pop-ups
    # are for settings problems and failures only, and there were none.
    assert client.messages == []
    assert client.error is None
