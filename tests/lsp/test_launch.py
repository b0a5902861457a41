"""The server started exactly as the VS Code extension starts it (the interpreter, the
arguments from client-vscode/src/interpreter.ts, and a working folder that is not the
workspace), on a workspace whose root holds `types.py`, `logging.py`, `json.py` and
`codeseek.py`: it indexes and searches it, and what it answers has the shapes the
extension's protocol.ts declares."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from codeseek.search import MODES

from .conftest import DATA, eventually, make_client, request, wait_indexed
from .ts_protocol import PROTOCOL_TS, interfaces, shape_problems

pytestmark = pytest.mark.asyncio(loop_scope="module")

INTERPRETER_TS = PROTOCOL_TS.parent / "interpreter.ts"
SHADOWING = DATA / "shadowing"


def extension_serve_args() -> list[str]:
    """The arguments the extension gives the interpreter, read from its source."""
    match = re.search(r"export const SERVE_ARGS\b[^=]*=\s*\[([^\]]*)\]", INTERPRETER_TS.read_text("utf-8"))
    assert match, f"SERVE_ARGS not found in {INTERPRETER_TS}"
    return re.findall(r"'([^']*)'", match.group(1))


def server_command() -> list[str]:
    return [sys.executable, *extension_serve_args()]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("launch") / "address-book"
    shutil.copytree(SHADOWING, root)
    assert {"types.py", "logging.py", "json.py", "codeseek.py"} <= {p.name for p in root.iterdir()}
    return root.resolve()


async def test_the_workspace_breaks_a_server_started_inside_it(workspace: Path) -> None:
    """Why the extension never runs the server from the workspace: started there, Python
    imports the workspace's types.py before the standard library's, and dies."""
    done = await asyncio.to_thread(
        subprocess.run,
        server_command(),
        cwd=workspace,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode != 0, "the fixture no longer shadows anything, so the tests below prove nothing"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory, workspace: Path) -> AsyncIterator[LanguageClient]:
    # The extension's neutral folder: an empty one that codeseek owns.
    neutral = tmp_path_factory.mktemp("server-cwd")
    store = tmp_path_factory.mktemp("store")
    lsp = make_client()
    await lsp.start_io(*server_command(), cwd=str(neutral), env=dict(os.environ))
    await lsp.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="address-book")],
            initialization_options={"store": {"path": str(store)}, "embedder": {"provider": "local"}},
        )
    )
    yield lsp
    server = lsp._server
    if server is not None and server.returncode is None:
        await lsp.shutdown_session()
    await lsp.stop()


async def search(client: LanguageClient, query: str, limit: int = 3) -> dict[str, Any]:
    return await request(client, "codeseek/search", {"query": query, "limit": limit})


def top_file(result: dict[str, Any]) -> str:
    return result["results"][0]["uri"].rsplit("/", 1)[-1]


async def test_indexes_and_searches_a_workspace_that_shadows_the_standard_library(
    client: LanguageClient,
) -> None:
    status = await wait_indexed(client, timeout=120)
    assert status["files"] == 4 and status["lastError"] is None
    found = await search(client, "turn a contact into a dictionary that can be written out as JSON")
    assert top_file(found) == "json.py"
    assert found["results"][0]["symbol"] == "contact_to_document"
    found = await search(client, "audit trail of who changed which contact")
    assert top_file(found) == "logging.py"
    found = await search(client, "contacts whose name or email address contains the text")
    assert top_file(found) == "codeseek.py"
    found = await search(client, "the address to write to first")
    assert top_file(found) == "types.py"


async def test_answers_have_the_shapes_protocol_ts_declares(client: LanguageClient, workspace: Path) -> None:
    declared = interfaces()
    status = await wait_indexed(client, timeout=120)
    found = await search(client, "read an exported document back", limit=5)
    related = await request(
        client,
        "codeseek/related",
        {"textDocument": {"uri": (workspace / "json.py").as_uri()}, "position": {"line": 4, "character": 4}},
    )
    problems = shape_problems(status, "IndexStatus", declared)
    for root in status["roots"]:
        problems += shape_problems(root, "RootStatus", declared)
    problems += shape_problems(found, "SearchResult", declared)
    problems += shape_problems(found["index"], "IndexStatus", declared)
    problems += shape_problems(related, "RelatedResult", declared)
    assert found["results"] and related["results"]
    for hit in found["results"] + related["results"]:
        problems += shape_problems(hit, "Hit", declared)
        problems += shape_problems(hit["range"], "Range", declared)
        problems += shape_problems(hit["range"]["start"], "Position", declared)
    assert not problems, "\n".join(problems)

    union = re.search(r"export type SearchMode = ([^;]+);", PROTOCOL_TS.read_text("utf-8"))
    assert union and re.findall(r"'(\w+)'", union.group(1)) == list(MODES)
    assert found["mode"] in MODES and found["degraded"] is False and found["message"] is None


async def test_a_folder_added_later_is_indexed_and_searched_with_the_first(
    client: LanguageClient, workspace: Path, tmp_path: Path
) -> None:
    """VS Code sends `workspace/didChangeWorkspaceFolders` to the one server when the user
    adds a folder; the totals and each folder's status keep protocol.ts's shapes."""
    second = tmp_path / "calendar"
    second.mkdir()
    (second / "birthdays.py").write_text(
        "def upcoming_birthdays(contacts, today, days=30):\n"
        '    """Contacts whose birthday falls within the next few days."""\n'
        "    return [c for c in contacts if 0 <= (c.birthday - today).days < days]\n"
    )
    client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(
            event=types.WorkspaceFoldersChangeEvent(
                added=[types.WorkspaceFolder(uri=second.resolve().as_uri(), name="calendar")], removed=[]
            )
        )
    )
    status = await eventually(
        lambda: request(client, "codeseek/status", {}),
        lambda s: len(s["roots"]) == 2 and s["state"] == "idle" and s["files"] == 5,
        timeout=120,
    )
    found = await search(client, "birthdays coming up soon", limit=10)
    folders = {hit["uri"].rsplit("/", 2)[-2] for hit in found["results"]}
    assert {"calendar", workspace.name} <= folders
    declared = interfaces()
    problems = shape_problems(status, "IndexStatus", declared)
    for root in status["roots"]:
        problems += shape_problems(root, "RootStatus", declared)
    assert not problems, "\n".join(problems)
