"""Language detection and the grammar registry."""

from __future__ import annotations

import pytest

from codeseek.chunking.chunker import chunk_file
from codeseek.chunking.languages import (
    GRAMMARS,
    SUPPORTED_LANGUAGES,
    GrammarRegistry,
    GrammarSpec,
    language_for_path,
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("src/app.py", "python"),
        ("types.pyi", "python"),
        ("web/index.mjs", "javascript"),
        ("Component.jsx", "javascript"),
        ("api.ts", "typescript"),
        ("Button.tsx", "tsx"),
        ("main.go", "go"),
        ("lib.rs", "rust"),
        ("App.java", "java"),
        ("list.c", "c"),
        ("list.h", "c"),
        ("widget.hpp", "cpp"),
        ("widget.cc", "cpp"),
        ("Service.cs", "csharp"),
        ("greeter.rb", "ruby"),
        ("Gemfile", "ruby"),
        ("Repo.php", "php"),
        ("build.gradle.kts", "kotlin"),
        ("Counter.swift", "swift"),
        ("Shapes.scala", "scala"),
        ("deploy.sh", "bash"),
        ("home/.bashrc", "bash"),
        ("util.lua", "lua"),
        ("README.md", "markdown"),
        ("docs\\Guide.MARKDOWN", "markdown"),
        ("Makefile", "text"),
        ("notes.txt", "text"),
        ("data.json", "text"),
    ],
)
def test_language_from_extension_and_name(path: str, expected: str) -> None:
    assert language_for_path(path) == expected


@pytest.mark.parametrize(
    ("first_line", "expected"),
    [
        ("#!/usr/bin/env python3", "python"),
        ("#!/usr/bin/python3.11 -u", "python"),
        ("#!/bin/bash", "bash"),
        ("#!/bin/sh -e", "bash"),
        ("#!/usr/bin/env -S deno run --allow-net", "typescript"),
        ("#!/usr/bin/env NODE_ENV=production node", "javascript"),
        ("#!/usr/bin/env ruby", "ruby"),
        ("#!/usr/bin/env lua5.4", "lua"),
        ("#!/usr/bin/env perl", "text"),
        ("#!", "text"),
        ("# not a shebang", "text"),
    ],
)
def test_language_from_shebang(first_line: str, expected: str) -> None:
    assert language_for_path("bin/tool", first_line) == expected


def test_extension_wins_over_shebang() -> None:
    assert language_for_path("tool.py", "#!/bin/bash") == "python"


def test_a_script_without_extension_is_chunked_by_its_shebang() -> None:
    text = "#!/usr/bin/env python3\n\ndef main():\n    pass\n"
    assert [c.symbol for c in chunk_file("bin/tool", text)] == [None, "main"]


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_supported_grammar_loads_and_parses(language: str) -> None:
    registry = GrammarRegistry()
    parser = registry.parser(language)
    assert parser is not None, f"{language} grammar did not load"
    assert parser.parse(b"x\n").root_node is not None
    assert registry.language(language) is registry.language(language)  # loaded once


def test_grammar_table_covers_exactly_the_supported_languages() -> None:
    assert set(GRAMMARS) == set(SUPPORTED_LANGUAGES)


def test_a_grammar_that_fails_to_load_falls_back_to_windows(caplog: pytest.LogCaptureFixture) -> None:
    def broken(spec: GrammarSpec) -> object:
        raise ValueError(f"Incompatible Language version for {spec.language}")

    registry = GrammarRegistry(loader=broken)
    text = "def f():\n    return 1\n"
    chunks = chunk_file("a.py", text, registry=registry)
    assert [(c.start_line, c.end_line, c.kind, c.language) for c in chunks] == [(1, 2, "text", "python")]
    assert "grammar for python is unavailable" in caplog.text
    chunk_file("b.py", text, registry=registry)
    assert caplog.text.count("unavailable") == 1  # reported once, not per file
