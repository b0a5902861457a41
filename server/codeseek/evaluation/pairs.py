"""Query/target pairs from a repository's own documented functions, CodeSearchNet-style.

The first paragraph of a function's docstring or doc comment is a natural-language query
whose right answer is known: the function. To keep that answer honest, the evaluated
copy of the workspace has those docs removed (`strip_docs`), so no result can match its
query by being a lexical copy of it. Stripping keeps every line where it was: a target's
line range in the stripped copy is the original's.

Documentation read, per language:
- Python: the docstring (first statement of the body, a string);
- Go: the `//` comment lines directly above the declaration;
- JavaScript / TypeScript: the `/** ... */` (JSDoc) block directly above;
- Java: the `/** ... */` (Javadoc) block directly above (annotations belong to the method);
- Rust: the `///` lines (or a `/** */` block) above, attributes in between allowed.

As in CodeSearchNet, a pair is kept only when the query has at least `MIN_QUERY_WORDS`
words and the function has at least `MIN_CODE_LINES` lines of code besides its docs;
tests, constructors and dunder methods are left out, and queries that document more
than one function are dropped as ambiguous.

Declarations (functions in a `.pyi` stub, TypeScript signatures in `.d.ts` typings or
interfaces, Java abstract and interface methods, Rust trait signatures, Go interface
methods) never make pairs: there is no code to find. Their docs are stripped all the same,
since they often repeat the implementation's word for word and would otherwise hand the
declaration its implementation's query.
"""

from __future__ import annotations

import html
import inspect
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import tree_sitter

from codeseek.chunking.languages import DEFAULT_REGISTRY, GrammarRegistry

MIN_QUERY_WORDS = 3
MIN_CODE_LINES = 3
# A query longer than this is cut at a word boundary: a docstring's first "paragraph"
# is sometimes a whole essay, and real queries are short.
MAX_QUERY_CHARS = 300

# Function node types per language whose docs are read.
_FUNCTION_TYPES: dict[str, frozenset[str]] = {
    "python": frozenset({"function_definition"}),
    "go": frozenset({"function_declaration", "method_declaration"}),
    "javascript": frozenset({"function_declaration", "generator_function_declaration", "method_definition"}),
    "typescript": frozenset({"function_declaration", "generator_function_declaration", "method_definition"}),
    "tsx": frozenset({"function_declaration", "generator_function_declaration", "method_definition"}),
    "java": frozenset({"method_declaration"}),
    "rust": frozenset({"function_item"}),
}
EVAL_LANGUAGES: tuple[str, ...] = tuple(_FUNCTION_TYPES)
# Declarations without a body, per language: their docs are stripped, they are never
# targets. (Java's are `method_declaration`s without a body; Python's are stub files.)
_DECLARATION_TYPES: dict[str, frozenset[str]] = {
    "go": frozenset({"method_elem", "method_spec"}),
    "typescript": frozenset({"function_signature", "method_signature", "abstract_method_signature"}),
    "tsx": frozenset({"function_signature", "method_signature", "abstract_method_signature"}),
    "rust": frozenset({"function_signature_item"}),
}
STUB_SUFFIXES = (".pyi", ".d.ts", ".d.mts", ".d.cts")

# `const f = () => ...`, `exports.f = function () {...}`: functions with a name by binding.
_JS_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
JS_LANGUAGES = frozenset({"javascript", "typescript", "tsx"})
# Nodes that wrap a declaration; its doc comment sits above the wrapper.
_WRAPPERS = frozenset({"export_statement", "ambient_declaration", "decorated_definition"})
_BODY_FIELDS = ("body",)

