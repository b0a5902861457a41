"""The one interface every embedding backend implements, and the conventions they share.

Vectors are float32 numpy arrays, L2-normalised, so a dot product is the cosine
similarity. Documents and queries are embedded differently on purpose: instruction-tuned
models (Qwen3-Embedding) put a task instruction before queries only, Voyage takes an
`input_type`, symmetric models (MiniLM) ignore the difference.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

QWEN3_MIN_DIMENSIONS = 32


class Embedder(abc.ABC):
    """Turns texts into vectors. Implementations are thread-safe for one caller at a time
    per method; the indexer and the query path may call from different threads."""

    #: "local", "sglang" or "voyage"
    provider: str
    #: a stable id of the model *and* its output size, used to name the store's table
    model_id: str
    #: the length of every vector returned
    dimensions: int
    #: the most tokens of one input the model reads; longer inputs are truncated
    max_tokens: int

    @abc.abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed code chunks. Returns an array of shape (len(texts), dimensions)."""

    @abc.abstractmethod
    def embed_query(self, text: str) -> np.ndarray:
        """Embed one search query. Returns an array of shape (dimensions,)."""

    def count_tokens(self, text: str) -> int:
        """An estimate of the tokens in `text`, used to size chunks and batches.

        Code tokenises at roughly 3 to 4 characters a token in the common BPE and
        WordPiece vocabularies; backends with a tokenizer at hand may count exactly."""
        return estimate_tokens(text)

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release what the backend holds (a child process, a connection pool)."""

    def describe(self) -> str:
        return f"{self.provider}:{self.model_id}"


def estimate_tokens(text: str) -> int:
    return max(1, (len(text) + 2) // 3)


def batch_by_tokens(texts: Sequence[str], max_tokens: int, max_texts: int) -> list[list[int]]:
    """Indices of `texts` in consecutive groups of at most `max_texts` texts and about
    `max_tokens` estimated tokens (a single longer text is a group of its own)."""
    batches: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for i, text in enumerate(texts):
        cost = estimate_tokens(text)
        if current and (tokens + cost > max_tokens or len(current) >= max_texts):
            batches.append(current)
            current, tokens = [], 0
        current.append(i)
        tokens += cost
    if current:
        batches.append(current)
    return batches


def normalize(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows (or a single vector); zero vectors stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def truncate_dimensions(vectors: np.ndarray, dimensions: int | None) -> np.ndarray:
    """Matryoshka truncation: keep the first `dimensions` components, then re-normalise."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if dimensions is not None and dimensions < vectors.shape[-1]:
        vectors = vectors[..., :dimensions]
    return normalize(vectors)


def format_instructed_query(instruction: str, query: str) -> str:
    """Qwen3-Embedding's query format. Documents carry no instruction."""
    return f"Instruct: {instruction}\nQuery:{query}"


def is_qwen3_embedding(model_name: str) -> bool:
    """Whether a model id or path names a Qwen3 embedding model (for its conventions)."""
    lowered = model_name.lower().replace("_", "-")
    return "qwen3" in lowered and "embedding" in lowered


def model_slug(model_id: str) -> str:
    """A name that is safe as part of a table name."""
    out = "".join(c if c.isalnum() else "_" for c in model_id.lower())
    return out.strip("_")[:80] or "model"
