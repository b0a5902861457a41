"""Time from an editor save to the saved code being found by `codeseek/search`.

Starts the real `codeseek serve` (the CPU default model, a real LanceDB store in a
temporary folder) on a copy of the fixture workspace, waits for the first index, then
N times: renames a function in a file to a fresh name, sends `textDocument/didSave`,
and polls `codeseek/search` for the new name until it is the top hit. As an editor
does, the file is written just before the save notification, so the server's own file
watcher sees the change too; both paths feed the same coalescing worker.

Reported (milliseconds): save -> searchable (p50, p95, max), the same minus the
server's editor debounce (the wait that lets a "save all" coalesce into one update,
not work), the server's own update time (from its log) and one search's latency (the
probe's granularity). Numbers only: this never fails on timing.

    python benchmarks/save_to_searchable.py [-n 30] [--mode hybrid|semantic|lexical] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    default_converter,
)

from codeseek.service import CHANGE_DEBOUNCE as EDITOR_DEBOUNCE

WORKSPACE = Path(__file__).resolve().parent.parent / "tests" / "data" / "workspace"
EDITED = "src/storage/retry.py"
FUNCTION = "retry_with_backoff"
UPDATE_LOG = re.compile(r"indexed .*\((\d+\.\d+)s\)")


def _raw_converter() -> Any:
    converter = default_converter()

    def keep_raw(obj: dict[str, Any], cls: type) -> Any:
        return cls(**obj)

    for cls in (JsonRPCRequestMessage, JsonRPCResponseMessage, JsonRPCNotification):
        converter.register_structure_hook(cls, keep_raw)
    return converter


def make_client(update_seconds: list[float]) -> LanguageClient:
    client = LanguageClient("codeseek-benchmark", "1", converter_factory=_raw_converter)

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def log_message(params: types.LogMessageParams) -> None:
        if match := UPDATE_LOG.search(params.message):
            update_seconds.append(float(match.group(1)))

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def show_message(params: types.ShowMessageParams) -> None:
        print(f"server says: {params.message}", file=sys.stderr)

    return client


async def call(client: LanguageClient, method: str, params: Any) -> Any:
    return await asyncio.wait_for(client.protocol.send_request_async(method, params), 60)


async def wait_idle(client: LanguageClient, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await call(client, "codeseek/status", {})
        if status["state"] == "idle" and status["pending"] == 0 and status["files"] > 0:
            return status
        if time.monotonic() > deadline:
            raise SystemExit(f"the index did not settle within {timeout}s: {status}")
        await asyncio.sleep(0.05)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(rounds: int, mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="codeseek-bench-") as tmp:
        root = Path(tmp) / "workspace"
        shutil.copytree(WORKSPACE, root)
        root = root.resolve()
        edited = root / EDITED
        original = edited.read_text()
        update_seconds: list[float] = []
        client = make_client(update_seconds)
        await client.start_io(sys.executable, "-m", "codeseek", "serve")
        started = time.perf_counter()
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="workspace")],
                initialization_options={"store": {"path": str(Path(tmp) / "store")}},
            )
        )
        client.initialized(types.InitializedParams())
        status = await wait_idle(client)
        first_index = time.perf_counter() - started

        latencies: list[float] = []
        search_ms: list[float] = []
        update_seconds.clear()
        for i in range(rounds):
            name = f"reattempt_operation_{i}_{int(time.time() * 1000) % 100000}"
            edited.write_text(original.replace(FUNCTION, name))
            saved = time.perf_counter()
            client.text_document_did_save(
                types.DidSaveTextDocumentParams(
                    text_document=types.TextDocumentIdentifier(uri=edited.as_uri())
                )
            )
            while True:
                t = time.perf_counter()
                result = await call(client, "codeseek/search", {"query": name, "limit": 1, "mode": mode})
                search_ms.append((time.perf_counter() - t) * 1000)
                if result["results"] and result["results"][0]["symbol"] == name:
                    latencies.append((time.perf_counter() - saved) * 1000)
                    break
                if time.perf_counter() - saved > 30:
                    raise SystemExit(f"round {i}: {name} not found 30 s after the save")
            # Let the watcher's copy of the same change settle, so rounds do not overlap.
            await asyncio.sleep(0.4)
            await wait_idle(client)

        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()

    debounce_ms = EDITOR_DEBOUNCE * 1000
    beyond = [v - debounce_ms for v in latencies]
    return {
        "rounds": rounds,
        "mode": mode,
        "files": status["files"],
        "chunks": status["chunks"],
        "model": status["model"],
        "first_index_s": round(first_index, 2),
        "editor_debounce_ms": round(debounce_ms),
        "save_to_searchable_ms": _summary(latencies),
        "beyond_debounce_ms": _summary(beyond),
        "server_update_ms": _summary([s * 1000 for s in update_seconds]),
        "search_ms": _summary(search_ms),
    }


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1),
        "n": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rounds", type=int, default=30)
    parser.add_argument("--mode", choices=("hybrid", "semantic", "lexical"), default="hybrid")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    numbers = asyncio.run(run(args.rounds, args.mode))
    if args.json:
        print(json.dumps(numbers, indent=2))
        return
    print(f"workspace: {numbers['files']} files, {numbers['chunks']} chunks, model {numbers['model']}")
    print(f"first index (server start to idle): {numbers['first_index_s']} s")
    print(f"{numbers['rounds']} saves, probed with {numbers['mode']} search")
    for label, key in (
        ("save -> searchable", "save_to_searchable_ms"),
        (f"  beyond the {numbers['editor_debounce_ms']} ms debounce", "beyond_debounce_ms"),
        ("server update run", "server_update_ms"),
        ("one search (probe)", "search_ms"),
    ):
        s = numbers[key]
        if s:
            print(f"{label:<34} p50 {s['p50']:7.1f} ms   p95 {s['p95']:7.1f} ms   max {s['max']:7.1f} ms")


if __name__ == "__main__":
    main()
