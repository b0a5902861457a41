"""Before and after of a ranking change, from two `benchmarks/loo.py` runs:

    python benchmarks/loo_compare.py BEFORE/loo.json AFTER/loo.json

Prints a Markdown table: per corpus, the held-out hybrid R@1, R@5 and MRR before and
after (each at the setting chosen without that corpus), and, after, semantic MRR at that
setting, the one-vector-per-function baseline's MRR, and hybrid minus the better of its
two parts. Then the means, and the corpora where a goal of issue 12 is missed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def held_out(data: dict[str, Any], corpus: str) -> tuple[str, dict[str, Any]]:
    entry = data["leave_one_out"]["corpora"][corpus]
    return entry["held_out_setting"], entry["held_out"]


def at_setting(data: dict[str, Any], corpus: str, setting: str, mode: str) -> dict[str, Any]:
    by_setting = data["by_setting"].get(corpus, {}).get(setting, {})
    found = by_setting.get(mode)
    return found if found is not None else data["default"][corpus][mode]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    before = json.loads(args.before.read_text())
    after = json.loads(args.after.read_text())
    corpora = [c for c in after["leave_one_out"]["corpora"] if c in before["leave_one_out"]["corpora"]]
    header = [
        "corpus",
        "before R@1",
        "R@5",
        "MRR",
        "after setting",
        "after R@1",
        "R@5",
        "MRR",
        "semantic MRR",
        "lexical MRR",
        "functions MRR",
        "hybrid − best part",
        "semantic − functions",
    ]
    rows: list[list[str]] = []
    sums = [0.0] * 10
    below_parts: list[str] = []
    below_before: list[str] = []
    semantic_below: list[str] = []
    for corpus in corpora:
        _, old = held_out(before, corpus)
        setting, new = held_out(after, corpus)
        semantic = at_setting(after, corpus, setting, "semantic")["mrr"]
        lexical = at_setting(after, corpus, setting, "lexical")["mrr"]
        functions = after["default"][corpus]["functions"]["mrr"]
        values = [
            old["recall_at_1"],
            old["recall_at_5"],
            old["mrr"],
            new["recall_at_1"],
            new["recall_at_5"],
            new["mrr"],
            semantic,
            lexical,
            functions,
            new["mrr"] - max(semantic, lexical),
        ]
        sums = [s + v for s, v in zip(sums, values, strict=True)]
        if values[-1] < 0:
            below_parts.append(corpus)
        if new["mrr"] < old["mrr"]:
            below_before.append(corpus)
        if semantic < functions:
            semantic_below.append(corpus)
        rows.append(
            [
                corpus,
                *(f"{v:.3f}" for v in values[:3]),
                setting,
                *(f"{v:.3f}" for v in values[3:9]),
                f"{values[9]:+.3f}",
                f"{semantic - functions:+.3f}",
            ]
        )
    n = len(corpora)
    means = [s / n for s in sums]
    rows.append(
        [
            "**mean**",
            *(f"**{v:.3f}**" for v in means[:3]),
            "",
            *(f"**{v:.3f}**" for v in means[3:9]),
            "",
            "",
        ]
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(f"Held-out hybrid MRR {means[2]:.3f} -> {means[5]:.3f}, R@1 {means[0]:.3f} -> {means[3]:.3f}.")
    print(f"Hybrid below the better of its parts: {', '.join(below_parts) or 'nowhere'}.")
    print(f"Hybrid below its own before: {', '.join(below_before) or 'nowhere'}.")
    print(f"Semantic below the one-vector-per-function baseline: {', '.join(semantic_below) or 'nowhere'}.")


if __name__ == "__main__":
    main()
