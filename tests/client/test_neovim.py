"""A second real client: Neovim's built-in LSP client (Debian's 0.7, headless) starts
`codeseek serve` on the fixture workspace and searches it (see search.lua)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("search.lua")

pytestmark = [
    pytest.mark.neovim,
    pytest.mark.real_client,
    pytest.mark.skipif(shutil.which("nvim") is None, reason="needs the nvim binary (apt-get install neovim)"),
]


def test_neovim_gets_search_results(sample_workspace: Path, tmp_path: Path) -> None:
    result_file = tmp_path / "result.json"
    env = {
        **os.environ,
        "CODESEEK_PYTHON": sys.executable,
        "CODESEEK_WORKSPACE": str(sample_workspace.resolve()),
        "CODESEEK_STORE_DIR": str(tmp_path / "store"),
        "CODESEEK_QUERY": "retry an operation with exponential backoff",
        "CODESEEK_RESULT": str(result_file),
        # Neovim keeps its LSP log and state here, not in the user's home.
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    completed = subprocess.run(
        ["nvim", "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {SCRIPT}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert result_file.exists(), f"nvim wrote no result; stderr: {completed.stderr[-2000:]}"
    report = json.loads(result_file.read_text())
    assert "error" not in report, report.get("error")

    assert report["status"]["files"] == 9
    assert report["progress"][0] == "begin" and "end" in report["progress"]
    hits = report["search"]["results"]
    assert 1 <= len(hits) <= 3
    top = hits[0]
    assert top["symbol"] == "retry_with_backoff"
    assert top["uri"] == (sample_workspace.resolve() / "src/storage/retry.py").as_uri()
    assert top["range"]["start"]["line"] == 4
    assert report["search"]["index"]["state"] == "idle"
    assert report["exit_code"] == 0


def readme_snippet() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    after = readme.split("<!-- neovim snippet: tests/client/test_neovim.py runs it -->", 1)[1]
    return after.split("```lua", 1)[1].split("```", 1)[0]


def test_the_readme_snippet_waits_for_the_index(sample_workspace: Path, tmp_path: Path) -> None:
    """The README's Neovim example, as a user pastes it: it must print the first hit, not
    `nil` (it used to ask before anything was indexed)."""
    snippet = tmp_path / "snippet.lua"
    printed = tmp_path / "printed.txt"
    # The user's `print` goes to a file here, so the test can read what they would see.
    snippet.write_text(
        f"local out = assert(io.open({json.dumps(str(printed))}, 'w'))\n"
        "print = function(...) out:write(table.concat({...}, ' ')); out:close(); vim.cmd('qa!') end\n"
        + readme_snippet()
        + "\nvim.defer_fn(function() vim.cmd('cquit 3') end, 180000)\n"
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CODESEEK_STORE": str(tmp_path / "store"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    completed = subprocess.run(
        ["nvim", "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {snippet}"],
        cwd=sample_workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert printed.exists(), (
        f"the snippet printed nothing (exit {completed.returncode}): {completed.stderr[-2000:]}"
    )
    text = printed.read_text()
    assert "retry_with_backoff" in text and "src/storage/retry.py" in text, text
