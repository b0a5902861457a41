"""Which language a file is in, and the tree-sitter grammar that parses it.

Grammars come only from the official per-language wheels (`tree_sitter_python`,
`tree_sitter_typescript`, ...), never from a bundle of prebuilt grammars: each wheel is
versioned and audited by its own project, and a grammar that fails to load costs only
structure (the file is cut into line windows), never the file.

`Language` objects are immutable and shared by every thread; a `Parser` keeps parse
state and is not thread-safe, so each thread gets its own.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import tree_sitter

log = logging.getLogger(__name__)

TEXT = "text"
MARKDOWN = "markdown"

SUPPORTED_LANGUAGES: tuple[str, ...] = (
    "python",
    "javascript",
    "typescript",
    "tsx",
    "go",
    "rust",
    "java",
    "c",
    "cpp",
    "csharp",
    "ruby",
    "php",
    "kotlin",
    "swift",
    "scala",
    "bash",
    "lua",
    MARKDOWN,
)
"""Languages chunked along their syntax tree. Every other text file is `"text"`."""

_EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",  # the JavaScript grammar parses JSX
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    # `.h` is shared by C and C++; C is the common case and the C++ grammar's extra
    # keywords would misparse plain C identifiers such as `class` or `new`.
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".h++": "cpp",
    ".ipp": "cpp",
    ".tpp": "cpp",
    ".inl": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".rake": "ruby",
    ".gemspec": "ruby",
    ".ru": "ruby",
    ".php": "php",
    ".phtml": "php",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".swift": "swift",
    ".scala": "scala",
    ".sc": "scala",
    ".sh": "bash",
    ".bash": "bash",
    ".zsh": "bash",
    ".ksh": "bash",
    ".lua": "lua",
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".mdown": MARKDOWN,
    ".mkd": MARKDOWN,
}

_FILE_NAMES: dict[str, str] = {
    "gemfile": "ruby",
    "rakefile": "ruby",
    "guardfile": "ruby",
    "podfile": "ruby",
    "vagrantfile": "ruby",
    "brewfile": "ruby",
    ".irbrc": "ruby",
    ".bashrc": "bash",
    ".bash_profile": "bash",
    ".bash_login": "bash",
    ".bash_logout": "bash",
    ".profile": "bash",
    ".zshrc": "bash",
    ".zprofile": "bash",
    ".zshenv": "bash",
    "pkgbuild": "bash",
    "apkbuild": "bash",
}

# Interpreter names in a `#!` line, after version suffixes are removed (python3.11 -> python).
_INTERPRETERS: dict[str, str] = {
    "python": "python",
    "pypy": "python",
    "node": "javascript",
    "nodejs": "javascript",
    "bun": "javascript",
    "deno": "typescript",
    "ts-node": "typescript",
    "tsx": "typescript",
    "sh": "bash",
    "bash": "bash",
    "dash": "bash",
    "ash": "bash",
    "ksh": "bash",
    "zsh": "bash",
    "ruby": "ruby",
    "php": "php",
    "lua": "lua",
    "luajit": "lua",
    "scala": "scala",
    "kotlin": "kotlin",
    "swift": "swift",
}

_VERSION_SUFFIX = re.compile(r"[\d.]+$")


def language_for_path(path: str, first_line: str = "") -> str:
    """The language of a file, from its extension, its well-known name, or its `#!` line.

    Returns one of `SUPPORTED_LANGUAGES`, or `"text"` for any other text file.
    """
    name = os.path.basename(path.replace("\\", "/")).lower()
    by_name = _FILE_NAMES.get(name)
    if by_name is not None:
        return by_name
    _, ext = os.path.splitext(name)
    by_extension = _EXTENSIONS.get(ext)
    if by_extension is not None:
        return by_extension
    return _language_from_shebang(first_line) or TEXT


def _language_from_shebang(first_line: str) -> str | None:
    if not first_line.startswith("#!"):
        return None
    words = first_line[2:].strip().split()
    if not words:
        return None
    program = os.path.basename(words[0])
    if program == "env":
        # `#!/usr/bin/env -S deno run`, `#!/usr/bin/env VAR=1 python3`: skip options and assignments.
        rest = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if not rest:
            return None
        program = os.path.basename(rest[0])
    program = _VERSION_SUFFIX.sub("", program.lower()) or program.lower()
    return _INTERPRETERS.get(program)


@dataclass(frozen=True)
class GrammarSpec:
    """How one language's syntax tree maps onto chunks.

    `definitions` maps node types to chunk kinds; the chunker refines a few by looking
    inside the node (a Go `type_declaration` is a struct or an interface, a Kotlin
    `class_declaration` may be an interface, ...). `wrappers` hold one definition and
    add to it (Python decorators, `export`, C++ `template<...>`). `comments` and
    `attributes` directly above a definition belong to its chunk.
    """

    language: str
    module: str
    function: str
    definitions: dict[str, str]
    comments: frozenset[str] = frozenset({"comment"})
    wrappers: frozenset[str] = frozenset()
    attributes: frozenset[str] = frozenset()
    # Variable declarations whose value may be a function (`const f = () => ...`).
    bindings: frozenset[str] = frozenset()
    function_values: frozenset[str] = frozenset()


_JS_DEFINITIONS = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "class_declaration": "class",
    "class": "class",
    "method_definition": "method",
}
_TS_DEFINITIONS = {
    **_JS_DEFINITIONS,
    "abstract_class_declaration": "class",
    "interface_declaration": "interface",
    "type_alias_declaration": "type",
    "enum_declaration": "enum",
    "internal_module": "namespace",
    "module": "namespace",
    "function_signature": "function",
    "method_signature": "method",
    "abstract_method_signature": "method",
}
_JS_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_C_DEFINITIONS = {
    "function_definition": "function",
    "declaration": "function",  # a prototype; the chunker keeps only those
    "struct_specifier": "struct",
    "union_specifier": "struct",
    "enum_specifier": "enum",
    "type_definition": "type",
}

GRAMMARS: dict[str, GrammarSpec] = {
    spec.language: spec
    for spec in (
        GrammarSpec(
            "python",
            "tree_sitter_python",
            "language",
            {"function_definition": "function", "class_definition": "class"},
            wrappers=frozenset({"decorated_definition"}),
        ),
        GrammarSpec(
            "javascript",
            "tree_sitter_javascript",
            "language",
            _JS_DEFINITIONS,
            wrappers=frozenset({"export_statement"}),
            # `exports.parse = function (...)`, `app.use = function use(...)`: CommonJS
            # modules define their API by assignment.
            bindings=frozenset({"lexical_declaration", "variable_declaration", "expression_statement"}),
            function_values=_JS_FUNCTION_VALUES,
        ),
        GrammarSpec(
            "typescript",
            "tree_sitter_typescript",
            "language_typescript",
            _TS_DEFINITIONS,
            wrappers=frozenset({"export_statement", "ambient_declaration"}),
            bindings=frozenset({"lexical_declaration", "variable_declaration"}),
            function_values=_JS_FUNCTION_VALUES,
        ),
        GrammarSpec(
            "tsx",
            "tree_sitter_typescript",
            "language_tsx",
            _TS_DEFINITIONS,
            wrappers=frozenset({"export_statement", "ambient_declaration"}),
            bindings=frozenset({"lexical_declaration", "variable_declaration"}),
            function_values=_JS_FUNCTION_VALUES,
        ),
        GrammarSpec(
            "go",
            "tree_sitter_go",
            "language",
            {"function_declaration": "function", "method_declaration": "method", "type_declaration": "type"},
        ),
        GrammarSpec(
            "rust",
            "tree_sitter_rust",
            "language",
            {
                "function_item": "function",
                "function_signature_item": "function",
                "struct_item": "struct",
                "union_item": "struct",
                "enum_item": "enum",
                "trait_item": "trait",
                "impl_item": "impl",
                "mod_item": "module",
                "type_item": "type",
                "macro_definition": "function",
            },
            comments=frozenset({"line_comment", "block_comment"}),
            attributes=frozenset({"attribute_item"}),
        ),
        GrammarSpec(
            "java",
            "tree_sitter_java",
            "language",
            {
                "class_declaration": "class",
                "interface_declaration": "interface",
                "enum_declaration": "enum",
                "record_declaration": "class",
                "annotation_type_declaration": "interface",
                "method_declaration": "method",
                "constructor_declaration": "method",
                "compact_constructor_declaration": "method",
            },
            comments=frozenset({"line_comment", "block_comment"}),
        ),
        GrammarSpec("c", "tree_sitter_c", "language", _C_DEFINITIONS),
        GrammarSpec(
            "cpp",
            "tree_sitter_cpp",
            "language",
            {**_C_DEFINITIONS, "class_specifier": "class", "namespace_definition": "namespace"},
            wrappers=frozenset({"template_declaration"}),
        ),
        GrammarSpec(
            "csharp",
            "tree_sitter_c_sharp",
            "language",
            {
                "namespace_declaration": "namespace",
                "file_scoped_namespace_declaration": "namespace",
                "class_declaration": "class",
                "struct_declaration": "struct",
                "record_declaration": "class",
                "record_struct_declaration": "struct",
                "interface_declaration": "interface",
                "enum_declaration": "enum",
                "method_declaration": "method",
                "constructor_declaration": "method",
                "destructor_declaration": "method",
                "operator_declaration": "method",
                "local_function_statement": "function",
                "delegate_declaration": "type",
            },
        ),
        GrammarSpec(
            "ruby",
            "tree_sitter_ruby",
            "language",
            {"method": "method", "singleton_method": "method", "class": "class", "module": "module"},
        ),
        GrammarSpec(
            "php",
            "tree_sitter_php",
            "language_php",
            {
                "class_declaration": "class",
                "interface_declaration": "interface",
                "trait_declaration": "trait",
                "enum_declaration": "enum",
                "function_definition": "function",
                "method_declaration": "method",
                "namespace_definition": "namespace",
            },
        ),
        GrammarSpec(
            "kotlin",
            "tree_sitter_kotlin",
            "language",
            {
                "class_declaration": "class",
                "object_declaration": "class",
                "companion_object": "class",
                "function_declaration": "function",
                "secondary_constructor": "method",
                "type_alias": "type",
            },
            comments=frozenset({"line_comment", "block_comment"}),
        ),
        GrammarSpec(
            "swift",
            "tree_sitter_swift",
            "language",
            {
                "class_declaration": "class",
                "protocol_declaration": "interface",
                "function_declaration": "function",
                "protocol_function_declaration": "method",
                "init_declaration": "method",
                "deinit_declaration": "method",
                "subscript_declaration": "method",
                "typealias_declaration": "type",
            },
            comments=frozenset({"comment", "multiline_comment"}),
        ),
        GrammarSpec(
            "scala",
            "tree_sitter_scala",
            "language",
            {
                "class_definition": "class",
                "object_definition": "class",
                "trait_definition": "trait",
                "enum_definition": "enum",
                "function_definition": "function",
                "function_declaration": "function",
                "type_definition": "type",
            },
            comments=frozenset({"comment", "block_comment"}),
        ),
        GrammarSpec("bash", "tree_sitter_bash", "language", {"function_definition": "function"}),
        GrammarSpec(
            "lua",
            "tree_sitter_lua",
            "language",
            {"function_declaration": "function"},
            bindings=frozenset({"variable_declaration", "assignment_statement"}),
            function_values=frozenset({"function_definition"}),
        ),
        GrammarSpec(
            MARKDOWN, "tree_sitter_markdown", "language", {"section": "section"}, comments=frozenset()
        ),
    )
}


class GrammarRegistry:
    """Loads each grammar once, on first use, and hands out one parser per thread.

    A grammar that cannot be loaded (wheel missing, or built for an ABI this
    tree-sitter does not read) is reported once and then answered with `None`, so
    its files fall back to line windows instead of failing every time.
    """

    def __init__(self, loader: Callable[[GrammarSpec], object] | None = None) -> None:
        self._loader = loader or _load_capsule
        self._languages: dict[str, tree_sitter.Language | None] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def language(self, name: str) -> tree_sitter.Language | None:
        if name in self._languages:
            return self._languages[name]
        with self._lock:
            if name not in self._languages:
                self._languages[name] = self._load(name)
            return self._languages[name]

    def parser(self, name: str) -> tree_sitter.Parser | None:
        parsers: dict[str, tree_sitter.Parser] | None = getattr(self._local, "parsers", None)
        if parsers is None:
            parsers = self._local.parsers = {}
        parser = parsers.get(name)
        if parser is None:
            language = self.language(name)
            if language is None:
                return None
            parser = parsers[name] = tree_sitter.Parser(language)
        return parser

    def _load(self, name: str) -> tree_sitter.Language | None:
        spec = GRAMMARS.get(name)
        if spec is None:
            return None
        try:
            return tree_sitter.Language(self._loader(spec))
        except Exception as exc:  # ImportError, ABI ValueError, a broken wheel: all mean "no grammar"
            log.warning("tree-sitter grammar for %s is unavailable (%s); using line windows", name, exc)
            return None


def _load_capsule(spec: GrammarSpec) -> object:
    return getattr(importlib.import_module(spec.module), spec.function)()


# Grammars are read-only once loaded; sharing one registry spares every caller the
# load (tens of milliseconds per grammar). Parsers inside it are per thread.
DEFAULT_REGISTRY = GrammarRegistry()
