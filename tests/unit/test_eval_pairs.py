"""eval's pair extraction, docstring stripping and hit rule, on small sources in each
language, with the real tree-sitter grammars."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from codeseek.chunking.chunker import chunk_file
from codeseek.chunking.languages import DEFAULT_REGISTRY
from codeseek.evaluation.pairs import (
    DocumentedFunction,
    EvalPair,
    build_pairs,
    find_documented_functions,
    first_paragraph,
    strip_docs,
)

REPO = Path(__file__).parents[1] / "data" / "eval" / "repo"


def docs(language: str, source: str, path: str = "f") -> list[DocumentedFunction]:
    return find_documented_functions(path, textwrap.dedent(source).lstrip("\n"), language)


def has_errors(language: str, text: str) -> bool:
    parser = DEFAULT_REGISTRY.parser(language)
    assert parser is not None
    return parser.parse(text.encode()).root_node.has_error


def test_python_docstring_first_paragraph_is_the_query() -> None:
    found = docs(
        "python",
        '''
        class Store:
            def load(self, path):
                """Load the records stored in a JSON file,
                creating it when missing.

                Args:
                    path: where the file is.
                """
                return read(path)
        ''',
    )
    assert [(f.name, f.start_line, f.end_line) for f in found] == [("Store.load", 2, 9)]
    assert found[0].query == "Load the records stored in a JSON file, creating it when missing."
    assert (found[0].doc_start_line, found[0].doc_end_line) == (3, 8)
    assert found[0].code_lines == 2


def test_python_decorated_function_spans_its_decorators_and_ignores_non_docstrings() -> None:
    found = docs(
        "python",
        '''
        @cached
        def area(r):
            r"""Area of a circle of radius r."""
            return 3.14 * r * r

        def f():
            x = "not a docstring, not the first statement"

        def g():
            f"""an f-string is no docstring {x}"""
        ''',
    )
    assert [(f.name, f.start_line, f.end_line, f.query) for f in found] == [
        ("area", 1, 4, "Area of a circle of radius r.")
    ]


def test_go_comment_lines_directly_above() -> None:
    found = docs(
        "go",
        """
        package p

        // Unrelated comment, separated by a blank line.

        //go:noinline
        // Sum adds up
        // the numbers.
        //
        // Second paragraph.
        func Sum(xs []int) int {
            return 0
        }

        func (s *Set) Add(x int) {}
        """,
    )
    assert [(f.name, f.query, f.doc_start_line, f.start_line) for f in found] == [
        ("Sum", "Sum adds up the numbers.", 6, 10)
    ]


def test_jsdoc_on_declarations_bindings_assignments_and_methods() -> None:
    found = docs(
        "javascript",
        """
        /**
         * Render the {@link View} named by `name`.
         * @param {string} name
         */

        app.render = function render(name) {
          return name;
        };

        /** Parse a header value into a list. */
        export const parse = (value) => value.split(",");

        class Router {
          /** Add a route to the table. */
          add(route) {}
        }

        // A plain comment is not JSDoc.
        function plain() {}
        """,
    )
    assert [(f.name, f.query) for f in found] == [
        ("app.render", "Render the View named by `name`."),
        ("parse", "Parse a header value into a list."),
        ("Router.add", "Add a route to the table."),
    ]
    assert found[0].start_line == 6  # blank lines between JSDoc and function are allowed
    assert found[1].start_line == 11  # the export statement


def test_typescript_and_java_javadoc() -> None:
    ts = docs(
        "typescript",
        """
        /** Compute the total of a cart. */
        export function total(items: Item[]): number {
          return 0;
        }
        """,
    )
    assert [(f.name, f.query) for f in ts] == [("total", "Compute the total of a cart.")]
    java = docs(
        "java",
        """
        class A {
            /**
             * Read the {@code bytes} of a file &amp; close it.<p>
             * More details.
             * @param path the file
             */
            @Override
            public byte[] read(String path) { return null; }

            /** Declarations without a body are found, as declarations. */
            abstract void nothing();
        }
        """,
    )
    assert [(f.name, f.query, f.start_line, f.declaration) for f in java] == [
        ("A.read", "Read the bytes of a file & close it.", 7, False),
        ("A.nothing", "Declarations without a body are found, as declarations.", 11, True),
    ]


def test_rust_doc_lines_with_attributes_between() -> None:
    found = docs(
        "rust",
        """
        impl Matrix {
            /// Multiply two [matrices](crate::Matrix) of [`f64`].
            ///
            /// Panics on a shape mismatch.
            #[inline]
            pub fn multiply(&self) -> Matrix {
                todo!()
            }

            // A plain comment.
            fn private(&self) {}

            //// Four slashes are not a doc comment.
            fn other(&self) {}
        }
        """,
    )
    assert [(f.name, f.query, f.doc_start_line, f.doc_end_line, f.start_line) for f in found] == [
        ("Matrix.multiply", "Multiply two matrices of f64.", 2, 4, 6)
    ]


@pytest.mark.parametrize(
    ("language", "name"),
    [
        ("python", "storage/cache.py"),
        ("go", "net/retry.go"),
        ("javascript", "web/slug.js"),
        ("typescript", "web/cart.ts"),
        ("java", "native/Checksum.java"),
        ("rust", "native/matrix.rs"),
    ],
)
def test_stripping_keeps_lines_and_syntax_and_removes_the_query(language: str, name: str) -> None:
    text = (REPO / name).read_text()
    found = find_documented_functions(name, text, language)
    assert found
    stripped = strip_docs(text, found)
    before, after = text.splitlines(), stripped.splitlines()
    assert len(after) == len(before)
    assert not has_errors(language, stripped)
    for f in found:
        first_words = " ".join(f.query.split()[:3])
        assert first_words not in stripped
        # The function itself is where it was: its signature line is unchanged.
        assert after[f.start_line - 1] == before[f.start_line - 1]
        if f.end_line > f.doc_end_line:
            assert after[f.end_line - 1] == before[f.end_line - 1]
    # Nothing but the docs changed.
    doc_lines = {n for f in found for n in range(f.doc_start_line, f.doc_end_line + 1)}
    assert all(a == b for n, (a, b) in enumerate(zip(before, after, strict=True), 1) if n not in doc_lines)


def test_python_body_that_was_only_a_docstring_still_parses() -> None:
    text = 'def stub():\n    """Only docs,\n    over two lines."""\n\nx = 1\n'
    stripped = strip_docs(text, find_documented_functions("s.py", text, "python"))
    assert stripped == "def stub():\n    ...\n\n\nx = 1\n"
    assert not has_errors("python", stripped)


def test_stripped_targets_keep_their_chunks_lines() -> None:
    text = (REPO / "storage" / "cache.py").read_text()
    found = find_documented_functions("storage/cache.py", text, "python")
    chunks = chunk_file("storage/cache.py", strip_docs(text, found), language="python")
    evict = next(f for f in found if f.name == "evict_expired")
    chunk = next(c for c in chunks if c.symbol == "evict_expired")
    # Chunks tile the file, so the blank lines after a function go with it.
    assert chunk.start_line == evict.start_line
    assert evict.end_line <= chunk.end_line <= evict.end_line + 2


def test_build_pairs_filters_like_codesearchnet_and_drops_ambiguous_queries() -> None:
    text = textwrap.dedent(
        '''
        def short():
            """Two words."""
            a = 1
            b = 2
            return a + b

        def test_addition():
            """Check that adding two numbers works."""
            assert 1 + 1 == 2
            assert 2 + 2 == 4
            assert 3 + 3 == 6

        def __repr__(self):
            """Show the object as a string for debugging."""
            a = 1
            b = 2
            return "x"

        def tiny():
            """Return the answer to everything, always."""
            return 42

        def copy_one():
            """Copy the file to the destination folder."""
            a = 1
            b = 2
            return a

        def copy_two():
            """Copy the file to the destination folder."""
            a = 1
            b = 2
            return b

        def kept():
            """Merge two sorted lists into one sorted list."""
            a = 1
            b = 2
            return a + b
        '''
    )
    found = find_documented_functions("m.py", text, "python")
    assert len(found) == 7
    assert [(p.symbol, p.query) for p in build_pairs(found)] == [
        ("kept", "Merge two sorted lists into one sorted list.")
    ]


def test_first_paragraph_stops_at_tags_fields_and_examples() -> None:
    assert first_paragraph("Open the file.\n:param path: where") == "Open the file."
    assert first_paragraph("\n\n  Open   the\n  file.\n\nMore.") == "Open the file."
    assert first_paragraph("Open it.\n@returns the handle", "javadoc") == "Open it."
    assert first_paragraph("Open it.\n>>> open('x')") == "Open it."
    assert first_paragraph("See [`Value`] and [docs](https://x).", "markdown") == "See Value and docs."
    assert first_paragraph("A list[int] stays.") == "A list[int] stays."


def test_hit_rule_is_same_file_and_overlapping_lines() -> None:
    pair = EvalPair("q", "src/a.py", "python", "f", 10, 20)
    assert pair.is_hit("src/a.py", 10, 20)
    assert pair.is_hit("src/a.py", 1, 10)  # overlaps its first line (a class chunk holding it)
    assert pair.is_hit("src/a.py", 15, 16)  # a piece of a split function
    assert pair.is_hit("src/a.py", 20, 40)
    assert not pair.is_hit("src/a.py", 1, 9)
    assert not pair.is_hit("src/a.py", 21, 30)
    assert not pair.is_hit("src/b.py", 10, 20)


def test_unknown_language_or_unparsable_text_gives_nothing() -> None:
    assert find_documented_functions("a.rb", "# doc\ndef f; end\n", "ruby") == []
    assert find_documented_functions("a.py", "\x00\x01 def (((", "python") == []


DECLARATIONS = [
    (
        "typescript",
        "lib/index.d.ts",
        """
        /** Add two numbers and return their sum. */
        export declare function add(a: number, b: number): number;
        export declare class Command {
          /** Register a new sub-command by name. */
          command(name: string): Command;
        }
        """,
    ),
    (
        "typescript",
        "src/api.ts",
        """
        export interface Store {
          /** Read one value by its key. */
          get(key: string): string;
        }
        /** Overload signatures document the implementation below. */
        export function pick(a: string): string;
        export function pick(a: string): string {
          return a;
        }
        """,
    ),
    (
        "go",
        "store.go",
        """
        package store

        type Store interface {
            // Get reads one value by its key.
            Get(key string) (string, error)
        }
        """,
    ),
    (
        "rust",
        "src/lib.rs",
        """
        pub trait Store {
            /// Read one value by its key.
            fn get(&self, key: &str) -> String;
        }
        """,
    ),
    (
        "python",
        "more.pyi",
        """
        def chunked(iterable, n):
            \"\"\"Break the iterable into lists of length n.\"\"\"
            ...
        """,
    ),
]


@pytest.mark.parametrize(("language", "path", "source"), DECLARATIONS)
def test_declarations_are_stripped_but_never_targets(language: str, path: str, source: str) -> None:
    text = textwrap.dedent(source).lstrip("\n")
    found = find_documented_functions(path, text, language)
    declared = [f for f in found if f.declaration]
    assert declared, found
    stripped = strip_docs(text, found)
    assert len(stripped.splitlines()) == len(text.splitlines())
    for f in declared:
        assert " ".join(f.query.split()[:3]) not in stripped
    assert build_pairs(declared) == []


def test_a_stub_repeating_the_docstring_leaves_the_implementation_its_pair() -> None:
    """A `.pyi` stub (or `.d.ts` typing) with the implementation's docs word for word
    must neither become a target nor make the query ambiguous."""
    code = 'def chunked(iterable, n):\n    """Break the iterable into lists of length n."""\n'
    code += "    out = []\n    for x in iterable:\n        out.append(x)\n    return out\n"
    stub = 'def chunked(iterable, n):\n    """Break the iterable into lists of length n."""\n    ...\n'
    found = find_documented_functions("more.py", code, "python")
    found += find_documented_functions("more.pyi", stub, "python")
    assert [f.declaration for f in found] == [False, True]
    assert [(p.path, p.symbol) for p in build_pairs(found)] == [("more.py", "chunked")]
