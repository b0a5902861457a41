"""Turn the JSON that benchmarks/run_all.sh wrote into the Markdown tables of
docs/benchmarks.md.

    python benchmarks/summarize.py benchmark-results > tables.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _metrics(m: dict[str, Any]) -> list[str]:
    return [
        f"{m['recall_at_1']:.3f}",
        f"{m['recall_at_5']:.3f}",
        f"{m['recall_at_10']:.3f}",
        f"{m['mrr']:.3f}",
        f"{m['latency_ms_mean']:.0f}",
        f"{m['latency_ms_p50']:.0f}",
        f"{m['latency_ms_p95']:.0f}",
    ]


def eval_tables(results: dict[str, dict[str, Any]]) -> str:
    out = []
    header = ["corpus", "queries", "mode", "R@1", "R@5", "R@10", "MRR", "mean ms", "p50 ms", "p95 ms"]
    rows = []
    for name, data in results.items():
        for r in data["results"]:
            rows.append([name, str(r["overall"]["queries"]), r["label"], *_metrics(r["overall"])])
    out.append(_table(header, rows))
    # The hybrid weight sweep: MRR per corpus and weight, and the mean over corpora.
    weights = sorted(
        {r["lexical_weight"] for d in results.values() for r in d["results"] if r["mode"] == "hybrid"}
    )
    if weights:
        header = ["corpus", "lexical", "semantic", *(f"hybrid@{w:g}" for w in weights)]
        rows = []
        sums = [0.0] * (len(weights) + 2)
        for name, data in results.items():
            by = {r["label"]: r["overall"]["mrr"] for r in data["results"]}
            values = [
                by.get("lexical", 0.0),
                by.get("semantic", 0.0),
                *(by.get(f"hybrid@{w:g}", 0.0) for w in weights),
            ]
            sums = [s + v for s, v in zip(sums, values, strict=True)]
            rows.append([name, *(f"{v:.3f}" for v in values)])
        rows.append(["**mean**", *(f"**{s / len(results):.3f}**" for s in sums)])
        out.append("MRR by hybrid lexical weight:\n\n" + _table(header, rows))
    return "\n\n".join(out)


def bench_table(results: dict[str, dict[str, Any]]) -> str:
    header = [
        "corpus",
        "files",
        "chunks",
        "full index s",
        "embed s",
        "embed alone s",
        "overhead",
        "re-index ms",
        "save→searchable ms",
        "hybrid p50/p99 ms",
        "scaled chunks",
        "scaled hybrid p50/p99 ms",
        "exhaustive semantic p50 ms",
        "IVF semantic p50 ms",
        "ANN recall@10",
        "peak MB",
    ]
    rows = []
    for name, d in results.items():
        scale = d.get("scale") or {}
        search = scale.get("search", {})
        rows.append(
            [
                name,
                str(d["files"]),
                str(d["chunks"]),
                f"{d['index_seconds']:.1f}",
                f"{d['phases']['embed']:.1f}",
                f"{d['embed_alone_seconds']:.1f}",
                f"{d['pipeline_overhead']:.2f}",
                f"{d['reindex_unchanged_seconds'] * 1000:.0f}",
                f"{d['save_to_searchable_median_ms']:.0f}" if d["save_to_searchable_median_ms"] else "n/a",
                f"{d['search']['hybrid']['p50_ms']:.0f} / {d['search']['hybrid']['p99_ms']:.0f}",
                str(scale.get("chunks", "")),
                f"{search['hybrid']['p50_ms']:.0f} / {search['hybrid']['p99_ms']:.0f}" if search else "",
                f"{scale['exhaustive']['p50_ms']:.0f}" if scale else "",
                f"{search['semantic']['p50_ms']:.0f}" if search else "",
                f"{scale['ann_recall_at_10']:.3f}" if scale.get("ann_recall_at_10") is not None else "",
                f"{d['peak_rss_mb']:.0f}" if d.get("peak_rss_mb") else "",
            ]
        )
    return _table(header, rows)


def _load(root: Path, suffix: str) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(root.glob(f"*{suffix}")):
        try:
            found[path.name.removesuffix(suffix)] = json.loads(path.read_text())
        except ValueError:
            print(f"skipping {path}: not finished or not JSON", file=sys.stderr)
    return found


def main(folder: str) -> None:
    root = Path(folder)
    evals = _load(root, ".eval.json")
    benches = _load(root, ".bench.json")
    if evals:
        print(eval_tables(evals))
    if benches:
        print()
        print(bench_table(benches))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmark-results")
