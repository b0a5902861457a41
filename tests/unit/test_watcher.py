"""The change batcher's timing, and a real watchdog observer on temporary folders."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codeseek.workspace.discovery import IgnoreRules
from codeseek.workspace.watcher import ChangeBatcher, WorkspaceWatcher

WAIT = 5.0  # upper bound for anything to arrive; tests normally finish far sooner


class Batches:
    """Collects delivered batches and lets a test wait for what it expects."""

    def __init__(self) -> None:
        self.batches: list[set[str]] = []
        self.times: list[float] = []
        self._cond = threading.Condition()

    def __call__(self, batch: set[str]) -> None:
        with self._cond:
            self.batches.append(set(batch))
            self.times.append(time.monotonic())
            self._cond.notify_all()

    def union(self) -> set[str]:
        with self._cond:
            return set().union(*self.batches)

    def union_since(self, index: int) -> set[str]:
        with self._cond:
            return set().union(*self.batches[index:])

    def wait_for(self, predicate: Callable[[set[str]], bool], timeout: float = WAIT) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(set().union(*self.batches)), timeout)

    def wait_for_paths(self, *paths: str) -> None:
        assert self.wait_for(lambda seen: set(paths) <= seen), f"missing {set(paths) - self.union()}"


# ---------------------------------------------------------------------------- ChangeBatcher


def test_batcher_coalesces_a_burst_into_one_batch() -> None:
    batches = Batches()
    batcher = ChangeBatcher(batches, debounce=0.1, max_delay=2.0)
    try:
        started = time.monotonic()
        for i in range(50):
            batcher.add([f"f{i % 10}.py", "same.py"])
            time.sleep(0.002)
        batches.wait_for_paths("same.py")
        time.sleep(0.2)
        assert batches.batches == [{f"f{i}.py" for i in range(10)} | {"same.py"}]
        assert batches.times[0] - started >= 0.1  # nothing before the quiet period
    finally:
        batcher.close()


def test_batcher_never_waits_past_max_delay() -> None:
    batches = Batches()
    batcher = ChangeBatcher(batches, debounce=0.1, max_delay=0.3)
    try:
        started = time.monotonic()
        while time.monotonic() - started < 0.8:  # a writer that never pauses for 0.1 s
            batcher.add(["busy.log"])
            time.sleep(0.02)
        assert batches.wait_for(lambda _: len(batches.batches) >= 2, timeout=1.0)
        assert batches.times[0] - started < 0.3 + 0.15
    finally:
        batcher.close()


def test_batcher_flush_delivers_now_and_close_drops_pending() -> None:
    batches = Batches()
    batcher = ChangeBatcher(batches, debounce=10.0, max_delay=10.0)
    batcher.add(["a.py"])
    batcher.flush()
    assert batches.batches == [{"a.py"}]
    batcher.add(["b.py"])
    batcher.close()
    batcher.add(["c.py"])
    batcher.flush()
    assert batches.batches == [{"a.py"}]


def test_batcher_survives_a_failing_consumer(caplog: pytest.LogCaptureFixture) -> None:
    batches = Batches()

    def fail_once(batch: set[str]) -> None:
        if not batches.batches:
            batches(set())
            raise RuntimeError("indexer hiccup")
        batches(batch)

    batcher = ChangeBatcher(fail_once, debounce=0.01)
    try:
        batcher.add(["a.py"])
        assert batches.wait_for(lambda _: len(batches.batches) == 1)
        batcher.add(["b.py"])
        batches.wait_for_paths("b.py")
    finally:
        batcher.close()
    assert "indexer hiccup" in caplog.text


def test_batcher_rejects_bad_timing() -> None:
    with pytest.raises(ValueError, match="debounce"):
        ChangeBatcher(lambda _: None, debounce=1.0, max_delay=0.5)


# ---------------------------------------------------------------------------- WorkspaceWatcher


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / ".gitignore").write_text("*.log\n")
    for folder in ("src", "node_modules/dep", "docs"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / ".git" / "objects").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def watch(workspace: Path) -> Iterator[Batches]:
    batches = Batches()
    batcher = ChangeBatcher(batches, debounce=0.1, max_delay=2.0)
    watcher = WorkspaceWatcher(workspace, IgnoreRules.load(workspace), batcher)
    watcher.start()
    yield batches
    stopped = time.monotonic()
    watcher.stop()
    batcher.close()
    assert time.monotonic() - stopped < 2.0
    assert not [t for t in threading.enumerate() if t.name == "codeseek-change-batcher"]


def test_watcher_reports_changes_and_never_ignored_paths(workspace: Path, watch: Batches) -> None:
    (workspace / "node_modules" / "dep" / "index.js").write_text("x")
    (workspace / "src" / "debug.log").write_text("x")
    (workspace / ".git" / "objects" / "ab").write_bytes(b"\x00")
    (workspace / "src" / "__pycache__").mkdir()
    (workspace / "src" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\x00")
    (workspace / "src" / "a.py").write_text("x = 1\n")
    watch.wait_for_paths("src/a.py")
    time.sleep(0.3)  # anything ignored would have come with or before src/a.py
    assert watch.union() == {"src/a.py"}


def test_watcher_reports_moves_and_folder_deletes(workspace: Path, watch: Batches) -> None:
    (workspace / "src" / "old.py").write_text("x")
    (workspace / "docs" / "guide.md").write_text("x")
    watch.wait_for_paths("src/old.py", "docs/guide.md")
    before = len(watch.batches)
    (workspace / "src" / "old.py").rename(workspace / "src" / "new.py")
    shutil.rmtree(workspace / "docs")
    (workspace / "src" / "new.py").rename(workspace / "src" / "moved.log")  # into ignored: source only
    assert watch.wait_for(lambda _: {"src/old.py", "src/new.py", "docs"} <= watch.union_since(before))
    time.sleep(0.2)
    assert "src/moved.log" not in watch.union()


def test_watcher_follows_ignore_file_changes(workspace: Path, watch: Batches) -> None:
    (workspace / "src" / "trace.log").write_text("x")
    (workspace / "src" / "marker.py").write_text("x")
    watch.wait_for_paths("src/marker.py")
    assert "src/trace.log" not in watch.union()
    (workspace / ".gitignore").write_text("# logs are wanted now\n")
    watch.wait_for_paths(".gitignore")
    (workspace / "src" / "trace.log").write_text("y")
    watch.wait_for_paths("src/trace.log")


def test_watcher_turns_a_2000_file_burst_into_one_batch(workspace: Path, watch: Batches) -> None:
    folders = [workspace / "src" / f"pkg{i}" for i in range(20)]
    for folder in folders:
        folder.mkdir()
    watch.wait_for_paths(*(f"src/pkg{i}" for i in range(20)))
    before = len(watch.batches)
    expected = set()
    for i in range(2_000):  # like a branch switch rewriting many files at once
        (folders[i % 20] / f"m{i}.py").write_text(f"x = {i}\n")
        expected.add(f"src/pkg{i % 20}/m{i}.py")
    assert watch.wait_for(lambda seen: expected <= seen), f"{len(expected - watch.union())} paths missing"
    burst = watch.batches[before:]
    assert len(burst) <= 2, [len(b) for b in burst]
