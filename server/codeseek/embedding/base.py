"""The one interface every embedding backend implements, and what they all share.

Vectors are float32 numpy arrays, L2-normalised, so a dot product is the cosine
similarity. Documents and queries are embedded differently on purpose: instruction-tuned
models (Qwen3-Embedding) put a task instruction before queries only, Voyage takes an
`input_type`, symmetric models (MiniLM) ignore the difference.

A backend implements one method, `embed_batch`, and sets a few attributes. The base
class does the rest, once for every backend:

* blank inputs get a zero vector (which matches nothing) and are never sent: servers
  reject them, and a model would only embed its own special tokens;
* the query instruction goes before queries (Qwen3 conventions), never before documents;
* queries are cached (most recent first, thread-safe): a search after a keystroke or a
  hover asks for the same query vector again;
* inputs are clipped to what the model reads, grouped into batches by count and by an
  estimated token budget, and the batches run one at a time or, for servers, a few at
  once;
* the model's vectors are checked, cut to `dimensions` (Matryoshka truncation) and
  normalised.
"""

from __future__ import annotations

import abc
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Literal

import numpy as np

from codeseek.errors import ConfigError, EmbedderError

QWEN3_MIN_DIMENSIONS = 32
QUERY_CACHE_SIZE = 256
# Characters per token of `max_tokens` kept by the clipping that protects servers; code
# averages 3-4 characters a token, so a text cut at this length stays within the model's
# context in all but unusual scripts.
CHARS_PER_TOKEN = 3

InputType = Literal["document", "query"]


class Embedder(abc.ABC):
    """Turns texts into vectors. Thread-safe: the indexer and the query path may call
    from different threads at once.

    To add a backend, subclass, call `super().__init__()`, set the attributes below, and
    implement `embed_batch`. Callers use `embed_documents` and `embed_query` only."""

    #: "local", "sglang" or "voyage"
    provider: str
    #: a stable id of the model *and* its output size, used to name the store's table
    model_id: str
    #: the length of every vector returned (at most `native_dimensions`)
    dimensions: int
    #: the length of the vectors `embed_batch` returns (the model's own output size);
    #: when larger than `dimensions` the base class truncates (Matryoshka) and re-normalises
    native_dimensions: int
    #: the most tokens of one input the model reads; longer inputs are truncated
    max_tokens: int
    #: put before queries (as "Instruct: ...\nQuery:..."); None for models without one
    query_instruction: str | None = None
    #: texts and estimated tokens in one `embed_batch` call
    batch_texts: int = 64
    batch_tokens: int = 1 << 30
    #: batches in flight at once (a server's continuous batching wants a few)
    max_in_flight: int = 1
    #: group texts of similar length into one batch: less padding for a local model
    sort_by_length: bool = False
    #: inputs are cut to `max_tokens * clip_chars_per_token` characters before
    #: `embed_batch`; None when the backend truncates exactly itself (a local tokenizer)
    clip_chars_per_token: int | None = CHARS_PER_TOKEN

    def __init__(self) -> None:
        self._cache_lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pool: ThreadPoolExecutor | None = None

    @abc.abstractmethod
    def embed_batch(self, texts: list[str], input_type: InputType) -> np.ndarray:
        """The model's vectors for `texts`: shape (len(texts), native_dimensions).

        Called by the base class only, with at most `batch_texts` texts of about
        `batch_tokens` estimated tokens, none blank, already clipped; queries already
        carry the instruction (`input_type` is for backends that take one instead,
        like Voyage). Need not normalise. Raise EmbedderUnavailable when the backend
        is unreachable (search then falls back to full text, indexing waits) and
        EmbedderError when it refuses the request."""

    # -- what callers use ---------------------------------------------------------------

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed code chunks. Returns an array of shape (len(texts), dimensions)."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        wanted = [i for i, text in enumerate(texts) if text.strip()]
        if not wanted:
            return out
        if self.sort_by_length:
            wanted.sort(key=lambda i: len(texts[i]))
        clipped = [self.clip(texts[i]) for i in wanted]
        batches = [
            ([wanted[j] for j in group], [clipped[j] for j in group])
            for group in batch_by_tokens(clipped, self.batch_tokens, self.batch_texts)
        ]
        if self.max_in_flight <= 1 or len(batches) == 1:
            for rows, batch in batches:
                out[rows] = self._vectors(batch, "document")
            return out
        futures: list[tuple[list[int], Future[np.ndarray]]] = []
        try:
            for rows, batch in batches:
                futures.append((rows, self._executor().submit(self._vectors, batch, "document")))
            for rows, future in futures:
                out[rows] = future.result()
        except BaseException:
            # One failed batch fails the call; do not leave the rest running for nothing.
            for _, future in futures:
                future.cancel()
            raise
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one search query. Returns an array of shape (dimensions,)."""
        if not text.strip():
            return np.zeros(self.dimensions, dtype=np.float32)
        with self._cache_lock:
            cached = self._query_cache.get(text)
            if cached is not None:
                self._query_cache.move_to_end(text)
                return cached
        prompt = format_instructed_query(self.query_instruction, text) if self.query_instruction else text
        vector = self._vectors([self.clip(prompt)], "query")[0]
        vector.setflags(write=False)  # shared by every caller of the cache
        with self._cache_lock:
            self._query_cache[text] = vector
            if len(self._query_cache) > QUERY_CACHE_SIZE:
                self._query_cache.popitem(last=False)
        return vector

    def forget_queries(self) -> None:
        """Empty the query cache (a benchmark timing query embedding wants this)."""
        with self._cache_lock:
            self._query_cache.clear()

    def close(self) -> None:
        """Release what the backend holds (threads, a child process, a connection pool)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> str:
        return f"{self.provider}:{self.model_id}"

    # -- shared machinery ---------------------------------------------------------------

    def clip(self, text: str) -> str:
        """`text` cut to what the model can read (see `clip_chars_per_token`)."""
        if self.clip_chars_per_token is None:
            return text
        return text[: self.max_tokens * self.clip_chars_per_token]

    def _executor(self) -> ThreadPoolExecutor:
        with self._cache_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.max_in_flight, thread_name_prefix=f"codeseek-{self.provider}"
                )
            return self._pool

    def _vectors(self, texts: list[str], input_type: InputType) -> np.ndarray:
        vectors = np.asarray(self.embed_batch(texts, input_type), dtype=np.float32)
        if vectors.shape != (len(texts), self.native_dimensions):
            raise EmbedderError(
                f"{self.describe()} returned vectors of shape {vectors.shape} for {len(texts)} texts "
                f"of {self.native_dimensions} dimensions"
            )
        return truncate_dimensions(vectors, self.dimensions)


def matryoshka_dimensions(wanted: int | None, full: int, *, matryoshka: bool, model: str) -> int:
    """The output size for `embedder.dimensions` = `wanted` on a model of `full`
    dimensions; only Matryoshka models (Qwen3-Embedding) can be truncated, and not
    below QWEN3_MIN_DIMENSIONS. Raises ConfigError naming the setting."""
    if wanted is None or wanted == full:
        return full
    if not matryoshka:
        raise ConfigError(
            f"embedder.dimensions: {model} has a fixed size of {full}; "
            "only Matryoshka models (Qwen3-Embedding) can be truncated"
        )
    if not QWEN3_MIN_DIMENSIONS <= wanted <= full:
        raise ConfigError(
            f"embedder.dimensions must be between {QWEN3_MIN_DIMENSIONS} and {full} for {model}"
        )
    return wanted


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
