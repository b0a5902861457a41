"""Leave-one-corpus-out tuning: how codeseek ranks code that no setting was tuned on.

    python benchmarks/loo.py CORPORA_DIR OUT_DIR [--names a,b,...] [--limit 300] [--seed 0]
        [--grid lexical_weight=0,0.1,0.2,0.25,0.3,0.4,0.5] [--grid search.someKey=1,2]
        [--grid-file grid.json] [--tune-mode hybrid] [--eval-flags "--embedder sglang"]

Every corpus (a folder of CORPORA_DIR, as benchmarks/fetch_corpora.sh lays them out) is
evaluated by `codeseek eval` once at the default settings (all modes, the
one-vector-per-function baseline included) and once per setting of the grid. Then, for
each corpus, the setting with the best mean MRR (of `--tune-mode`) over the *other*
corpora is chosen, and that corpus's R@1, R@5 and MRR at that setting are its held-out
figures: what a user whose code was in none of the tuning corpora would see. The
in-sample best (the setting chosen with the corpus itself) is shown beside them.

The grid: each `--grid AXIS=V1,V2,...` is one axis, and the settings are every
combination of the axes' values. An axis is `lexical_weight` (the hybrid fusion weight,
`codeseek eval --lexical-weight`), `names_weight`, `block_weight`, `piece_weight`,
`agreement_low` or `agreement_high` (the ranking's other weights, `codeseek eval
--names-weight` and so on), or any codeseek setting key (`reranker.candidates`),
passed as `codeseek eval --set KEY=VALUE`. For anything else (a new `eval` flag),
`--grid-file` reads a JSON list of settings, each `{"name": "...", "args": [...]}` with the
`codeseek eval` arguments that make it (and optionally `"lexical_weight": W`; settings
with the same arguments share one run).

Nothing is computed twice: each (corpus, setting) result is kept under OUT_DIR/results,
keyed by the corpus's files, the codeseek source, the sampling and the setting, so a new
corpus or a new setting costs only its own runs, and a change to codeseek re-runs
everything. The runs share one index cache (OUT_DIR/index-cache): every run re-chunks with
the current code, but only chunk texts never seen before are embedded, and each query is
embedded once (`--no-latency`). Settings that differ only in the lexical weight share one
`codeseek eval` run, and settings that are only a lexical weight share the default run.

Writes OUT_DIR/loo.md (the Markdown tables for docs/benchmarks.md, also printed) and
OUT_DIR/loo.json (every number behind them).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import codeseek
from codeseek.search import (
    AGREEMENT_HIGH,
    AGREEMENT_LOW,
    BLOCK_WEIGHT,
    LEXICAL_WEIGHT,
    NAMES_WEIGHT,
    PIECE_WEIGHT,
)

MODES = ("lexical", "semantic", "hybrid")
BASELINE = "functions"
DEFAULT_WEIGHTS = "0,0.1,0.2,0.25,0.3,0.4,0.5"
METRICS = ("recall_at_1", "recall_at_5", "recall_at_10", "mrr")
# Grid axes that are `codeseek eval` flags of their own (search.py's ranking weights).
RANKING_FLAGS = {
    "names_weight": ("--names-weight", "n", NAMES_WEIGHT),
    "block_weight": ("--block-weight", "b", BLOCK_WEIGHT),
    "piece_weight": ("--piece-weight", "p", PIECE_WEIGHT),
    "agreement_low": ("--agreement-low", "lo", AGREEMENT_LOW),
    "agreement_high": ("--agreement-high", "hi", AGREEMENT_HIGH),
}


# --- the grid ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One point of the grid: a name for the tables and the `codeseek eval` arguments
    that make it. `lexical_weight` is kept apart so settings that differ only in it can
    share one run (`--lexical-weight` is repeatable)."""

    name: str
    args: tuple[str, ...] = ()
    lexical_weight: float | None = None

    def key(self) -> dict[str, Any]:
        return {"args": list(self.args), "lexical_weight": self.lexical_weight}


