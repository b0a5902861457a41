"""Chunking along real tree-sitter parses of small, realistic files in every language."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from codeseek.chunking.chunker import chunk_file
from codeseek.model import Chunk

DATA = Path(__file__).resolve().parent.parent / "data" / "chunking"


def chunks_of(name: str, **kwargs: object) -> list[Chunk]:
    text = (DATA / name).read_text(encoding="utf-8")
    return chunk_file(name, text, **kwargs)  # type: ignore[arg-type]


def by_symbol(chunks: list[Chunk], symbol: str) -> Chunk:
    found = [c for c in chunks if c.symbol == symbol]
    assert found, f"no chunk for {symbol}; have {[c.symbol for c in chunks]}"
    return found[0]


def outline(chunks: list[Chunk]) -> list[tuple[int, int, str | None, str | None]]:
    return [(c.start_line, c.end_line, c.kind, c.symbol) for c in chunks]


def test_python_outline_methods_decorators_and_blocks() -> None:
    chunks = chunks_of("store.py")
    assert outline(chunks) == [
        (1, 2, "block", None),
        (3, 8, "imports", None),  # imports are a block of their own
        (9, 12, "block", None),
        (13, 16, "class", "StoreError"),
        (17, 21, "class", "JsonStore"),
        (22, 25, "method", "JsonStore.__init__"),
        (26, 31, "method", "JsonStore.open"),
        (32, 37, "method", "JsonStore.load"),
        (38, 38, "class", "JsonStore.Snapshot"),  # a class with one method is cut at it
        (39, 42, "method", "JsonStore.Snapshot.restore"),
        (43, 50, "function", "atomic_write"),
        (51, 52, "block", None),
    ]
    assert all(c.language == "python" for c in chunks)
    opened = by_symbol(chunks, "JsonStore.open")
    assert opened.text.startswith("    @classmethod\n    def open(")  # the decorator travels with it
    # The model sees the method's qualified name in words, not the enclosing signature
    # (schema 6) nor the path (schema 4: semantic MRR was lower with the path line on
    # every corpus measured).
    assert opened.context == "json store open"
    assert opened.embed_text.startswith("json store open\n    @classmethod")
    assert "store.py" not in opened.embed_text
    moved = dataclasses.replace(opened, path="lib/other.py")
    assert moved.content_key == opened.content_key  # a moved file keeps its vectors
    old_key = hashlib.blake2b(digest_size=16)  # schema 3's key of the path-first text
    old_key.update(opened.context.encode() + b"\x00" + opened.text.encode())
    assert opened.content_key != old_key.hexdigest()  # so old vectors are never reused
    header = by_symbol(chunks, "JsonStore")
    assert '"""Keeps string keys' in header.text and "encoding = " in header.text
    assert header.context == ""
    # The section comment between two definitions introduces the second.
    assert by_symbol(chunks, "atomic_write").text.startswith("# Helpers used by the command line.")
    # Imports are one block (without a vector), constants another, not one chunk each.
    assert "import json" in chunks[1].text and "from pathlib import Path" in chunks[1].text
    assert not chunks[1].dense and chunks[0].dense and chunks[2].dense
    assert "DEFAULT_PATH" in chunks[2].text and "MAX_KEYS = 10_000" in chunks[2].text


def test_go_receivers_and_doc_comments() -> None:
    chunks = chunks_of("server.go")
    assert outline(chunks)[1:] == [
        (4, 8, "imports", None),
        (9, 10, "block", None),
        (11, 16, "struct", "Server"),
        (17, 21, "interface", "Handler"),
        (22, 26, "function", "NewServer"),
        (27, 33, "method", "Server.Start"),
        (34, 34, "method", "Queue.Len"),
    ]
    start = by_symbol(chunks, "Server.Start")
    assert start.text.startswith(
        "// Start listens and serves until the listener fails.\n// It never returns nil.\n"
    )


