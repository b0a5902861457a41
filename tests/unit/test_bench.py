"""`codeseek bench` runs end to end on a small workspace and reports every measurement.
Benchmarks are not tests of speed: nothing here asserts a timing threshold."""

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
from codeseek.evaluation.bench import BenchReport, bench, format_report
from codeseek.evaluation.plots import bench_charts

REPO = Path(__file__).parents[1] / "data" / "eval" / "repo"


@pytest.fixture(scope="module")
def report(minilm: Embedder, tmp_path_factory: pytest.TempPathFactory) -> BenchReport:
    return bench(REPO, Config(), minilm, tmp_path_factory.mktemp("bench"), scale=600, queries=5)


def test_every_measurement_is_reported(report: BenchReport) -> None:
    assert report.files == 6
    assert report.chunks >= 8
    assert report.chunks_embedded == report.chunks or report.chunks_embedded > 0
    assert set(report.phases) == {"discover", "parse_and_chunk", "embed", "store", "optimize"}
    assert report.index_seconds > 0 and report.phases["embed"] > 0
    assert report.embed_alone_seconds > 0
    assert report.pipeline_overhead is not None and report.pipeline_overhead > 0
    assert report.reindex_unchanged_seconds > 0
    assert len(report.save_to_searchable_ms) == 5  # every edit became searchable
    assert set(report.search) == {"hybrid", "semantic", "lexical"}
    assert all(s.queries == 5 and s.p99_ms >= s.p50_ms > 0 for s in report.search.values())
    assert report.peak_rss_mb is not None and report.peak_rss_mb > 0


def test_scaled_store_is_searched_exhaustively_below_the_vector_index_threshold(report: BenchReport) -> None:
    scale = report.scale
    assert scale is not None
    assert scale.chunks == 600
    assert not scale.vector_index and scale.ann_recall_at_10 is None
    assert scale.exhaustive.queries == 5
    assert set(scale.search) == {"hybrid", "semantic", "lexical"}


def test_text_report_and_json(report: BenchReport) -> None:
    text = format_report(report)
    for needle in ("full index", "pipeline overhead", "re-index, unchanged", "save to searchable", "p99 ms"):
        assert needle in text
    data = json.loads(json.dumps(report.to_json()))
    assert data["pipeline_overhead"] == pytest.approx(report.pipeline_overhead)
    assert data["scale"]["chunks"] == 600


def test_charts_are_written(report: BenchReport, tmp_path: Path) -> None:
    written = bench_charts(report, tmp_path / "charts")
    assert [p.name for p in written] == ["index_time.png", "search_latency.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


def test_cli_leaves_the_workspace_and_store_option_clean(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo)
    before = {p: hashlib.sha256(p.read_bytes()).digest() for p in repo.rglob("*") if p.is_file()}
    store = tmp_path / "bench-stores"
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["bench", str(repo), "--json", "--scale", "0", "--queries", "3", "--store", str(store)], out, err
    )
    assert code == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert data["scale"] is None and data["search"]["hybrid"]["queries"] == 3
    assert {p: hashlib.sha256(p.read_bytes()).digest() for p in repo.rglob("*") if p.is_file()} == before
    assert list(store.iterdir()) == []  # the throw-away stores are gone


def test_cli_rejects_bad_numbers(tmp_path: Path) -> None:
    err = io.StringIO()
    assert main(["bench", str(tmp_path), "--scale", "-1"], io.StringIO(), err) == 2
    assert "--scale" in err.getvalue()
