"""The command line: parse, delegate to the folder's service, print.

Exit codes: 0 success, 2 usage or configuration error, 1 runtime failure; each error is
one line on stderr, never a traceback. Progress goes to stderr: a bar on a terminal, a
plain line every few seconds anywhere else; `--json` output goes to stdout.

Only what a command needs is imported: `status`, `related` and a lexical `search` never
import torch or load a model (the index's identity comes from the settings and the
index's own record), and a hybrid search loads the model once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from codeseek import __version__
from codeseek.cli_config import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    flag_settings,
    load_cli_config,
    workspace_path,
)
from codeseek.errors import (
    CodeseekError,
    ConfigError,
    IndexCancelled,
    StoreDamaged,
    UsageError,
    WorkspaceError,
)

# Not `from typing import TYPE_CHECKING`: a command answered by a running server
# imports only what it uses (mypy treats any TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, NoReturn, TextIO

    from codeseek.indexer import IndexReport
    from codeseek.model import IndexProgress
    from codeseek.search import SearchRequest
    from codeseek.service import FolderService

MODES = ("hybrid", "semantic", "lexical")
# Commands a running language server may answer (warm.py).
SERVED_COMMANDS = ("search", "related", "status")
# A search in a folder never indexed embeds the new index right away when that is quick
# (about this many chunks, seconds on a CPU); a larger folder is searched by its words
# at once and `codeseek index` embeds the rest.
SEARCH_EMBEDS_UP_TO = 1500
# Without a terminal, a plain progress line at most this often.
PLAIN_PROGRESS_INTERVAL = 5.0
# eval's one-vector-per-function baseline row (evaluation/baseline.py's BASELINE_MODE,
# named here so that the command line does not import the evaluation package).
BASELINE_MODE = "functions"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("embedding and storage")
    group.add_argument("--embedder", choices=("auto", "local", "sglang", "voyage"), help="embedding provider")
    group.add_argument("--model", help="model id or local path for the chosen provider")
    group.add_argument("--dims", type=int, help="output dimensions (Matryoshka truncation for Qwen3)")
    group.add_argument(
        "--store",
        help="where the index lives: a folder or s3://, gs://, az:// (default: a folder in the user cache)",
    )
    group.add_argument(
        "--shared", metavar="URI", help="a team index to search at once, under a local overlay (store.shared)"
    )
    group.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")


def _served(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-server",
        action="store_true",
        help="work alone even when a language server holds the workspace (also CODESEEK_NO_SERVER=1)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="codeseek", description="Local semantic code search.")
    parser.add_argument("--version", action="version", version=f"codeseek {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("index", help="index or update a workspace")
    p.add_argument("path", nargs="?", default=".", help="workspace folder (default: .)")
    p.add_argument("--full", action="store_true", help="rebuild the index from scratch")
    p.add_argument("--json", action="store_true", help="print the run's report as JSON")
    p.add_argument(
        "--publish",
        metavar="URI",
        help="bring the shared team index at URI (s3://, gs://, az://) up to this workspace's content",
    )
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
    _served(p)
    _common(p)

    p = sub.add_parser("related", help="code related to the chunk at FILE:LINE")
    p.add_argument("location", metavar="FILE:LINE")
    p.add_argument("-w", "--workspace", default=".", help="workspace folder (default: .)")
    p.add_argument("-k", "--limit", type=int, default=5)
    p.add_argument("--json", action="store_true")
    _served(p)
    _common(p)

    p = sub.add_parser("status", help="the index's state")
    p.add_argument("-w", "--workspace", default=".", help="workspace folder (default: .)")
    p.add_argument("--json", action="store_true")
    _served(p)
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
    p.add_argument(
        "--mode",
        action="append",
        choices=(*MODES, BASELINE_MODE),
        help=f"modes to evaluate (default: all; '{BASELINE_MODE}' is a one-vector-per-function baseline)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a setting for this evaluation, as in codeseek.toml (e.g. reranker.candidates=20; repeatable)",
    )
    p.add_argument(
        "--index-cache",
        metavar="DIR",
        help="keep the evaluation's indexes in DIR: a later run re-embeds only changed code",
    )
    p.add_argument(
        "--no-latency",
        action="store_true",
        help="rank only: embed each query once for all modes and weights, and time nothing",
    )
    p.add_argument(
        "--lexical-weight",
        type=float,
        action="append",
        metavar="W",
        help="evaluate hybrid mode at this lexical weight, 0 to 1 (repeatable; default: the built-in one)",
    )
    p.add_argument(
        "--names-weight",
        type=float,
        metavar="W",
        help="weight of a match in a definition's name against one in its text (default: the built-in one)",
    )
    p.add_argument(
        "--block-weight",
        type=float,
        metavar="W",
        help="share of its score a chunk that defines nothing keeps, 0 to 1 (default: the built-in one)",
    )
    p.add_argument(
        "--piece-weight",
        type=float,
        metavar="W",
        help="share of its score a later piece of a function cut in pieces keeps, 0 to 1 "
        "(default: the built-in one)",
    )
    p.add_argument(
        "--agreement-low",
        type=float,
        metavar="X",
        help="what hybrid mode multiplies the lexical weight by when the full-text and dense top 10 "
        "share nothing (default: the built-in one; 1 with --agreement-high 1: a fixed weight)",
    )
    p.add_argument(
        "--agreement-high",
        type=float,
        metavar="X",
        help="what hybrid mode multiplies the lexical weight by when the full-text and dense top 10 "
        "are the same chunks (default: the built-in one)",
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


def plain_progress_interval() -> float:
    """Seconds between plain progress lines: PLAIN_PROGRESS_INTERVAL, or
    CODESEEK_PROGRESS_INTERVAL (a CI job that wants a denser log, a test)."""
    try:
        value = float(os.environ.get("CODESEEK_PROGRESS_INTERVAL", ""))
    except ValueError:
        return PLAIN_PROGRESS_INTERVAL
    return value if value >= 0 else PLAIN_PROGRESS_INTERVAL


class Progress:
    """Progress of an index run on stderr. On a terminal, one tqdm bar for the whole run:
    files while chunking, then the index's share of vectors while embedding, always with
    the files, the chunks, the rate and the time left beside it. Elsewhere a plain line
    every few seconds once a run has taken that long, so a CI log or a pipe shows that
    work moves while a quick run stays quiet."""

    def __init__(
        self,
        stream: TextIO,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.terminal = stream.isatty()
        self.interval = plain_progress_interval() if interval is None else interval
        self._clock = clock
        self._bar: Any = None
        self._files = ""  # "2,913 files", kept for the embedding phase's line
        self._started = clock()
        self._last_line = self._started
        self._last_text = ""

    def __call__(self, p: IndexProgress) -> None:
        from codeseek.model import Phase

        if p.phase is Phase.CHUNK and p.files_total:
            self._files = f"{p.files_total:,} files"
        if self.terminal:
            self._draw(p)
            return
        now = self._clock()
        text = self.line(p)
        if p.phase not in (Phase.CHUNK, Phase.EMBED) or not text or text == self._last_text:
            return
        if now - self._last_line >= self.interval:
            self._last_line, self._last_text = now, text
            print(f"codeseek: {text}", file=self.stream, flush=True)

    def line(self, p: IndexProgress) -> str:
        """ "indexing 120/2,913 files · 8,400 chunks", then "embedding 2,913 files · 32%
        embedded · 38,000/118,567 chunks · 29 chunks/s · about 46 min left"."""
        from codeseek.model import Phase

        if p.phase is Phase.CHUNK and p.files_total:
            return f"indexing {p.summary()}"
        if p.phase is Phase.EMBED and p.chunks_total:
            return f"embedding {self._files + ' · ' if self._files else ''}{p.summary()}"
        return ""

    def _draw(self, p: IndexProgress) -> None:
        from codeseek.model import Phase

        text = self.line(p)
        if not text:
            return
        if self._bar is None:
            from tqdm import tqdm

            # One bar for the run; its text is codeseek's own line (tqdm's rate and time
            # left would mix the files of the first phase with the chunks of the second).
            self._bar = tqdm(
                total=100,
                file=self.stream,
                dynamic_ncols=True,
                leave=False,
                bar_format="{l_bar}{bar}| {postfix}",
            )
        bar = self._bar
        bar.n = p.percentage or 0
        bar.set_description_str("indexing" if p.phase is Phase.CHUNK else "embedding", refresh=False)
        bar.set_postfix_str(text.split(" ", 1)[1], refresh=False)
        bar.refresh()

    def done(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _service(root: Path, args: argparse.Namespace, err: TextIO) -> FolderService:
    from codeseek.service import FolderService

    return FolderService(root, load_cli_config(root, args, err))


def _index(service: FolderService, err: TextIO, *, full: bool = False, embed: bool = True) -> IndexReport:
    """An index run with progress; a store found damaged mid-run is healed and the run
    done again, once."""
    progress = Progress(err)
    try:
        try:
            return service.index(full=full, embed=embed, progress=progress)
        except StoreDamaged as exc:
            progress.done()
            print(f"codeseek: the index was damaged ({exc}); rebuilding it", file=err)
            return service.index(full=full, embed=embed, progress=progress)
    finally:
        progress.done()


def cmd_index(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    root = workspace_path(args.path)
    publish_to = getattr(args, "publish", None)
    if publish_to:
        from codeseek.store.location import is_remote

        if not is_remote(publish_to):
            raise UsageError(
                f"--publish: a team index lives at an s3://, gs:// or az:// URI, not {publish_to!r}"
            )
        if getattr(args, "store", None):
            raise UsageError("--publish writes the index at its URI: leave out --store")
        args.store = publish_to
    service = _service(root, args, err)
    try:
        if publish_to:
            from codeseek.store.location import mask_uri
            from codeseek.team import publish

            report = publish(lambda: _index(service, err, full=args.full), mask_uri(publish_to))
        else:
            report = _index(service, err, full=args.full)
    finally:
        service.close()
    if args.json:
        data = {
            "files": report.files,
            "chunks": report.chunks,
            "indexed": report.indexed,
            "unchanged": report.unchanged,
            "removed": report.removed,
            "chunks_embedded": report.chunks_embedded,
            "chunks_cached": report.chunks_cached,
            "chunks_pending": report.chunks_pending,
            "skipped": [s.to_json() for s in report.skipped],
            "repairs": report.repairs,
            "seconds": round(report.seconds, 3),
            "timings": {k: round(v, 3) for k, v in report.timings.items()},
        }
        print(json.dumps(data, indent=2), file=out)
        return EXIT_OK
    for repair in report.repairs:
        print(f"codeseek: repaired the index: {repair}", file=err)
    print(
        f"indexed {report.indexed} files ({report.chunks_embedded} chunks embedded, "
        f"{report.chunks_cached} from cache), {report.unchanged} unchanged, {report.removed} removed; "
        f"{report.files} files and {report.chunks} chunks in the index ({report.seconds:.1f}s)",
        file=out,
    )
    if report.skipped:
        print(f"skipped {len(report.skipped)} files (see 'codeseek status')", file=out)
    return EXIT_OK


def _ask_server(
    args: argparse.Namespace, root: Path, method: str, params: Mapping[str, Any], err: TextIO
) -> dict[str, Any] | None:
    """The running language server's result for this command (warm.py), or None: no
    server holds the folder, it cannot answer this, `--no-server` or CODESEEK_NO_SERVER
    said not to ask, or anything went wrong on the way; the command then works alone."""
    from codeseek import warm

    answer = None
    if not args.no_server and os.environ.get(warm.NO_SERVER_ENV, "") in ("", "0"):
        note = (lambda message: print(f"codeseek: {message}", file=err)) if args.verbose else None
        answer = warm.ask(root, method, params, flag_settings(args), note=note)
    if answer is None:
        _configure_logging(args.verbose, err)
        return None
    for warning in answer.get("warnings") or ():
        print(f"codeseek: warning: {warning}", file=err)
    result: dict[str, Any] = answer["result"]
    return result


def _print_hits(hits: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """Hits as `Hit.to_json` gives them (the standalone path and the server's answer)."""
    if not hits:
        print("no results", file=out)
        return
    for i, hit in enumerate(hits, 1):
        symbol = f"  {hit['symbol']}" if hit.get("symbol") else ""
        kind = f" ({hit['kind']})" if hit.get("kind") else ""
        print(
            f"{i:2}. {hit['path']}:{hit['start_line']}-{hit['end_line']}{symbol}{kind}  {hit['score']:.3f}",
            file=out,
        )
        if hit.get("preview"):
            print(f"    {hit['preview']}", file=out)
        if hit.get("also_declared_in"):
            where = ", ".join(f"{span['path']}:{span['start_line']}" for span in hit["also_declared_in"])
            print(f"    also declared in {where}", file=out)


def _ensure_index(service: FolderService, root: Path, args: argparse.Namespace, err: TextIO) -> None:
    """A folder never indexed is indexed now: chunked (searchable by its words at once),
    and embedded too when that is quick. Over a team index (`store.shared`) the local
    overlay is brought up to date every time: it costs a stat per file and finds local
    edits and files a publish moved on since the last search."""
    team = service.team() is not None
    if service.has_index() and not team:
        return
    if not args.json and not service.has_index():
        print(f"codeseek: no index for {root} yet; indexing it first", file=err)
    report = _index(service, err, embed=False)
    store = service.store()
    if store is None:
        return
    embedded, dense = store.count_embedded()
    if 0 < dense - embedded <= SEARCH_EMBEDS_UP_TO and args_wants_meaning(args):
        progress = Progress(err)
        try:
            service.embed(progress=progress)
        finally:
            progress.done()
    elif dense > embedded and not args.json:
        print(
            f"codeseek: {report.chunks:,} chunks are searchable by their words now; "
            f"'codeseek index {root}' embeds them for search by meaning",
            file=err,
        )


def args_wants_meaning(args: argparse.Namespace) -> bool:
    return getattr(args, "mode", "hybrid") != "lexical"


def cmd_search(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.limit < 1:
        raise UsageError("-k/--limit must be at least 1")
    if not args.query.strip():
        raise UsageError("the query is empty")
    root = workspace_path(args.workspace)
    params = {
        "query": args.query,
        "limit": args.limit,
        "mode": args.mode,
        "languages": [lang.lower() for lang in args.lang],
        "include": [g for g in args.glob if not g.startswith("!")],
        "exclude": [g[1:] for g in args.glob if g.startswith("!")],
    }
    result = _ask_server(args, root, "search", params, err) or _search_alone(args, root, params, err)
    if result["degraded"]:
        print(f"codeseek: warning: {result['degraded']}", file=err)
    if result["dense_percent"] < 100 and args.mode != "lexical":
        print(
            f"codeseek: note: {result['dense_percent']}% of the index is embedded so far; "
            "the rest is matched by its words ('codeseek index' finishes it)",
            file=err,
        )
    if args.json:
        print(json.dumps(result["hits"], indent=2), file=out)
    else:
        _print_hits(result["hits"], out)
    return EXIT_OK


def _search_alone(
    args: argparse.Namespace, root: Path, params: dict[str, Any], err: TextIO
) -> dict[str, Any]:
    """The search in this process: the result as the server would answer it."""
    from codeseek.search import SearchRequest, check_request

    request = SearchRequest(
        params["query"],
        params["limit"],
        params["mode"],
        params["languages"],
        params["include"],
        params["exclude"],
    )
    check_request(request)  # a bad --lang or --glob says so before any work
    service = _service(root, args, err)
    try:
        _ensure_index(service, root, args, err)
        try:
            result = _search_loading_what_it_needs(service, request)
        except StoreDamaged as exc:
            print(f"codeseek: the index is damaged ({exc}); rebuilding it", file=err)
            _index(service, err, embed=False)
            result = _search_loading_what_it_needs(service, request)
    finally:
        service.close()
    return {
        "hits": [hit.to_json() for hit in result.hits],
        "mode": result.mode,
        "degraded": result.degraded,
        "dense_percent": result.dense_percent,
    }


def _search_loading_what_it_needs(service: FolderService, request: SearchRequest) -> Any:
    """A lexical search never loads the model; a dense one loads it only when the index
    has vectors to compare with."""
    if request.mode != "lexical" and service.embedder is None:
        store = service.store()
        if store is not None and store.count_embedded()[0] > 0:
            service.load_embedder()
    return service.search(request)


def parse_location(location: str) -> tuple[str, int]:
    path, sep, line = location.rpartition(":")
    if not sep or not path or not line.isdigit() or int(line) < 1:
        raise UsageError(f"expected FILE:LINE with a line number from 1, got {location!r}")
    return path, int(line)


def cmd_related(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.limit < 1:
        raise UsageError("-k/--limit must be at least 1")
    path, line = parse_location(args.location)
    root = workspace_path(args.workspace)
    # A path relative to the current directory, where it is not one relative to the
    # workspace, is made absolute here: the server's current directory is another.
    candidate = path
    if not Path(path).is_absolute() and not (root / path).exists() and (Path.cwd() / path).exists():
        candidate = str(Path.cwd() / path)
    params = {"path": candidate, "line": line, "limit": args.limit}
    result = _ask_server(args, root, "related", params, err) or _related_alone(args, root, params, err)
    if args.json:
        print(json.dumps(result["hits"], indent=2), file=out)
    else:
        _print_hits(result["hits"], out)
    return EXIT_OK


def _related_alone(
    args: argparse.Namespace, root: Path, params: dict[str, Any], err: TextIO
) -> dict[str, Any]:
    from codeseek.service import require_chunk, require_file

    service = _service(root, args, err)
    try:
        rel = require_file(service, params["path"])
        _ensure_index(service, root, args, err)
        hits = service.related(rel, params["line"], params["limit"])
        if not hits:
            require_chunk(service, rel, params["line"])  # nothing, or nothing there?
    finally:
        service.close()
    return {"hits": [hit.to_json() for hit in hits]}


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    root = workspace_path(args.workspace)
    result = _ask_server(args, root, "status", {}, err)
    if result is None:
        service = _service(root, args, err)
        result = {"status": service.status(check=True).to_json()}
    status: dict[str, Any] = result["status"]
    if args.json:
        print(json.dumps({"workspace": str(root), **status}, indent=2), file=out)
        return EXIT_OK
    _print_status(root, status, out)
    return EXIT_OK


def _print_status(root: Path, status: Mapping[str, Any], out: TextIO) -> None:
    """A status as `IndexStatus.to_json` gives it (the standalone path and the server's answer)."""
    provider = status["provider"] or ""
    reason = status["provider_reason"]
    model = status["model"]
    rows = [
        ("workspace", str(root)),
        ("store", status["store_path"] or ""),
        ("state", status["state"]),
        ("provider", f"{provider} ({reason})" if reason else provider),
        ("model", f"{model} ({status['dimensions']} dimensions)" if model else "(not known yet)"),
        ("files", f"{status['files']:,}"),
        ("chunks", f"{status['chunks']:,}"),
    ]
    if status["dense_total"]:
        rows.append(
            (
                "embedded",
                f"{status['dense_percent']}% ({status['embedded']:,} of {status['dense_total']:,} chunks)",
            )
        )
    last = status["last_indexed_at"] or (
        "never (interrupted; 'codeseek index' continues it)" if status["files"] else "never"
    )
    rows.append(("last run", last))
    if status["message"]:
        rows.append(("now", status["message"]))
    if status["last_error"]:
        rows.append(("last error", status["last_error"]))
    secrets: Mapping[str, int] = status["secrets"]
    if secrets:
        total = sum(secrets.values())
        rows.append(("secrets", f"{total} masked in {len(secrets)} files (never stored or shown)"))
    team = status.get("team")
    if team is not None:
        fetched = f"fetched {team['fetched_at']}" if team["fetched_at"] else "never fetched"
        rows.append(
            (
                "shared",
                f"{team['shared']}: {team['shared_files']:,} files, {team['shared_chunks']:,} chunks ({fetched})",
            )
        )
        rows.append(
            (
                "overlay",
                f"{team['overlay_files']:,} files differ here; {team['hidden']:,} shared files hidden",
            )
        )
        if not team["reachable"]:
            rows.append(("", f"the shared index is unreachable: {team['error']}"))
    for name, value in rows:
        print(f"{name:<11}{value}", file=out)
    for path, count in sorted(secrets.items()):
        print(f"  {path}: {count} masked", file=out)
    skipped: Sequence[Mapping[str, str]] = status["skipped"]
    if skipped:
        print(f"skipped    {len(skipped)} files:", file=out)
        for s in skipped:
            print(f"  {s['path']}: {s['reason']}", file=out)


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


def _configure_logging(verbose: bool, err: TextIO) -> None:
    import logging

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="codeseek: %(levelname)s: %(name)s: %(message)s",
        stream=err,
    )
    # One line per HTTP request (SGLang, Voyage) is noise even with --verbose.
    logging.getLogger("httpx").setLevel(logging.WARNING)


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
    verbose = getattr(args, "verbose", False)
    if args.command not in SERVED_COMMANDS:
        _configure_logging(verbose, err)  # the others: once they work alone (_ask_server)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return COMMANDS[args.command](args, out, err)
    except (UsageError, ConfigError, WorkspaceError) as exc:
        print(f"codeseek: error: {exc}", file=err)
        return EXIT_USAGE
    except IndexCancelled as exc:
        print(f"codeseek: {exc}", file=err)
        return EXIT_FAILURE
    except CodeseekError as exc:
        print(f"codeseek: error: {exc}", file=err)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("codeseek: interrupted; what was indexed so far is kept and searchable", file=err)
        # Ctrl-C can land inside LanceDB's own event loop and leave a coroutine behind,
        # which Python reports at exit ("coroutine ... was never awaited"): noise after
        # the line above, not something the user can act on.
        import warnings

        warnings.simplefilter("ignore", RuntimeWarning)
        return 130
    except BrokenPipeError:  # `codeseek search ... | head`
        return EXIT_OK
    except Exception as exc:
        # A bug: one line for the user, the traceback only when they asked for details.
        if verbose:
            import traceback

            traceback.print_exc(file=err)
        hint = "" if verbose else " (run with -v for details)"
        print(f"codeseek: internal error: {type(exc).__name__}: {exc}{hint}", file=err)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
