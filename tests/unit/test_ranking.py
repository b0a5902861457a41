"""Ranking as users judge it (issue 12), on one small workspace indexed once with the real
parts (tree-sitter, LanceDB, the bundled MiniLM): an implementation above its stub, one
hit per split definition, import blocks that never lead, identifier queries, related code
without the chunk's own definition, a stub-only package, and `alsoDeclaredIn` on the wire."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from codeseek import cli
from codeseek.config import Config
from codeseek.embedding.base import Embedder
from codeseek.lsp.protocol import LineLengths, hit_json
from codeseek.model import Hit, Span
from codeseek.search import (
    AGREEMENT_HIGH,
    AGREEMENT_LOW,
    LEXICAL_WEIGHT,
    PIECE_WEIGHT,
    SearchRequest,
    fuse,
    fusion_weight,
)
from codeseek.service import FolderService
from codeseek.store.schema import StoredChunk

WRAPPING_PY = """\
import textwrap


def wrap_text(text, width=70):
    lines = []
    for paragraph in text.split("\\n\\n"):
        lines.extend(textwrap.wrap(paragraph, width) or [""])
    return lines


def parse_duration(text):
    units = {"s": 1, "m": 60, "h": 3600}
    return int(text[:-1]) * units[text[-1]]


def load_timeouts(settings):
    connect = parse_duration(settings["connect"])  # parse_duration of the connect timeout
    read = parse_duration(settings["read"])  # parse_duration of the read timeout
    total = parse_duration(settings["total"])  # parse_duration again, for the whole call
    return connect, read, total


class Scheduler:
    def run(self, jobs):
        for job in jobs:
            job()

    def stop(self):
        self.running = False


def run(argv):
    return Scheduler().run(argv)


def run_scheduler(jobs, scheduler=None):
    scheduler = scheduler or Scheduler()
    scheduler.run(jobs)  # Scheduler.run runs the jobs; Scheduler.stop ends the run
    return scheduler
"""

# The stub carries the docs and the implementation none, as in packages that ship
# typed stubs: without folding, the stub is what a description of the function finds.
WRAPPING_PYI = '''\
def wrap_text(text: str, width: int = ...) -> list[str]:
    """Wrap every paragraph of the text into lines of at most width characters."""
    ...

def parse_duration(text: str) -> int: ...
'''

# A type-stub-only package: nothing implements it here, and it must still be found.
COLOURS_PYI = '''\
def hex_to_rgb(value: str) -> tuple[int, int, int]:
    """Convert a hexadecimal colour string such as #ff8800 into red, green and blue."""
    ...
