"""A full disk under the index, for real: a small tmpfs. The CLI says so in one line and
exits 1, the previous index stays searchable, the server's status says so, and indexing
resumes by itself once there is space again."""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeseek import cli
from codeseek.config import Config
from codeseek.embedding.base import Embedder
from codeseek.model import IndexState
from codeseek.search import SearchRequest
from codeseek.service import Backoff, FolderService

SIZE = "4m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); CI runs as root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk; returns the filler to remove."""
    filler = disk / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    # tmpfs may keep a few blocks back from one file; take those too.
    for i in range(64):
        try:
            (disk / f"crumb{i}").write_bytes(b"\0" * 4096)
        except OSError:
            break
    return filler


def free(disk: Path) -> None:
    for path in disk.iterdir():
        if path.name == "filler" or path.name.startswith("crumb"):
            path.unlink()


def test_cli_on_a_full_disk(
    small_disk: Path, sample_workspace: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import codeseek.embedding.registry as registry

    monkeypatch.setattr(registry, "create_embedder", lambda config, choice=None: minilm)
    monkeypatch.setenv("CODESEEK_STORE", str(small_disk / "store"))

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(list(argv), out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    code, _, err = run("index", str(sample_workspace))
    assert code == 0, err
    fill(small_disk)
    (sample_workspace / "src/storage/retry.py").write_text(
        "def parse_duration(text):\n    return int(text[:-1]) * 60\n" * 200
    )
    code, out, err = run("index", str(sample_workspace))
    assert code == 1
    assert err.count("\n") == 1 and "disk is full" in err and "Traceback" not in err
    # The previous index is intact and answers.
    code, out, err = run("search", "retry with exponential backoff", "-w", str(sample_workspace), "-k", "1")
    assert code == 0 and "retry_with_backoff" in out
    free(small_disk)
    code, out, err = run("index", str(sample_workspace))
    assert code == 0, err
    code, out, _ = run(
        "search", "parse_duration", "-w", str(sample_workspace), "--mode", "lexical", "-k", "1"
    )
    assert "parse_duration" in out


def test_server_waits_for_space_and_resumes(
    small_disk: Path, sample_workspace: Path, minilm: Embedder
) -> None:
    config = Config()
    config.store.path = str(small_disk / "store")
    service = FolderService(
        sample_workspace, config, embedder=minilm, backoff=Backoff(first=0.1, ceiling=0.5)
    )
    service.start(watch=False)
    try:
        assert service.wait_idle(120)
        fill(small_disk)
        path = sample_workspace / "src/storage/retry.py"
        path.write_text("def parse_duration(text):\n    return int(text[:-1]) * 60\n" * 200)
        service.files_changed([path])
        deadline = time.monotonic() + 60
        while service.status().state is not IndexState.ERROR:
            assert time.monotonic() < deadline, "the full disk never showed"
            time.sleep(0.05)
        status = service.status()
        assert "disk is full" in (status.last_error or "")
        # Searchable all along, from the previous index.
        assert service.search(SearchRequest("retry with exponential backoff", 1)).hits[0].symbol
        free(small_disk)
        deadline = time.monotonic() + 60
        while not service.search(SearchRequest("parse_duration", 1, mode="lexical")).hits:
            assert time.monotonic() < deadline, "indexing did not resume when space returned"
            time.sleep(0.1)
        assert service.wait_idle(60)
        assert service.status().state is IndexState.IDLE
    finally:
        service.stop()
        os.sync()