def test_rust_impls_traits_attributes() -> None:
    chunks = chunks_of("shapes.rs")
    point = by_symbol(chunks, "Point")
    assert (point.kind, point.start_line) == ("struct", 5)
    assert point.text.startswith("/// A point in the plane.\n#[derive(Debug, Clone, Copy)]\npub struct Point")
    origin = by_symbol(chunks, "Point.origin")
    assert origin.kind == "method"
    assert origin.context == "point origin"
    assert origin.text.lstrip().startswith("/// The origin.")
    # One method: the impl is still cut at it, so a query finds `Wrapper.fmt` by its name.
    assert by_symbol(chunks, "Wrapper").kind == "impl"
    fmt = by_symbol(chunks, "Wrapper.fmt")
    assert (fmt.kind, fmt.context) == ("method", "wrapper fmt")
    assert "fn fmt" in fmt.text and "impl" not in fmt.text
    describe = by_symbol(chunks, "Area.describe")
    assert (describe.kind, describe.context) == ("method", "area describe")
    assert by_symbol(chunks, "tests").kind == "module"


def test_rust_trait_impl_is_cut_at_its_methods() -> None:
    text = (
        "impl<T: Clone> fmt::Display for Foo<T> {\n"
        "    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {\n"
        '        write!(f, "foo")\n'
        "    }\n"
        "\n"
        "    fn other(&self) -> u8 {\n"
        "        1\n"
        "    }\n"
        "}\n"
    )
    chunks = chunk_file("foo.rs", text)
    assert outline(chunks) == [
        (1, 1, "impl", "Foo"),
        (2, 5, "method", "Foo.fmt"),
        (6, 9, "method", "Foo.other"),
    ]
    assert chunks[1].context == "foo fmt"


def test_java_javadoc_annotations_nested_classes() -> None:
    chunks = chunks_of("App.java")
    app = by_symbol(chunks, "App")
    assert app.start_line == 6 and app.text.startswith("/**\n * Entry point")
    count = by_symbol(chunks, "App.count")
    assert count.text.lstrip().startswith("/** Counts one word. */\n    @Override")
    assert count.context == "app count"
    assert by_symbol(chunks, "App.Inner").kind == "class"
    assert by_symbol(chunks, "App.Mode").kind == "enum"
    assert by_symbol(chunks, "Greeter").kind == "interface"


def test_javascript_jsdoc_exports_and_arrow_functions() -> None:
    chunks = chunks_of("cart.js")
    cart = by_symbol(chunks, "Cart")
    assert cart.text.startswith("/**\n * A shopping cart.")
    assert by_symbol(chunks, "Cart.add").context == "cart add"
    assert by_symbol(chunks, "Cart.add").text.lstrip().startswith("/** Adds an item. */")
    assert by_symbol(chunks, "checkout").kind == "function"
    assert by_symbol(chunks, "discount").kind == "function"


def test_typescript_and_tsx() -> None:
    ts = chunks_of("api.ts")
    kinds = {c.symbol: c.kind for c in ts}
    assert kinds["User"] == "interface"
    assert kinds["UserId"] == "type"
    assert kinds["Role"] == "enum"
    assert kinds["UserClient.get"] == "method"
    assert kinds["Util"] == "namespace"
    assert kinds["isAdmin"] == "function"
    tsx = chunks_of("Button.tsx")
    assert all(c.language == "tsx" for c in tsx)
    button = by_symbol(tsx, "Button")
    assert button.text.startswith("/** A button with a label. */\nexport function Button")
    assert by_symbol(tsx, "IconButton").kind == "function"