def parse_axis(text: str) -> list[tuple[str, tuple[str, ...], float | None]]:
    """`AXIS=V1,V2` as (label, eval args, lexical weight) per value."""
    axis, sep, values = text.partition("=")
    axis = axis.strip()
    if not sep or not axis or not values.strip():
        raise SystemExit(f"--grid {text}: expected AXIS=V1,V2,...")
    out: list[tuple[str, tuple[str, ...], float | None]] = []
    for value in (v.strip() for v in values.split(",")):
        if axis in ("lexical_weight", "lexical-weight"):
            out.append((f"w={value}", (), float(value)))
        elif axis.replace("-", "_") in RANKING_FLAGS:
            flag, short, default = RANKING_FLAGS[axis.replace("-", "_")]
            # The built-in value needs no flag: those settings share the default run.
            args = () if float(value) == default else (flag, value)
            out.append((f"{short}={value}", args, None))
        else:
            out.append((f"{axis}={value}", ("--set", f"{axis}={value}"), None))
    return out


def build_grid(axes: list[str], grid_file: str | None) -> list[Setting]:
    settings: list[Setting] = []
    if axes:
        for combo in itertools.product(*(parse_axis(a) for a in axes)):
            weights = [w for _, _, w in combo if w is not None]
            settings.append(
                Setting(
                    " ".join(label for label, _, _ in combo),
                    tuple(arg for _, args, _ in combo for arg in args),
                    weights[-1] if weights else None,
                )
            )
    if grid_file:
        for entry in json.loads(Path(grid_file).read_text()):
            weight = entry.get("lexical_weight")
            settings.append(
                Setting(
                    str(entry["name"]),
                    tuple(str(a) for a in entry.get("args", ())),
                    float(weight) if weight is not None else None,
                )
            )
    names = [s.name for s in settings]
    if len(set(names)) != len(names):
        raise SystemExit("the grid names a setting twice")
    return settings


# --- fingerprints and the result cache ---------------------------------------------------


