"""The command line: output shapes, exit codes and one-line errors.

Most tests call `main()` in-process with the session's model injected (loading it per
call would cost seconds each); a few run the real `codeseek` process end to end."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codeseek import cli
from codeseek.embedding.base import Embedder


@pytest.fixture
def run(minilm: Embedder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`run(*argv) -> (exit code, stdout, stderr)` with the shared model and a private store."""
    import codeseek.embedding.registry as registry

    monkeypatch.setattr(registry, "create_embedder", lambda config, choice=None: minilm)
    monkeypatch.setenv("CODESEEK_STORE", str(tmp_path / "store"))

    def _run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(list(argv), out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    return _run


def test_search_indexes_first_and_prints_json_hits(run, sample_workspace: Path) -> None:
    code, out, err = run(
        "search", "retry with exponential backoff", "-w", str(sample_workspace), "--json", "-k", "3"
    )
    assert code == 0, err
    hits = json.loads(out)
    assert len(hits) == 3
    assert hits[0]["symbol"] == "retry_with_backoff"
    assert hits[0]["path"] == "src/storage/retry.py"
    assert set(hits[0]) == {
        "path",
        "start_line",
        "end_line",
        "score",
        "language",
        "symbol",
        "kind",
        "preview",
    }
    assert "\\" not in hits[0]["path"]


def test_index_then_human_search_and_status(run, sample_workspace: Path) -> None:
    code, out, _ = run("index", str(sample_workspace))
    assert code == 0 and "indexed 9 files" in out
    code, out, _ = run("index", str(sample_workspace), "--json")
    report = json.loads(out)
    assert report["indexed"] == 0 and report["unchanged"] == 9 and report["chunks_embedded"] == 0
    code, out, _ = run("search", "multiply matrices", "-w", str(sample_workspace), "-k", "2")
    assert code == 0
    assert out.splitlines()[0].startswith(" 1. native/matrix.rs:")
    code, out, _ = run("status", "-w", str(sample_workspace), "--json")
    status = json.loads(out)
    assert status["files"] == 9 and status["chunks"] > 0
    assert status["provider"] == "local" and status["dimensions"] == 384
    code, out, _ = run("status", "-w", str(sample_workspace))
    assert "sentence-transformers/all-MiniLM-L6-v2 (384 dimensions)" in out


def test_search_filters(run, sample_workspace: Path) -> None:
    code, out, _ = run("search", "function", "-w", str(sample_workspace), "--lang", "Go", "--json")
    assert code == 0 and {h["language"] for h in json.loads(out)} == {"go"}
    code, out, _ = run("search", "function", "-w", str(sample_workspace), "--glob", "web/**", "--json")
    assert all(h["path"].startswith("web/") for h in json.loads(out))
    code, out, _ = run("search", "function", "-w", str(sample_workspace), "--glob", "!web/**", "--json")
    assert not any(h["path"].startswith("web/") for h in json.loads(out))
    code, out, _ = run(
        "search", "try acquire", "-w", str(sample_workspace), "--mode", "lexical", "--json", "-k", "1"
    )
    assert json.loads(out)[0]["symbol"] == "RateLimiter.tryAcquire"


def test_related(run, sample_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line = next(
        i
        for i, t in enumerate((sample_workspace / "web/cart.ts").read_text().splitlines(), 1)
        if "cartTotal" in t
    )
    code, out, err = run("related", f"web/cart.ts:{line}", "-w", str(sample_workspace), "--json")
    assert code == 0, err
    hits = json.loads(out)
    assert hits and all(
        not (h["path"] == "web/cart.ts" and h["start_line"] <= line <= h["end_line"]) for h in hits
    )
    # A path relative to the current directory works too.
    monkeypatch.chdir(sample_workspace / "web")
    code, out, err = run("related", f"cart.ts:{line}", "-w", str(sample_workspace), "--json")
    assert code == 0, err
    code, _, err = run("related", "web/cart.ts:9999", "-w", str(sample_workspace))
    assert code == 2 and "not in the index" in err
    code, _, err = run("related", "web/nope.ts:3", "-w", str(sample_workspace))
    assert code == 2 and "web/nope.ts: no such file" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search"], "the following arguments are required: query"),
        (["search", "x", "--mode", "fuzzy"], "invalid choice: 'fuzzy'"),
        (["search", "x", "-k", "0"], "-k/--limit must be at least 1"),
        (["search", "   "], "the query is empty"),
        (["search", "x", "--dims", "-3"], "--dims: must be a positive number"),
        (["related", "nofile"], "expected FILE:LINE"),
        (["related", "a.py:0"], "expected FILE:LINE"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["index", "/definitely/not/here"], "/definitely/not/here: no such directory"),
        (["search", "x", "-w", "/definitely/not/here"], "no such directory"),
        (["search", "x", "--lang", "klingon"], "unknown language 'klingon'; known languages are python,"),
    ],
)
def test_usage_errors_exit_2_with_one_line(run, argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and message in err
    assert "Traceback" not in err


def test_a_file_is_not_a_workspace(run, sample_workspace: Path) -> None:
    code, _, err = run("index", str(sample_workspace / "web/cart.ts"))
    assert code == 2 and "not a directory" in err


def test_bad_codeseek_toml_warns_and_still_runs(run, sample_workspace: Path) -> None:
    (sample_workspace / "codeseek.toml").write_text(
        '[embedder]\nprovider = "quantum"\n[index]\nmaxFileBytes = 500000\n'
    )
    code, out, err = run("index", str(sample_workspace), "--json")
    assert code == 0
    assert "embedder.provider" in err and "quantum" in err
    assert json.loads(out)["files"] == 10


def codeseek(*argv: str, cwd: Path, store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CODESEEK_STORE": str(store), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "codeseek", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_real_process_end_to_end(sample_workspace: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    done = codeseek(
        "search", "reverse the words of a sentence", "--json", "-k", "1", cwd=sample_workspace, store=store
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["symbol"] == "ReverseWords"
    # Not a terminal, and quick: no bar, no progress lines, no model-loading noise.
    assert "\r" not in done.stderr and "Loading" not in done.stderr and "chunking" not in done.stderr
    done = codeseek("status", "--json", cwd=sample_workspace, store=store)
    assert done.returncode == 0 and json.loads(done.stdout)["files"] == 9


def test_real_process_unreadable_store_is_a_runtime_error(sample_workspace: Path, tmp_path: Path) -> None:
    store = tmp_path / "store-is-a-file"
    store.write_text("not a directory")
    done = codeseek("index", "--embedder", "local", cwd=sample_workspace, store=store)
    assert done.returncode == 1
    assert done.stderr.startswith("codeseek: error:") and done.stderr.count("\n") == 1


def test_progress_lines_when_stderr_is_not_a_terminal() -> None:
    """A long run on a pipe or in a CI log: a plain line every few seconds, with chunks,
    rate and time left; nothing for the first seconds of a run that ends quickly."""
    from codeseek.model import IndexProgress, Phase

    now = [0.0]
    stream = io.StringIO()
    progress = cli.Progress(stream, interval=5.0, clock=lambda: now[0])
    progress(IndexProgress(Phase.CHUNK, 10, 3000, 120))
    assert stream.getvalue() == ""
    for second in range(1, 31):
        now[0] = float(second)
        done = second * 400
        progress(
            IndexProgress(
                Phase.EMBED,
                chunks_done=done,
                chunks_total=60_000,
                rate=400.0,
                eta_seconds=(60_000 - done) / 400,
            )
        )
    lines = stream.getvalue().splitlines()
    assert len(lines) == 6  # one every five seconds
    assert lines[0] == (
        "codeseek: embedding 3,000 files · 3% embedded · 2,000/60,000 chunks · 400 chunks/s · about 2 min left"
    )
    assert "\r" not in stream.getvalue()


# Runs the CLI's main in a fresh process and reports what it imported.
IMPORT_PROBE = """
import json, sys
from codeseek.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""
MODEL_RUNTIMES = ("torch", "transformers", "onnxruntime", "sentence_transformers")


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "retry with exponential backoff", "--mode", "lexical", "--json"],
        ["status", "--json"],
        ["related", "src/storage/retry.py:5", "--json"],
    ],
    ids=["lexical search", "status", "related"],
)
def test_commands_that_need_no_model_never_import_one(
    run, sample_workspace: Path, tmp_path: Path, argv: list[str]
) -> None:
    """A cold `search --mode lexical`, `status` or `related` opens the index without a
    model runtime (the model's identity comes from the settings and the index's record),
    and without LanceDB's REST namespace client (store/lancedb_import.py)."""
    code, _, err = run("index", str(sample_workspace))
    assert code == 0, err
    env = {**os.environ, "CODESEEK_STORE": str(tmp_path / "store"), "CODESEEK_NO_SERVER": "1"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *argv, "-w", str(sample_workspace)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    assert json.loads(done.stdout)  # hits, or the status: it answered
    modules = set(report["modules"])
    assert "lancedb" in modules  # it did open the index
    assert not {m.split(".")[0] for m in modules} & set(MODEL_RUNTIMES)
    assert "lance_namespace_urllib3_client.api" not in modules
    # Nor the namespace models a local index never uses (146 of them; a dozen are LanceDB's own).
    assert len([m for m in modules if m.startswith("lance_namespace_urllib3_client.models.")]) < 40


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_bar_on_a_terminal_spans_chunking_and_embedding() -> None:
    """On a terminal the whole run is one bar, redrawn in place: files and chunks while
    chunking, then the share embedded with the rate and the time left."""
    from codeseek.model import IndexProgress, Phase

    stream = _Terminal()
    progress = cli.Progress(stream)
    progress(IndexProgress(Phase.CHUNK, 200, 400, 9_000))
    progress(IndexProgress(Phase.CHUNK, 400, 400, 18_000))
    progress(IndexProgress(Phase.EMBED, chunks_done=4_500, chunks_total=15_000, rate=30.0, eta_seconds=350))
    progress.done()
    drawn = stream.getvalue()
    assert "\n" not in drawn.rstrip("\n")  # redrawn in place: one line, never a second bar
    assert "indexing" in drawn and "200/400 files · 9,000 chunks" in drawn
    assert "30% embedded · 4,500/15,000 chunks · 30 chunks/s · about 6 min left" in drawn
    assert "400 files · 30% embedded" in drawn  # the files stay in view while embedding
