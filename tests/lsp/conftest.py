"""Helpers for driving the real `codeseek serve` process with pytest-lsp."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    default_converter,
)
from pytest_lsp import ClientServerConfig, LanguageClient, LanguageClientProtocol
from pytest_lsp.client import register_lsp_features

DATA = Path(__file__).parent.parent / "data"
SERVER_COMMAND = [sys.executable, "-m", "codeseek", "serve"]

T = TypeVar("T")


def _raw_converter() -> Any:
    """Results of custom methods as plain JSON, not pygls' namedtuples."""
    converter = default_converter()

    def keep_raw(obj: dict[str, Any], cls: type) -> Any:
        return cls(**obj)

    for cls in (JsonRPCRequestMessage, JsonRPCResponseMessage, JsonRPCNotification):
        converter.register_structure_hook(cls, keep_raw)
    return converter


def make_client(protocol_cls: type[LanguageClientProtocol] = LanguageClientProtocol) -> LanguageClient:
    client = LanguageClient(converter_factory=_raw_converter, protocol_cls=protocol_cls)
    register_lsp_features(client)
    registrations: list[types.RegistrationParams] = []
    client.registrations = registrations  # type: ignore[attr-defined]

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams) -> None:
        registrations.append(params)

    return client


def server_config() -> ClientServerConfig:
    return ClientServerConfig(server_command=SERVER_COMMAND, client_factory=make_client)


def copy_workspace(target: Path) -> Path:
    shutil.copytree(DATA / "workspace", target)
    return target.resolve()


async def request(client: LanguageClient, method: str, params: Any = None) -> Any:
    return await asyncio.wait_for(client.protocol.send_request_async(method, params), 30)


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 30.0
) -> T:
    """Poll `probe` until `accept` holds; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.05)


def finished_runs(client: LanguageClient) -> list[list[Any]]:
    """Progress sequences (begin .. end) that have ended."""
    return [
        values
        for values in client.progress_reports.values()
        if values and isinstance(values[-1], types.WorkDoneProgressEnd)
    ]


async def wait_indexed(client: LanguageClient, runs: int = 1, timeout: float = 60.0) -> dict[str, Any]:
    """Wait for `runs` progress sequences to end and the index to be idle."""

    async def probe() -> tuple[int, dict[str, Any]]:
        return len(finished_runs(client)), await request(client, "codeseek/status", {})

    _, status = await eventually(
        probe, lambda v: v[0] >= runs and v[1]["state"] == "idle" and v[1]["pending"] == 0, timeout
    )
    return status


def symbols(result: dict[str, Any]) -> list[str | None]:
    return [hit["symbol"] for hit in result["results"]]
