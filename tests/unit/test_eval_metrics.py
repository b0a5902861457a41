"""eval's metrics and sampling, against answers worked out by hand."""

from __future__ import annotations

import pytest

from codeseek.evaluation.evaluate import compute_metrics, percentile, sample_pairs
from codeseek.evaluation.pairs import EvalPair


def test_metrics_by_hand() -> None:
    # Ranks 1, 3, 7, missed: R@1 1/4, R@5 2/4, R@10 3/4, MRR (1 + 1/3 + 1/7 + 0) / 4.
    m = compute_metrics([1, 3, 7, None], [0.010, 0.020, 0.030, 0.100])
    assert m.queries == 4
    assert m.recall_at_1 == pytest.approx(0.25)
    assert m.recall_at_5 == pytest.approx(0.5)
    assert m.recall_at_10 == pytest.approx(0.75)
    assert m.mrr == pytest.approx((1 + 1 / 3 + 1 / 7) / 4)
    assert m.latency_ms_mean == pytest.approx(40.0)
    assert m.latency_ms_p50 == pytest.approx(20.0)  # nearest rank: the 2nd of 4
    assert m.latency_ms_p95 == pytest.approx(100.0)


def test_no_queries_gives_zeros() -> None:
    assert compute_metrics([], []).recall_at_1 == 0.0


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([5.0], 95) == 5.0
    assert percentile([], 50) == 0.0


def test_sampling_is_fixed_by_the_seed_and_sorted() -> None:
    pairs = [EvalPair(f"query {i}", f"f{i % 7}.py", "python", f"f{i}", i, i + 3) for i in range(50)]
    first = sample_pairs(pairs, 10, seed=3)
    assert first == sample_pairs(pairs, 10, seed=3)
    assert first != sample_pairs(pairs, 10, seed=4)
    assert first == sorted(first, key=lambda p: (p.path, p.start_line))
    assert len(sample_pairs(pairs, None, seed=0)) == 50
    assert len(sample_pairs(pairs, 500, seed=0)) == 50