def test_c_and_cpp() -> None:
    c = chunks_of("list.c")
    assert {(x.symbol, x.kind) for x in c} >= {
        ("node", "struct"),
        ("list_t", "struct"),
        ("list_push", "function"),
        ("xmalloc", "function"),
    }
    assert by_symbol(c, "list_push").text.startswith("/* Pushes a value at the front. */")
    cpp = chunks_of("widget.cpp")
    assert by_symbol(cpp, "ui.Widget.width").kind == "method"
    assert by_symbol(cpp, "ui.Widget.width").context == "ui widget width"
    # An out-of-class definition names its class in its own code: only `ui` encloses it.
    assert by_symbol(cpp, "ui.Widget.draw").context == "ui draw"
    assert by_symbol(cpp, "ui.clamp").text.startswith("template <typename T>")


def test_csharp_namespaces_and_attributes() -> None:
    chunks = chunks_of("Service.cs")
    service = by_symbol(chunks, "Example.Services.OrderService")
    assert service.text.lstrip().startswith("/// <summary>Stores orders.</summary>\n    [Serializable]")
    find = by_symbol(chunks, "Example.Services.OrderService.Find")
    assert find.kind == "method"
    assert find.context == "example services order service find"
    assert by_symbol(chunks, "Example.Services.IOrderService").kind == "interface"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "greeter.rb",
            {
                "Greetings": "module",
                "Greetings.Greeter": "class",
                "Greetings.Greeter.greet": "method",
                "Greetings.Greeter.default": "method",
                "shout": "method",
            },
        ),
        ("Repo.php", {"UserRepo": "class", "UserRepo.find": "method", "helper": "function"}),
        (
            "Stack.kt",
            {
                "Stack": "class",
                "Stack.push": "method",
                "Stack.Companion": "class",
                "Registry": "class",
                "Shape": "interface",
                "biggest": "function",
            },
        ),
        (
            "Counter.swift",
            {
                "Counter": "class",
                "Counter.init": "method",
                "Counter.increment": "method",
                "Point": "struct",
                "Drawable": "interface",
                "Direction": "enum",
                "distance": "function",
            },
        ),
        ("Shapes.scala", {"Shape": "trait", "Circle": "class", "Circle.scale": "method", "main": "function"}),
        ("deploy.sh", {"log": "function", "deploy": "function"}),
        ("util.lua", {"M.split": "function", "M.trim": "method", "helper": "function", "join": "function"}),
    ],
)
def test_symbols_and_kinds(name: str, expected: dict[str, str]) -> None:
    chunks = chunks_of(name)
    found: dict[str, str | None] = {}
    for chunk in chunks:  # the first chunk of a symbol: a Swift extension reuses its type's name
        if chunk.symbol is not None:
            found.setdefault(chunk.symbol, chunk.kind)
    assert {symbol: found.get(symbol) for symbol in expected} == expected


def test_ruby_comment_inside_module_goes_with_the_class() -> None:
    greeter = by_symbol(chunks_of("greeter.rb"), "Greetings.Greeter")
    assert greeter.text.lstrip().startswith("# Says hello.\n  class Greeter")
    assert greeter.context == "module Greetings"


def test_swift_extension_is_an_impl_of_its_type() -> None:
    chunks = chunks_of("Counter.swift")
    extension = [c for c in chunks if c.kind == "impl"]
    assert [(c.symbol, c.start_line) for c in extension] == [("Point", 29)]


def test_markdown_sections_ignore_hashes_in_code_fences() -> None:
    chunks = chunks_of("guide.md")
    assert outline(chunks) == [
        (1, 4, "section", "User guide"),
        (5, 13, "section", "Install"),
        (14, 15, "section", "Usage"),
        (16, 19, "section", "Search"),
        (20, 22, "section", "Index"),
    ]
    assert "# this is a comment, not a heading" in chunks[1].text
    assert chunks[3].context == "# User guide\n## Usage"


def test_plain_text_is_cut_into_windows() -> None:
    chunks = chunks_of("notes.txt")
    assert outline(chunks) == [(1, 4, "text", None)]
    assert chunks[0].language == "text"


