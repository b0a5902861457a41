"""PNG charts of eval and bench results, for the README and docs (needs matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeseek.errors import ConfigError
from codeseek.evaluation.bench import BenchReport
from codeseek.evaluation.evaluate import EvalReport


def _pyplot(out_dir: Path) -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed, none opened
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("--plot needs matplotlib: pip install matplotlib") from exc
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--plot: cannot create {out_dir}: {exc}") from exc
    return plt


def bench_charts(report: BenchReport, out_dir: Path) -> list[Path]:
    """index_time.png (where full-index time goes) and search_latency.png (p50 and p99
    per mode, at the repository's size and scaled up)."""
    plt = _pyplot(out_dir)
    written = []

    fig, ax = plt.subplots(figsize=(8, 3.0))
    left = 0.0
    for phase, seconds in report.phases.items():
        ax.barh(["full index"], [seconds], left=left, label=phase.replace("_", " "))
        left += seconds
    ax.barh(["embedding alone"], [report.embed_alone_seconds], color="grey")
    ax.set_xlabel("seconds")
    overhead = report.pipeline_overhead
    ax.set_title(
        f"Indexing {report.files} files, {report.chunks} chunks"
        + (f" (pipeline overhead {overhead:.2f}x)" if overhead else "")
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize="small", ncols=5, frameon=False)
    fig.tight_layout()
    written.append(_save(fig, out_dir / "index_time.png", plt))

    groups = {f"{report.chunks} chunks": report.search}
    if report.scale is not None:
        groups[f"{report.scale.chunks} chunks"] = report.scale.search
    modes = list(report.search)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    width = 0.8 / (2 * len(groups))
    for g, (label, stats) in enumerate(groups.items()):
        for q, (name, attr) in enumerate((("p50", "p50_ms"), ("p99", "p99_ms"))):
            offset = (2 * g + q) * width - 0.4 + width / 2
            ax.bar(
                [i + offset for i in range(len(modes))],
                [getattr(stats[m], attr) for m in modes],
                width,
                label=f"{name}, {label}",
            )
    ax.set_xticks(range(len(modes)), modes)
    ax.set_ylabel("ms per query (query embedding included)")
    ax.set_title(f"Search latency, {report.model}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    written.append(_save(fig, out_dir / "search_latency.png", plt))
    return written


def eval_chart(report: EvalReport, out_dir: Path) -> list[Path]:
    """eval_recall.png: Recall@1, @5, @10 and MRR for every evaluated row."""
    plt = _pyplot(out_dir)
    metrics = (("R@1", "recall_at_1"), ("R@5", "recall_at_5"), ("R@10", "recall_at_10"), ("MRR", "mrr"))
    labels = [
        f"{r.model.rsplit('/', 1)[-1]}\n{r.label}" if len(report.indexes) > 1 else r.label
        for r in report.results
    ]
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels) + 2), 3.4))
    width = 0.8 / len(metrics)
    for m, (name, attr) in enumerate(metrics):
        ax.bar(
            [i + m * width - 0.4 + width / 2 for i in range(len(labels))],
            [getattr(r.overall, attr) for r in report.results],
            width,
            label=name,
        )
    ax.set_xticks(range(len(labels)), labels, fontsize="small")
    ax.set_ylim(0, 1.18)  # headroom for the legend above bars that reach 1
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_title(f"codeseek eval: {report.pairs} queries from {Path(report.workspace).name}")
    ax.legend(loc="upper center", fontsize="small", ncols=4)
    fig.tight_layout()
    return [_save(fig, out_dir / "eval_recall.png", plt)]


def _save(fig: Any, path: Path, plt: Any) -> Path:
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise ConfigError(f"--plot: cannot write {path}: {exc}") from exc
    finally:
        plt.close(fig)
    return path