_WORD = re.compile(r"[A-Za-z]\w*")
_INLINE_TAG = re.compile(r"\{@\w+\s+([^}]*)\}")  # {@link Foo#bar label}, {@code x}
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[`?([^\]]+?)`?\](?!\()")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class DocumentedFunction:
    """A function and its documentation, as found in one file (lines 1-based, inclusive)."""

    path: str
    language: str
    name: str
    start_line: int  # the function's own lines: signature (and decorators) to its end
    end_line: int
    doc_start_line: int  # the docstring or doc comment
    doc_end_line: int
    query: str  # the docs' first paragraph, whitespace collapsed; may be too short to use
    # Byte ranges removed from the file by `strip_docs`, and what replaces each.
    doc_spans: tuple[tuple[int, int, bytes], ...]
    declaration: bool = False  # no body to find (a stub, a signature): docs stripped, never a target

    @property
    def code_lines(self) -> int:
        """Lines of the function that are not its docs."""
        doc_inside = max(
            0, min(self.end_line, self.doc_end_line) - max(self.start_line, self.doc_start_line) + 1
        )
        return self.end_line - self.start_line + 1 - doc_inside


@dataclass(frozen=True, slots=True)
class EvalPair:
    """One evaluation query and the function that answers it."""

    query: str
    path: str
    language: str
    symbol: str
    start_line: int
    end_line: int

    def is_hit(self, path: str, start_line: int, end_line: int) -> bool:
        """A result hits when it is in the target's file and its lines overlap the
        target function's lines (a chunk of the function, the function whole, or a
        small class chunk that holds it)."""
        return path == self.path and start_line <= self.end_line and self.start_line <= end_line


def find_documented_functions(
    path: str, text: str, language: str, registry: GrammarRegistry | None = None
) -> list[DocumentedFunction]:
    """Every function in the file that has a docstring or doc comment, in file order.

    Returns [] for a language without doc rules or a file its grammar cannot parse."""
    types = _FUNCTION_TYPES.get(language)
    if types is None:
        return []
    parser = (registry or DEFAULT_REGISTRY).parser(language)
    if parser is None:
        return []
    data = text.encode("utf-8", "surrogatepass")
    root = parser.parse(data).root_node
    stub_file = path.endswith(STUB_SUFFIXES)
    declarations = _DECLARATION_TYPES.get(language, frozenset())
    found: list[DocumentedFunction] = []
    for node, anchor, name in _functions(root, types | declarations, language):
        if language == "python":
            doc = _python_docstring(node, data)
        else:
            doc = _doc_comment(anchor, language, data)
        if doc is None:
            continue
        spans, query = doc
        first_doc = min(s for s, _, _ in spans)
        last_doc = max(e for _, e, _ in spans)
        found.append(
            DocumentedFunction(
                path=path,
                language=language,
                name=name,
                start_line=anchor.start_point.row + 1,
                end_line=_last_row(anchor) + 1,
                doc_start_line=_row_of(data, first_doc) + 1,
                doc_end_line=_row_of(data, max(first_doc, last_doc - 1)) + 1,
                query=query,
                doc_spans=tuple(spans),
                declaration=stub_file
                or node.type in declarations
                or (language == "java" and node.child_by_field_name("body") is None),
            )
        )
    found.sort(key=lambda f: (f.start_line, f.end_line))
    return found


def strip_docs(text: str, functions: Sequence[DocumentedFunction]) -> str:
    """The file without these functions' docs, every other line where it was.

    A Python docstring becomes `...` (so a body that was only a docstring still parses)
    followed by as many line breaks as it spanned; a doc comment becomes its line breaks.
    """
    data = text.encode("utf-8", "surrogatepass")
    spans = sorted({span for f in functions for span in f.doc_spans})
    out: list[bytes] = []
    position = 0
    for start, end, replacement in spans:
        if start < position:  # nested or repeated spans: the first one removed it already
            continue
        out.append(data[position:start])
        out.append(replacement)
        position = end
    out.append(data[position:])
    return b"".join(out).decode("utf-8", "surrogatepass")


def usable(function: DocumentedFunction) -> bool:
    """Whether a documented function makes a fair query/target pair (module docstring)."""
    if function.declaration:
        return False
    name = function.name.rsplit(".", 1)[-1]
    lowered = name.lower()
    if "test" in lowered or (name.startswith("__") and name.endswith("__")):
        return False
    if len(_WORD.findall(function.query)) < MIN_QUERY_WORDS:
        return False
    return function.code_lines >= MIN_CODE_LINES


def build_pairs(functions: Sequence[DocumentedFunction]) -> list[EvalPair]:
    """Pairs from the usable functions, in a stable order (path, line). A query shared by
    several functions (copied docs, overloads) cannot say which one it means: dropped."""
    candidates = [f for f in functions if usable(f)]
    counts = Counter(f.query.lower() for f in candidates)
    pairs = [
        EvalPair(f.query, f.path, f.language, f.name, f.start_line, f.end_line)
        for f in candidates
        if counts[f.query.lower()] == 1
    ]
    pairs.sort(key=lambda p: (p.path, p.start_line))
    return pairs


# --- finding functions -----------------------------------------------------------------


def _functions(
    root: tree_sitter.Node, types: frozenset[str], language: str
) -> Iterator[tuple[tree_sitter.Node, tree_sitter.Node, str]]:
    """(function node, the node its docs sit above, its name) for every function."""
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(reversed(node.named_children))
        if node.type in types:
            name = _text(node.child_by_field_name("name"))
            if not name:
                continue
            anchor = node
            while anchor.parent is not None and anchor.parent.type in _WRAPPERS:
                anchor = anchor.parent
            yield node, anchor, _qualified(node, name)
        elif language in JS_LANGUAGES:
            bound = bound_function(node)
            if bound is not None:
                anchor = node
                while anchor.parent is not None and anchor.parent.type in _WRAPPERS:
                    anchor = anchor.parent
                yield bound[0], anchor, bound[1]


def bound_function(node: tree_sitter.Node) -> tuple[tree_sitter.Node, str] | None:
    """`const f = () => {}` / `exports.f = function () {}` as (function value, name)."""
    if node.type in ("lexical_declaration", "variable_declaration"):
        declarators = [c for c in node.named_children if c.type == "variable_declarator"]
        if len(declarators) != 1:
            return None
        value = declarators[0].child_by_field_name("value")
        name = _text(declarators[0].child_by_field_name("name"))
    elif node.type == "expression_statement" and node.named_child_count == 1:
        assignment = node.named_children[0]
        if assignment.type != "assignment_expression":
            return None
        value = assignment.child_by_field_name("right")
        name = _text(assignment.child_by_field_name("left"))
        name = name.replace(".prototype.", ".").removeprefix("module.exports.").removeprefix("exports.")
    else:
        return None
    if value is None or value.type not in _JS_FUNCTION_VALUES or not name:
        return None
    return value, name


def _qualified(node: tree_sitter.Node, name: str) -> str:
    """`Class.method` for methods; enclosing classes and impls named, nothing else."""
    parts = [name]
    parent = node.parent
    while parent is not None:
        if parent.type in (
            "class_definition",
            "class_declaration",
            "class",
            "interface_declaration",
            "enum_declaration",
            "record_declaration",
            "abstract_class_declaration",
            "type_spec",
            "trait_item",
        ):
            owner = _text(parent.child_by_field_name("name"))
            if owner:
                parts.append(owner)
        elif parent.type == "impl_item":
            owner = _text(parent.child_by_field_name("type"))
            if owner:
                parts.append(owner)
        parent = parent.parent
    return ".".join(reversed(parts))


# --- reading docs ------------------------------------------------------------------------


def _python_docstring(node: tree_sitter.Node, data: bytes) -> tuple[list[tuple[int, int, bytes]], str] | None:
    body = node.child_by_field_name("body")
    if body is None or body.named_child_count == 0:
        return None
    first = body.named_children[0]
    if first.type != "expression_statement" or first.named_child_count != 1:
        return None
    string = first.named_children[0]
    if string.type not in ("string", "concatenated_string"):
        return None
    raw = data[string.start_byte : string.end_byte].decode("utf-8", "replace")
    content = _python_string_content(raw)
    if content is None:
        return None
    replacement = b"..." + b"\n" * raw.count("\n")
    return [(string.start_byte, string.end_byte, replacement)], first_paragraph(inspect.cleandoc(content))


def _python_string_content(raw: str) -> str | None:
    """The text of a plain string literal; None for f-strings and byte strings, which
    are not docstrings."""
    match = re.match(r"([A-Za-z]*)('''|\"\"\"|'|\")", raw)
    if match is None or any(c in match.group(1).lower() for c in "fb"):
        return None
    quote = match.group(2)
    body = raw[match.end() :]
    return body[: -len(quote)] if body.endswith(quote) else body


def _doc_comment(
    anchor: tree_sitter.Node, language: str, data: bytes
) -> tuple[list[tuple[int, int, bytes]], str] | None:
    """The doc comment directly above `anchor` (touching it, attributes allowed between
    Rust docs and the item), with the spans to remove and its query text."""
    comments: list[tree_sitter.Node] = []
    next_row = anchor.start_point.row
    sibling = anchor.prev_sibling
    while sibling is not None:
        text = _text(sibling)
        # Line comments document what they touch; a `/** */` block documents the next
        # node even across blank lines (the style of Express and many Node.js projects).
        if _last_row(sibling) < next_row - 1 and not (text.startswith("/**") and not comments):
            break
        if language == "rust" and sibling.type == "attribute_item":
            next_row = sibling.start_point.row
            sibling = sibling.prev_sibling
            continue
        if not _is_doc_comment(sibling.type, text, language):
            break
        comments.append(sibling)
        next_row = sibling.start_point.row
        if text.startswith("/*"):
            break  # one block is the whole doc
        sibling = sibling.prev_sibling
    if not comments:
        return None
    comments.reverse()
    if language == "rust" and any(c.type == "block_comment" for c in comments) and len(comments) > 1:
        comments = [c for c in comments if c.type == "line_comment"]
    spans = [
        (c.start_byte, c.end_byte, b"\n" * data[c.start_byte : c.end_byte].count(b"\n")) for c in comments
    ]
    lines = "\n".join(_comment_lines(_text(c)) for c in comments)
    style = (
        "markdown" if language == "rust" else "javadoc" if language in ("java", *JS_LANGUAGES) else "plain"
    )
    return spans, first_paragraph(lines, style)


def _is_doc_comment(node_type: str, text: str, language: str) -> bool:
    if language == "go":
        # `//go:generate`, `//nolint` directives are not prose.
        return node_type == "comment" and text.startswith("//") and not re.match(r"//\w+:|//nolint", text)
    if language == "rust":
        return (text.startswith("///") and not text.startswith("////")) or (
            text.startswith("/**") and not text.startswith("/***") and text != "/**/"
        )
    return node_type in ("comment", "block_comment") and text.startswith("/**") and text != "/**/"


def _comment_lines(comment: str) -> str:
    """A comment's prose: markers (`/**`, `*/`, leading `*`, `///`, `//`) removed."""
    lines = []
    block = comment.startswith("/*")
    body = comment[3:] if comment.startswith("/**") else comment
    if block and body.endswith("*/"):
        body = body[:-2]
    for line in body.splitlines():
        stripped = line.strip()
        if block:
            stripped = stripped[1:] if stripped.startswith("*") else stripped
        else:
            stripped = re.sub(r"^//[/!]?", "", stripped)
        lines.append(stripped.strip())
    return "\n".join(lines)


def first_paragraph(doc: str, style: str = "plain") -> str:
    """The docs' first paragraph as one line: up to the first blank line, block tag
    (`@param`), reST field (`:param`), or code example. `style` "javadoc" also reads
    inline tags and HTML (`<p>` starts a paragraph); "markdown" keeps a link's text."""
    if style == "javadoc":
        doc = _INLINE_TAG.sub(lambda m: m.group(1).split("#")[-1].strip(), doc)
        doc = re.sub(r"(?i)<p\s*/?>", "\n\n", doc)
        doc = html.unescape(_HTML_TAG.sub("", doc))
    paragraph: list[str] = []
    for line in doc.splitlines():
        stripped = line.strip()
        if not stripped:
            if paragraph:
                break
            continue
        if stripped.startswith(("@", ":param", ":return", ":raises", ":rtype", ">>>", "```")):
            break
        paragraph.append(stripped)
    text = " ".join(paragraph)
    if style == "markdown":
        text = _MD_LINK.sub(lambda m: m.group(1) or m.group(2), text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > MAX_QUERY_CHARS:
        text = text[:MAX_QUERY_CHARS].rsplit(" ", 1)[0]
    return text


# --- small tree helpers -------------------------------------------------------------------


def _text(node: tree_sitter.Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


def _last_row(node: tree_sitter.Node) -> int:
    """The last row holding the node's text (a line comment's node ends at column 0 of
    the row after it, its line break included)."""
    end = node.end_point
    if end.column == 0 and end.row > node.start_point.row:
        return end.row - 1
    return end.row


def _row_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset)
