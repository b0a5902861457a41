"""Re-index time with nothing changed, on a generated workspace of N files.

    python benchmarks/reindex_unchanged.py [--files 2000] [--runs 5]

Builds N small Python files in nested folders (with a .gitignore), indexes them once
with the default local model, then times `FolderService.index()` runs that find nothing to do,
and one run after touching every file (mtime changed, content not). Prints numbers;
never fails on timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from codeseek.config import Config
from codeseek.service import FolderService


def make_workspace(root: Path, files: int) -> None:
    for i in range(files):
        folder = root / f"pkg{i % 40}" / f"sub{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{i}.py").write_text(
            f"def compute_{i}(x):\n    '''Compute value {i}.'''\n    return x * {i}\n"
        )
    (root / ".gitignore").write_text("*.log\nbuild/\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "workspace"
        make_workspace(root, args.files)
        config = Config()
        config.store.path = str(Path(tmp) / "store")
        engine = FolderService(root, config)
        started = time.perf_counter()
        report = engine.index()
        print(
            f"first index: {report.files} files, {report.chunks} chunks in {time.perf_counter() - started:.1f} s"
        )
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            report = engine.index()
            times.append(time.perf_counter() - started)
            assert report.indexed == 0
        print(
            f"re-index, nothing changed: p50 {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
        )
        for path in root.rglob("*.py"):
            os.utime(path)
        started = time.perf_counter()
        report = engine.index()
        print(
            f"re-index after touching every file: {(time.perf_counter() - started) * 1000:.0f} ms "
            f"({report.chunks_embedded} chunks embedded)"
        )


if __name__ == "__main__":
    main()
