"""Is one row of `codeseek eval` really better than another, or is it the queries drawn?

    codeseek eval CORPUS --json --no-latency --mode semantic --mode functions > eval.json
    python benchmarks/paired.py eval.json [eval2.json ...] [--a semantic] [--b functions]

For each file: the two rows' MRR, their difference, and a 95% interval for it from a
paired bootstrap over the queries (each query's reciprocal rank in row A minus that in
row B, resampled 10,000 times with a fixed seed), and how many queries each row ranks
better. An interval that holds 0 says the file's queries cannot tell the two rows apart.
Rows are named by their `label` (`semantic`, `functions`, `hybrid@0.2`, ...); a label
that starts with `hybrid` matches the first hybrid row.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from codeseek.evaluation.evaluate import TOP_K  # codeseek eval's MRR@10

RESAMPLES = 10_000


def reciprocal_ranks(data: dict[str, Any], label: str) -> list[float]:
    for row in data["results"]:
        if row["label"] == label or (label == "hybrid" and row["label"].startswith("hybrid")):
            return [1.0 / r if r is not None and r <= TOP_K else 0.0 for r in row["ranks"]]
    known = ", ".join(row["label"] for row in data["results"])
    raise SystemExit(f"no row {label!r} (rows: {known})")


def paired_interval(a: list[float], b: list[float], seed: int = 0) -> tuple[float, float, float]:
    """The mean of a - b and the 2.5th and 97.5th percentiles of its bootstrap means."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(RESAMPLES))
    return sum(diffs) / n, means[int(0.025 * RESAMPLES)], means[int(0.975 * RESAMPLES) - 1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--a", default="semantic")
    parser.add_argument("--b", default="functions")
    args = parser.parse_args(argv)
    print(
        f"| corpus | queries | {args.a} MRR | {args.b} MRR | difference | 95% interval | A better | B better |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for file in args.files:
        data = json.loads(file.read_text())
        a, b = reciprocal_ranks(data, args.a), reciprocal_ranks(data, args.b)
        mean, low, high = paired_interval(a, b)
        wins = sum(x > y for x, y in zip(a, b, strict=True))
        losses = sum(x < y for x, y in zip(a, b, strict=True))
        name = Path(data.get("workspace", file.stem)).name
        print(
            f"| {name} | {len(a)} | {sum(a) / len(a):.3f} | {sum(b) / len(b):.3f} | {mean:+.3f} "
            f"| [{low:+.3f}, {high:+.3f}] | {wins} | {losses} |"
        )


if __name__ == "__main__":
    main()
