"""`codeseek eval` and `codeseek bench` on the command line: check the flags, build the
embedders (so an unavailable one fails before any work), run, print."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from codeseek.cli_config import EXIT_OK, load_cli_config, workspace_path
from codeseek.config import Config, apply_settings
from codeseek.embedding.base import Embedder
from codeseek.embedding.registry import choose_provider, create_embedder
from codeseek.errors import ConfigError, EmbedderError, UsageError
from codeseek.evaluation import bench as bench_module
from codeseek.evaluation import evaluate as evaluate_module
from codeseek.evaluation import plots

R = TypeVar("R", bench_module.BenchReport, evaluate_module.EvalReport)


def run_eval(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    weights = list(getattr(args, "lexical_weight", None) or [])
    if any(not 0.0 <= w <= 1.0 for w in weights):
        raise UsageError("--lexical-weight must be between 0 and 1")
    modes = list(dict.fromkeys(args.mode or evaluate_module.EVAL_MODES))
    weights_set: dict[str, float] = {}
    for factor in ("names_weight", "agreement_low", "agreement_high"):  # multipliers of a weight
        value = getattr(args, factor, None)
        if value is not None:
            if value < 0:
                raise UsageError(f"--{factor.replace('_', '-')} must be at least 0")
            weights_set[factor] = value
    for share in ("block_weight", "piece_weight"):  # shares of a score a chunk keeps
        value = getattr(args, share, None)
        if value is not None:
            if not 0.0 <= value <= 1.0:
                raise UsageError(f"--{share.replace('_', '-')} must be between 0 and 1")
            weights_set[share] = value
    root = workspace_path(args.path)
    config = load_cli_config(root, args, err)
    settings = _apply_set_flags(config, getattr(args, "set", None) or [])
    index_cache = (
        Path(args.index_cache).expanduser().absolute() if getattr(args, "index_cache", None) else None
    )
    providers = list(dict.fromkeys(args.embedder or [config.embedder.provider]))
    embedders = [_embedder(config, provider) for provider in providers]
    notify = _notifier(err, args.json)
    try:
        with tempfile.TemporaryDirectory(prefix="codeseek-eval-") as work:
            report = evaluate_module.evaluate(
                root,
                config,
                embedders,
                Path(work),
                modes=modes,
                limit=args.limit,
                seed=args.seed,
                lexical_weights=weights,
                ranking=weights_set,
                index_cache=index_cache,
                settings=settings,
                measure_latency=not getattr(args, "no_latency", False),
                notify=notify,
            )
    finally:
        for embedder in embedders:
            embedder.close()
    notify("")
    return _print_report(report, args, out, err, plots.eval_chart, evaluate_module.format_report)


def run_bench(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.scale < 0:
        raise UsageError("--scale must be 0 (skip) or a number of chunks")
    queries = getattr(args, "queries", bench_module.SEARCH_QUERIES)
    if queries < 1:
        raise UsageError("--queries must be at least 1")
    root = workspace_path(args.path)
    config = load_cli_config(root, args, err)
    started = time.perf_counter()
    embedder = _embedder(config, config.embedder.provider)
    load_seconds = time.perf_counter() - started
    notify = _notifier(err, args.json)
    # --store names where the benchmark's throw-away stores go (a disk to measure on);
    # the indexes themselves never outlive the run.
    base = Path(config.store.path) if config.store.path else None
    if base is not None:
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--store: cannot create {base}: {exc}") from exc
    try:
        with tempfile.TemporaryDirectory(prefix="codeseek-bench-", dir=base) as work:
            report = bench_module.bench(
                root,
                config,
                embedder,
                Path(work),
                scale=args.scale,
                queries=queries,
                model_load_seconds=load_seconds,
                notify=notify,
            )
    finally:
        embedder.close()
    notify("")
    return _print_report(report, args, out, err, plots.bench_charts, bench_module.format_report)


def _print_report(
    report: R,
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    charts: Callable[[R, Path], list[Path]],
    as_text: Callable[[R], str],
) -> int:
    """Charts (with --plot) to files, then the report as JSON or a table on stdout."""
    if getattr(args, "plot", None):
        for path in charts(report, Path(args.plot)):
            print(f"codeseek: wrote {path}", file=err)
    print(json.dumps(report.to_json(), indent=2) if args.json else as_text(report), file=out)
    return EXIT_OK


def _apply_set_flags(config: Config, flags: list[str]) -> dict[str, Any]:
    """Apply `--set KEY=VALUE` flags to `config`, a usage error for any bad one. A value
    is read as JSON when it parses (numbers, booleans, lists), else as a string."""
    settings: dict[str, Any] = {}
    for flag in flags:
        key, sep, raw = flag.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {flag}: expected KEY=VALUE")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        settings[key.strip()] = value
    problems = apply_settings(config, settings, "--set")
    if problems:
        raise UsageError(f"--set {problems[0].key}: {problems[0].message}")
    return settings


def _embedder(config: Config, provider: str) -> Embedder:
    """The embedder for one `--embedder` value, or a ConfigError that says why it is not
    available (no GPU for SGLang, no key for Voyage, a model that is not on disk)."""
    run_config = config.copy()
    run_config.embedder.provider = provider
    choice = choose_provider(run_config)
    try:
        return create_embedder(run_config, choice)
    except (ConfigError, EmbedderError) as exc:
        raise ConfigError(f"embedder {provider!r} ({choice.provider}) is not available: {exc}") from exc


def _notifier(err: TextIO, quiet: bool) -> evaluate_module.Notify:
    """Progress messages on one line of a terminal's stderr; nothing elsewhere."""
    enabled = err.isatty() and not quiet
    width = 0

    def notify(message: str) -> None:
        nonlocal width
        if not enabled:
            return
        err.write("\r" + message + " " * max(0, width - len(message)) + ("\r" if not message else ""))
        err.flush()
        width = len(message)

    return notify
