"""benchmarks/loo.py: leave-one-corpus-out choice of settings, the grid, and its cache of
results (end to end through the real `codeseek eval` on two tiny corpora)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest

import benchmark_scripts

REPO = Path(__file__).parents[1] / "data" / "eval" / "repo"


@pytest.fixture(scope="module")
def loo() -> ModuleType:
    return benchmark_scripts.load("loo")


def test_each_corpus_gets_the_setting_best_on_the_others(loo: ModuleType) -> None:
    scores = {
        "a": {"w=0": 0.9, "w=0.5": 0.1},  # a alone prefers w=0
        "b": {"w=0": 0.2, "w=0.5": 0.6},
        "c": {"w=0": 0.3, "w=0.5": 0.5},
    }
    chosen = loo.leave_one_out(scores, ["w=0", "w=0.5"])
    assert chosen["a"] == ("w=0.5", "w=0")  # held out: b and c both prefer 0.5
    # Without b: a (0.9, 0.1) and c (0.3, 0.5) average 0.6 against 0.3.
    assert chosen["b"] == ("w=0", "w=0.5")
    assert chosen["c"] == ("w=0", "w=0.5")


def test_ties_go_to_the_first_setting_of_the_grid(loo: ModuleType) -> None:
    scores = {"a": {"x": 0.5, "y": 0.5}, "b": {"x": 0.4, "y": 0.4}}
    assert loo.leave_one_out(scores, ["y", "x"]) == {"a": ("y", "y"), "b": ("y", "y")}


def test_grid_axes_combine_and_map_to_eval_arguments(loo: ModuleType, tmp_path: Path) -> None:
    grid = loo.build_grid(["lexical_weight=0,0.3", "reranker.candidates=20,50"], None)
    assert [s.name for s in grid] == [
        "w=0 reranker.candidates=20",
        "w=0 reranker.candidates=50",
        "w=0.3 reranker.candidates=20",
        "w=0.3 reranker.candidates=50",
    ]
    assert grid[2].args == ("--set", "reranker.candidates=20") and grid[2].lexical_weight == 0.3
    extra = tmp_path / "grid.json"
    extra.write_text(json.dumps([{"name": "no-reranker", "args": ["--set", "reranker.provider=none"]}]))
    (only,) = loo.build_grid([], str(extra))
    assert (only.name, only.args, only.lexical_weight) == (
        "no-reranker",
        ("--set", "reranker.provider=none"),
        None,
    )
    with pytest.raises(SystemExit):
        loo.build_grid(["lexical_weight"], None)


def test_ranking_weights_are_eval_flags_and_the_built_in_value_needs_none(
    loo: ModuleType, tmp_path: Path
) -> None:
    from codeseek.search import NAMES_WEIGHT

    grid = loo.build_grid([f"names_weight=1,{NAMES_WEIGHT:g}", "block_weight=0.5"], None)
    assert [(s.name, s.args) for s in grid] == [
        ("n=1 b=0.5", ("--names-weight", "1", "--block-weight", "0.5")),
        (f"n={NAMES_WEIGHT:g} b=0.5", ("--block-weight", "0.5")),
    ]
    (fixed,) = loo.build_grid(["agreement_low=1", "agreement_high=1"], None)
    assert (fixed.name, fixed.args) == ("lo=1 hi=1", ("--agreement-low", "1", "--agreement-high", "1"))
    extra = tmp_path / "grid.json"
    extra.write_text(
        json.dumps([{"name": "w=0.2 n=1", "args": ["--names-weight", "1"], "lexical_weight": 0.2}])
    )
    (only,) = loo.build_grid([], str(extra))
    assert (only.args, only.lexical_weight) == (("--names-weight", "1"), 0.2)


def test_end_to_end_tables_and_nothing_computed_twice(
    loo: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpora = tmp_path / "corpora"
    for name, part in (("py", "storage"), ("web", "web")):
        shutil.copytree(REPO / part, corpora / name / part)
    out = tmp_path / "out"
    argv = [str(corpora), str(out), "--limit", "0", "--grid", "lexical_weight=0,0.5"]
    loo.main(argv)
    first = capsys.readouterr()
    assert "2 codeseek eval runs" in first.err
    table = (out / "loo.md").read_text()
    assert table in first.out
    assert "| py | Python |" in table and "| web |" in table
    assert "setting chosen without it" in table and "Hybrid below the better of its two parts" in table
    data = json.loads((out / "loo.json").read_text())
    assert set(data["by_setting"]) == {"py", "web"} and data["settings"] == ["w=0", "w=0.5"]
    py = data["by_setting"]["py"]
    assert set(py["w=0"]) >= {"lexical", "semantic", "hybrid"}
    # At weight 0 hybrid is dense only: it ranks as semantic does.
    assert py["w=0"]["hybrid"]["mrr"] == pytest.approx(py["w=0"]["semantic"]["mrr"])
    held = data["leave_one_out"]["corpora"]["py"]
    assert held["held_out_setting"] in ("w=0", "w=0.5")
    assert "functions" in data["default"]["py"]

    # A second run, and one with a setting more, reuse what was computed.
    loo.main(argv)
    assert "0 codeseek eval runs" in capsys.readouterr().err
    more = tmp_path / "more.json"
    more.write_text(json.dumps([{"name": "candidates=20", "args": ["--set", "reranker.candidates=20"]}]))
    loo.main([*argv, "--grid-file", str(more)])
    assert "2 codeseek eval runs" in capsys.readouterr().err  # only the new setting, once per corpus
    assert "candidates=20" in (out / "loo.md").read_text()