'''

STEPS = "\n".join(
    f"    total_{i} = measure_column_{i}(rows, padding={i})  # widen column {i} for the report"
    for i in range(70)
)
REPORT_PY = f"""\
from collections import OrderedDict, defaultdict
from itertools import groupby
import functools


def render_report_table(rows, padding):
{STEPS}
    return format_table(rows)


def group_by_key(items, key):
    groups = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return dict(sorted(groups.items()))
"""

# A setting defined in a block of constants, and a function whose name has its words.
SETTINGS_PY = """\
DEFAULT_TIMEOUT_SECONDS = 30
RETRY_LIMIT = 5
LOG_FORMAT = "%(levelname)s %(message)s"


def default_timeout_seconds_for(host):
    return 60 if host.endswith(".internal") else 10
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, minilm: Embedder) -> Iterator[FolderService]:
    root = tmp_path_factory.mktemp("ranking")
    (root / "textkit").mkdir()
    (root / "textkit" / "wrapping.py").write_text(WRAPPING_PY)
    (root / "textkit" / "wrapping.pyi").write_text(WRAPPING_PYI)
    (root / "colours").mkdir()
    (root / "colours" / "__init__.pyi").write_text(COLOURS_PYI)
    (root / "report.py").write_text(REPORT_PY)
    (root / "settings.py").write_text(SETTINGS_PY)
    config = Config()
    config.store.path = str(tmp_path_factory.mktemp("ranking-store"))
    folder = FolderService(root, config, embedder=minilm)
    folder.index()
    yield folder
    folder.close()


def search(service: FolderService, query: str, mode: str = "hybrid", k: int = 10) -> list[Hit]:
    return service.search(SearchRequest(query, k, mode)).hits


def chunks(service: FolderService, path: str):  # type: ignore[no-untyped-def]
    store = service.store()
    assert store is not None
    return store.chunks_of(path)


def test_the_implementation_ranks_above_its_stub_which_is_folded_into_it(service: FolderService) -> None:
    stub = next(c for c in chunks(service, "textkit/wrapping.pyi") if c.symbol == "wrap_text")
    assert stub.declaration  # what the fold relies on
    query = "wrap every paragraph of the text into lines of at most width characters"
    for mode in ("hybrid", "semantic", "lexical"):
        hits = search(service, query, mode)
        assert hits[0].path == "textkit/wrapping.py" and hits[0].symbol == "wrap_text", (mode, hits[:3])
        assert hits[0].also_declared_in == [Span("textkit/wrapping.pyi", 1, 3)]
        assert not any(h.path == "textkit/wrapping.pyi" and h.symbol == "wrap_text" for h in hits), mode


def test_a_stub_only_package_still_ranks_on_its_merits(service: FolderService) -> None:
    hits = search(service, "convert a hexadecimal colour string into red green and blue")
    assert (hits[0].path, hits[0].symbol) == ("colours/__init__.pyi", "hex_to_rgb")
    assert hits[0].also_declared_in == []


def test_a_split_function_returns_once_with_its_range_and_signature(service: FolderService) -> None:
    pieces = [c for c in chunks(service, "report.py") if c.symbol == "render_report_table"]
    assert len(pieces) >= 3  # long enough to be cut in pieces
    assert {c.definition_lines for c in pieces} == {(6, 77)}
    query = "widen every column of the report table by its padding"
    for mode in ("hybrid", "semantic", "lexical"):
        hits = search(service, query, mode)
        mine = [h for h in hits if h.symbol == "render_report_table"]
        assert len(mine) == 1, (mode, hits)
        assert (mine[0].start_line, mine[0].end_line) == (6, 77)
        assert mine[0].preview == "def render_report_table(rows, padding):"


def test_a_later_piece_of_a_split_function_keeps_the_piece_weight_of_its_score(
    service: FolderService, minilm: Embedder
) -> None:
    """The head of a function says what it does; a later piece (here the last of 70 column
    steps) counts for PIECE_WEIGHT of its similarity, the head for all of it."""
    pieces = [c for c in chunks(service, "report.py") if c.symbol == "render_report_table"]
    head = next(c for c in pieces if c.start_line <= 6)
    query = "total_65 = measure_column_65(rows, padding=65)  # widen column 65 for the report"
    store = service.store()
    assert store is not None
    raw = {c.id: c.score for c in store.vector_search(minilm.embed_query(query), 50)}
    later = max(raw[c.id] for c in pieces if c.id != head.id)
    assert later > raw[head.id]  # the query is about a later piece
    hit = next(h for h in search(service, query, "semantic") if h.symbol == "render_report_table")
    # Hits round their score to 4 places.
    assert hit.score == pytest.approx(max(raw[head.id], PIECE_WEIGHT * later), abs=1e-4)
    assert PIECE_WEIGHT < 1.0


def test_an_import_block_never_leads_unless_the_query_names_a_module(service: FolderService) -> None:
    imports = chunks(service, "report.py")[0]
    assert imports.kind == "imports" and not imports.dense  # stored without a vector
    # Its identifiers split into words ("ordered dict") match the query best...
    hits = search(service, "ordered dict", "lexical")
    assert any(h.kind == "imports" for h in hits)
    # ...and still it does not lead: it goes after every definition and block.
    assert hits[0].kind != "imports" and hits[-1].kind == "imports"
    assert search(service, "ordered dict")[0].kind != "imports"
    # A query that names what it imports may find it first.
    assert search(service, "functools", "lexical")[0].kind == "imports"


@pytest.mark.parametrize(
    ("query", "path", "symbol"),
    [
        ("parse_duration", "textkit/wrapping.py", "parse_duration"),
        ("parseDuration", "textkit/wrapping.py", "parse_duration"),
        ("Scheduler.run", "textkit/wrapping.py", "Scheduler.run"),
        ("run", "textkit/wrapping.py", "run"),
    ],
)
def test_an_identifier_query_finds_that_definition_first(
    service: FolderService, query: str, path: str, symbol: str
) -> None:
    hits = search(service, query)
    assert (hits[0].path, hits[0].symbol) == (path, symbol), hits[:3]


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_an_identifier_set_in_a_block_of_constants_comes_first(service: FolderService, mode: str) -> None:
    """Not the function whose name shares its words: the place that names it whole."""
    hits = search(service, "DEFAULT_TIMEOUT_SECONDS", mode)
    assert (hits[0].path, hits[0].start_line) == ("settings.py", 1), hits[:3]
    assert "default_timeout_seconds_for" in [h.symbol for h in hits]


def test_related_code_excludes_the_chunks_own_pieces_and_import_blocks(service: FolderService) -> None:
    middle = [c for c in chunks(service, "report.py") if c.symbol == "render_report_table"][1]
    hits = service.related("report.py", middle.start_line + 1, limit=10)
    assert hits
    assert not any(h.path == "report.py" and h.start_line <= 77 and h.end_line >= 6 for h in hits)
    assert not any(h.kind == "imports" for h in hits)
    # From the implementation, its own stub is not "related code" either.
    hits = service.related("textkit/wrapping.py", 5, limit=10)
    assert not any(h.symbol == "wrap_text" for h in hits)


def test_related_code_folds_declarations_into_their_implementations(service: FolderService) -> None:
    """One symbol takes one row in related code too: a stub of another function is folded
    into that function's row, as in search; a stub-only function keeps its own."""
    hits = service.related("textkit/wrapping.py", 17, limit=20)  # inside load_timeouts
    rows = [(h.symbol, h.kind) for h in hits if h.symbol]
    assert len(rows) == len(set(rows)), hits
    assert not any(h.path == "textkit/wrapping.pyi" for h in hits), hits
    parse = next(h for h in hits if h.symbol == "parse_duration")
    assert parse.path == "textkit/wrapping.py"
    assert parse.also_declared_in == [Span("textkit/wrapping.pyi", 5, 5)]
    assert any(h.path == "colours/__init__.pyi" for h in hits)


def test_cli_and_lsp_output_show_where_else_it_is_declared(service: FolderService) -> None:
    hit = search(service, "wrap every paragraph of the text into lines of at most width characters")[0]
    out = io.StringIO()
    cli._print_hits([hit.to_json()], out)
    assert "also declared in textkit/wrapping.pyi:1" in out.getvalue()
    assert hit.to_json()["also_declared_in"] == [
        {"path": "textkit/wrapping.pyi", "start_line": 1, "end_line": 3}
    ]
    wire = hit_json(hit, service.root, LineLengths(None))
    assert wire["alsoDeclaredIn"] == [
        {
            "uri": (service.root / "textkit/wrapping.pyi").as_uri(),
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 7}},
        }
    ]
    # Hits with nothing folded into them keep the documented shape.
    plain = search(service, "convert a hexadecimal colour string into red green and blue")[0]
    assert "also_declared_in" not in plain.to_json()
    assert "alsoDeclaredIn" not in hit_json(plain, service.root, LineLengths(None))


def test_declarations_in_other_languages_are_marked() -> None:
    from codeseek.chunking.chunker import chunk_file

    def declared(path: str, text: str) -> dict[str | None, bool]:
        return {c.symbol: c.declaration for c in chunk_file(path, text) if c.symbol}

    assert declared("api.d.ts", "export declare function parse(s: string): number;\n") == {"parse": True}
    c_file = "#include <stdio.h>\nint parse(const char *s);\nint count = 0;\nint parse(const char *s) { return 0; }\n"
    assert [(c.kind, c.symbol, c.declaration) for c in chunk_file("io.c", c_file)] == [
        ("imports", None, False),
        ("function", "parse", True),  # the prototype
        ("block", None, False),
        ("function", "parse", False),
    ]
    java = "interface Shape {\n  double area();\n  double perimeter();\n}\n"
    assert declared("Shape.java", java) == {"Shape": False, "Shape.area": True, "Shape.perimeter": True}
    python = (
        "from typing import overload\n\n@overload\ndef f(a: int) -> int: ...\n"
        "def f(a):\n    return a\n\ndef g():\n    raise NotImplementedError\n"
    )
    marks = [(c.symbol, c.declaration) for c in chunk_file("m.py", python) if c.symbol]
    assert marks == [("f", True), ("f", False), ("g", True)]
    js = "exports.parse = function (text) {\n  return text.trim();\n};\n"
    assert [(c.symbol, c.kind) for c in chunk_file("lib.js", js)] == [("parse", "function")]


def _chunk(name: str, score: float) -> StoredChunk:
    return StoredChunk(
        name, f"{name}.py", "python", name, "function", 1, 3, f"def {name}(): ...", score=score
    )


def test_the_lexical_side_weighs_less_when_the_retrievers_disagree_and_more_when_they_agree() -> None:
    """A docstring-style query whose words the full-text side finds only in unrelated
    code: the dense winner stays first, where a fixed weight would hand the first place to
    the chunk with the incidental words. A query whose words are the code's (both top
    lists hold the same chunks): the lexical side counts for more than the fixed weight."""
    dense = [
        _chunk("wanted", 0.62),
        *(_chunk(f"near{i}", 0.6 - i / 100) for i in range(9)),
        _chunk("far", 0.40),
    ]
    incidental = [_chunk("noise", 8.0), *(_chunk(f"other{i}", 4.0 - i / 10) for i in range(9))]
    fixed = fuse(dense, incidental, LEXICAL_WEIGHT, agreement=(1.0, 1.0))
    assert fixed[0][0].id == "noise"
    assert fuse(dense, incidental, LEXICAL_WEIGHT)[0][0].id == "wanted"

    dense_ids = {c.id: c.score for c in dense}
    agreeing = [_chunk(c.id, 10.0 - i) for i, c in enumerate(dense[:10])]
    disjoint = {c.id: 1.0 for c in incidental}
    same = {c.id: 1.0 for c in agreeing}
    assert fusion_weight(LEXICAL_WEIGHT, dense_ids, disjoint) == pytest.approx(LEXICAL_WEIGHT * AGREEMENT_LOW)
    assert fusion_weight(LEXICAL_WEIGHT, dense_ids, same) == pytest.approx(LEXICAL_WEIGHT * AGREEMENT_HIGH)
    half = {**{c.id: 1.0 for c in agreeing[:5]}, **{c.id: 0.5 for c in incidental[:5]}}
    assert fusion_weight(LEXICAL_WEIGHT, dense_ids, half) == pytest.approx(
        LEXICAL_WEIGHT * (AGREEMENT_LOW + AGREEMENT_HIGH) / 2
    )
    assert AGREEMENT_LOW < 1 < AGREEMENT_HIGH
    # One side found nothing: the weight is what it was (nothing to agree on).
    assert fusion_weight(LEXICAL_WEIGHT, dense_ids, {}) == LEXICAL_WEIGHT
