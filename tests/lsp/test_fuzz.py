"""Malformed messages against the real `codeseek serve` process (issue 9): every request
answered, nothing from the client able to kill the server or fill its log.

The corpus is deterministic: the valid params of every method the server handles, broken
at every place in them (wrong types, nulls, missing and extra fields, huge and negative
numbers, wrong URIs, arrays for objects, deeply nested values), plus frames that are not
JSON or not JSON-RPC objects. The frames are written straight to the server's stdin,
so nothing on the client side tidies them up first.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest, JsonRpcServerNotInitialized
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, LanguageClientProtocol, client_capabilities

from .conftest import SERVER_COMMAND, copy_workspace, make_client, request, wait_indexed

pytestmark = pytest.mark.asyncio(loop_scope="module")

ANSWER_BOUND = 30.0  # seconds for the whole corpus to be answered, on two busy cores

DEEP_ARRAY = functools.reduce(lambda inner, _: [inner], range(200), 0)
DEEP_OBJECT = functools.reduce(lambda inner, _: {"a": inner}, range(200), 0)
BAD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**31,
    10**30,
    1.5,
    "",
    "x" * 10_000,
    [],
    {},
    DEEP_ARRAY,
    DEEP_OBJECT,
]
EXTRA = {"unexpected": {"nested": [1, {"deeper": None}]}}
ABSENT = object()  # params left out of the message altogether


def bad_uris(workspace: Path) -> list[str]:
    return [
        "",
        "file://",
        "file:///",
        "src/storage/retry.py",
        "http://example.com/retry.py",
        "untitled:Untitled-1",
        "file:///%zz/%00.py",
        "file:///no/such/dir/x.py",
        "file://" + "/a" * 2000,
        workspace.as_uri() + "/../../etc/passwd",
        "file:///C:/x.py",
        "\u0000\ud800",
        workspace.as_uri() + "/src/\ud800.py",  # a lone surrogate, inside the workspace
        workspace.as_uri() + "/src/%ED%A0%80%00.py",
    ]


# -- breaking valid params ----------------------------------------------------------------


def field_name(path: tuple[str | int, ...]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else step
    return text or "params"


def places(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        yield from places(inner, (*path, key))


def at(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def replaced(value: Any, path: tuple[str | int, ...], new: Any) -> Any:
    if not path:
        return new
    out = copy.deepcopy(value)
    at(out, path[:-1])[path[-1]] = new
    return out


def broken(params: Any, uris: list[str]) -> Iterator[tuple[str, Any]]:
    """(the field broken, the params broken there) for each way of breaking `params`."""
    yield "params", ABSENT
    for path in places(params):
        field = field_name(path)
        original = at(params, path)
        for value in uris if path and path[-1] == "uri" else BAD_VALUES:
            yield field, replaced(params, path, value)
        if path:
            yield field, replaced(params, path, [original])  # an array for the value
        if path and isinstance(path[-1], str):
            parent = copy.deepcopy(at(params, path[:-1]))
            del parent[path[-1]]
            yield field, replaced(params, path[:-1], parent)
        if isinstance(original, dict):
            yield field, replaced(params, path, {**original, **EXTRA})


@dataclass
class Sent:
    method: str
    field: str  # the field that was broken; "params" for the params themselves
    params: Any
    codes: frozenset[int] = frozenset({-32602})  # errors acceptable besides a result
    also: str = "params"  # a field the server may name instead, whatever was broken


def requests(workspace: Path) -> list[Sent]:
    retry = (workspace / "src/storage/retry.py").as_uri()
    position = {"line": 6, "character": 4}
    bases: dict[str, Any] = {
        "textDocument/hover": {"textDocument": {"uri": retry}, "position": position},
        "codeseek/related": {"textDocument": {"uri": retry}, "position": position, "limit": 3},
        "codeseek/search": {
            "query": "retry with backoff",
            "limit": 5,
            "mode": "hybrid",
            "languages": ["python"],
            "include": ["src/**"],
            "exclude": ["tests/**"],
        },
        "codeseek/status": {},
        "codeseek/reindex": {"full": False},
        "initialize": {
            "processId": None,
            "rootUri": workspace.as_uri(),
            "capabilities": {"workspace": {"workspaceFolders": True}},
            "workspaceFolders": [{"uri": workspace.as_uri(), "name": "workspace"}],
        },
        "workspace/executeCommand": {"command": "codeseek.nothing", "arguments": [1]},
    }
    sent = []
    for method, base in bases.items():
        for field, params in broken(base, bad_uris(workspace)):
            if method == "codeseek/reindex" and isinstance(params, dict) and params.get("full") is True:
                continue  # a valid full rebuild: slow, and not malformed
            # The session is initialized already: a second initialize, however valid, is refused.
            codes = frozenset({-32602, -32600}) if method == "initialize" else frozenset({-32602})
            # No command is registered: a well-formed executeCommand names the command.
            also = "command" if method == "workspace/executeCommand" else "params"
            sent.append(Sent(method, field, params, codes, also))
    # `shutdown` takes no params; one it accepted would end the session here.
    sent += [Sent("shutdown", "params", value) for value in BAD_VALUES if value not in (None, {}, [])]
    return sent


def notifications(workspace: Path) -> list[tuple[str, Any]]:
    """Notifications with params the server cannot use, plus odd but usable ones for the
    two that only read a URI (nothing to answer, but their handlers must cope)."""
    retry = (workspace / "src/storage/retry.py").as_uri()
    bases: dict[str, Any] = {
        "textDocument/didSave": {"textDocument": {"uri": retry}},
        "workspace/didChangeWatchedFiles": {"changes": [{"uri": retry, "type": 2}]},
        "workspace/didChangeConfiguration": {"settings": {"codeseek": {"hover": {"related": True}}}},
        "workspace/didChangeWorkspaceFolders": {"event": {"added": [], "removed": []}},
        "$/setTrace": {"value": "off"},
        "$/cancelRequest": {"id": "fuzz-unknown"},
        "textDocument/didOpen": {
            "textDocument": {"uri": retry, "languageId": "python", "version": 1, "text": "x = 1\n"}
        },
        "textDocument/didClose": {"textDocument": {"uri": retry}},
        "window/workDoneProgress/cancel": {"token": "fuzz-token"},
    }
    converter = default_converter()
    out = []
    for method, base in bases.items():
        for _, params in broken(base, bad_uris(workspace)):
            message = {"jsonrpc": "2.0", "method": method}
            if params is not ABSENT:
                message["params"] = params
            try:
                converter.structure(message, types.METHOD_TO_TYPES[method][0])
                usable = True
            except Exception:
                usable = False
            # Usable ones change real state (settings, folders, open documents): only the
            # two that merely look at a URI get them.
            if not usable or method in ("textDocument/didSave", "workspace/didChangeWatchedFiles"):
                out.append((method, params))
    out += [
        ("$/cancelRequest", {"id": None}),
        ("$/cancelRequest", {"id": [1]}),
        ("codeseek/search", {}),  # a request sent without an id, with bad params
        ("codeseek/search", {"query": 5}),
    ]
    return out


# -- frames that are not what they should be ----------------------------------------------


@dataclass
class Raw:
    body: bytes
    answer: Any = None  # the id the answer must carry ...
    code: int | None = None  # ... and its error code (None: a result)
    null_id: bool = False  # answered with `id: null`


def raw_frames() -> list[Raw]:
    def message(**fields: Any) -> bytes:
        return json.dumps({"jsonrpc": "2.0", **fields}).encode()

    status = {"method": "codeseek/status", "params": {}}
    return [
        Raw(b'{"jsonrpc": "2.0", "id": "fuzz-raw-1", "method": "codeseek/sea', null_id=True, code=-32700),
        Raw(b"\xff\xfe\x00 not utf-8", null_id=True, code=-32700),
        Raw(
            b'{"jsonrpc":"2.0","id":"fuzz-raw-2","method":"codeseek/search","params":{"query":'
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}}",
            null_id=True,
            code=-32700,
        ),
        *(
            Raw(body, null_id=True, code=-32600)
            for body in (b"[]", b"5", b'"hello"', b"null", b"true", b"{}")
        ),
        Raw(b"[" + message(id="fuzz-raw-3", **status) + b"]", null_id=True, code=-32600),  # a batch
        *(
            Raw(message(id=bad, **status), null_id=True, code=-32600)
            for bad in ({"a": 1}, True, 1.5, None, [])
        ),
        Raw(json.dumps({"jsonrpc": "1.0", "id": "fuzz-raw-4", **status}).encode(), "fuzz-raw-4", -32600),
        Raw(json.dumps({"id": "fuzz-raw-5", **status}).encode(), "fuzz-raw-5", -32600),
        Raw(message(id="fuzz-raw-6", method=5), "fuzz-raw-6", -32600),
        Raw(message(id="fuzz-raw-7", method=None), "fuzz-raw-7", -32600),
        Raw(message(id=2**40, **status), 2**40),
        Raw(message(id="fuzz-raw-8", method="codeseek/status"), "fuzz-raw-8"),  # no params at all
        Raw(message(id="fuzz-raw-9", extra={"x": 1}, **status), "fuzz-raw-9"),
        Raw(message(id="fuzz-raw-10", method="codeseek/nope"), "fuzz-raw-10", -32601),
        Raw(message(id="fuzz-raw-11", method="textDocument/definition", params={}), "fuzz-raw-11", -32601),
        Raw(message(id="fuzz-raw-12", method="$/unknownRequest"), "fuzz-raw-12", -32601),
        Raw(message(id="fuzz-raw-13", method="x" * 10_000), "fuzz-raw-13", -32601),
        Raw(
            b'{"jsonrpc":"2.0","id":"fuzz-raw-14","method":"textDocument/hover","params":'
            b'{"textDocument":{"uri":"file:///x.py"},"position":{"line":NaN,"character":Infinity}}}',
            "fuzz-raw-14",
            -32602,
        ),
        Raw(
            message(id="fuzz-raw-15", method="codeseek/search", params={"query": "x", "limit": 1e308}),
            "fuzz-raw-15",
            -32602,
        ),
        Raw(
            b'{"jsonrpc":"2.0","id":"fuzz-raw-16","method":"codeseek/search","params":{"query":"\\ud800 retry"}}',
            "fuzz-raw-16",
            -32602,
        ),
        # Not answered: responses to requests the server never sent, and odd notifications.
        Raw(message(id="nobody", result={"a": 1})),
        Raw(message(id="nobody", error=5)),
        Raw(message(method=5)),
        Raw(message(method="textDocument/didFoo", params={})),
        Raw(message(method="$/customNotification", params={})),
        Raw(message(method="initialized", params={})),  # a second one
        Raw(message(method="codeseek/search", params={"query": "retry"})),  # a request without an id
    ]


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RecordingProtocol(LanguageClientProtocol):
    """Keeps the answers to the raw frames (pygls only resolves requests it sent itself):
    by id, and those with `id: null`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers: dict[Any, list[tuple[Any, Any]]] = {}
        self.null_answers: list[Any] = []

    def _handle_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        if msg_id in self._request_futures:
            super()._handle_response(msg_id, result, error)
        elif msg_id is None:
            self.null_answers.append(error)
        else:
            self.answers.setdefault(msg_id, []).append((result, error))


