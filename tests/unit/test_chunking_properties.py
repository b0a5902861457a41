"""The invariant every chunking keeps: chunks tile the file, line for line."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeseek.chunking import chunker
from codeseek.chunking.chunker import chunk_file
from codeseek.chunking.fallback import window_ranges
from codeseek.model import Chunk

DATA = Path(__file__).resolve().parent.parent / "data" / "chunking"
FIXTURES = sorted(p.name for p in DATA.iterdir() if p.is_file())


def file_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def assert_tiles(chunks: list[Chunk], text: str) -> None:
    lines = file_lines(text)
    if not any(line.strip() for line in lines):
        assert chunks == []
        return
    expected_start = 1
    for chunk in chunks:
        assert chunk.start_line == expected_start, f"gap or overlap before {chunk}"
        assert chunk.end_line >= chunk.start_line
        assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
        expected_start = chunk.end_line + 1
    assert expected_start == len(lines) + 1, "chunks stop before the end of the file"


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("max_tokens", [24, 64, 256, 8192])
def test_fixtures_tile_at_every_budget(name: str, max_tokens: int) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    chunks = chunk_file(name, text, max_tokens=max_tokens)
    assert_tiles(chunks, text)
    assert all(c.path == name for c in chunks)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixtures_tile_with_crlf_and_without_final_newline(name: str) -> None:
    text = (DATA / name).read_text(encoding="utf-8").rstrip("\n").replace("\n", "\r\n")
    assert_tiles(chunk_file(name, text, max_tokens=64), text)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixtures_tile_when_truncated_mid_file(name: str) -> None:
    """Half a file is invalid syntax almost everywhere: error recovery must still tile."""
    text = (DATA / name).read_text(encoding="utf-8")
    for cut in (len(text) // 3, len(text) // 2, 2 * len(text) // 3):
        assert_tiles(chunk_file(name, text[:cut], max_tokens=48), text[:cut])


lines_strategy = st.lists(
    st.one_of(
        st.just(""),
        st.just("   "),
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=300
        ),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=lines_strategy, max_tokens=st.integers(min_value=1, max_value=300), crlf=st.booleans())
def test_fallback_windows_tile_any_text(lines: list[str], max_tokens: int, crlf: bool) -> None:
    text = ("\r\n" if crlf else "\n").join(lines)
    chunks = chunk_file("notes.txt", text, max_tokens=max_tokens)
    assert_tiles(chunks, text)
    assert all(c.kind == "text" for c in chunks)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.text(
        alphabet=st.sampled_from(list("def class ():{}[]<>;=,.\n\t #\"'/*\\fnimplstructreturn0123456789xyz")),
        max_size=400,
    ),
    language=st.sampled_from(["python", "rust", "javascript", "go", "cpp", "ruby", "markdown", "lua"]),
)
def test_syntax_soup_never_raises_and_tiles(text: str, language: str) -> None:
    assert_tiles(chunk_file("soup", text, language=language, max_tokens=40), text)


@settings(database=None)  # no .hypothesis folder in the working tree
@given(
    costs=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=80),
    budget=st.integers(min_value=1, max_value=120),
)
def test_window_ranges_respect_budget_unless_one_line_exceeds_it(costs: list[int], budget: int) -> None:
    lines = ["" if cost % 7 == 0 else "x" for cost in costs]
    windows = window_ranges(lines, costs, 0, len(costs) - 1, budget)
    assert windows[0][0] == 0 and windows[-1][1] == len(costs) - 1
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert start == end + 1
    for start, end in windows:
        assert start == end or sum(costs[start : end + 1]) <= budget


def test_stdlib_like_code_stays_within_budget() -> None:
    source = Path(chunker.__file__).read_text(encoding="utf-8")
    chunks = chunk_file("codeseek/chunking/chunker.py", source, max_tokens=256)
    assert_tiles(chunks, source)
    over = [c for c in chunks if c.start_line != c.end_line and (len(c.embed_text) + 2) // 3 > 256]
    assert over == []


def test_a_megabyte_of_python_chunks_in_reasonable_time() -> None:
    source = Path(chunker.__file__).read_text(encoding="utf-8")
    text = source * (1_000_000 // len(source) + 1)
    started = time.perf_counter()
    chunks = chunk_file("big.py", text)
    elapsed = time.perf_counter() - started
    assert_tiles(chunks, text)
    assert elapsed < 10, f"1 MB took {elapsed:.1f} s"


def test_very_long_line_is_one_chunk() -> None:
    text = "x = [" + "1, " * 200_000 + "]\nprint(x)\n"
    chunks = chunk_file("long.py", text)
    assert_tiles(chunks, text)


def test_parse_that_runs_out_of_time_falls_back_to_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunker, "PARSE_TIMEOUT_S", -1.0)
    text = "".join(f"def f{i}():\n    return {i}\n\n" for i in range(3000))
    chunks = chunk_file("slow.py", text)
    assert_tiles(chunks, text)
    assert {c.kind for c in chunks} == {"text"}
    monkeypatch.setattr(chunker, "PARSE_TIMEOUT_S", 30.0)
    # The cancelled parse must not leak into the next one on this thread's parser.
    assert chunk_file("ok.py", "def g():\n    pass\n")[0].symbol == "g"


def test_threads_chunk_concurrently_with_their_own_parsers() -> None:
    texts = {name: (DATA / name).read_text(encoding="utf-8") for name in FIXTURES}
    expected = {name: chunk_file(name, text, max_tokens=64) for name, text in texts.items()}
    failures: list[str] = []

    def work() -> None:
        for _ in range(5):
            for name, text in texts.items():
                if chunk_file(name, text, max_tokens=64) != expected[name]:
                    failures.append(name)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
