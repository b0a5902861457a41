"""SGLang (and its watchdog) are launched with `python -m`, which imports from the working
folder first: codeseek started inside a workspace whose root holds `types.py` must still
get a working SGLang. The stand-in server is started through the real command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codeseek.config import SglangConfig
from codeseek.embedding.sglang_server import SglangSupervisor, build_launch_command

TESTS = Path(__file__).resolve().parents[1]
STANDIN_PATH = TESTS / "standins" / "pythonpath"
MODEL = "Qwen/Qwen3-Embedding-4B"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SGLang and process groups are POSIX-only")


def test_sglang_and_its_watchdog_start_from_a_workspace_that_shadows_the_standard_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "address-book"
    shutil.copytree(TESTS / "data" / "shadowing", workspace)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(STANDIN_PATH), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv("CODESEEK_STANDIN_VECTORS", "hash")
    monkeypatch.setenv("CODESEEK_STANDIN_PIDFILE", str(tmp_path / "standin.json"))
    monkeypatch.setenv("CODESEEK_STANDIN_RECORD", str(tmp_path / "requests.jsonl"))
    # Proof that the workspace is hostile: a `python -m` started in it dies at once.
    broken = subprocess.run(
        [sys.executable, "-m", "sglang.launch_server", "--help"],
        cwd=workspace,
        capture_output=True,
        timeout=60,
    )
    assert broken.returncode != 0
    monkeypatch.chdir(workspace)
    supervisor = SglangSupervisor(
        SglangConfig(startup_timeout=30), MODEL, state_dir=tmp_path / "state", stop_grace=2.0
    )
    try:
        info = supervisor.start()
        assert info.model == MODEL
        launched = supervisor._launched
        assert launched is not None and launched.watchdog is not None
        assert launched.watchdog.poll() is None, "the watchdog died (it imported from the workspace?)"
    finally:
        supervisor.stop()


def test_a_relative_interpreter_path_stays_relative_to_where_codeseek_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    command = build_launch_command(SglangConfig(python="sglang-env/bin/python"), MODEL, 30000)
    assert command[0] == str(tmp_path / "sglang-env" / "bin" / "python")
    assert build_launch_command(SglangConfig(python="python3"), MODEL, 30000)[0] == "python3"
