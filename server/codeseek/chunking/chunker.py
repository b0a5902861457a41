"""Cut a source file into chunks that follow its definitions.

The shape of the result, for every file:

* chunks tile the file: every line is in exactly one chunk, in order, with no gaps;
* a definition (function, class, impl, ...) starts a chunk, together with the doc
  comments, decorators and attributes directly above it;
* a definition over the token budget, or a class with methods (or several members), is
  split at its members (methods, statements of a long body), recursively; every piece
  carries the enclosing signatures in `context`, so the embedder sees where the code
  lives, and a whole function or method the names of what encloses it and its own, in
  words;
* small neighbouring statements (constants, top-level code) are merged into `block`
  chunks; imports get blocks of their own (kind `imports`), stored without a vector:
  they say which modules a file uses, not what it does, and would otherwise compete with
  the definitions for every query about those modules;
* what has no grammar, or parses badly, is cut into line windows.

Every chunk of a definition carries the definition's signature (the preview a user
reads, even for a piece from the middle of a long function) and, for a function split
in pieces, the whole function's lines (`def_start..def_end`): search returns the
definition once. A declaration without code (a `.pyi` stub, a `.d.ts` typing, a C
prototype, an `@overload` signature, an interface or abstract method, a body that is
only `...`, `pass`, a docstring or `raise NotImplementedError`) says so
(`declaration`), so search can rank the implementation of the same symbol above it.

Rows are 0-based inside this module and 1-based on `Chunk`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import tree_sitter

from codeseek.chunking.fallback import window_ranges
from codeseek.chunking.languages import (
    DEFAULT_REGISTRY,
    GRAMMARS,
    MARKDOWN,
    TEXT,
    GrammarRegistry,
    GrammarSpec,
    language_for_path,
)
from codeseek.embedding.base import estimate_tokens
from codeseek.model import Chunk, split_identifier

log = logging.getLogger(__name__)

# Kinds whose members are split out when there are several of them or one is a method
# (search precision: a query about one method should find that method, not its class).
CONTAINER_KINDS = frozenset(
    {"class", "struct", "interface", "trait", "impl", "enum", "module", "namespace", "section"}
)
# Containers whose function members are methods.
_METHOD_OWNERS = frozenset({"class", "struct", "interface", "trait", "impl", "enum"})
_FUNCTION_KINDS = frozenset({"function", "method"})

#: Seconds one file's parse may take before the file is cut into line windows instead.
PARSE_TIMEOUT_S = 2.0
_READ_SLICE = 1 << 16
# Grammars tried when a file's own grammar stumbles (errors on more than
# `_RETRY_ERROR_SHARE` of its lines).
_RETRY_GRAMMARS: dict[str, tuple[str, ...]] = {"c": ("cpp",)}
_RETRY_ERROR_SHARE = 0.2
# A parse is abandoned for line windows when errors touch more than this share of the
# lines: below it, error recovery keeps the valid definitions, and the damaged parts
# become blocks.
_MAX_ERROR_SHARE = 0.8
_MAX_ERROR_WALK = 200_000
# Recursion guard for pathological nesting; deeper pieces become line windows.
_MAX_DEPTH = 24
# One enclosing signature in `context` is kept to this many characters.
_MAX_SIGNATURE_CHARS = 200
_C_AGGREGATES = frozenset({"struct_specifier", "union_specifier", "enum_specifier", "class_specifier"})
_ATTRIBUTE_PREFIXES = ("@", "#[", "[")
_GENERIC_ARGS = re.compile(r"<[^<>]*(?:<[^<>]*>[^<>]*)*>|\[[^\[\]]*\]")
# Files that hold declarations only: type stubs and TypeScript typings.
_DECLARATION_SUFFIXES = (".pyi", ".d.ts", ".d.mts", ".d.cts")
# Definitions that are signatures without code, whatever file they are in.
_SIGNATURE_NODES = frozenset(
    {"function_signature", "method_signature", "abstract_method_signature", "function_signature_item"}
)
# Statements that import other modules, per language: they get blocks of their own.
_IMPORT_NODES: dict[str, frozenset[str]] = {
    "python": frozenset({"import_statement", "import_from_statement", "future_import_statement"}),
    "javascript": frozenset({"import_statement"}),
    "typescript": frozenset({"import_statement", "import_alias"}),
    "tsx": frozenset({"import_statement", "import_alias"}),
    "go": frozenset({"import_declaration"}),
    "rust": frozenset({"use_declaration", "extern_crate_declaration"}),
    "java": frozenset({"import_declaration"}),
    "c": frozenset({"preproc_include"}),
    "cpp": frozenset({"preproc_include", "using_declaration"}),
    "csharp": frozenset({"using_directive"}),
    "php": frozenset({"namespace_use_declaration"}),
    "kotlin": frozenset({"import_list", "import_header"}),
    "swift": frozenset({"import_declaration"}),
    "scala": frozenset({"import_declaration"}),
}
# `const fs = require('fs')`: an import in CommonJS.
_REQUIRE = re.compile(r"^(?:const|let|var)\s+[\w${}\s,:]+=\s*require\(\s*['\"][^'\"]+['\"]\s*\)[\w.]*;?$")
# A block with fewer words than this is not worth a vector (`package cobra`, `"use strict";`, `}`).
_TRIVIAL_WORDS = 3
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JS_NAME = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$")
_C_NAME = re.compile(r"^[A-Za-z_~][\w:~]*$")


def chunk_file(
    path: str,
    text: str,
    *,
    language: str | None = None,
    max_tokens: int = 256,
    count_tokens: Callable[[str], int] = estimate_tokens,
    registry: GrammarRegistry | None = None,
) -> list[Chunk]:
    """Chunks of one file, tiling its lines 1..N in order.

    `path` is the workspace-relative path recorded on each chunk (and part of what is
    embedded); `language` defaults to `language_for_path`. `max_tokens` bounds each
    chunk's `embed_text` as counted by `count_tokens`, except where a single line is
    longer than that. Never raises on any input text: what cannot be parsed is cut
    into line windows.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    lines = _split_lines(text)
    if not any(line.strip() for line in lines):
        return []
    if language is None:
        language = language_for_path(path, lines[0])
    registry = registry or DEFAULT_REGISTRY
    source = _Source(path, language, lines, max_tokens, count_tokens)
    try:
        data = text.encode("utf-8", "replace")
        parsed = _parse(registry, language, data, lines)
        if parsed is None:
            return source.windows(0, len(lines) - 1, _Scope.top())
        spec, root = parsed
        source.language = spec.language
        return _TreeChunker(source, spec, data).chunk(root)
    except Exception:  # a bug here must cost one file its structure, never the index run
        log.exception("%s: structural chunking failed, using line windows", path)
        return source.windows(0, len(lines) - 1, _Scope.top())