def test_class_with_one_method_is_cut_at_it() -> None:
    """The method is what a query about it finds, under its own name (`A.f`, a method, not
    the class `A`), as in a class with several: over every query of twelve corpora,
    semantic MRR rose on three and fell on none (docs/benchmarks.md, "Qualified names in
    words")."""
    chunks = chunk_file("a.py", "class A:\n    x = 1\n\n    def f(self):\n        return self.x\n")
    assert outline(chunks) == [(1, 3, "class", "A"), (4, 5, "method", "A.f")]
    assert chunks[1].context == "a f"


def test_oversized_function_is_split_at_statements_with_signature_in_context() -> None:
    body = "".join(
        f"        value_{i} = compute_something_long(argument_{i}, other_{i})\n" for i in range(40)
    )
    text = f"class Engine(Base):\n    def run(self, plan):\n{body}        return plan\n"
    chunks = chunk_file("engine.py", text, max_tokens=200)
    assert len(chunks) > 3
    assert chunks[0].symbol == "Engine" and chunks[0].kind == "class"
    pieces = chunks[1:]
    assert {c.symbol for c in pieces} == {"Engine.run"} and {c.kind for c in pieces} == {"method"}
    assert pieces[0].text.startswith("    def run(self, plan):")
    assert pieces[0].context == "run\nclass Engine(Base):"
    for piece in pieces[1:]:
        assert piece.context == "class Engine(Base):\ndef run(self, plan):"
    for chunk in chunks:
        assert len(chunk.embed_text) // 3 <= 200


def test_oversized_class_is_split_per_method_recursively() -> None:
    methods = "".join(
        f"    def method_{m}(self):\n" + "".join(f"        self.v{i} = {i} * {m}\n" for i in range(30)) + "\n"
        for m in range(3)
    )
    text = "class Big:\n    '''Doc.'''\n\n" + methods
    chunks = chunk_file("big.py", text, max_tokens=120)
    symbols = [c.symbol for c in chunks]
    assert symbols[0] == "Big"
    assert symbols.count("Big.method_1") > 1  # too long for one chunk: split again
    # Every piece says where it lives; the first of each method says its name first.
    assert all("class Big:" in c.context.splitlines()[:2] for c in chunks[1:])


def test_single_huge_statement_falls_back_to_line_windows() -> None:
    text = "def f():\n    return (\n" + "".join(f"        'line {i}'\n" for i in range(200)) + "    )\n"
    chunks = chunk_file("huge.py", text, max_tokens=64)
    assert len(chunks) > 5
    assert {c.symbol for c in chunks} == {"f"}
    assert all(c.start_line <= c.end_line for c in chunks)


def test_neighbouring_statements_merge_into_blocks_up_to_the_budget() -> None:
    text = "".join(f"CONSTANT_{i} = {i}\n" for i in range(100))
    chunks = chunk_file("consts.py", text, max_tokens=80)
    assert 5 < len(chunks) < 30
    assert {c.kind for c in chunks} == {"block"}
    for chunk in chunks:
        assert len(chunk.embed_text) // 3 <= 80


def test_crlf_and_missing_trailing_newline() -> None:
    text = "import os\r\n\r\ndef f():\r\n    return 1\r\n\r\ndef g():\r\n    return 2"
    chunks = chunk_file("crlf.py", text)
    assert outline(chunks) == [(1, 2, "imports", None), (3, 5, "function", "f"), (6, 7, "function", "g")]
    assert chunks[1].text == "def f():\n    return 1\n"
    assert chunks[2].text == "def g():\n    return 2"


def test_empty_and_blank_files_have_no_chunks() -> None:
    assert chunk_file("a.py", "") == []
    assert chunk_file("a.py", "\n\n  \n\t\n") == []
    assert chunk_file("a.txt", "") == []


