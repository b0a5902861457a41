"""`CodeseekProtocol` in process: the real server object and protocol, with an in-memory
transport, for what a real client cannot make the server do on purpose (a handler that
raises, an answer that cannot be encoded) and for the exact shape of what is logged.
test_fuzz.py drives the same code through the real process."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from pygls.exceptions import JsonRpcException

from codeseek.lsp.server import CodeseekServer
from codeseek.lsp.wire import CodeseekProtocol

pytestmark = pytest.mark.asyncio(loop_scope="function")

FAILING = "codeseek/test-failing"
UNENCODABLE = "codeseek/test-unencodable"
FAILING_NOTE = "codeseek/test-failing-notification"


class Wire:
    """The server's half of a connection: every message it sends, parsed."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.sent.append(json.loads(data))

    def close(self) -> None:
        pass

    def answer(self, msg_id: Any) -> dict[str, Any]:
        [found] = [m for m in self.sent if "method" not in m and m.get("id") == msg_id]
        return found


class Session:
    def __init__(self, server: CodeseekServer, wire: Wire) -> None:
        self.server = server
        self.wire = wire
        self.protocol = server.protocol
        assert isinstance(self.protocol, CodeseekProtocol)

    def send(self, **message: Any) -> None:
        self.protocol.handle_message({"jsonrpc": "2.0", **message})

    async def ask(self, msg_id: Any, method: str, **params: Any) -> dict[str, Any]:
        self.send(id=msg_id, method=method, **params)
        for _ in range(200):
            if any(m.get("id") == msg_id and "method" not in m for m in self.wire.sent):
                return self.wire.answer(msg_id)
            await asyncio.sleep(0.01)
        raise AssertionError(f"no answer to {msg_id}")


@pytest_asyncio.fixture(loop_scope="function")
async def session() -> AsyncIterator[Session]:
    server = CodeseekServer()

    @server.feature(FAILING)
    def failing(ls: CodeseekServer, params: Any) -> None:
        raise KeyError("the bug")

    @server.feature(UNENCODABLE)
    def unencodable(ls: CodeseekServer, params: Any) -> dict[str, float]:
        return {"score": float("nan")}  # json.dumps would write NaN, which is not JSON

    @server.feature(FAILING_NOTE)
    def failing_note(ls: CodeseekServer, params: Any) -> None:
        raise RuntimeError("the notification's bug")

    wire = Wire()
    server.protocol.set_writer(wire, include_headers=False)
    session = Session(server, wire)
    initialized = await session.ask(0, "initialize", params={"processId": None, "capabilities": {}})
    assert "result" in initialized
    session.send(method="initialized")  # no params at all: JSON-RPC allows it
    yield session
    server.stop_all()


async def test_a_failing_handler_gets_a_short_internal_error(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="codeseek")
    answer = await session.ask(1, FAILING)
    assert answer["error"] == {
        "code": -32603,
        "message": "Internal error: codeseek/test-failing failed: KeyError: 'the bug'",
    }  # no `data`: pygls put the traceback there
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["codeseek/test-failing failed: KeyError: 'the bug'"]
    assert errors[0].exc_info is None
    # The traceback is there for whoever debugs, at debug level only.
    assert [r.levelno for r in caplog.records if r.exc_info] == [logging.DEBUG]


async def test_an_answer_that_cannot_be_encoded_is_still_an_answer(session: Session) -> None:
    answer = await session.ask(2, UNENCODABLE)
    assert answer["error"]["code"] == -32603
    assert "could not be encoded" in answer["error"]["message"]


async def test_unknown_method_and_a_second_initialize(session: Session) -> None:
    assert (await session.ask(3, "codeseek/nope"))["error"]["code"] == -32601
    again = await session.ask(4, "initialize", params={"processId": None, "capabilities": {}})
    assert again["error"] == {"code": -32600, "message": "Invalid request: initialize was already received"}
    assert "result" in await session.ask(5, "codeseek/status")  # no params: as null


async def test_a_body_that_is_not_json_is_answered_and_warned_about_once(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(50):
        try:
            json.loads(b'{"jsonrpc": "2.0", "id": 1, "meth')
        except ValueError as exc:
            session.server.report_server_error(exc, JsonRpcException)  # as pygls' read loop does
    parse_errors = [m for m in session.wire.sent if m.get("error", {}).get("code") == -32700]
    assert len(parse_errors) == 50
    assert all(m["id"] is None and "id" in m for m in parse_errors)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("dropped a message that is not JSON: ")
    assert not any(m.get("method") == "window/showMessage" for m in session.wire.sent)  # no pop-up


async def test_bad_notifications_are_dropped_with_one_warning(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    before = len(session.wire.sent)
    for line in (None, "x", -1):
        session.send(method="textDocument/didSave", params={"textDocument": line})
        session.send(method="workspace/didChangeWatchedFiles", params={"changes": "x" * 10_000})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "dropped a textDocument/didSave notification: Invalid params: textDocument: "
        "expected an object, got null (repeats are logged at most every 5 minutes)",
        "dropped a workspace/didChangeWatchedFiles notification: Invalid params: changes: "
        "expected an array, got a string (repeats are logged at most every 5 minutes)",
    ]
    assert session.wire.sent[before:] == []  # nothing to answer


async def test_a_failing_notification_is_reported_once(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(5):
        session.send(method=FAILING_NOTE, params={})
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "FeatureNotificationError: codeseek/test-failing-notification failed: "
        "RuntimeError: the notification's bug"
    ]


@pytest.mark.parametrize(
    ("method", "params", "field", "detail"),
    [
        ("textDocument/hover", {"textDocument": {"uri": "file:///x"}, "position": {"line": None}}, "position.line", "expected an integer, got null"),
        ("textDocument/hover", {"textDocument": True, "position": {"line": 1, "character": 0}}, "textDocument", "expected an object, got a boolean"),
        ("textDocument/hover", None, "params", "expected an object, got null"),
        ("textDocument/hover", {"textDocument": {"uri": "file:///x"}, "position": {"line": -1, "character": 0}}, "position.line", "should be in range [0:2147483647], but was -1"),
        ("textDocument/hover", {"textDocument": {}, "position": {"line": 1, "character": 0}}, "textDocument.uri", "is required"),
        ("workspace/executeCommand", {"command": "codeseek.nothing"}, "command", "no such command: 'codeseek.nothing'"),
        ("shutdown", {"now": True}, "params", "shutdown takes no params, got an object"),
        ("codeseek/search", {"query": 5}, "query", "expected a string, got a number"),
    ],
)  # fmt: skip
async def test_invalid_params_name_the_field(
    session: Session, method: str, params: Any, field: str, detail: str
) -> None:
    answer = await session.ask("bad", method, params=params)
    assert answer["error"] == {
        "code": -32602,
        "message": f"Invalid params: {field}: {detail}",
        "data": {"field": field},
    }