def tree_digest(root: Path, pattern: str = "*") -> str:
    """A digest of every file under `root` (paths and contents)."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(hashlib.blake2b(path.read_bytes(), digest_size=16).digest())
    return h.hexdigest()


def code_fingerprint() -> str:
    """The codeseek source that runs the evaluations (what `python -m codeseek` imports)."""
    return tree_digest(Path(codeseek.__file__).parent, "*.py")[:16]


@dataclass
class Runner:
    corpora: Path
    out: Path
    limit: int
    seed: int
    eval_flags: list[str]
    force: bool = False
    code: str = field(default_factory=code_fingerprint)
    _corpus_digests: dict[str, str] = field(default_factory=dict)
    runs: int = 0

    def corpus_digest(self, name: str) -> str:
        if name not in self._corpus_digests:
            self._corpus_digests[name] = tree_digest(self.corpora / name)[:16]
        return self._corpus_digests[name]

    def _cache_file(self, name: str, what: dict[str, Any]) -> Path:
        key = {
            "code": self.code,
            "corpus": self.corpus_digest(name),
            "limit": self.limit,
            "seed": self.seed,
            "eval_flags": self.eval_flags,
            **what,
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        return self.out / "results" / name / f"{digest}.json"

    def _eval(self, name: str, args: list[str]) -> dict[str, Any]:
        command = [
            sys.executable,
            "-m",
            "codeseek",
            "eval",
            str(self.corpora / name),
            "--json",
            "--no-latency",
            "--index-cache",
            str(self.out / "index-cache"),
            "--seed",
            str(self.seed),
            *(["--limit", str(self.limit)] if self.limit else []),
            *self.eval_flags,
            *args,
        ]
        started = time.perf_counter()
        print(f"  {name}: codeseek eval {shlex.join(args) or '(defaults)'}", file=sys.stderr, flush=True)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"codeseek eval failed on {name} ({done.returncode}):\n{done.stderr.strip()}")
        self.runs += 1
        print(f"    {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
        data: dict[str, Any] = json.loads(done.stdout)
        return data

    def base(self, name: str, weights: list[float]) -> dict[str, Any]:
        """The corpus at the default settings: every mode and the baseline, and hybrid
        mode also at these lexical weights."""
        weights = sorted({*weights, LEXICAL_WEIGHT})
        path = self._cache_file(name, {"run": "base", "weights": weights})
        if path.is_file() and not self.force:
            cached: dict[str, Any] = json.loads(path.read_text())
            return cached
        data = self._eval(name, [a for w in weights for a in ("--lexical-weight", f"{w:g}")])
        _write(path, data)
        return data

    def settings(self, name: str, grid: list[Setting], base: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """{setting name: {mode: metrics}} for every setting of the grid: codeseek's
        three modes, each at that setting (a setting may change any of them). Settings
        that are only a lexical weight are read from `base`, which ran them."""
        found: dict[str, dict[str, Any]] = {}
        todo: dict[tuple[str, ...], list[Setting]] = {}
        for setting in grid:
            if not setting.args:
                found[setting.name] = by_mode(base, setting.lexical_weight)
                continue
            path = self._cache_file(name, {"run": "setting", **setting.key()})
            if path.is_file() and not self.force:
                found[setting.name] = json.loads(path.read_text())
            else:
                todo.setdefault(setting.args, []).append(setting)
        for args, group in todo.items():
            weights = [s.lexical_weight for s in group if s.lexical_weight is not None]
            extra = [a for w in dict.fromkeys(weights) for a in ("--lexical-weight", f"{w:g}")]
            modes = [a for m in MODES for a in ("--mode", m)]
            data = self._eval(name, [*modes, *extra, *args])
            for setting in group:
                found[setting.name] = by_mode(data, setting.lexical_weight)
                _write(self._cache_file(name, {"run": "setting", **setting.key()}), found[setting.name])
        return found


def by_mode(data: dict[str, Any], weight: float | None) -> dict[str, Any]:
    """{mode: overall metrics} of one `codeseek eval --json` report, hybrid at `weight`
    (None: the only hybrid row, or the one at the built-in weight)."""
    rows = data["results"]
    hybrid = [r for r in rows if r["mode"] == "hybrid"]
    wanted = weight if weight is not None else LEXICAL_WEIGHT
    chosen = next(
        (r for r in hybrid if r["lexical_weight"] == wanted), hybrid[0] if len(hybrid) == 1 else None
    )
    out: dict[str, Any] = {r["mode"]: r["overall"] for r in rows if r["mode"] != "hybrid"}
    if chosen is not None:
        out["hybrid"] = chosen["overall"]
    out["queries"] = data["pairs"]
    return out


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, indent=1))
    partial.replace(path)


# --- choosing settings --------------------------------------------------------------------


def leave_one_out(scores: dict[str, dict[str, float]], order: list[str]) -> dict[str, tuple[str, str]]:
    """For each corpus, (the setting with the best mean score over the other corpora, the
    setting best on the corpus itself). `scores[corpus][setting]`; ties go to the setting
    first in `order` (the grid's order)."""
    chosen: dict[str, tuple[str, str]] = {}
    for corpus in scores:
        others = [c for c in scores if c != corpus]

        def mean_elsewhere(setting: str, others: list[str] = others) -> float:
            return sum(scores[c][setting] for c in others) / len(others) if others else 0.0

        held_out = max(order, key=lambda s: (mean_elsewhere(s), -order.index(s)))
        in_sample = max(order, key=lambda s: (scores[corpus][s], -order.index(s)))
        chosen[corpus] = (held_out, in_sample)
    return chosen


# --- tables ----------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _f(value: float) -> str:
    return f"{value:.3f}"


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def _language(base: dict[str, Any]) -> str:
    by = base.get("pairs_by_language") or {}
    names = {"javascript": "JavaScript", "typescript": "TypeScript", "python": "Python", "go": "Go"}
    names |= {"rust": "Rust", "java": "Java", "tsx": "TSX"}
    return "/".join(names.get(k, k) for k in sorted(by, key=lambda k: -by[k])) or "?"


def corpus_table(bases: dict[str, dict[str, Any]]) -> str:
    """What each corpus is: files, documented functions, pairs, chunks, baseline functions."""
    rows = []
    for name, base in bases.items():
        index = (base.get("indexes") or [{}])[0]
        rows.append(
            [
                name,
                _language(base),
                str(base["files"]),
                str(base["documented_functions"]),
                str(base["pairs_available"]),
                str(base["pairs"]),
                f"{index.get('chunks', 0):,}",
                f"{index.get('functions', 0):,}",
            ]
        )
    header = ["corpus", "language", "files indexed", "documented functions", "usable pairs", "queries"]
    return _table([*header, "chunks", "functions (baseline)"], rows)


def default_tables(bases: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Every corpus at the default settings: R@1, R@5, MRR per mode, and the checks."""
    modes = [*MODES, BASELINE]
    rows = []
    summary: dict[str, Any] = {}
    sums: dict[str, list[float]] = {m: [0.0, 0.0, 0.0] for m in modes}
    for name, base in bases.items():
        by = by_mode(base, None)
        summary[name] = {m: by[m] for m in modes if m in by}
        cells = []
        for m in modes:
            metrics = by.get(m)
            if metrics is None:
                cells += ["", "", ""]
                continue
            for i, k in enumerate(("recall_at_1", "recall_at_5", "mrr")):
                sums[m][i] += metrics[k]
            cells += [_f(metrics["recall_at_1"]), _f(metrics["recall_at_5"]), _f(metrics["mrr"])]
        best_part = max(by["lexical"]["mrr"], by["semantic"]["mrr"])
        rows.append(
            [
                name,
                _language(base),
                f"{base['pairs']}/{base['pairs_available']}",
                *cells,
                _signed(by["hybrid"]["mrr"] - best_part),
                _signed(by["semantic"]["mrr"] - by[BASELINE]["mrr"]) if BASELINE in by else "",
            ]
        )
    n = len(bases)
    rows.append(["**mean**", "", "", *(f"**{_f(v / n)}**" for m in modes for v in sums[m]), "", ""])
    header = ["corpus", "language", "queries"]
    for m in modes:
        header += [f"{m} R@1", "R@5", "MRR"]
    header += ["hybrid − best part (MRR)", "semantic − functions (MRR)"]
    return _table(header, rows), summary


def loo_tables(
    grid: list[Setting],
    results: dict[str, dict[str, dict[str, Any]]],
    bases: dict[str, dict[str, Any]],
    tune_mode: str,
) -> tuple[str, dict[str, Any]]:
    order = [s.name for s in grid]
    scores = {c: {s: results[c][s][tune_mode]["mrr"] for s in order} for c in results}
    chosen = leave_one_out(scores, order)
    rows = []
    detail: dict[str, Any] = {}
    totals = [0.0] * 6
    below = []
    for corpus, (held_out, in_sample) in chosen.items():
        m = results[corpus][held_out]
        default = by_mode(bases[corpus], None).get(tune_mode, {})
        parts = max(m["lexical"]["mrr"], m["semantic"]["mrr"])
        if m["hybrid"]["mrr"] < parts:
            below.append(corpus)
        values = [
            m[tune_mode]["recall_at_1"],
            m[tune_mode]["recall_at_5"],
            m[tune_mode]["mrr"],
            results[corpus][in_sample][tune_mode]["mrr"],
            default.get("recall_at_1", 0.0),
            default.get("mrr", 0.0),
        ]
        totals = [t + v for t, v in zip(totals, values, strict=True)]
        rows.append(
            [
                corpus,
                held_out,
                *(_f(v) for v in values[:3]),
                in_sample,
                _f(values[3]),
                _f(values[4]),
                _f(values[5]),
                _signed(m["hybrid"]["mrr"] - parts),
            ]
        )
        detail[corpus] = {
            "held_out_setting": held_out,
            "held_out": m[tune_mode],
            "in_sample_setting": in_sample,
            "in_sample": results[corpus][in_sample][tune_mode],
            "default": default,
            "hybrid_minus_best_part_at_held_out": m["hybrid"]["mrr"] - parts,
        }
    n = len(chosen)
    rows.append(
        [
            "**mean**",
            "",
            *(f"**{_f(t / n)}**" for t in totals[:3]),
            "",
            f"**{_f(totals[3] / n)}**",
            f"**{_f(totals[4] / n)}**",
            f"**{_f(totals[5] / n)}**",
            "",
        ]
    )
    header = [
        "corpus",
        "setting chosen without it",
        f"held-out {tune_mode} R@1",
        "R@5",
        "MRR",
        "in-sample best setting",
        "in-sample MRR",
        "default R@1",
        "default MRR",
        "hybrid − best part (MRR, held-out setting)",
    ]
    text = _table(header, rows)
    text += (
        "\n\nHybrid below the better of its two parts at the held-out setting: "
        + (", ".join(below) if below else "nowhere")
        + "."
    )
    # The whole grid: MRR of the tuned mode per corpus and setting, and the mean.
    grid_rows = [[c, *(_f(scores[c][s]) for s in order)] for c in scores]
    means = [sum(scores[c][s] for c in scores) / len(scores) for s in order]
    best = max(range(len(order)), key=lambda i: (means[i], -i))
    grid_rows.append(["**mean**", *(f"**{_f(v)}**" if i == best else _f(v) for i, v in enumerate(means))])
    text += f"\n\n{tune_mode} MRR at every setting:\n\n" + _table(["corpus", *order], grid_rows)
    return text, {
        "corpora": detail,
        "below_best_part": below,
        "grid_means": dict(zip(order, means, strict=True)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--names", help="comma-separated corpora (default: every folder)")
    parser.add_argument("--limit", type=int, default=300, help="queries per corpus (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", action="append", default=[], help="AXIS=V1,V2,... (repeatable)")
    parser.add_argument("--grid-file", help="JSON list of {name, args}")
    parser.add_argument("--tune-mode", default="hybrid", choices=MODES)
    parser.add_argument("--eval-flags", default="", help="more `codeseek eval` flags for every run")
    parser.add_argument("--force", action="store_true", help="ignore cached results")
    args = parser.parse_args(argv)

    axes = args.grid or ([] if args.grid_file else [f"lexical_weight={DEFAULT_WEIGHTS}"])
    grid = build_grid(axes, args.grid_file)
    names = (
        [n.strip() for n in args.names.split(",") if n.strip()]
        if args.names
        else sorted(p.name for p in args.corpora.iterdir() if p.is_dir())
    )
    if len(names) < 2:
        raise SystemExit("leave-one-out needs at least two corpora")
    runner = Runner(args.corpora, args.out, args.limit, args.seed, shlex.split(args.eval_flags), args.force)
    print(f"codeseek source {runner.code}; {len(names)} corpora, {len(grid)} settings", file=sys.stderr)
    bases: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, dict[str, Any]]] = {}
    plain_weights = [s.lexical_weight for s in grid if not s.args and s.lexical_weight is not None]
    for name in names:
        bases[name] = runner.base(name, plain_weights)
        results[name] = runner.settings(name, grid, bases[name])
    print(f"{runner.runs} codeseek eval runs (the rest from {args.out / 'results'})", file=sys.stderr)

    sample = f"at most {args.limit} queries per corpus (`--limit {args.limit} --seed {args.seed}`)"
    default_text, default_data = default_tables(bases)
    loo_text, loo_data = loo_tables(grid, results, bases, args.tune_mode)
    markdown = (
        f"The corpora:\n\n{corpus_table(bases)}\n\n"
        f"Default settings, {sample}:\n\n{default_text}\n\n"
        f"Leave-one-corpus-out over {len(grid)} settings ({', '.join(s.name for s in grid)}), "
        f"{args.tune_mode} mode:\n\n{loo_text}\n"
    )
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "loo.md").write_text(markdown)
    (args.out / "loo.json").write_text(
        json.dumps(
            {
                "code": runner.code,
                "limit": args.limit,
                "seed": args.seed,
                "eval_flags": args.eval_flags,
                "tune_mode": args.tune_mode,
                "settings": [s.name for s in grid],
                "default": default_data,
                "by_setting": results,
                "leave_one_out": loo_data,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
