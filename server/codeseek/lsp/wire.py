"""Messages as they arrive on the wire: every request answered, nothing from the client
able to kill the server or flood its log.

pygls structures a message into lsprotocol types inside `json.loads`' object hook, so
params that do not fit (`position.line: null`, `textDocument: true`, `params: null`)
raise before any handler runs: the request is never answered, the client waits forever,
and the log gets a traceback. `CodeseekProtocol` instead receives each message as plain
JSON and checks it where a failure can still be answered:

- a request whose params do not fit gets -32602 naming the field (`position.line`),
  the same shape `protocol.invalid` gives the `codeseek/*` methods;
- an unknown method gets -32601, a request before `initialize` -32002, a second
  `initialize` or any request after `shutdown` -32600, a message that is not a JSON-RPC
  object -32600 and one that is not JSON at all -32700 (both with `id: null`, as
  JSON-RPC says when the id cannot be known);
- a handler that raises gets -32603 with one short line, in the answer and in the log,
  and so does an answer that cannot be encoded; the traceback goes to the log at debug
  level only, never into the answer (pygls put it in the error's `data`);
- a notification that cannot be used is dropped with a warning, once per method and
  then at most every few minutes with a count, so a flood of them is one log line.

The checks are pygls' own cattrs converter run on the whole message, told that only a
JSON array is an array; the error reporting, the dispatch guards and the answer
callbacks are ours. They override private methods of pygls' `JsonRPCProtocol`
(`_handle_request`, `_handle_notification`, `_send_data` ...), identical in pygls 2.0
and 2.1: tests/lsp/test_fuzz.py and test_wire.py are what says a new pygls still fits.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import threading
import time
import traceback
import types as pytypes
import typing
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any

from cattrs import cols
from cattrs.errors import AttributeValidationNote, BaseValidationError, IterableValidationNote
from lsprotocol import types
from pygls.exceptions import (
    FeatureNotificationError,
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
    JsonRpcRequestCancelled,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    LanguageServerProtocol,
)

from codeseek.config import camel_case
from codeseek.lsp.protocol import invalid, json_type

log = logging.getLogger(__name__)

# A repeated warning about the client's messages is logged at most this often per kind.
WARNING_INTERVAL = 300.0
MAX_DETAIL = 200  # characters of an exception's text quoted in an answer or a log line

_ENVELOPE = ("jsonrpc", "id", "method", "params")
_NO_PARAMS: tuple[Any, ...] = (None, {}, [])  # Lua clients send `[]` for an empty object
_MISSING = object()


class CodeseekProtocol(LanguageServerProtocol):
    """pygls' LSP protocol with the checks above; pass it as the server's `protocol_cls`."""

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        _arrays_only(self._converter)
        self._warnings = _Throttle(WARNING_INTERVAL)
        self._initialize_seen = False
        self._initialized_seen = False
        self._writes: set[asyncio.Future[Any]] = set()

    # -- reading ----------------------------------------------------------------------

    def structure_message(self, data: dict[str, Any]) -> Any:
        # `json.loads` calls this for every object in a message, inside out: keep them all
        # plain, and structure the whole message in `handle_message`, where a failure
        # can be answered.
        return data

    def handle_message(self, message: Any) -> None:
        try:
            self._dispatch(message)
        except Exception as exc:
            # Nothing the client sends may end the read loop: one line, the traceback at debug.
            log.error("could not handle a message: %s", _summary(exc))
            log.debug("handling a message failed", exc_info=exc)

    def unreadable(self, error: Exception) -> None:
        """A message body that is not JSON (pygls' read loop reports it through the
        server's `report_server_error`): answer -32700, as JSON-RPC asks, and warn."""
        self._warn("unreadable", "dropped a message that is not JSON: %s", _summary(error))
        self._send_error(None, JsonRpcParseError(f"Parse error: the message is not JSON: {_summary(error)}"))

    def _dispatch(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            self._warn("not an object", "dropped a message that is not a JSON-RPC object: %s", json_type(raw))
            self._send_error(None, JsonRpcInvalidRequest("Invalid request: a message must be a JSON object"))
            return
        msg_id = raw.get("id", _MISSING)
        method = raw.get("method", _MISSING)
        if method is _MISSING:
            if msg_id is _MISSING:
                self._warn("not a message", "dropped an object that is neither a request nor a response")
                self._send_error(None, JsonRpcInvalidRequest("Invalid request: no method and no id"))
            else:
                self._client_response(raw, msg_id)
            return
        if msg_id is _MISSING:
            self._notification(raw, method)
        else:
            self._request(raw, msg_id, method)

    def _request(self, raw: dict[str, Any], msg_id: Any, method: Any) -> None:
        if not _valid_id(msg_id):
            self._send_error(
                None, JsonRpcInvalidRequest("Invalid request: id must be an integer or a string")
            )
            return
        if not isinstance(method, str) or raw.get("jsonrpc") != self.VERSION:
            problem = "method must be a string" if not isinstance(method, str) else 'jsonrpc must be "2.0"'
            self._send_error(msg_id, JsonRpcInvalidRequest(f"Invalid request: {problem}"))
            return
        refusal = self._refusal(method)
        if refusal is None:
            try:
                message = self._structure(raw, self.get_message_type(method) or JsonRPCRequestMessage)
                self._check_request(message)
            except JsonRpcException as error:
                refusal = error
        if refusal is None and method == types.INITIALIZE:
            # Checked after the params, so a bad second initialize still hears what is bad.
            if self._initialize_seen:
                refusal = JsonRpcInvalidRequest("Invalid request: initialize was already received")
            self._initialize_seen = True
        if refusal is not None:
            log.debug("request %s %s: %s", msg_id, method, refusal.message)
            self._send_error(msg_id, refusal)
            return
        super().handle_message(message)

    def _refusal(self, method: str) -> JsonRpcException | None:
        """Why a request for `method` is not handled at all, if it is not."""
        if not self._known(method):
            return JsonRpcMethodNotFound.of(method)
        if self._shutdown:
            return JsonRpcInvalidRequest("Invalid request: the server is shutting down")
        if method != types.INITIALIZE and not self._initialize_seen:
            return JsonRpcServerNotInitialized("Server not initialized: send initialize first")
        return None

    def _check_request(self, message: Any) -> None:
        """What the types alone do not say."""
        params = getattr(message, "params", None)
        if isinstance(message, types.ShutdownRequest) and params not in _NO_PARAMS:
            raise invalid("params", f"shutdown takes no params, got {json_type(params)}")
        if (
            isinstance(message, types.ExecuteCommandRequest)
            and message.params.command not in self.fm.commands
        ):
            raise invalid("command", f"no such command: {_clip(repr(message.params.command))}")

    def _notification(self, raw: dict[str, Any], method: Any) -> None:
        if not isinstance(method, str) or raw.get("jsonrpc") != self.VERSION:
            self._warn("bad notification", "dropped a notification that is not JSON-RPC 2.0")
            return
        if method == types.EXIT:
            # Whatever else is wrong with it, `exit` must end the process.
            exit_: Any = types.ExitNotification()
            super().handle_message(exit_)
            return
        if self._shutdown or not self._initialize_seen:
            log.debug(
                "dropped a %s notification: %s",
                method,
                "shutting down" if self._shutdown else "before initialize",
            )
            return
        if not self._known(method) and method != types.CANCEL_REQUEST:
            if not method.startswith("$/"):  # `$/` notifications are optional by the spec
                self._warn(
                    "unknown method", "ignored a notification for an unknown method: %s", _clip(method)
                )
            return
        if method == types.INITIALIZED:
            if self._initialized_seen:
                self._warn(method, "ignored a second %s notification", method)
                return
            self._initialized_seen = True
        try:
            message = self._structure(raw, self.get_message_type(method) or JsonRPCNotification)
            if isinstance(message, types.CancelNotification) and not _valid_id(message.params.id):
                raise invalid("id", f"expected an integer or a string, got {json_type(message.params.id)}")
        except JsonRpcException as error:
            self._warn(method, "dropped a %s notification: %s", method, error.message)
            return
        super().handle_message(message)

    def _client_response(self, raw: dict[str, Any], msg_id: Any) -> None:
        """The client's answer to one of our requests (registerCapability, progress)."""
        if not _valid_id(msg_id):
            self._warn("response", "dropped a response with an invalid id: %s", json_type(msg_id))
            return
        if "error" in raw:
            cls: Any = types.ResponseErrorMessage
        else:
            cls = self._result_types.pop(msg_id, None) or JsonRPCResponseMessage
        try:
            message = self._structure(raw, cls, envelope=("jsonrpc", "id", "result", "error"))
        except JsonRpcException as error:
            self._warn("response", "the client's response to %s could not be read: %s", msg_id, error.message)
            if msg_id in self._request_futures:
                # Whoever waits for it gets an error rather than waiting forever.
                failure = types.ResponseError(
                    code=JsonRpcInternalError.CODE, message=f"unreadable response: {error.message}"
                )
                super()._handle_response(msg_id, None, failure)
            return
        super().handle_message(message)

    def _known(self, method: str) -> bool:
        return method in self.fm.builtin_features or method in self.fm.features

    def _structure(self, raw: dict[str, Any], cls: Any, envelope: Sequence[str] = _ENVELOPE) -> Any:
        """`raw` as `cls`, or `JsonRpcInvalidParams` naming the first field that does not fit."""
        data = {key: raw[key] for key in envelope if key in raw}
        absent = "params" in envelope and "params" not in data
        if absent:
            # JSON-RPC lets a client leave params out: as null, which `shutdown`, `exit`
            # and `initialized` take and the `codeseek/*` methods check themselves.
            data["params"] = None
        try:
            return self._converter.structure(data, cls)
        except Exception as exc:
            error = _invalid_params(exc, data)
            if absent and error.data == {"field": "params"}:
                error = invalid("params", "is required")
            raise error from None

    # -- answering --------------------------------------------------------------------

    def _handle_request(self, msg_id: Any, method_name: str, params: Any) -> None:
        self._ctx_msg_id.set(msg_id)
        try:
            handler = self._get_handler(method_name)
            self._execute_handler(
                msg_id, handler, partial(self._answer, msg_id=msg_id, method=method_name), args=(params,)
            )
        except Exception as exc:
            self._answer_failure(msg_id, method_name, exc)

    def _answer(self, future: Future[Any], *, msg_id: Any, method: str) -> None:
        self._request_futures.pop(msg_id, None)
        if future.cancelled():
            self._send_error(msg_id, JsonRpcRequestCancelled(f'Request with id "{msg_id}" is canceled'))
            return
        error = future.exception()
        if error is None:
            self._send_response(msg_id, result=future.result())
        elif isinstance(error, JsonRpcException):
            # The handler's own verdict (invalid params, ...): the client has it; no traceback.
            log.debug("request %s %s: %s", msg_id, method, error.message)
            self._send_error(msg_id, error)
        else:
            self._answer_failure(msg_id, method, error)

    def _answer_failure(self, msg_id: Any, method: str, error: BaseException) -> None:
        log.error("%s failed: %s", method, _summary(error))
        log.debug("%s failed", method, exc_info=error)
        # A short message and no `data`: pygls would put the traceback in the answer.
        self._send_error(msg_id, JsonRpcInternalError(f"Internal error: {method} failed: {_summary(error)}"))

    def _handle_notification(self, method_name: str, params: Any) -> None:
        if method_name == types.CANCEL_REQUEST:
            self._handle_cancel_notification(params.id)
            return
        handler = self._get_handler(method_name)
        self._execute_handler(
            str(uuid.uuid4()), handler, partial(self._notification_done, method=method_name), args=(params,)
        )

    def _notification_done(self, future: Future[Any], *, method: str) -> None:
        if future.cancelled() or (error := future.exception()) is None:
            return
        if isinstance(error, JsonRpcException):
            # A request's params check, run for a client that sent it without an id.
            self._warn(method, "dropped a %s notification: %s", method, error.message)
            return
        log.debug("the %s notification failed", method, exc_info=error)
        if self._warnings.allow(f"{method} failed") is not None:
            # The server's report_server_error logs it and decides about a pop-up.
            failure = JsonRpcInternalError(f"{method} failed: {_summary(error)}")
            self._server._report_server_error(failure, FeatureNotificationError)

    def _handle_response(self, msg_id: Any, result: Any | None = None, error: Any | None = None) -> None:
        if msg_id not in self._request_futures:
            self._warn(
                "unknown response", "ignored a response to an unknown request: %s", _clip(repr(msg_id))
            )
            return
        super()._handle_response(msg_id, result, error)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        future = self._request_futures.pop(msg_id, None)
        # Cancelling a request that already finished is routine for clients.
        if future is not None and future.cancel():
            log.debug("cancelled request %s", msg_id)

    def _send_error(self, msg_id: Any, error: JsonRpcException) -> None:
        if msg_id is None:
            # lsprotocol leaves out a None id; JSON-RPC wants `"id": null` spelled out.
            self._send_data({"jsonrpc": self.VERSION, "id": None, "error": _error_json(error)})
        else:
            self._send_response(msg_id, error=error.to_response_error())

    def _send_data(self, data: Any) -> None:
        """pygls' sender, except that an answer that cannot be encoded (a bug, or a NaN
        that would be invalid JSON) becomes an internal error instead of no answer."""
        if not data:
            return
        if self.writer is None:
            log.error("cannot send a message: no transport")
            return
        try:
            body = json.dumps(data, default=self._serialize_message, allow_nan=False)
        except Exception as exc:
            msg_id = _response_id(data)
            log.error("could not encode a message for the client: %s", _summary(exc))
            if msg_id is _MISSING:
                return
            failure = JsonRpcInternalError(
                f"Internal error: the answer could not be encoded: {_summary(exc)}"
            )
            body = json.dumps({"jsonrpc": self.VERSION, "id": msg_id, "error": _error_json(failure)})
        payload = body.encode(self.CHARSET)
        if self._include_headers:
            header = f"Content-Length: {len(payload)}\r\nContent-Type: {self.CONTENT_TYPE}; charset={self.CHARSET}\r\n\r\n"
            payload = header.encode("ascii") + payload
        try:
            written = self.writer.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self._warn("client gone", "the client closed the connection")
            return
        if inspect.isawaitable(written):
            pending = asyncio.ensure_future(written)
            self._writes.add(pending)  # held until done, or asyncio may drop it unfinished
            pending.add_done_callback(self._writes.discard)

    def _warn(self, kind: str, message: str, *args: Any) -> None:
        dropped = self._warnings.allow(kind)
        if dropped is None:
            return
        if dropped:
            log.warning(message + " (and %d more like it since the last warning)", *args, dropped)
        else:
            log.warning(
                message + " (repeats are logged at most every %.0f minutes)", *args, WARNING_INTERVAL / 60
            )


def drop_read_loop_tracebacks(record: logging.LogRecord) -> bool:
    """A filter for the `pygls.server` logger: its read loop logs a traceback for a body
    that is not JSON, which `CodeseekProtocol.unreadable` reports in one line instead."""
    return record.msg != "Unable to handle message"


class _Throttle:
    """When a repeated warning is worth a line: the first time for each kind, then at
    most once per `interval` seconds, counting the ones in between. Kinds are method
    names the server registered and a few fixed words, so the table stays small."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._kinds: dict[str, tuple[float, int]] = {}  # kind -> (last logged at, dropped since)

    def allow(self, kind: str) -> int | None:
        """None to stay quiet; else how many were dropped since the last line."""
        now = time.monotonic()
        with self._lock:
            last = self._kinds.get(kind)
            if last is not None and now - last[0] < self._interval:
                self._kinds[kind] = (last[0], last[1] + 1)
                return None
            self._kinds[kind] = (now, 0)
            return last[1] if last is not None else 0


def _arrays_only(converter: Any) -> None:
    """cattrs turns any iterable into a sequence: a string into its characters, an object
    into its keys. For JSON that is wrong, and costly: cattrs records an error for each
    of the 10,000 characters of a string sent for `workspaceFolders` (seconds of CPU).
    Only an array is an array."""

    def factory(cls: Any) -> Any:
        make = (
            cols.list_structure_factory
            if cols.is_mutable_sequence(cls)
            else cols.homogenous_tuple_structure_factory
        )
        structure = make(cls, converter)

        def arrays_only(obj: Any, cls: Any) -> Any:
            if not isinstance(obj, (list, tuple)):
                raise TypeError(f"expected an array, got {json_type(obj)}")
            return structure(obj, cls)

        return arrays_only

    converter.register_structure_hook_factory(cols.is_sequence, factory)


# -- naming the field -------------------------------------------------------------------

_VALIDATOR_TEXT = re.compile(r"^\w+\.(\w+) (.*?)\.?$")  # "Position.line should be in range ..."


def _invalid_params(exc: Exception, message: Mapping[str, Any]) -> JsonRpcException:
    """-32602 for a message cattrs could not structure, naming the first field at fault
    the way the client spelled it (`position.line`, `changes[0].type`)."""
    path, leaf, expected = _first_failure(exc)
    value: Any = message
    for depth, step in enumerate(path):
        if isinstance(step, int) and not isinstance(value, list):
            return invalid(_field(path[:depth]), f"expected an array, got {json_type(value)}")
        if isinstance(step, str) and not isinstance(value, dict):
            return invalid(_field(path[:depth]), f"expected an object, got {json_type(value)}")
        present = (
            step in value if isinstance(value, dict) else isinstance(step, int) and 0 <= step < len(value)
        )
        if not present:
            return invalid(_field(path[: depth + 1]), "is required")
        value = value[step]
    if isinstance(leaf, ValueError) and (match := _VALIDATOR_TEXT.match(str(leaf))):
        # An attrs validator on the enclosing class (Position's range check).
        return invalid(_field([*path, camel_case(match.group(1))]), _clip(match.group(2)))
    if isinstance(leaf, ValueError) and " is not a valid " in str(leaf):
        return invalid(_field(path), _clip(str(leaf)))  # "'loud' is not a valid TraceValue"
    if isinstance(leaf, (TypeError, ValueError)) and expected is not None:
        return invalid(_field(path), f"expected {expected}, got {json_type(value)}")
    return invalid(_field(path), f"cannot be read: {_summary(leaf)}")


def _first_failure(exc: BaseException) -> tuple[list[str | int], BaseException, str | None]:
    """The JSON path to the first leaf error in a cattrs error tree, the leaf, and the
    expected type of the last attribute on the way, in words."""
    path: list[str | int] = []
    expected: str | None = None
    while isinstance(exc, BaseValidationError) and exc.exceptions:
        child = exc.exceptions[0]
        for note in getattr(child, "__notes__", ()):
            if isinstance(note, AttributeValidationNote):
                path.append(camel_case(note.name.removesuffix("_")))
                expected = _type_words(note.type)
            elif isinstance(note, IterableValidationNote):
                path.append(note.index)
                expected = _type_words(note.type)
        exc = child
    return path, exc, expected


def _field(path: Sequence[str | int]) -> str:
    """`params.position.line` -> `position.line`; the params themselves are `params`."""
    steps = list(path[1:]) if len(path) > 1 and path[0] == "params" else list(path)
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else step
    return text or "params"


def _type_words(cls: Any) -> str | None:
    """An annotation in the words a client author would use, where there are some."""
    simple = {int: "an integer", str: "a string", bool: "true or false", float: "a number"}
    if cls in simple:
        return simple[cls]
    origin = typing.get_origin(cls)
    if origin in (typing.Union, pytypes.UnionType):
        words = {_type_words(arg) for arg in typing.get_args(cls) if arg is not type(None)}
        return words.pop() if len(words) == 1 else None
    if origin is not None and isinstance(origin, type):
        if issubclass(origin, Mapping):
            return "an object"
        if issubclass(origin, Sequence) and not issubclass(origin, str):
            return "an array"
    if isinstance(cls, type) and hasattr(cls, "__attrs_attrs__"):
        return "an object"
    return None


# -- small helpers ----------------------------------------------------------------------


def _valid_id(msg_id: Any) -> bool:
    return isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool)


def _response_id(data: Any) -> Any:
    """The id of an outgoing answer, or _MISSING for a request or a notification."""
    if isinstance(data, dict):
        return data.get("id", _MISSING) if "method" not in data else _MISSING
    if hasattr(data, "method") or not hasattr(data, "id"):
        return _MISSING
    return data.id


def _error_json(error: JsonRpcException) -> dict[str, Any]:
    out: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.data is not None:
        out["data"] = error.data
    return out


def _summary(exc: BaseException) -> str:
    """`KeyError: 'x'`, clipped: one line, never a traceback."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip().replace("\n", " ")
    return _clip(text)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


__all__ = ["CodeseekProtocol", "drop_read_loop_tracebacks"]
