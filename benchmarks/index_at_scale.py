"""A first `codeseek index` of a real repository of thousands of files, as a new user runs it.

    pip download transformers --no-deps -d /tmp/tf && python -m zipfile -e /tmp/tf/*.whl /tmp/tf/src
    nice -n 10 python benchmarks/index_at_scale.py /tmp/tf/src/transformers [--limit N] [--time-limit 300]

Runs `codeseek index` on the folder in a subprocess with a fresh store (its stderr, the
plain progress lines, is kept), and meanwhile:
- samples the process's resident memory (VmRSS, and the kernel's own peak, VmHWM);
- asks the index for a lexical hit every half second, through the same read handle a
  search uses, for the time to the first lexical result (a search while the index is
  being written), and times one real `codeseek search --mode lexical` then;
- notes when the first phase is over (every file chunked and searchable by its words:
  the run is recorded) and counts the vectors every few seconds, for the chunks/s of
  the embedding phase and the time the rest would take at that pace.

`--store-only` runs the same index in a child process with a stand-in embedder that
hashes each text to a vector: no model, so the whole run (every chunk written, its
vector filled in, compactions, the vector index at the end) takes a minute or two, and
its memory is the store's and the pipeline's alone. With CODESEEK_BENCH_MEMTRACE=1 in
the environment the child prints its RSS next to what Arrow's memory pool holds every
5 s (to --log).

With --time-limit the run is interrupted (SIGINT, as Ctrl-C) when the time is up; the
table then says how far it got. `--limit N` indexes a copy of the first N files
(sorted by path). Prints a table and the load average; never fails on timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from codeseek.store.lance import IndexStore
from codeseek.store.meta import peek_current


@dataclass
class Observed:
    started: float = field(default_factory=time.monotonic)
    first_lexical: float | None = None
    phase1: float | None = None
    phase1_rss_mb: float = 0.0
    cli_search_s: float | None = None
    peak_rss_mb: float = 0.0
    hwm_mb: float = 0.0
    rss: list[tuple[float, float]] = field(default_factory=list)  # (t, MB), every 0.25 s
    embedded: list[tuple[float, int, int]] = field(default_factory=list)  # (t, embedded, dense)
    files: int = 0
    chunks: int = 0

    def since(self, t: float | None) -> str:
        return "-" if t is None else f"{t - self.started:.1f} s"


def proc_status_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB; zeros once it is gone."""
    values = {"VmRSS:": 0.0, "VmHWM:": 0.0}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                key = line.split(maxsplit=1)[0] if line.strip() else ""
                if key in values:
                    values[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return values["VmRSS:"], values["VmHWM:"]


def sample_memory(pid: int, seen: Observed, stop: threading.Event) -> None:
    while not stop.is_set():
        rss, hwm = proc_status_mb(pid)
        seen.peak_rss_mb = max(seen.peak_rss_mb, rss)
        seen.hwm_mb = max(seen.hwm_mb, hwm)
        if rss:
            seen.rss.append((time.monotonic(), rss))
        if seen.phase1 is None:
            seen.phase1_rss_mb = max(seen.phase1_rss_mb, rss)
        stop.wait(0.25)


def watch_index(
    store_path: Path, workspace: Path, query: str, seen: Observed, stop: threading.Event, env: dict[str, str]
) -> None:
    store: IndexStore | None = None
    last_count = 0.0
    while not stop.is_set():
        now = time.monotonic()
        try:
            if store is None:
                current = peek_current(store_path)
                if current is not None:
                    store = IndexStore(store_path, current["index_key"], int(current["dimensions"]))
            if store is not None:
                if seen.first_lexical is None and store.text_search(query, 1):
                    seen.first_lexical = time.monotonic()
                if seen.phase1 is None and store.index_meta().get("last_indexed_at"):
                    seen.phase1 = time.monotonic()
                    seen.files, seen.chunks = store.count_files(), store.count_chunks()
                    if "CODESEEK_BENCH_STORE_ONLY" not in env:  # the CLI would not know the stand-in
                        seen.cli_search_s = time_cli_search(workspace, query, env)
                if seen.phase1 is not None and now - last_count >= 5.0:
                    last_count = now
                    embedded, dense = store.count_embedded()
                    seen.embedded.append((time.monotonic(), embedded, dense))
        except Exception as exc:  # a read racing a compaction: try again next round
            print(f"(poll: {type(exc).__name__}: {exc})", file=sys.stderr)
            store = None
        stop.wait(0.5)


def time_cli_search(workspace: Path, query: str, env: dict[str, str]) -> float | None:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "codeseek", "search", query, "--mode", "lexical", "-k", "1", "--json"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.perf_counter() - started
    return elapsed if done.returncode == 0 and done.stdout.strip() not in ("", "[]") else None


def store_only_child(workspace: Path) -> None:
    """The child of `--store-only`: `codeseek index` with a hashing stand-in embedder."""
    import hashlib

    import numpy as np

    from codeseek.cli import Progress
    from codeseek.config import Config
    from codeseek.embedding.base import Embedder, InputType
    from codeseek.service import FolderService

    class HashEmbedder(Embedder):
        provider, model_id, dimensions, native_dimensions, max_tokens = "local", "store-only", 384, 384, 256
        batch_texts = 256

        def embed_batch(self, texts: list[str], input_type: InputType) -> np.ndarray:
            seeds = [
                int.from_bytes(hashlib.blake2b(t.encode(), digest_size=4).digest(), "little") for t in texts
            ]
            return np.stack([np.random.default_rng(seed).standard_normal(384) for seed in seeds]).astype(
                np.float32
            )

    if os.environ.get("CODESEEK_BENCH_MEMTRACE"):
        threading.Thread(target=trace_memory, daemon=True).start()
    config = Config()
    config.store.path = os.environ["CODESEEK_STORE"]
    service = FolderService(workspace, config, embedder=HashEmbedder())
    progress = Progress(sys.stderr)
    try:
        report = service.index(progress=progress)
    finally:
        progress.done()
    print(f"{report.files} files, {report.chunks} chunks, {report.chunks_embedded} embedded", file=sys.stderr)


def trace_memory() -> None:
    """With CODESEEK_BENCH_MEMTRACE (store-only child): every 5 s, the process's RSS next to
    what Arrow's memory pool holds, so that a growth shows as Arrow's or as someone else's."""
    import pyarrow as pa

    started = time.monotonic()
    while True:
        rss, _ = proc_status_mb(os.getpid())
        pool = pa.default_memory_pool()
        print(
            f"memtrace {time.monotonic() - started:6.1f} s rss {rss:7.0f} MB"
            f" arrow {pa.total_allocated_bytes() / 2**20:7.0f} MB ({pool.backend_name},"
            f" max {pool.max_memory() / 2**20:.0f} MB)",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(5)


def copy_subset(source: Path, target: Path, limit: int) -> None:
    files = sorted(p for p in source.rglob("*") if p.is_file())[:limit]
    for path in files:
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the repository to index (e.g. transformers' source)")
    parser.add_argument("--limit", type=int, help="index a copy of the first N files only")
    parser.add_argument("--time-limit", type=float, default=0, help="interrupt the run after S seconds")
    parser.add_argument("--query", default="attention mask", help="the lexical query polled for")
    parser.add_argument("--log", type=Path, help="keep the run's stderr (progress lines) here")
    parser.add_argument("--store-only", action="store_true", help="a hashing stand-in instead of the model")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        store_only_child(args.source)
        return
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="codeseek-scale-") as tmp:
        workspace = args.source.resolve()
        if args.limit:
            workspace = Path(tmp) / "workspace"
            copy_subset(args.source, workspace, args.limit)
        store_path = Path(tmp) / "store"
        env = {
            **os.environ,
            "CODESEEK_STORE": str(store_path),
            "HF_HUB_OFFLINE": "1",
            "CODESEEK_PROGRESS_INTERVAL": "10",
            **({"CODESEEK_BENCH_STORE_ONLY": "1"} if args.store_only else {}),
        }
        log_path = args.log or Path(tmp) / "index.log"
        seen = Observed()
        with log_path.open("w") as log:
            command = (
                [sys.executable, __file__, str(workspace), "--child"]
                if args.store_only
                else [sys.executable, "-m", "codeseek", "index", str(workspace), "--json"]
            )
            proc = subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.DEVNULL,  # its --json report is not used; a pipe nobody reads fills up
                stderr=log,
                text=True,
            )
            stop = threading.Event()
            threads = [
                threading.Thread(target=sample_memory, args=(proc.pid, seen, stop), daemon=True),
                threading.Thread(
                    target=watch_index, args=(store_path, workspace, args.query, seen, stop, env), daemon=True
                ),
            ]
            for t in threads:
                t.start()
            interrupted = False
            try:
                proc.wait(timeout=args.time_limit or None)
            except subprocess.TimeoutExpired:
                interrupted = True
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            ended = time.monotonic()
            stop.set()
            for t in threads:
                t.join(30)
        final = IndexStore(store_path, *_identity(store_path)) if peek_current(store_path) else None
        embedded, dense = final.count_embedded() if final else (0, 0)
        files = final.count_files() if final else 0
        chunks = final.count_chunks() if final else 0
        skipped = len(final.index_meta().get("skipped") or []) if final else 0
        progress_lines = log_path.read_text().splitlines()
    load_after = os.getloadavg()
    rate = embedding_rate(seen, ended, embedded)
    rows = [
        ("workspace", f"{workspace if not args.limit else f'{args.source} (first {args.limit} files)'}"),
        ("files indexed / skipped", f"{files:,} / {skipped:,}"),
        ("chunks (get a vector)", f"{chunks:,} ({dense:,})"),
        ("time to first lexical hit", seen.since(seen.first_lexical)),
        ("time to phase 1 (all chunked, searchable)", seen.since(seen.phase1)),
        (
            "cold CLI lexical search during the run",
            f"{seen.cli_search_s:.1f} s" if seen.cli_search_s else "-",
        ),
        ("embedded at the end", f"{embedded:,} of {dense:,} ({100 * embedded // max(dense, 1)}%)"),
        ("chunks/s embedding (after phase 1)", f"{rate:.1f}" if rate else "-"),
        (
            "time to fully embedded (at that rate)",
            f"{(seen.phase1 or seen.started) - seen.started + dense / rate:.0f} s" if rate and dense else "-",
        ),
        ("run", f"{ended - seen.started:.0f} s{' (interrupted at the time limit)' if interrupted else ''}"),
        ("peak RSS, phase 1", f"{seen.phase1_rss_mb:,.0f} MB"),
        ("peak RSS, whole run (VmHWM)", f"{max(seen.peak_rss_mb, seen.hwm_mb):,.0f} MB"),
        ("RSS over the embedding phase (quarters)", rss_trend(seen)),
        ("load average before / after", f"{load_before[0]:.2f} / {load_after[0]:.2f}"),
        ("CPUs", str(os.cpu_count())),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    tail = [line for line in progress_lines if line.startswith("codeseek: ")][-3:]
    if tail:
        print("last progress lines:")
        for line in tail:
            print(f"  {line}")


def _identity(store_path: Path) -> tuple[str, int]:
    current = peek_current(store_path)
    assert current is not None
    return str(current["index_key"]), int(current["dimensions"])


def rss_trend(seen: Observed) -> str:
    """The largest RSS in each quarter of the time after phase 1: flat, or growing."""
    after = [mb for t, mb in seen.rss if seen.phase1 is not None and t >= seen.phase1]
    if len(after) < 4:
        return "-"
    quarter = len(after) // 4
    return " / ".join(f"{max(after[i * quarter : (i + 1) * quarter]):,.0f}" for i in range(4)) + " MB"


def embedding_rate(seen: Observed, ended: float, embedded_end: int) -> float | None:
    """Chunks embedded per second from the end of phase 1 to the end of the run."""
    if seen.phase1 is None or not seen.embedded:
        return None
    t0, e0, _ = seen.embedded[0]
    if ended <= t0 or embedded_end <= e0:
        return None
    return (embedded_end - e0) / (ended - t0)


if __name__ == "__main__":
    main()