def test_invalid_syntax_still_chunks_around_the_damage() -> None:
    python = "def ok():\n    return 1\n\ndef broken():\n    x = = 2\n\nclass C:\n    def m(self): pass\n"
    assert [c.symbol for c in chunk_file("bad.py", python)] == ["ok", "broken", "C", "C.m"]
    go = "package x\n\nfunc ok() int {\n\treturn 1\n}\n\nfunc broken( {\n\tx := := 2\n}\n\nfunc later() {}\n"
    assert [c.symbol for c in chunk_file("bad.go", go)] == [None, "ok", "broken", "later"]


def test_hopeless_parse_falls_back_to_line_windows() -> None:
    # Python's recovery gives up on an unclosed parameter list: one ERROR spans the file.
    text = "def ok():\n    return 1\n\ndef broken(:\n    x = = 2\n\nclass C:\n    def m(self): pass\n"
    assert [(c.start_line, c.end_line, c.kind) for c in chunk_file("bad.py", text)] == [(1, 8, "text")]


def test_c_header_with_cpp_code_uses_the_cpp_grammar() -> None:
    text = "".join(
        f"class Widget{i} : public Base {{\n public:\n  template <typename T> T get() const;\n  int x_{{0}};\n}};\n\n"
        for i in range(6)
    )
    chunks = chunk_file("widget.h", text)
    assert {c.language for c in chunks} == {"cpp"}
    assert [c.symbol for c in chunks if c.kind == "class"] == [f"Widget{i}" for i in range(6) for _ in (0, 1)]
    assert [c.symbol for c in chunks if c.kind == "method"] == [f"Widget{i}.get" for i in range(6)]
    assert all(c.declaration for c in chunks if c.kind == "method")  # prototypes


def test_language_argument_overrides_the_path() -> None:
    chunks = chunk_file("script", "def f():\n    pass\n", language="python")
    assert outline(chunks) == [(1, 2, "function", "f")]


def test_max_tokens_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_file("a.py", "x = 1\n", max_tokens=0)


def test_custom_token_counter_is_used() -> None:
    text = "".join(f"x{i} = {i}\n" for i in range(20))
    # One token per character: blocks must be much smaller than with the default estimate.
    small = chunk_file("c.py", text, max_tokens=40, count_tokens=len)
    default = chunk_file("c.py", text, max_tokens=40)
    assert len(small) > len(default)


def test_the_chunk_that_starts_a_function_says_its_name_in_words() -> None:
    """`parseDuration` is embedded with `parse duration` first: a description of what a
    function does is often its name in other words. A whole function or method has the
    names of what encloses it and its own, in words, and nothing else in its context; the
    head of a long function cut in pieces has its own name's words and then the enclosing
    signatures, and later pieces carry its signature instead. What is not a function gets
    no name line."""
    js = "export function parseDuration(text) {\n  return Number(text.slice(0, -1)) * 60;\n}\n"
    (parse,) = [c for c in chunk_file("time.js", js) if c.symbol]
    assert parse.context == "parse duration"
    assert parse.embed_text.startswith("parse duration\nexport function parseDuration(text) {")
    go = "package web\n\ntype Server struct {\n\tAddr string\n}\n\nfunc (s *Server) ListenAndServeTLS() error {\n\treturn nil\n}\n"
    chunks = chunk_file("server.go", go)
    # A Go method's receiver is in its code (`func (s *Server)`): nothing encloses it.
    assert by_symbol(chunks, "Server.ListenAndServeTLS").context == "listen and serve tls"
    assert by_symbol(chunks, "Server").context == ""  # a type, not a function
    steps = "\n".join(f"        total_{i} = measure_column_{i}(rows, padding={i})" for i in range(60))
    long = f"class Report:\n    def render_table(self, rows):\n{steps}\n        return rows\n"
    pieces = [c for c in chunk_file("report.py", long, max_tokens=128) if c.symbol == "Report.render_table"]
    assert len(pieces) > 2
    assert pieces[0].context == "render table\nclass Report:"
    assert all(p.context == "class Report:\ndef render_table(self, rows):" for p in pieces[1:])
    assert all((len(p.embed_text) + 2) // 3 <= 128 for p in pieces)
