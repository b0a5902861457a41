"""`codeseek eval` end to end on a fixture repository, with the real bundled model,
real tree-sitter and real LanceDB; its metrics checked against ranks worked out by hand.

The fixture (tests/data/eval/repo) has eight usable documented functions in six
languages. Seven queries describe their function plainly, so each ranks it first. The
eighth is a trap: `reverse_items` (Python, reverses a list) is documented as "Split a
sentence into words and return the words in reverse order", which is exactly what the
undocumented Go `ReverseWords` does, so that function ranks first and the target second.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from codeseek.cli import main
from codeseek.config import Config
from codeseek.embedding.base import Embedder
from codeseek.evaluation.evaluate import EvalReport, evaluate

REPO = Path(__file__).parents[1] / "data" / "eval" / "repo"

# In the report's order of queries: by path, then line.
EXPECTED_QUERIES = [
    "Checksum.adler32",
    "Matrix.multiply",
    "RetryWithBackoff",
    "LRUCache.get",
    "evict_expired",
    "reverse_items",
    "cartTotal",
    "slugify",
]
EXPECTED_SEMANTIC_RANKS = [1, 1, 1, 1, 1, 2, 1, 1]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO, root)
    return root


@pytest.fixture(scope="module")
def report(minilm: Embedder, tmp_path_factory: pytest.TempPathFactory) -> EvalReport:
    work = tmp_path_factory.mktemp("eval")
    return evaluate(REPO, Config(), [minilm], work, lexical_weights=[0.0, 0.2])


def snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_pairs_found_in_every_language(report: EvalReport) -> None:
    assert [q.symbol for q in report.queries] == EXPECTED_QUERIES
    assert report.pairs_by_language == {
        "go": 1,
        "java": 1,
        "javascript": 1,
        "python": 3,
        "rust": 1,
        "typescript": 1,
    }
    # __init__ (a constructor), a docstring-only stub and a two-word docstring are documented but unused.
    assert report.documented_functions == 11
    assert report.pairs_available == 8


def test_semantic_and_hybrid_metrics_match_the_hand_computed_answer(report: EvalReport) -> None:
    rows = {r.label: r for r in report.results}
    assert set(rows) == {"hybrid@0", "hybrid@0.2", "semantic", "lexical", "functions"}
    for label in ("semantic", "hybrid@0", "hybrid@0.2"):
        row = rows[label]
        assert row.ranks == EXPECTED_SEMANTIC_RANKS, label
        m = row.overall
        assert m.queries == 8
        assert m.recall_at_1 == pytest.approx(7 / 8)
        assert m.recall_at_5 == pytest.approx(1.0)
        assert m.recall_at_10 == pytest.approx(1.0)
        assert m.mrr == pytest.approx((7 + 1 / 2) / 8)
        python = row.languages["python"]
        assert (python.queries, python.recall_at_1) == (3, pytest.approx(2 / 3))
        assert python.mrr == pytest.approx((2 + 1 / 2) / 3)
        assert row.languages["go"].recall_at_1 == 1.0
        assert row.overall.latency_ms_p50 > 0
        assert row.degraded == 0


def test_the_one_vector_per_function_baseline_is_a_row(report: EvalReport) -> None:
    row = next(r for r in report.results if r.mode == "functions")
    assert row.label == "functions" and row.lexical_weight is None
    assert row.overall.queries == 8 and len(row.ranks) == 8
    # The trap catches the baseline too: ReverseWords is a function like any other.
    assert row.ranks[EXPECTED_QUERIES.index("reverse_items")] == 2
    assert all(rank is not None for rank in row.ranks)
    (index,) = report.indexes
    assert index.functions > 8 and index.functions_embedded == index.functions


def test_lexical_also_falls_for_the_trap(report: EvalReport) -> None:
    lexical = next(r for r in report.results if r.mode == "lexical")
    assert lexical.ranks[EXPECTED_QUERIES.index("reverse_items")] == 2
    assert lexical.overall.recall_at_1 <= 7 / 8


def test_cli_json_leaves_the_workspace_untouched(repo: Path, tmp_path: Path) -> None:
    before = snapshot(repo)
    out, err = io.StringIO(), io.StringIO()
    code = main(["eval", str(repo), "--json", "--mode", "semantic", "--limit", "3", "--seed", "1"], out, err)
    assert code == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert data["pairs"] == 3 and data["pairs_available"] == 8 and data["seed"] == 1
    assert [r["label"] for r in data["results"]] == ["semantic"]
    assert len(data["results"][0]["ranks"]) == 3
    assert snapshot(repo) == before  # docs stripped in a copy only, and no index written here


def test_index_cache_reuses_every_vector_and_gives_the_same_ranks(minilm: Embedder, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    runs = []
    for number in (1, 2):
        work = tmp_path / f"work{number}"
        work.mkdir()
        runs.append(
            evaluate(
                REPO,
                Config(),
                [minilm],
                work,
                modes=["semantic", "hybrid", "functions"],
                index_cache=cache,
                measure_latency=False,
            )
        )
    first, second = runs
    # Every chunk that gets a vector is embedded (import blocks and trivial ones get none).
    assert 0 < first.indexes[0].chunks_embedded < first.indexes[0].chunks
    # The second run chunks every file again, but embeds nothing: chunks, functions
    # and queries all come from the cache.
    assert second.indexes[0].chunks == first.indexes[0].chunks
    assert second.indexes[0].chunks_embedded == 0 and second.indexes[0].functions_embedded == 0
    assert [r.ranks for r in second.results] == [r.ranks for r in first.results]
    assert [r.label for r in second.results] == ["semantic", "hybrid@0.2", "functions"]
    assert not second.latency_measured
    assert any(p.name.startswith("queries-") for p in next(cache.iterdir()).iterdir())


def test_cli_settings_and_no_latency(repo: Path, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    args = ["eval", str(repo), "--mode", "lexical", "--no-latency", "--set", "reranker.candidates=20"]
    assert main([*args, "--index-cache", str(tmp_path / "cache")], out, err) == 0, err.getvalue()
    text = out.getvalue()
    assert "settings   reranker.candidates=20" in text
    lexical = next(line for line in text.splitlines() if " lexical " in line)
    assert lexical.split()[-3:] == ["-", "-", "-"]
    err = io.StringIO()
    assert main(["eval", str(repo), "--set", "search.nothing=1"], io.StringIO(), err) == 2
    assert "--set search.nothing" in err.getvalue() and "Traceback" not in err.getvalue()
    err = io.StringIO()
    assert main(["eval", str(repo), "--set", "noequals"], io.StringIO(), err) == 2
    assert "KEY=VALUE" in err.getvalue()


def test_cli_table(repo: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["eval", str(repo), "--mode", "lexical"], out, err) == 0, err.getvalue()
    text = out.getvalue()
    assert "R@1" in text and "MRR" in text and "p95 ms" in text
    assert "8 of 8 usable documented functions" in text
    assert "python" in text.split("language", 1)[1]  # the per-language table


def test_no_documented_functions_is_a_clear_usage_error(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f():\n    return 1\n")
    err = io.StringIO()
    assert main(["eval", str(tmp_path)], io.StringIO(), err) == 2
    assert "no documented functions" in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_unavailable_embedder_is_a_clear_usage_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOYAGE_API_KEY", raising=False)
    err = io.StringIO()
    assert main(["eval", str(repo), "--embedder", "voyage"], io.StringIO(), err) == 2
    assert "embedder 'voyage'" in err.getvalue() and "not available" in err.getvalue()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--limit", "0"], "--limit"),
        (["--lexical-weight", "1.5"], "--lexical-weight"),
        (["--agreement-low", "-1"], "--agreement-low"),
        (["--piece-weight", "2"], "--piece-weight"),
    ],
)
def test_bad_flags(repo: Path, flags: list[str], message: str) -> None:
    err = io.StringIO()
    assert main(["eval", str(repo), *flags], io.StringIO(), err) == 2
    assert message in err.getvalue()


def test_chart_is_written(report: EvalReport, tmp_path: Path) -> None:
    from codeseek.evaluation.plots import eval_chart

    (written,) = eval_chart(report, tmp_path / "charts")
    assert written.name == "eval_recall.png"
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
