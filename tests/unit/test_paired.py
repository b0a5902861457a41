"""benchmarks/paired.py: the paired bootstrap that says whether two eval rows differ
beyond the luck of the queries drawn."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

import benchmark_scripts


@pytest.fixture(scope="module")
def paired() -> ModuleType:
    return benchmark_scripts.load("paired")


def test_a_row_better_on_every_query_has_an_interval_above_zero(paired: ModuleType) -> None:
    mean, low, high = paired.paired_interval([1.0] * 40, [0.5] * 40)
    assert (mean, low, high) == (0.5, 0.5, 0.5)
    mean, low, high = paired.paired_interval([1.0, 0.5] * 30, [0.5, 0.25] * 30)
    assert 0 < low <= mean <= high


def test_rows_that_trade_wins_have_an_interval_around_zero(paired: ModuleType) -> None:
    mean, low, high = paired.paired_interval([1.0, 0.0] * 50, [0.0, 1.0] * 50)
    assert mean == 0 and low < 0 < high


def test_the_table_reads_codeseek_eval_json(
    paired: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = {
        "workspace": "/corpora/tiny",
        "results": [
            {"label": "semantic", "ranks": [1, 2, None, 11]},
            {"label": "hybrid@0.2", "ranks": [1, 1, 3, 1]},
            {"label": "functions", "ranks": [2, 2, 1, None]},
        ],
    }
    file = tmp_path / "eval.json"
    file.write_text(json.dumps(report))
    paired.main([str(file), "--a", "hybrid", "--b", "functions"])
    row = capsys.readouterr().out.splitlines()[-1]
    # hybrid 1 + 1 + 1/3 + 1 = 3.333 / 4; functions 0.5 + 0.5 + 1 + 0 = 2 / 4 (rank 11 is past the top 10).
    assert row.startswith("| tiny | 4 | 0.833 | 0.500 | +0.333 |")
    assert row.endswith("| 3 | 1 |")
    with pytest.raises(SystemExit, match="no row 'lexical'"):
        paired.main([str(file), "--a", "lexical"])
