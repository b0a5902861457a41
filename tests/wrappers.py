"""The real model behind a wrapper, for tests that must watch or break the one thing
that cannot fail for real here (an embedding server going away): every call still goes
to the real model unless the wrapper says otherwise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from codeseek.embedding.base import Embedder, InputType


class WrappedEmbedder(Embedder):
    """Forwards everything to `inner`, which keeps its own caches and batching."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__()
        self.inner = inner
        self.provider, self.model_id = inner.provider, inner.model_id
        self.dimensions, self.max_tokens = inner.dimensions, inner.max_tokens
        self.native_dimensions = inner.native_dimensions

    def before_call(self, texts: Sequence[str], kind: InputType) -> None:
        """Called with each batch of documents, or the one query, before the model sees it."""

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.before_call(texts, "document")
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        self.before_call([text], "query")
        return self.inner.embed_query(text)

    def embed_batch(self, texts: list[str], input_type: InputType) -> np.ndarray:
        return self.inner.embed_batch(texts, input_type)