def _parse(
    registry: GrammarRegistry, language: str, data: bytes, lines: list[str]
) -> tuple[GrammarSpec, tree_sitter.Node] | None:
    """The syntax tree to chunk along, or None when there is no grammar or the parse is
    mostly errors. A `.h` file full of classes and templates is C++: when the C grammar
    stumbles, the C++ grammar gets a try, the better parse wins, and its chunks say `cpp`."""
    best: tuple[float, GrammarSpec, tree_sitter.Node] | None = None
    for candidate in (language, *_RETRY_GRAMMARS.get(language, ())):
        spec = GRAMMARS.get(candidate)
        parser = registry.parser(candidate) if spec is not None else None
        if spec is None or parser is None:
            continue
        root = _parse_with_deadline(parser, data)
        if root is None:
            continue
        share = _error_share(root, lines)
        if best is None or share < best[0]:
            best = (share, spec, root)
        if share <= _RETRY_ERROR_SHARE:
            break
    if best is None or best[0] > _MAX_ERROR_SHARE:
        return None
    return best[1], best[2]


def _parse_with_deadline(parser: tree_sitter.Parser, data: bytes) -> tree_sitter.Node | None:
    """Parse, giving up after `PARSE_TIMEOUT_S`: some inputs (megabytes of minified code,
    binary noise) cost a grammar seconds, and line windows serve them as well.
    tree-sitter only reports progress when it reads through a callback."""
    deadline = time.monotonic() + PARSE_TIMEOUT_S

    def read(offset: int, _point: object) -> bytes:
        return data[offset : offset + _READ_SLICE]

    def past_deadline(*_state: object) -> bool:
        return time.monotonic() > deadline

    try:
        tree = parser.parse(read, progress_callback=past_deadline)
    except ValueError:  # "Parsing failed": cancelled by the callback
        parser.reset()  # otherwise the next parse would resume this one
        log.debug("parse cancelled after %.1f s", PARSE_TIMEOUT_S)
        return None
    return tree.root_node


