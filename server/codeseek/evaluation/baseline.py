"""The one-vector-per-function baseline that `codeseek eval` reports as mode `functions`.

A plain semantic index as simple peers build it (sturdy-dev's semantic-code-search, for
one): every function and method in the workspace, found with tree-sitter, is embedded
whole (its definition's text, decorators and `export` included, nothing else: no path, no
enclosing signatures) as one vector, and a query returns the functions with the highest
cosine similarity. No chunking, no full-text side, no fusion: import blocks, constants
and class bodies are not in it at all.

It answers "does codeseek's own index, which tiles every line, rank definitions at
least as well as indexing only the definitions would?" with the same model, the same
stripped copy, the same queries and the same hit rule as the other modes. Long functions
are cut by the model's input limit, as the peers' are.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tree_sitter

from codeseek.chunking.languages import DEFAULT_REGISTRY, GRAMMARS, GrammarRegistry, language_for_path
from codeseek.embedding.base import Embedder
from codeseek.evaluation.pairs import JS_LANGUAGES, bound_function

BASELINE_MODE = "functions"
_FUNCTION_KINDS = frozenset({"function", "method"})
# Nodes that hold one definition and belong to its text (decorators, `export`).
_WRAPPERS = frozenset({"decorated_definition", "export_statement", "ambient_declaration"})


@dataclass(frozen=True, slots=True)
class FunctionDef:
    """One function or method of the baseline index (lines 1-based, inclusive)."""

    path: str
    language: str
    start_line: int
    end_line: int
    text: str


def find_functions(
    path: str, text: str, language: str, registry: GrammarRegistry | None = None
) -> list[FunctionDef]:
    """Every function and method in the file, nested ones included, in file order: the
    node types the grammar registry calls functions or methods, and in JavaScript and
    TypeScript also functions bound to a name (`const f = () => ...`,
    `exports.f = function () {...}`)."""
    spec = GRAMMARS.get(language)
    if spec is None:
        return []
    parser = (registry or DEFAULT_REGISTRY).parser(language)
    if parser is None:
        return []
    # C prototypes (`declaration`) are in the registry for the chunker, which keeps only
    # the function ones; a plain peer indexes function definitions.
    types = frozenset(
        t for t, kind in spec.definitions.items() if kind in _FUNCTION_KINDS and t != "declaration"
    )
    data = text.encode("utf-8", "surrogatepass")
    lines = data.split(b"\n")
    found: list[FunctionDef] = []
    seen: set[tuple[int, int]] = set()
    for node in _walk(parser.parse(data).root_node):
        if node.type not in types and not (language in JS_LANGUAGES and bound_function(node) is not None):
            continue
        anchor = node
        while anchor.parent is not None and anchor.parent.type in _WRAPPERS:
            anchor = anchor.parent
        first, last = anchor.start_point.row, _last_row(anchor)
        if (first, last) in seen:
            continue
        seen.add((first, last))
        body = b"\n".join(lines[first : last + 1]).decode("utf-8", "replace")
        if body.strip():
            found.append(FunctionDef(path, language, first + 1, last + 1, body))
    found.sort(key=lambda f: (f.start_line, f.end_line))
    return found


def _walk(root: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.named_children))


def _last_row(node: tree_sitter.Node) -> int:
    end = node.end_point
    if end.column == 0 and end.row > node.start_point.row:
        return end.row - 1
    return end.row


@dataclass
class FunctionHit:
    path: str
    start_line: int
    end_line: int
    score: float


class FunctionIndex:
    """The functions of a workspace and one unit vector each, searched exhaustively."""

    def __init__(self, functions: Sequence[FunctionDef], vectors: np.ndarray, seconds: float = 0.0) -> None:
        self.functions = list(functions)
        self.vectors = vectors
        self.seconds = seconds  # time to find and embed them (cache lookups included)
        self.embedded = 0  # functions sent to the model (not found in the cache)

    @classmethod
    def build(
        cls, root: Path, paths: Sequence[str], embedder: Embedder, cache_file: Path | None = None
    ) -> FunctionIndex:
        """Find and embed the functions of `paths` (relative to `root`). With `cache_file`
        vectors are looked up by the text's hash first and new ones saved there, so a
        later run over the same code costs no model call."""
        started = time.perf_counter()
        functions: list[FunctionDef] = []
        for path in paths:
            text = (root / path).read_text(encoding="utf-8", errors="surrogatepass")
            language = language_for_path(path, text[:200].split("\n", 1)[0])
            functions.extend(find_functions(path, text, language))
        keys = [text_key(f.text) for f in functions]
        cached = load_vectors(cache_file) if cache_file is not None else {}
        missing = list(dict.fromkeys(k for k in keys if k not in cached))
        if missing:
            text_of = {k: f.text for k, f in zip(keys, functions, strict=True)}
            fresh = embedder.embed_documents([text_of[k] for k in missing])
            cached.update(zip(missing, np.asarray(fresh, dtype=np.float32), strict=True))
            if cache_file is not None:
                save_vectors(cache_file, cached)
        dims = embedder.dimensions
        vectors = np.stack([cached[k] for k in keys]) if keys else np.zeros((0, dims), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)
        index = cls(functions, vectors.astype(np.float32), time.perf_counter() - started)
        index.embedded = len(missing)
        return index

    def search(self, query: str, embedder: Embedder, limit: int) -> list[FunctionHit]:
        if not self.functions:
            return []
        vector = np.asarray(embedder.embed_query(query), dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        scores = self.vectors @ (vector / norm if norm > 0 else vector)
        top = np.argsort(-scores, kind="stable")[:limit]
        hits = []
        for i in top:
            function = self.functions[i]
            hits.append(FunctionHit(function.path, function.start_line, function.end_line, float(scores[i])))
        return hits


def text_key(text: str) -> str:
    """The key of a text's vector in a vector file."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def load_vectors(path: Path) -> dict[str, np.ndarray]:
    """The vectors saved by `save_vectors`, by key; {} for a missing or damaged file."""
    if not path.is_file():
        return {}
    try:
        with np.load(path) as data:
            keys = [str(k) for k in data["keys"]]
            return dict(zip(keys, data["vectors"], strict=True))
    except (OSError, ValueError, KeyError):
        return {}  # a damaged cache costs a re-embedding, nothing more


def save_vectors(path: Path, vectors: dict[str, np.ndarray]) -> None:
    """Write `vectors` (key -> vector) to `path`, atomically."""
    if not vectors:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez(partial, keys=np.array(list(vectors)), vectors=np.stack(list(vectors.values())))
    os.replace(partial, path)
