"""The command line: parse, delegate to the engine, print.

Exit codes: 0 success, 2 usage or configuration error, 1 runtime failure; each error is
one line on stderr. Progress goes to stderr, and only when it is a terminal; `--json`
output goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from codeseek import __version__
from codeseek.config import Config, ConfigProblem, load_config
from codeseek.errors import CodeseekError, ConfigError, IndexCancelled, WorkspaceError
from codeseek.indexer import IndexProgress, IndexReport
from codeseek.search import MODES, SearchRequest

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A bad command line: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("embedding and storage")
    group.add_argument("--embedder", choices=("auto", "local", "sglang", "voyage"), help="embedding provider")
    group.add_argument("--model", help="model id or local path for the chosen provider")
    group.add_argument("--dims", type=int, help="output dimensions (Matryoshka truncation for Qwen3)")
    group.add_argument("--store", help="where the index lives (default: a folder in the user cache)")
    group.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="codeseek", description="Local semantic code search.")
    parser.add_argument("--version", action="version", version=f"codeseek {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("index", help="index or update a workspace")
    p.add_argument("path", nargs="?", default=".", help="workspace folder (default: .)")
    p.add_argument("--full", action="store_true", help="rebuild the index from scratch")
    p.add_argument("--json", action="store_true", help="print the run's report as JSON")
    _common(p)

    p = sub.add_parser("search", help="search a workspace's index")
    p.add_argument("query")
    p.add_argument("-w", "--workspace", default=".", help="workspace folder (default: .)")
    p.add_argument("-k", "--limit", type=int, default=10, help="number of results (default: 10)")
    p.add_argument("--mode", choices=MODES, default="hybrid")
    p.add_argument("--lang", action="append", default=[], help="only this language (repeatable)")
    p.add_argument(
        "--glob", action="append", default=[], help="only paths matching (repeatable; !pattern excludes)"
    )
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("related", help="code related to the chunk at FILE:LINE")
    p.add_argument("location", metavar="FILE:LINE")
    p.add_argument("-w", "--workspace", default=".", help="workspace folder (default: .)")
    p.add_argument("-k", "--limit", type=int, default=5)
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("status", help="the index's state")
    p.add_argument("-w", "--workspace", default=".", help="workspace folder (default: .)")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("serve", help="run the language server")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    p.add_argument("--log-file", help="also log to this file")
    _common(p)

    p = sub.add_parser("eval", help="CodeSearchNet-style evaluation on a repository's documented functions")
    p.add_argument("path", nargs="?", default=".")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, help="evaluate at most N queries (fixed-seed sample)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", action="append", choices=MODES, help="modes to evaluate (default: all)")
    p.add_argument(
        "--lexical-weight",
        type=float,
        action="append",
        metavar="W",
        help="evaluate hybrid mode at this lexical weight, 0 to 1 (repeatable; default: the built-in one)",
    )
    p.add_argument("--plot", metavar="DIR", help="write a PNG chart of the results to DIR (needs matplotlib)")
    _common_eval(p)

    p = sub.add_parser("bench", help="speed and memory of indexing, re-indexing and search")
    p.add_argument("path", nargs="?", default=".")
    p.add_argument("--json", action="store_true")
    p.add_argument("--scale", type=int, default=100_000, help="chunks for the scaled search test")
    p.add_argument("--plot", metavar="DIR", help="write PNG charts to DIR (needs matplotlib)")
    p.add_argument("--queries", type=int, default=200, help="timed searches per mode (default: 200)")
    _common(p)
    return parser


def _common_eval(parser: argparse.ArgumentParser) -> None:
    # eval compares embedders, so --embedder may be repeated.
    group = parser.add_argument_group("embedding")
    group.add_argument(
        "--embedder", action="append", choices=("auto", "local", "sglang", "voyage"), help="repeatable"
    )
    group.add_argument("--model", help="model id or local path")
    group.add_argument("--dims", type=int)
    group.add_argument("-v", "--verbose", action="store_true")


def flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    embedder = getattr(args, "embedder", None)
    if isinstance(embedder, str):
        settings["embedder.provider"] = embedder
    if getattr(args, "model", None):
        settings["embedder.model"] = args.model
    if getattr(args, "dims", None) is not None:
        settings["embedder.dimensions"] = args.dims
    if getattr(args, "store", None):
        settings["store.path"] = str(Path(args.store).expanduser().absolute())
    return settings


def load_cli_config(root: Path, args: argparse.Namespace, err: TextIO) -> Config:
    """Config for a command: flag errors are usage errors; file errors are warnings."""
    config, problems = load_config(root if root.is_dir() else None, (flag_settings(args), "command line"))
    flag_problems = [p for p in problems if p.source == "command line"]
    if flag_problems:
        raise UsageError(_flag_message(flag_problems[0]))
    for problem in problems:
        print(f"codeseek: warning: {problem}", file=err)
    return config


def _flag_message(problem: ConfigProblem) -> str:
    flag = {
        "embedder.provider": "--embedder",
        "embedder.model": "--model",
        "embedder.dimensions": "--dims",
        "store.path": "--store",
    }.get(problem.key, problem.key)
    return f"{flag}: {problem.message}"


class Progress:
    """A one-line progress bar on a terminal's stderr; silent anywhere else."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self._last = 0.0
        self._width = 0

    def __call__(self, p: IndexProgress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if (
            p.phase == "index"
            and p.files_total
            and p.files_done not in (0, p.files_total)
            and now - self._last < 0.1
        ):
            return
        self._last = now
        if p.phase == "index" and p.files_total:
            filled = int(30 * p.files_done / p.files_total)
            line = f"indexing [{'#' * filled}{'.' * (30 - filled)}] {p.files_done}/{p.files_total} files"
        else:
            line = p.message
        pad = max(0, self._width - len(line))
        self.stream.write("\r" + line + " " * pad)
        self._width = len(line)
        self.stream.flush()

    def done(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def _workspace(path: str) -> Path:
    root = Path(path).expanduser()
    if not root.exists():
        raise WorkspaceError(f"{path}: no such directory")
    if not root.is_dir():
        raise WorkspaceError(f"{path}: not a directory")
    return root.resolve()


def _engine(root: Path, args: argparse.Namespace, err: TextIO) -> Any:
    from codeseek.engine import Engine

    return Engine(root, load_cli_config(root, args, err))


def _index(engine: Any, full: bool, err: TextIO) -> IndexReport:
    progress = Progress(err)
    try:
        return engine.index(full=full, progress=progress)
    finally:
        progress.done()


def cmd_index(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    root = _workspace(args.path)
    engine = _engine(root, args, err)
    report = _index(engine, args.full, err)
    if args.json:
        data = {
            "files": report.files,
            "chunks": report.chunks,
            "indexed": report.indexed,
            "unchanged": report.unchanged,
            "removed": report.removed,
            "chunks_embedded": report.chunks_embedded,
            "chunks_cached": report.chunks_cached,
            "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
            "seconds": round(report.seconds, 3),
            "timings": {k: round(v, 3) for k, v in report.timings.items()},
        }
        print(json.dumps(data, indent=2), file=out)
    else:
        print(
            f"indexed {report.indexed} files ({report.chunks_embedded} chunks embedded, "
            f"{report.chunks_cached} from cache), {report.unchanged} unchanged, {report.removed} removed; "
            f"{report.files} files and {report.chunks} chunks in the index ({report.seconds:.1f}s)",
            file=out,
        )
        if report.skipped:
            print(f"skipped {len(report.skipped)} files (see 'codeseek status')", file=out)
    return EXIT_OK


def _print_hits(hits: Sequence[Any], out: TextIO) -> None:
    if not hits:
        print("no results", file=out)
        return
    for i, hit in enumerate(hits, 1):
        symbol = f"  {hit.symbol}" if hit.symbol else ""
        kind = f" ({hit.kind})" if hit.kind else ""
        print(f"{i:2}. {hit.path}:{hit.start_line}-{hit.end_line}{symbol}{kind}  {hit.score:.3f}", file=out)
        if hit.preview:
            print(f"    {hit.preview}", file=out)


def cmd_search(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.limit < 1:
        raise UsageError("-k/--limit must be at least 1")
    if not args.query.strip():
        raise UsageError("the query is empty")
    root = _workspace(args.workspace)
    engine = _engine(root, args, err)
    if not engine.has_index():
        if not args.json:
            print(f"codeseek: no index for {root} yet; indexing it first", file=err)
        _index(engine, False, err)
    include = [g for g in args.glob if not g.startswith("!")]
    exclude = [g[1:] for g in args.glob if g.startswith("!")]
    result = engine.search(
        SearchRequest(
            args.query, args.limit, args.mode, [lang.lower() for lang in args.lang], include, exclude
        )
    )
    if result.degraded:
        print(f"codeseek: warning: {result.degraded}", file=err)
    if args.json:
        print(json.dumps([h.to_json() for h in result.hits], indent=2), file=out)
    else:
        _print_hits(result.hits, out)
    return EXIT_OK


def parse_location(location: str) -> tuple[str, int]:
    path, sep, line = location.rpartition(":")
    if not sep or not path or not line.isdigit() or int(line) < 1:
        raise UsageError(f"expected FILE:LINE with a line number from 1, got {location!r}")
    return path, int(line)


def cmd_related(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.limit < 1:
        raise UsageError("-k/--limit must be at least 1")
    path, line = parse_location(args.location)
    root = _workspace(args.workspace)
    engine = _engine(root, args, err)
    candidate = Path(path)
    if not candidate.is_absolute() and not (root / candidate).exists():
        candidate = Path.cwd() / candidate
    rel = engine.relative(candidate)
    if rel is None:
        raise WorkspaceError(f"{path} is not inside the workspace {root}")
    if not (root / rel).is_file():
        raise WorkspaceError(f"{path}: no such file in the workspace")
    if not engine.has_index():
        if not args.json:
            print(f"codeseek: no index for {root} yet; indexing it first", file=err)
        _index(engine, False, err)
    if engine.store.chunk_at(rel, line) is None:
        raise WorkspaceError(
            f"{rel}:{line} is not in the index (ignored, skipped, or past the end of the file)"
        )
    hits = engine.related(rel, line, args.limit)
    if args.json:
        print(json.dumps([h.to_json() for h in hits], indent=2), file=out)
    else:
        _print_hits(hits, out)
    return EXIT_OK


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    root = _workspace(args.workspace)
    engine = _engine(root, args, err)
    status = engine.status()
    if args.json:
        print(json.dumps({"workspace": str(root), **status.to_json()}, indent=2), file=out)
        return EXIT_OK
    rows = [
        ("workspace", str(root)),
        ("store", status.store_path or ""),
        ("state", status.state),
        (
            "provider",
            f"{status.provider} ({status.provider_reason})" if status.provider_reason else status.provider,
        ),
        (
            "model",
            f"{status.model} ({status.dimensions} dimensions)" if status.model else "(not indexed yet)",
        ),
        ("files", str(status.files)),
        ("chunks", str(status.chunks)),
        ("last run", status.last_indexed_at or "never"),
    ]
    if status.last_error:
        rows.append(("last error", status.last_error))
    for name, value in rows:
        print(f"{name:<11}{value}", file=out)
    if status.skipped:
        print(f"skipped    {len(status.skipped)} files:", file=out)
        for s in status.skipped:
            print(f"  {s.path}: {s.reason}", file=out)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codeseek.lsp.server import run_server

    tcp = None
    if args.tcp:
        host, sep, port = args.tcp.rpartition(":")
        if not sep or not port.isdigit():
            raise UsageError(f"--tcp expects HOST:PORT, got {args.tcp!r}")
        tcp = (host or "127.0.0.1", int(port))
    run_server(tcp=tcp, log_file=args.log_file, settings=flag_settings(args))
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codeseek.evaluation.cli import run_eval

    return run_eval(args, out, err)


def cmd_bench(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codeseek.evaluation.cli import run_bench

    return run_bench(args, out, err)


COMMANDS = {
    "index": cmd_index,
    "search": cmd_search,
    "related": cmd_related,
    "status": cmd_status,
    "serve": cmd_serve,
    "eval": cmd_eval,
    "bench": cmd_bench,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"codeseek: error: {exc}", file=err)
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="codeseek: %(levelname)s: %(name)s: %(message)s",
        stream=err,
    )
    # One line per HTTP request (SGLang, Voyage) is noise even with --verbose.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return COMMANDS[args.command](args, out, err)
    except UsageError as exc:
        print(f"codeseek: error: {exc}", file=err)
        return EXIT_USAGE
    except (ConfigError, WorkspaceError) as exc:
        print(f"codeseek: error: {exc}", file=err)
        return EXIT_USAGE
    except IndexCancelled as exc:
        print(f"codeseek: {exc}", file=err)
        return EXIT_FAILURE
    except CodeseekError as exc:
        print(f"codeseek: error: {exc}", file=err)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("codeseek: interrupted", file=err)
        return 130
    except BrokenPipeError:  # `codeseek search ... | head`
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
