"""Warm command-line latency: `codeseek search`, `related` and `status` answered by a
running language server over its Unix socket (server/codeseek/warm.py).

Starts the real `codeseek serve` over stdio (the CPU default model, a real LanceDB store
in a temporary folder, given to server and command line alike as CODESEEK_STORE) on a
copy of the quick-start workspace, waits until it is indexed and embedded, then per
command: checks once with `-v` that the server answered, and that the output is the
same as the command line's alone (`--no-server`); then times N calls in fresh processes
(`python -m codeseek ...`) and prints p50, p95 and min of the wall time, and the p50 of
the CPU time the CLI process used (user + system: on a busy machine the wall time
follows the load, the CPU time much less so). It also prints the same command's cold
time alone (a few runs), for scale.

Numbers only: this never fails on timing.

    nice -n 10 python benchmarks/warm_cli.py [-n 20] [--cold 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The same commands and query as the cold benchmark, so the two tables compare.
from cold_cli import commands  # benchmarks/, the script's own folder
from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    default_converter,
)

WORKSPACE = Path(__file__).resolve().parent.parent / "tests" / "data" / "workspace"
SERVED = "answered by the language server"


def _raw_converter() -> Any:
    converter = default_converter()

    def keep_raw(obj: dict[str, Any], cls: type) -> Any:
        return cls(**obj)

    for cls in (JsonRPCRequestMessage, JsonRPCResponseMessage, JsonRPCNotification):
        converter.register_structure_hook(cls, keep_raw)
    return converter


async def cli(argv: list[str], env: dict[str, str]) -> tuple[float, int, str, str, float]:
    """(wall seconds, exit code, stdout, stderr, CPU seconds of the CLI process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "codeseek",
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    wall = time.perf_counter() - started
    # Only reaped children count: the CLI, not the server (reaped at the end).
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, proc.returncode or 0, out.decode(), err.decode(), cpu


async def wait_indexed(client: LanguageClient, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await asyncio.wait_for(client.protocol.send_request_async("codeseek/status", {}), 60)
        if status["state"] == "idle" and status["files"] > 0 and status.get("densePercent", 100) == 100:
            return status
        if time.monotonic() > deadline:
            raise SystemExit(f"the index did not settle within {timeout}s: {status}")
        await asyncio.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(rounds: int, cold_rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="codeseek-warm-") as tmp:
        ws = (Path(tmp) / "workspace").resolve()
        shutil.copytree(WORKSPACE, ws)
        env = {**os.environ, "CODESEEK_STORE": str(Path(tmp) / "store")}
        env.pop("CODESEEK_NO_SERVER", None)
        # As an installed package runs: with its bytecode cached (the first run writes it).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        client = LanguageClient("codeseek-benchmark", "1", converter_factory=_raw_converter)

        @client.feature(types.WINDOW_LOG_MESSAGE)
        def log_message(params: Any) -> None:
            pass  # the server's log is not this benchmark's output

        await client.start_io(sys.executable, "-m", "codeseek", "serve", env=env)
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                workspace_folders=[types.WorkspaceFolder(uri=ws.as_uri(), name="workspace")],
            )
        )
        client.initialized(types.InitializedParams())
        await wait_indexed(client)
        results: dict[str, Any] = {}
        try:
            for name, argv in commands(ws).items():
                _, code, served_out, served_err, _ = await cli([*argv, "-v"], env)
                _, code_alone, alone_out, _, _ = await cli([*argv, "--no-server"], env)
                if code or code_alone:
                    raise SystemExit(f"codeseek {' '.join(argv)} failed:\n{served_err}")
                runs = [await cli(argv, env) for _ in range(rounds)]
                warm = [r[0] * 1000 for r in runs]
                warm_cpu = [r[4] * 1000 for r in runs]
                cold = [(await cli([*argv, "--no-server"], env))[0] * 1000 for _ in range(cold_rounds)]
                results[name] = {
                    "served": SERVED in served_err,
                    "same_output": served_out == alone_out,
                    "warm_ms": {
                        "p50": round(statistics.median(warm), 1),
                        "p95": round(percentile(warm, 0.95), 1),
                        "min": round(min(warm), 1),
                        "n": len(warm),
                        "cpu_p50": round(statistics.median(warm_cpu), 1),
                    },
                    "cold_ms_p50": round(statistics.median(cold), 1) if cold else None,
                }
        finally:
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rounds", type=int, default=20, help="warm calls per command (default: 20)")
    parser.add_argument("--cold", type=int, default=3, help="cold calls per command, for scale (default: 3)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(run(args.rounds, args.cold))
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"load_average": load, "commands": results}, indent=2))
        return
    print(f"warm CLI through a running `codeseek serve`, quick-start workspace, {args.rounds} calls each")
    print(f"{'command':<24}{'p50':>9}{'p95':>9}{'min':>9}{'cpu p50':>9}{'cold p50':>10}  served  same output")
    for name, r in results.items():
        w = r["warm_ms"]
        cold = f"{r['cold_ms_p50']:>8.0f}ms" if r["cold_ms_p50"] is not None else f"{'-':>10}"
        print(
            f"{name:<24}{w['p50']:>7.0f}ms{w['p95']:>7.0f}ms{w['min']:>7.0f}ms{w['cpu_p50']:>7.0f}ms{cold}"
            f"  {'yes' if r['served'] else 'NO':<6}  {'yes' if r['same_output'] else 'NO'}"
        )
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
