"""The one-vector-per-function baseline of `codeseek eval` (mode `functions`): which
functions it finds with the real grammars, and its search with the real bundled model."""

from __future__ import annotations

import textwrap
from pathlib import Path

from codeseek.embedding.base import Embedder
from codeseek.evaluation.baseline import FunctionIndex, find_functions, load_vectors


def functions(language: str, source: str, path: str = "f") -> list[tuple[int, int, str]]:
    text = textwrap.dedent(source).lstrip("\n")
    return [(f.start_line, f.end_line, f.text.splitlines()[0]) for f in find_functions(path, text, language)]


def test_python_functions_methods_nested_and_decorated() -> None:
    found = functions(
        "python",
        """
        import os

        LIMIT = 3

        @cache
        def outer(x):
            def inner(y):
                return y
            return inner(x)

        class Box:
            size = 1

            def grow(self):
                self.size += 1
        """,
    )
    assert found == [
        (5, 9, "@cache"),  # decorators belong to the definition's text
        (7, 8, "    def inner(y):"),
        (14, 15, "    def grow(self):"),
    ]


def test_javascript_declarations_bindings_assignments_and_methods() -> None:
    found = functions(
        "javascript",
        """
        function plain(a) { return a; }
        export const arrow = (a) => a + 1;
        exports.assigned = function assigned(a) { return a; };
        app.listen = function listen() { return this; };
        class Router { route(path) { return path; } }
        const notAFunction = 3;
        """,
    )
    assert [line for line, _, _ in found] == [1, 2, 3, 4, 5]
    assert found[1][2].startswith("export const arrow")


def test_go_rust_java_and_declarations_the_registry_calls_functions() -> None:
    assert [s for _, _, s in functions("go", "package a\n\nfunc F() {}\n\nfunc (r *R) M() {}\n")] == [
        "func F() {}",
        "func (r *R) M() {}",
    ]
    rust = "trait T {\n    fn sig(&self);\n}\nimpl T for S {\n    fn sig(&self) {}\n}\n"
    assert [line for line, _, _ in functions("rust", rust)] == [2, 5]
    java = "class A {\n  void m() { return; }\n  A() {}\n}\n"
    assert [line for line, _, _ in functions("java", java)] == [2, 3]
    assert functions("markdown", "# Title\n\ntext\n") == []


def write(root: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip("\n"))
    return sorted(files)


FILES = {
    "geo.py": """
        import math

        def haversine(lat1, lon1, lat2, lon2):
            r = 6371.0
            p1, p2 = math.radians(lat1), math.radians(lat2)
            dp, dl = p2 - p1, math.radians(lon2 - lon1)
            a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
            return 2 * r * math.asin(math.sqrt(a))
        """,
    "text.js": """
        function slugify(title) {
          return title.toLowerCase().trim().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
        }

        function parseCsvLine(line) {
          return line.split(",").map((cell) => cell.trim());
        }
        """,
}


def test_search_ranks_by_cosine_and_the_cache_spares_the_model(minilm: Embedder, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    paths = write(root, FILES)
    cache = tmp_path / "cache" / "functions.npz"
    index = FunctionIndex.build(root, paths, minilm, cache)
    assert len(index.functions) == 3 and index.embedded == 3
    assert len(load_vectors(cache)) == 3

    (hit, *rest) = index.search("great-circle distance between two points on earth", minilm, 10)
    assert (hit.path, hit.start_line) == ("geo.py", 3)
    assert len(rest) == 2 and all(other.score <= hit.score for other in rest)
    (hit, *_) = index.search("turn a title into a URL-friendly slug", minilm, 1)
    assert (hit.path, hit.start_line, hit.end_line) == ("text.js", 1, 3)

    again = FunctionIndex.build(root, paths, minilm, cache)
    assert again.embedded == 0
    assert [h.start_line for h in again.search("split a comma separated line", minilm, 3)] == [
        h.start_line for h in index.search("split a comma separated line", minilm, 3)
    ]


def test_a_damaged_cache_costs_only_a_re_embedding(minilm: Embedder, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    paths = write(root, FILES)
    cache = tmp_path / "functions.npz"
    cache.write_bytes(b"not a numpy file")
    index = FunctionIndex.build(root, paths, minilm, cache)
    assert index.embedded == 3
    assert len(load_vectors(cache)) == 3


def test_no_functions_searches_to_nothing(minilm: Embedder, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    paths = write(root, {"README.md": "# Nothing here\n", "consts.py": "A = 1\n"})
    index = FunctionIndex.build(root, paths, minilm)
    assert index.functions == [] and index.search("anything", minilm, 10) == []
