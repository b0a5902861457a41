"""Cold command-line latency: each command in a fresh Python process, as a user types it.

Copies the quick-start workspace (tests/data/workspace) to a temporary folder, indexes
it once with `codeseek index` (its own store in the same temporary folder), then runs
each command once untimed (bytecode caches written, files in the OS cache, as on any
use after the first) and N times in new processes (`python -m codeseek ...`, with CODESEEK_NO_SERVER=1, so
a language server holding the folder does not answer instead) and prints, per
command, the wall time (p50, min, max) and the CPU time the process used (user + system,
p50): on a busy machine the wall time follows the load, the CPU time much less so. It
also says whether the process imported torch, transformers or onnxruntime (it should
not, except for a hybrid search, which loads the model it needs).

Numbers only: this never fails on timing.

    nice -n 10 python benchmarks/cold_cli.py [-n 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORKSPACE = Path(__file__).resolve().parent.parent / "tests" / "data" / "workspace"
QUERY = "retry with exponential backoff"
HEAVY = ("torch", "transformers", "onnxruntime")
# Runs the CLI's main, then reports which heavy modules the process had imported.
PROBE = (
    "import json, sys\n"
    "from codeseek.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
    "print('PROBE ' + json.dumps(heavy), file=sys.stderr)\n"
    "raise SystemExit(code)\n"
)


def commands(ws: Path) -> dict[str, list[str]]:
    return {
        "search --mode lexical": ["search", QUERY, "-w", str(ws), "--mode", "lexical"],
        "search (hybrid)": ["search", QUERY, "-w", str(ws)],
        "status": ["status", "-w", str(ws)],
        "related": ["related", "src/storage/retry.py:5", "-w", str(ws)],
    }


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, list[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"codeseek {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    heavy: list[str] = []
    for line in proc.stderr.splitlines():
        if line.startswith("PROBE "):
            heavy = json.loads(line[len("PROBE ") :])
    return wall, cpu, heavy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="runs per command (default: 5)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="codeseek-cold-"))
    try:
        ws = tmp / "workspace"
        shutil.copytree(WORKSPACE, ws)
        env = {**os.environ, "CODESEEK_STORE": str(tmp / "store"), "CODESEEK_NO_SERVER": "1"}
        # As an installed package runs: with its bytecode cached (the first run writes it).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run(
            [sys.executable, "-m", "codeseek", "index", str(ws)], env=env, check=True, capture_output=True
        )
        results: dict[str, Any] = {}
        for name, argv in commands(ws).items():
            run_once(argv, env)  # untimed: bytecode and the OS's file cache, as after a first use
            runs = [run_once(argv, env) for _ in range(args.n)]
            walls = sorted(r[0] for r in runs)
            cpus = sorted(r[1] for r in runs)
            results[name] = {
                "wall_p50_s": round(statistics.median(walls), 3),
                "wall_min_s": round(walls[0], 3),
                "wall_max_s": round(walls[-1], 3),
                "cpu_p50_s": round(statistics.median(cpus), 3),
                "heavy_imports": sorted({m for r in runs for m in r[2]}),
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"runs": args.n, "load_average": load, "commands": results}, indent=2))
        return 0
    print(f"cold CLI on the quick-start workspace, {args.n} fresh processes each")
    print(f"{'command':<24}{'p50':>8}{'min':>8}{'max':>8}{'cpu p50':>9}  heavy imports")
    for name, r in results.items():
        heavy = ", ".join(r["heavy_imports"]) or "none"
        print(
            f"{name:<24}{r['wall_p50_s']:>7.2f}s{r['wall_min_s']:>7.2f}s{r['wall_max_s']:>7.2f}s"
            f"{r['cpu_p50_s']:>8.2f}s  {heavy}"
        )
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