def _split_lines(text: str) -> list[str]:
    """The file's lines without terminators. tree-sitter counts rows at `\\n` only, so
    lines are split there too; the `\\r` of a CRLF ending is dropped from the text."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _error_share(root: tree_sitter.Node, lines: list[str]) -> float:
    """The share of non-blank lines that a syntax error touches. Only the paths that
    lead to errors are walked (`has_error` marks them), up to a bound."""
    if not root.has_error:
        return 0.0
    touched = bytearray(len(lines))
    stack = [root]
    visited = 0
    while stack:
        node = stack.pop()
        visited += 1
        if visited > _MAX_ERROR_WALK:
            return 1.0  # errors everywhere
        if node.type == "ERROR" or node.is_missing:
            first = min(node.start_point.row, len(lines) - 1)
            last = min(_end_row(node), len(lines) - 1)
            touched[first : last + 1] = b"\x01" * (last - first + 1)
            continue
        stack.extend(child for child in node.children if child.has_error)
    content = [i for i, line in enumerate(lines) if line.strip()]
    return sum(touched[i] for i in content) / max(1, len(content))


def _end_row(node: tree_sitter.Node) -> int:
    """The last row that holds any of the node's text. Nodes that swallow their line
    break (Rust `///` comments, C `#include`) end at column 0 of the next row."""
    end = node.end_point
    if end.column == 0 and end.row > node.start_point.row:
        return end.row - 1
    return end.row


@dataclass(frozen=True)
class _Scope:
    """Where a run of sibling nodes lives: the names and signatures around it, and what
    the pieces that are not definitions of their own are called."""

    qualifier: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    owner_kind: str | None = None  # kind of the enclosing definition
    piece_kind: str = "block"
    piece_symbol: str | None = None
    depth: int = 0
    # What pieces of a split definition carry: its signature, its rows (functions only:
    # a class's pieces are its members, each found on its own) and whether it has code.
    piece_signature: str | None = None
    piece_rows: tuple[int, int] | None = None
    piece_declaration: bool = False
    piece_dense: bool = True

    @staticmethod
    def top() -> _Scope:
        return _Scope(piece_kind=TEXT)


@dataclass
class _Definition:
    node: tree_sitter.Node  # the definition itself, inside any wrapper
    kind: str
    name: str


@dataclass
class _Item:
    """One member of a scope, with the comments and attributes that belong to it."""

    start: int
    end: int
    node: tree_sitter.Node
    definition: _Definition | None = None
    is_comment: bool = False
    is_import: bool = False


@dataclass
class _Group:
    """Rows that become one chunk (or are split further)."""

    start: int
    end: int
    items: list[_Item]
    definition: _Definition | None = None
    is_header: bool = False


class _Source:
    """The file's lines and what each costs, and the construction of chunks from rows."""

    def __init__(
        self,
        path: str,
        language: str,
        lines: list[str],
        max_tokens: int,
        count_tokens: Callable[[str], int],
    ) -> None:
        self.path = path
        self.language = language
        self.lines = lines
        self.max_tokens = max_tokens
        self.count_tokens = count_tokens
        # Tokens of a row range are summed per line: exact enough for sizing, and it
        # makes every "does this fit" question O(1) instead of re-tokenising text.
        if count_tokens is estimate_tokens:
            self.line_tokens = [(len(line) + 3) // 3 for line in lines]  # the same sum, 5x faster
        else:
            self.line_tokens = [count_tokens(line + "\n") for line in lines]
        self._prefix = [0]
        for cost in self.line_tokens:
            self._prefix.append(self._prefix[-1] + cost)
        self._header_tokens: dict[tuple[str, ...], int] = {}
        self.declaration_file = path.lower().endswith(_DECLARATION_SUFFIXES)

    def tokens(self, start: int, end: int) -> int:
        return self._prefix[end + 1] - self._prefix[start]

    def budget(self, context: tuple[str, ...]) -> int:
        """Tokens left for the code once the context is in (`Chunk.embed_text`)."""
        cost = self._header_tokens.get(context)
        if cost is None:
            header = "".join(line + "\n" for line in context)
            cost = self._header_tokens[context] = self.count_tokens(header)
        return self.max_tokens - cost

    def fits(self, start: int, end: int, context: tuple[str, ...]) -> bool:
        return self.tokens(start, end) <= self.budget(context)

    def fit_context(self, context: tuple[str, ...]) -> tuple[str, ...]:
        """Drop the outermost signatures while they would eat more than half the budget."""
        while context and self.budget(context) < self.max_tokens // 2:
            context = context[1:]
        return context

    def chunk(
        self,
        start: int,
        end: int,
        kind: str | None,
        symbol: str | None,
        context: tuple[str, ...],
        *,
        signature: str | None = None,
        rows: tuple[int, int] | None = None,
        declaration: bool = False,
        dense: bool = True,
    ) -> Chunk:
        text = "\n".join(self.lines[start : end + 1])
        if symbol is None and dense and len(_WORD.findall(text)) < _TRIVIAL_WORDS:
            dense = False  # a stray `}` or `package foo`: found by its words, no vector
        first, last = rows if rows is not None else (start, end)
        return Chunk(
            path=self.path,
            language=self.language,
            start_line=start + 1,
            end_line=end + 1,
            text=text,
            symbol=symbol,
            kind=kind,
            context="\n".join(context),
            signature=signature,
            def_start=first + 1,
            def_end=last + 1,
            declaration=declaration or self.declaration_file,
            dense=dense,
        )

    def piece(self, start: int, end: int, scope: _Scope, context: tuple[str, ...]) -> Chunk:
        """A chunk that is not a definition of its own: a block of statements, or a piece
        of the definition the scope is in."""
        return self.chunk(
            start,
            end,
            scope.piece_kind,
            scope.piece_symbol,
            context,
            signature=scope.piece_signature,
            rows=scope.piece_rows,
            declaration=scope.piece_declaration,
            dense=scope.piece_dense,
        )

    def windows(
        self, start: int, end: int, scope: _Scope, context: tuple[str, ...] | None = None
    ) -> list[Chunk]:
        context = scope.context if context is None else context
        budget = self.budget(context)
        return [
            self.piece(s, e, scope, context)
            for s, e in window_ranges(self.lines, self.line_tokens, start, end, budget)
        ]

    def trimmed(self, start: int, end: int) -> tuple[int, int]:
        """Rows `start..end` without the blank lines at either end."""
        while start < end and not self.lines[start].strip():
            start += 1
        while end > start and not self.lines[end].strip():
            end -= 1
        return start, end


class _TreeChunker:
    def __init__(self, source: _Source, spec: GrammarSpec, data: bytes) -> None:
        self.source = source
        self.spec = spec
        self.data = data
        self.language = spec.language
        # Each member is asked "are you a definition?" more than once (splitting policy,
        # then grouping); the answer is read from the tree once.
        self._definitions: dict[int, _Definition | None] = {}

    def chunk(self, root: tree_sitter.Node) -> list[Chunk]:
        last = len(self.source.lines) - 1
        return self._scope(root.named_children, 0, last, _Scope(), header_end=None)

    # --- one scope: a run of sibling nodes tiling rows start..end -------------------

    def _scope(
        self,
        members: Sequence[tree_sitter.Node],
        start: int,
        end: int,
        scope: _Scope,
        header_end: int | None,
        outer_context: tuple[str, ...] = (),
    ) -> list[Chunk]:
        """Chunks tiling rows `start..end`, built from `members` (the nodes in that range).

        When `header_end` is set the range is a split definition: rows up to it are its
        signature, and become a piece of their own (with the leading non-definition
        members, such as fields and docstrings) under `outer_context`.
        """
        source = self.source
        items = self._items(members, start, end)
        groups = self._groups(items, start, end, scope, header_end, outer_context)
        if not groups:
            return source.windows(start, end, scope)
        chunks: list[Chunk] = []
        for group in groups:
            context = outer_context if group.is_header else scope.context
            definition = group.definition
            if definition is not None and not group.is_header:
                chunks.extend(self._definition(group, definition, scope))
                continue
            group_scope = scope
            if scope.piece_symbol is None and _imports_only(group.items):
                group_scope = dataclasses.replace(scope, piece_kind="imports", piece_dense=False)
            if source.fits(group.start, group.end, context):
                chunks.append(source.piece(group.start, group.end, group_scope, context))
            else:
                chunks.extend(self._oversized_statements(group, group_scope, context))
        return chunks

    def _items(self, members: Sequence[tree_sitter.Node], start: int, end: int) -> list[_Item]:
        items: list[_Item] = []
        for node in members:
            row = node.start_point.row
            last = min(_end_row(node), end)
            if last < start or row > end:
                continue
            row = max(row, start)
            if items and row <= items[-1].end:
                # Sharing a row with the previous member (`x = 1  # note`, two members on
                # one line): chunks are whole lines, so they go together.
                prev = items[-1]
                prev.end = max(prev.end, last)
                continue
            definition = self._definition_of(node)
            is_comment = definition is None and (
                node.type in self.spec.comments or node.type in self.spec.attributes
            )
            is_import = definition is None and not is_comment and self._is_import(node)
            items.append(_Item(row, last, node, definition, is_comment, is_import))
        return self._attach_leading_comments(items)

    def _is_import(self, node: tree_sitter.Node) -> bool:
        if node.type in _IMPORT_NODES.get(self.language, ()):
            return True
        if self.language in ("javascript", "typescript", "tsx") and node.type in (
            "lexical_declaration",
            "variable_declaration",
        ):
            return bool(_REQUIRE.match(" ".join(self.text(node).split())))
        return False

    def _attach_leading_comments(self, items: list[_Item]) -> list[_Item]:
        """Doc comments, attributes and section comments go with the definition below.

        A run of comments joins the next definition when it touches it, or when it sits
        between two definitions (blank lines around it or not): there it introduces the
        second. Comments after statements stay in their block, where a file's license
        header and import notes belong.
        """
        out: list[_Item] = []
        index = 0
        while index < len(items):
            item = items[index]
            if not item.is_comment:
                out.append(item)
                index += 1
                continue
            run_end = index
            while run_end + 1 < len(items) and items[run_end + 1].is_comment:
                run_end += 1
            following = items[run_end + 1] if run_end + 1 < len(items) else None
            if following is not None and following.definition is not None:
                touches = all(items[i + 1].start <= items[i].end + 1 for i in range(index, run_end + 1))
                after_definition = bool(out) and out[-1].definition is not None
                if touches or after_definition:
                    following.start = item.start
                    index = run_end + 1
                    continue
            out.extend(items[index : run_end + 1])
            index = run_end + 1
        return out

    def _groups(
        self,
        items: list[_Item],
        start: int,
        end: int,
        scope: _Scope,
        header_end: int | None,
        header_context: tuple[str, ...],
    ) -> list[_Group]:
        """Definitions alone, neighbouring statements merged up to the budget, and the
        rows between them given to a neighbour so the groups tile `start..end`."""
        source = self.source
        groups: list[_Group] = []
        if header_end is not None:
            groups.append(_Group(start, header_end, [], is_header=True))
        for item in items:
            prev = groups[-1] if groups else None
            if prev is not None and item.start <= prev.end:
                # Starts on the signature row (`class A { int x;`): part of the header.
                prev.end = max(prev.end, item.end)
                prev.items.append(item)
                continue
            if (
                item.definition is None
                and prev is not None
                and prev.definition is None
                and _may_share_block(prev.items, item, prev.is_header)
            ):
                budget = source.budget(header_context if prev.is_header else scope.context)
                if source.tokens(prev.start, item.end) <= budget:
                    prev.end = item.end
                    prev.items.append(item)
                    continue
            groups.append(_Group(item.start, item.end, [item], item.definition))
        if not groups:
            return groups
        # Tile: leading rows go to the first group, rows between groups (blank lines,
        # stray `;` or `}`) to the group before them, trailing rows to the last.
        groups[0].start = start
        for prev, nxt in itertools.pairwise(groups):
            prev.end = nxt.start - 1
        groups[-1].end = end
        return groups

    # --- definitions -----------------------------------------------------------------

    def _definition(self, group: _Group, definition: _Definition, scope: _Scope) -> list[Chunk]:
        source = self.source
        kind = definition.kind
        if kind in _FUNCTION_KINDS and scope.owner_kind in _METHOD_OWNERS:
            kind = "method"
        symbol = self._qualified(scope, definition)
        body = self._body(definition)
        signature_end = self._signature_end(definition, body)
        signature = self._signature(definition.node.start_point.row, signature_end)
        declaration = self._is_declaration(definition, body)
        rows = source.trimmed(group.start, group.end)
        # A function says its name in words (`parse duration`) first: a description of
        # what a function does is often its name in other words. First, not just before
        # the code: measured on every pair of six corpora, semantic MRR was higher there on
        # five (java-time 0.449 -> 0.504). A whole function has nothing else in its
        # context: the names of the definitions around it join its own (`session get`,
        # `local date get year`) in place of their signatures, whose bases, generics and
        # where-clauses outweighed a short method's own code. Only what encloses it: a Go
        # method's receiver or `Widget::draw`'s class is in the code already, and saying it
        # twice lowered semantic MRR on both Go corpora (docs/benchmarks.md, "Qualified
        # names in words"). The head of a function cut in pieces keeps the signatures, as
        # every piece does.
        whole_context = head_context = scope.context
        if kind in _FUNCTION_KINDS:
            words = split_identifier(definition.name.rsplit(".", 1)[-1])
            owners = [w for name in scope.qualifier for w in split_identifier(name)]
            whole_context = (" ".join((*owners, *words)),)
            head_context = (" ".join(words), *scope.context)
        if source.fits(group.start, group.end, whole_context) and not self._wants_split(definition, 0):
            return [
                source.chunk(
                    group.start,
                    group.end,
                    kind,
                    symbol,
                    whole_context,
                    signature=signature,
                    rows=rows,
                    declaration=declaration,
                )
            ]
        inner = _Scope(
            qualifier=(*scope.qualifier, definition.name) if kind != "section" else scope.qualifier,
            context=source.fit_context((*scope.context, signature)),
            owner_kind=kind,
            piece_kind=kind,
            piece_symbol=symbol,
            depth=scope.depth + 1,
            piece_signature=signature,
            # A container's pieces are its members (found on their own); a function's
            # pieces are the function, returned once with its whole range.
            piece_rows=rows if kind not in CONTAINER_KINDS else None,
            piece_declaration=declaration,
        )
        if scope.depth >= _MAX_DEPTH:
            return self._windows_for(group, head_context, inner, scope.context)
        members = self._members(definition, body) if body is not None else []
        members = [m for m in members if m.start_point.row > signature_end or _end_row(m) > signature_end]
        if not members:
            return self._windows_for(group, head_context, inner, inner.context)
        return self._scope(members, group.start, group.end, inner, signature_end, head_context)

    def _windows_for(
        self, group: _Group, first_context: tuple[str, ...], inner: _Scope, later_context: tuple[str, ...]
    ) -> list[Chunk]:
        """Line windows over a definition that has no members to split at: the first
        window holds the signature; the others carry it in their context."""
        source = self.source
        ranges = window_ranges(
            source.lines,
            source.line_tokens,
            group.start,
            group.end,
            min(source.budget(first_context), source.budget(later_context)),
        )
        chunks = [source.piece(ranges[0][0], ranges[0][1], inner, first_context)]
        chunks.extend(source.piece(s, e, inner, later_context) for s, e in ranges[1:])
        return chunks

    def _is_declaration(self, definition: _Definition, body: tree_sitter.Node | None) -> bool:
        """Whether a definition is a signature without code: see the module's docstring."""
        node = definition.node
        if self.source.declaration_file or node.type in _SIGNATURE_NODES:
            return True
        if definition.kind not in _FUNCTION_KINDS:
            return False
        language = self.language
        if language in ("c", "cpp"):
            return node.type in ("declaration", "field_declaration")
        if language == "java":
            return node.type == "method_declaration" and node.child_by_field_name("body") is None
        if language == "python":
            parent = node.parent
            if parent is not None and parent.type == "decorated_definition":
                for decorator in parent.named_children:
                    if decorator.type == "decorator":
                        name = self.text(decorator).lstrip("@").strip().split("(")[0]
                        if name.rsplit(".", 1)[-1] == "overload":
                            return True
            return body is not None and _trivial_python_body(body, self.text)
        return False

    def _oversized_statements(self, group: _Group, scope: _Scope, context: tuple[str, ...]) -> list[Chunk]:
        """A statement (or header piece) over budget: split at its children, else windows."""
        # One line cannot be split (chunks are whole lines), however many nodes it holds.
        splittable = group.end > group.start and scope.depth < _MAX_DEPTH
        if splittable and len(group.items) == 1 and not group.is_header:
            children = self._unwrap_single(group.items[0].node.named_children)
            if children:
                deeper = dataclasses.replace(scope, depth=scope.depth + 1)
                return self._scope(children, group.start, group.end, deeper, None)
        return self.source.windows(group.start, group.end, scope, context)

    def _wants_split(self, definition: _Definition, depth: int) -> bool:
        """Whether a definition that fits the budget is still cut at its members:
        containers with several member definitions or with a function among them (the
        one method of `impl Iterator for MergeBy`, of an exception class: the method is
        what a query finds, under its own name, not the container), or with a member
        that wants it."""
        if definition.kind not in CONTAINER_KINDS or depth > 4:
            return False
        body = self._body(definition)
        if body is None:
            return False
        member_definitions = [d for m in self._members(definition, body) if (d := self._definition_of(m))]
        if len(member_definitions) >= 2 or any(d.kind in _FUNCTION_KINDS for d in member_definitions):
            return True
        return any(self._wants_split(d, depth + 1) for d in member_definitions)

    def _qualified(self, scope: _Scope, definition: _Definition) -> str:
        if definition.kind == "section":
            return definition.name
        return ".".join((*scope.qualifier, definition.name))

    # --- reading the tree ------------------------------------------------------------

    def _definition_of(self, node: tree_sitter.Node) -> _Definition | None:
        """The definition this member node is (or wraps), or None for a plain statement."""
        key = node.id
        if key not in self._definitions:
            self._definitions[key] = self._read_definition(node, 0)
        return self._definitions[key]

    def _read_definition(self, node: tree_sitter.Node, depth: int) -> _Definition | None:
        spec = self.spec
        node_type = node.type
        if node_type in spec.wrappers and depth < 3:
            for child in node.named_children:
                found = self._read_definition(child, depth + 1)
                if found is not None:
                    return found
            return None
        if node_type in spec.bindings:
            return self._bound_function(node)
        kind = spec.definitions.get(node_type)
        if kind is None:
            return None
        if kind in ("module", "namespace") and node.child_by_field_name("body") is None:
            return None  # `mod io;`, `namespace App;`: a statement, not a container
        refined = self._refine(node, kind)
        if refined is None:
            return None
        kind, name = refined
        return _Definition(node, kind, name) if name else None

    def _bound_function(self, node: tree_sitter.Node) -> _Definition | None:
        """`const handler = async (req) => {...}`, `local join = function(t) ... end`,
        `exports.parse = function (str) {...}`."""
        if node.type == "expression_statement":
            return self._assigned_function(node)
        names: list[str] = []
        has_function = False
        stack = [node]
        visited = 0
        while stack and visited < 16:  # declarations are shallow; bail out of odd ones
            visited += 1
            current = stack.pop()
            for index, child in enumerate(current.children):
                field_name = current.field_name_for_child(index)
                if child.type in self.spec.function_values:
                    has_function = True
                elif field_name == "name" or child.type == "variable_list":
                    names.append(self.text(child))
                elif child.type in ("variable_declarator", "assignment_statement", "expression_list"):
                    stack.append(child)
        if has_function and len(names) == 1:
            return _Definition(node, "function", _dotted(names[0]))
        return None

    def _assigned_function(self, node: tree_sitter.Node) -> _Definition | None:
        """A function assigned to a property: `module.exports.parse = function ...`,
        `exports.parse = ...`, `app.use = function use(fn) {...}`,
        `Router.prototype.route = function (path) {...}` (named `Router.route`)."""
        if node.named_child_count != 1:
            return None
        assignment = node.named_children[0]
        if assignment.type != "assignment_expression":
            return None
        value = assignment.child_by_field_name("right")
        target = assignment.child_by_field_name("left")
        if value is None or target is None or value.type not in self.spec.function_values:
            return None
        name = self.text(target).replace(".prototype.", ".")
        for prefix in ("module.exports.", "exports."):
            name = name.removeprefix(prefix)
        if name == "module.exports":  # `module.exports = function createApplication() {...}`
            name = self.text(value.child_by_field_name("name")) or name
        if not _JS_NAME.match(name):
            return None  # `a[b] = function`, `x.y().z = ...`: no name to find it by
        return _Definition(node, "function", name)

    def _refine(self, node: tree_sitter.Node, kind: str) -> tuple[str, str] | None:
        """The definition's precise kind and its name, language by language."""
        language = self.language
        node_type = node.type
        name_node = node.child_by_field_name("name")
        name = self.text(name_node)
        if language == "go":
            if node_type == "method_declaration":
                return kind, _join(self._go_receiver_type(node), name)
            if node_type == "type_declaration":
                spec = next((c for c in node.named_children if c.type in ("type_spec", "type_alias")), None)
                if spec is None:
                    return None
                type_node = spec.child_by_field_name("type")
                type_kind = {"struct_type": "struct", "interface_type": "interface"}.get(
                    type_node.type if type_node else "", "type"
                )
                return type_kind, self.text(spec.child_by_field_name("name"))
        elif language == "rust" and node_type == "impl_item":
            return kind, self.type_name(node.child_by_field_name("type"))
        elif language in ("c", "cpp"):
            if node_type == "function_definition":
                return kind, _dotted(self._c_function_name(node))
            if node_type == "declaration":
                # A prototype (`int parse(const char *s);`) declares a function; any
                # other declaration (`int count = 0;`) is a plain statement.
                prototype = self._c_function_name(node)
                if not prototype or not _C_NAME.match(prototype):
                    return None
                return kind, _dotted(prototype)
            if node_type == "type_definition":
                inner = node.child_by_field_name("type")
                if inner is None or inner.child_by_field_name("body") is None:
                    return None  # `typedef int count_t;` is a plain statement
                inner_kind = GRAMMARS[language].definitions.get(inner.type, "type")
                return inner_kind, self.text(node.child_by_field_name("declarator"))
            if node_type in _C_AGGREGATES and node.child_by_field_name("body") is None:
                return None  # a forward declaration
            if node_type == "namespace_definition" and not name:
                return kind, "(anonymous)"
        elif language == "kotlin":
            if node_type == "companion_object":
                return kind, name or "Companion"
            if node_type == "class_declaration":
                keywords = {c.type for c in node.children if not c.is_named}
                modifiers = next((c for c in node.named_children if c.type == "modifiers"), None)
                if "interface" in keywords:
                    kind = "interface"
                elif modifiers is not None and re.search(r"\benum\b", self.text(modifiers)):
                    kind = "enum"
        elif language == "swift":
            if node_type == "class_declaration":
                declared = self.text(node.child_by_field_name("declaration_kind"))
                kind = {"struct": "struct", "enum": "enum", "extension": "impl"}.get(declared, "class")
                return kind, self.type_name(name_node)
            if node_type == "init_declaration":
                return kind, "init"
            if node_type == "deinit_declaration":
                return kind, "deinit"
            if node_type == "subscript_declaration":
                return kind, "subscript"
        elif language == "lua" and node_type == "function_declaration":
            if name_node is not None and name_node.type == "method_index_expression":
                return "method", _dotted(name.replace(":", "."))
            return kind, _dotted(name)
        elif language in ("javascript", "typescript", "tsx") and not name and kind == "class":
            return None  # a class expression somewhere inside a statement
        elif language == MARKDOWN:
            return kind, self._markdown_heading(node)
        if name_node is not None and name_node.type in (
            "scope_resolution",
            "qualified_name",
            "nested_identifier",
            "generic_type",
            "user_type",
        ):
            return kind, self.type_name(name_node)
        if (
            not name
            and node_type in ("function_declaration", "class_declaration")
            and self._is_default_export(node)
        ):
            return kind, "default"
        return kind, name

    def _body(self, definition: _Definition) -> tree_sitter.Node | None:
        node = definition.node
        if self.language == MARKDOWN:
            return node
        if self.language == "go" and node.type == "type_declaration":
            spec = next((c for c in node.named_children if c.type == "type_spec"), None)
            type_node = spec.child_by_field_name("type") if spec is not None else None
            if type_node is not None and type_node.type == "struct_type":
                return next(iter(type_node.named_children), None)
            return type_node
        if node.type == "type_definition":
            inner = node.child_by_field_name("type")
            return inner.child_by_field_name("body") if inner is not None else None
        body = node.child_by_field_name("body")
        if body is not None:
            return body
        # Kotlin and a few others name no `body` field: take the last multi-line child.
        for child in reversed(node.named_children):
            if _end_row(child) > child.start_point.row and child.type not in self.spec.comments:
                return child
        return None

    def _members(self, definition: _Definition, body: tree_sitter.Node) -> list[tree_sitter.Node]:
        """The nodes a definition is split into: its body's statements or members,
        and comments that the grammar hung on the definition itself (Ruby)."""
        node = definition.node
        if self.language == MARKDOWN:
            return [c for c in node.named_children if not c.type.endswith("_heading")]
        members = self._unwrap_single(body.named_children)
        flattened: list[tree_sitter.Node] = []
        for member in members:
            # Java enum constants' methods sit one level down.
            if member.type == "enum_body_declarations":
                flattened.extend(member.named_children)
            else:
                flattened.append(member)
        if body.parent is not None and body.parent.id == node.id:
            stray = [
                c
                for c in node.named_children
                if c.type in self.spec.comments and c.start_point.row > node.start_point.row
            ]
            if stray:
                flattened = sorted([*flattened, *stray], key=lambda n: n.start_byte)
        return flattened

    def _unwrap_single(self, children: list[tree_sitter.Node]) -> list[tree_sitter.Node]:
        """Go `block > statement_list`, Kotlin `function_body > block`: look through a
        lone wrapper to the statements it holds."""
        for _ in range(8):
            if len(children) != 1:
                break
            only = children[0]
            if self._definition_of(only) is not None or only.named_child_count == 0:
                break
            children = only.named_children
        return children

    def _signature_end(self, definition: _Definition, body: tree_sitter.Node | None) -> int:
        """The last row of the definition's signature: up to where its body's content begins."""
        node = definition.node
        start = node.start_point.row
        if body is None:
            return start
        if self.language == MARKDOWN:
            heading = next((c for c in node.named_children if c.type.endswith("_heading")), None)
            return _end_row(heading) if heading is not None else start
        end = start
        for child in node.named_children:
            if child.start_byte >= body.start_byte:
                break
            if child.type not in self.spec.comments:
                end = max(end, _end_row(child))
        first = body.children[0] if body.child_count else None
        if first is not None and not first.is_named:
            # `{` (or `:` ...) opening the body: on the signature's last line, or its own.
            end = max(end, first.start_point.row)
        return max(start, min(end, _end_row(node)))

    def _signature(self, start: int, end: int) -> str:
        """The definition's header as one line, without the annotations and attributes
        on lines of their own above it (`@Override`, `#[derive]`, `[Serializable]`)."""
        lines = [line.strip() for line in self.source.lines[start : end + 1]]
        while len(lines) > 1 and lines[0].startswith(_ATTRIBUTE_PREFIXES):
            lines.pop(0)
        text = " ".join(line for line in lines if line)
        text = text.rstrip()
        if text.endswith("{"):
            text = text[:-1].rstrip()
        if len(text) > _MAX_SIGNATURE_CHARS:
            text = text[: _MAX_SIGNATURE_CHARS - 1] + "…"
        return text

    def text(self, node: tree_sitter.Node | None) -> str:
        """The node's source text. (`Node.text` would re-read the file through the parse
        callback.)"""
        if node is None:
            return ""
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def type_name(self, node: tree_sitter.Node | None) -> str:
        """`Wrapper<T>` -> `Wrapper`, `fmt::Display` -> `fmt.Display`, `Foo::Bar` -> `Foo.Bar`."""
        text = self.text(node)
        previous = None
        while previous != text:
            previous, text = text, _GENERIC_ARGS.sub("", text)
        return _dotted(" ".join(text.split()))

    def _go_receiver_type(self, node: tree_sitter.Node) -> str:
        receiver = node.child_by_field_name("receiver")
        if receiver is None:
            return ""
        parameter = next(iter(receiver.named_children), None)
        type_node = parameter.child_by_field_name("type") if parameter is not None else None
        return self.type_name(type_node).lstrip("*").strip()

    def _c_function_name(self, node: tree_sitter.Node) -> str:
        declarator = node.child_by_field_name("declarator")
        for _ in range(8):
            if declarator is None:
                return ""
            if declarator.type == "function_declarator":
                return self.text(declarator.child_by_field_name("declarator"))
            declarator = declarator.child_by_field_name("declarator")
        return ""

    def _markdown_heading(self, node: tree_sitter.Node) -> str:
        """The title of a section, or "" for the untitled text before a file's first heading."""
        heading = node.named_children[0] if node.named_child_count else None
        if heading is None or not heading.type.endswith("_heading"):
            return ""
        content = heading.child_by_field_name("heading_content")
        if content is None:
            content = next((c for c in heading.named_children if c.type in ("inline", "paragraph")), None)
        text = self.text(content) if content is not None else self.text(heading).lstrip("#")
        return " ".join(text.split()).strip("# ")

    def _is_default_export(self, node: tree_sitter.Node) -> bool:
        parent = node.parent
        return (
            parent is not None
            and parent.type == "export_statement"
            and any(child.type == "default" for child in parent.children)
        )


def _imports_only(items: Sequence[_Item]) -> bool:
    """Whether a group is imports (and the comments among them), nothing else."""
    return any(i.is_import for i in items) and all(i.is_import or i.is_comment for i in items)


def _may_share_block(items: Sequence[_Item], item: _Item, is_header: bool) -> bool:
    """Imports and other statements never share a block; comments go with either."""
    if is_header or item.is_comment:
        return True
    kinds = {i.is_import for i in items if not i.is_comment}
    return not kinds or kinds == {item.is_import}


def _trivial_python_body(body: tree_sitter.Node, text: Callable[[tree_sitter.Node], str]) -> bool:
    """A body that is only `...`, `pass`, a docstring or `raise NotImplementedError`."""
    statements = [c for c in body.named_children if c.type != "comment"]
    if not statements:
        return False
    for statement in statements:
        if statement.type == "pass_statement":
            continue
        if statement.type == "expression_statement" and all(
            c.type in ("string", "ellipsis", "concatenated_string") for c in statement.named_children
        ):
            continue
        if statement.type == "raise_statement" and "NotImplementedError" in text(statement):
            continue
        return False
    return True


def _join(owner: str, name: str) -> str:
    return f"{owner}.{name}" if owner and name else name


def _dotted(name: str) -> str:
    return name.replace("::", ".").replace("\\", ".").strip()