@dataclass
class Session:
    client: LanguageClient
    workspace: Path
    log_file: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Session]:
    base = tmp_path_factory.mktemp("fuzz")
    workspace = copy_workspace(base / "workspace")
    log_file = base / "server.log"
    config = ClientServerConfig(
        server_command=[*SERVER_COMMAND, "--log-file", str(log_file)],
        client_factory=lambda: make_client(RecordingProtocol),
    )
    client = await config.start()
    assert isinstance(client, LanguageClient)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="workspace")],
            initialization_options={"store": {"path": str(base / "store")}},
        )
    )
    yield Session(client, workspace, log_file)
    server = client._server
    if server is not None and server.returncode is None:
        server.kill()
    await client.stop()


def names_the_field(named: str, broken_field: str) -> bool:
    """The field an error names lies on the path to what was broken, or inside it."""
    if broken_field == "params" or named == broken_field:
        return True
    return any(a.startswith((b + ".", b + "[")) for a, b in ((named, broken_field), (broken_field, named)))


async def test_every_malformed_request_is_answered(session: Session) -> None:
    client, workspace = session.client, session.workspace
    await wait_indexed(client)  # so the handlers meet the odd params with a real index behind them
    protocol = client.protocol
    assert isinstance(protocol, RecordingProtocol)
    server = client._server
    assert server is not None and server.stdin is not None

    sent = {f"fuzz-{n}": case for n, case in enumerate(requests(workspace))}
    frames = []
    for msg_id, case in sent.items():
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": case.method}
        if case.params is not ABSENT:
            message["params"] = case.params
        frames.append(json.dumps(message).encode())
    for method, params in notifications(workspace):
        note: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not ABSENT:
            note["params"] = params
        frames.append(json.dumps(note).encode())
    raws = raw_frames()
    frames += [raw.body for raw in raws]
    # Interleaved, so no kind of message gets the server to itself.
    frames = frames[::2] + frames[1::2]
    expected_ids = set(sent) | {raw.answer for raw in raws if raw.answer is not None}
    expected_null = sorted(raw.code for raw in raws if raw.null_id)

    started = time.monotonic()
    for body in frames:
        server.stdin.write(frame(body))
    await server.stdin.drain()

    def all_in() -> bool:
        return expected_ids <= set(protocol.answers) and len(protocol.null_answers) >= len(expected_null)

    while not all_in() and time.monotonic() - started < ANSWER_BOUND:
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    missing = sorted(str(i) for i in expected_ids - set(protocol.answers))
    assert not missing, f"{len(missing)} requests unanswered after {elapsed:.1f}s: " + ", ".join(
        f"{i} {sent[i].method} {str(sent[i].params)[:80]}" if i in sent else i for i in missing[:10]
    )
    assert sorted(e.code for e in protocol.null_answers) == expected_null
    assert all(len(answers) == 1 for answers in protocol.answers.values()), "a request was answered twice"
    print(
        f"\n{len(sent) + len(raws)} requests and odd frames, {len(frames)} frames, answered in {elapsed:.1f}s"
    )

    codes: Counter[int | None] = Counter()
    for msg_id, [(_, error)] in protocol.answers.items():
        codes[error.code if error else None] += 1
        case = sent.get(msg_id)
        if case is None:
            raw = next(r for r in raws if r.answer == msg_id)
            assert (error.code if error else None) == raw.code, (msg_id, error)
            continue
        where = f"{case.method} {str(case.params)[:120]}"
        if error is None:
            continue
        assert error.code in case.codes, f"{where}: {error.code} {error.message}"
        if error.code == -32602:
            field = (error.data or {}).get("field")
            assert field, f"{where}: -32602 without a field: {error.message}"
            assert f" {field}:" in error.message, (where, error.message)
            assert field == case.also or names_the_field(field, case.field), (
                f"{where}: broke {case.field}, told {field}"
            )
        assert len(error.message) < 400 and "Traceback" not in error.message, (where, error.message)
    print("answers by code:", dict(codes))
    assert codes[-32602] > 300  # most of the corpus is invalid, and said so

    # Still searching as before.
    result = await request(
        client, "codeseek/search", {"query": "retry an operation with exponential backoff"}
    )
    assert result["results"][0]["symbol"] == "retry_with_backoff"

    # Bad notifications: one warning per method however many came, no tracebacks, no pop-ups.
    log = session.log_file.read_text()
    assert "Traceback" not in log
    assert " ERROR " not in log, [line for line in log.splitlines() if " ERROR " in line][:5]
    to_client = [m.message for m in client.log_messages]
    assert not any("Traceback" in m for m in to_client)
    for method in {method for method, _ in notifications(workspace)}:
        assert log.count(f"dropped a {method} notification") == 1, method
        assert sum(f"dropped a {method} notification" in m for m in to_client) == 1, method
    for once in (
        "ignored a second initialized notification",
        "ignored a notification for an unknown method",
        "ignored a response to an unknown request",
        "dropped a message that is not JSON",
        "dropped a message that is not a JSON-RPC object",
    ):
        assert log.count(once) == 1, once
    assert client.messages == []  # nothing the user has to see

    # And it still shuts down: after `shutdown` a request is refused, `exit` ends it cleanly.
    await asyncio.wait_for(client.shutdown_async(None), 20)
    with pytest.raises(JsonRpcInvalidRequest):
        await request(client, "codeseek/status", {})
    client.exit(None)
    assert await asyncio.wait_for(server.wait(), 20) == 0


async def test_requests_before_initialize_are_refused() -> None:
    """No workspace folder, so no model loads: this stays quick."""
    config = ClientServerConfig(server_command=SERVER_COMMAND, client_factory=make_client)
    client = await config.start()
    assert isinstance(client, LanguageClient)
    try:
        # pytest-lsp will not send a request before initialize itself: go below it.
        early = client.protocol.send_request("codeseek/status", {})
        with pytest.raises(JsonRpcException) as refused:
            await asyncio.wait_for(asyncio.wrap_future(early), 20)
        assert refused.value.code == JsonRpcServerNotInitialized.CODE
        client.protocol.notify("initialized", {})  # dropped: too early
        await client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities()))
        assert (await request(client, "codeseek/status", {}))["roots"] == []
        await client.shutdown_session()
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
        await client.stop()
