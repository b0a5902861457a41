"""The installed `codeseek` command, run from inside a workspace whose root holds
`types.py`, `logging.py`, `json.py` and `codeseek.py`: what a user types in a terminal at
the root of their project. The console script puts its own folder, not the working
folder, first on sys.path, so nothing in the workspace is imported in its place."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SHADOWING = Path(__file__).resolve().parents[1] / "data" / "shadowing"


def console_script() -> Path:
    folder = Path(sys.executable).parent
    for name in ("codeseek", "codeseek.exe"):
        if (folder / name).is_file():
            return folder / name
    pytest.fail(
        f"no codeseek console script next to {sys.executable}: install the project into this "
        "environment (pip install -e '.[dev]') to test the command users run"
    )


def test_search_from_a_workspace_that_shadows_the_standard_library(tmp_path: Path) -> None:
    workspace = tmp_path / "address-book"
    shutil.copytree(SHADOWING, workspace)
    env = {**os.environ, "CODESEEK_STORE": str(tmp_path / "store"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [str(console_script()), "search", "export a contact as a JSON document", "--json", "-k", "2"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)
    assert hits[0]["path"] == "json.py"
    assert "Traceback" not in done.stderr
