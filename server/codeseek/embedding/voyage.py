"""Voyage AI's code embedding models through the official `voyageai` client.

`voyage-code-3` (the default) returns 256, 512, 1024 (default) or 2048 dimensions;
`voyage-code-2` returns 1536. Chunks are sent with `input_type="document"` and queries
with `"query"`, which Voyage turns into its own retrieval prompts.

The API key comes only from `VOYAGE_API_KEY` (the VS Code extension passes the one it
keeps in the editor's secret storage through that variable). It is handed to the client
and nowhere else: not logged, not stored, not shown in `status`, and scrubbed from every
error message in case a server or proxy ever echoes it.

The client's own retries are turned off: it does not retry 500s, and its backoff cannot
be bounded for tests. Here rate limits, 5xx answers, timeouts and connection errors are
retried with exponential backoff (honouring Retry-After); when they persist the backend
is reported as unavailable (EmbedderUnavailable), so search falls back to full text and
indexing waits instead of failing.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from codeseek.config import VOYAGE_MODELS, Config
from codeseek.embedding.base import Embedder, InputType
from codeseek.embedding.registry import ModelInfo
from codeseek.errors import ConfigError, EmbedderError, EmbedderUnavailable

log = logging.getLogger(__name__)

VOYAGE_KEY_ENV = "VOYAGE_API_KEY"
VOYAGE_INSTALL_HINT = "Voyage AI needs its client, an optional extra: pip install 'codeseek-lsp[voyage]'"
MAX_BATCH_TEXTS = 1000  # Voyage's limit on texts in one request
MAX_BATCH_TOKENS = 120_000  # Voyage's limit on tokens in one request for the code models


class _ModelSpec:
    def __init__(self, dimensions: tuple[int, ...], default: int, context: int) -> None:
        self.dimensions = dimensions
        self.default = default
        self.context = context


MODELS: dict[str, _ModelSpec] = {
    "voyage-code-3": _ModelSpec((256, 512, 1024, 2048), 1024, 32_000),
    "voyage-code-2": _ModelSpec((1536,), 1536, 16_000),
}
assert set(MODELS) == set(VOYAGE_MODELS)


class VoyageEmbedder(Embedder):
    provider = "voyage"

    def __init__(
        self,
        config: Config,
        *,
        env: Mapping[str, str] | None = None,
        retries: int = 5,
        retry_backoff: float = 1.0,
        max_retry_wait: float = 60.0,
        timeout: float = 60.0,
        batch_texts: int = MAX_BATCH_TEXTS,
        batch_tokens: int = MAX_BATCH_TOKENS,
    ) -> None:
        super().__init__()
        self._key = voyage_api_key(env)
        model = config.embedder.model or config.voyage.model
        spec = MODELS.get(model)
        if spec is None:
            raise ConfigError(f"embedder.model: Voyage models are {', '.join(VOYAGE_MODELS)}, not {model!r}")
        dimensions = config.embedder.dimensions or spec.default
        if dimensions not in spec.dimensions:
            sizes = " or ".join(str(d) for d in spec.dimensions)
            raise ConfigError(f"embedder.dimensions must be {sizes} for {model}, not {dimensions}")

        voyageai = import_voyageai()

        self.model_id = model
        self.dimensions = self.native_dimensions = dimensions
        self.max_tokens = spec.context
        # voyage-code-2 takes no output_dimension at all.
        self._output_dimension = dimensions if len(spec.dimensions) > 1 else None
        self._retries = retries
        self._retry_backoff = retry_backoff
        self._max_retry_wait = max_retry_wait
        self.batch_texts = min(batch_texts, MAX_BATCH_TEXTS)
        self.batch_tokens = min(batch_tokens, MAX_BATCH_TOKENS)
        self._errors = voyageai.error
        self._client = voyageai.Client(
            api_key=self._key, max_retries=0, timeout=timeout, base_url=config.voyage.base_url or None
        )
        self._sleep: Callable[[float], None] = time.sleep

    def describe(self) -> str:
        return f"voyage:{self.model_id} ({self.dimensions} dimensions)"

    # -- requests -----------------------------------------------------------------------------

    def embed_batch(self, texts: list[str], input_type: InputType) -> np.ndarray:
        # Voyage turns input_type into its own retrieval prompts; it truncates long
        # inputs itself, but counts them whole against the batch limit (hence the clip).
        return self._embed(texts, input_type)

    def _embed(self, texts: list[str], input_type: str) -> np.ndarray:
        errors = self._errors
        for attempt in range(self._retries + 1):
            try:
                result = self._client.embed(
                    texts,
                    model=self.model_id,
                    input_type=input_type,
                    truncation=True,
                    output_dimension=self._output_dimension,
                )
            except errors.AuthenticationError as exc:
                raise ConfigError(
                    f"Voyage AI rejected the API key in {VOYAGE_KEY_ENV} ({self._redact(exc).rstrip('.')}); "
                    "check the key at https://dash.voyageai.com"
                ) from None
            except errors.InvalidRequestError as exc:
                # Our token count is an estimate; a batch Voyage counts as too long is split.
                if len(texts) > 1 and "token" in str(exc).lower():
                    half = len(texts) // 2
                    log.info("Voyage refused a batch of %d texts as too long; splitting it", len(texts))
                    return np.concatenate(
                        [self._embed(texts[:half], input_type), self._embed(texts[half:], input_type)]
                    )
                raise EmbedderError(f"Voyage AI rejected the request: {self._redact(exc)}") from None
            except (
                errors.RateLimitError,
                errors.ServerError,
                errors.ServiceUnavailableError,
                errors.Timeout,
                errors.APIConnectionError,
                errors.TryAgain,
            ) as exc:
                if attempt == self._retries:
                    raise EmbedderUnavailable(
                        f"Voyage AI is not answering ({error_kind(exc)}) after {attempt + 1} attempts: {self._redact(exc)}"
                    ) from None
                wait = self._retry_wait(attempt, exc)
                log.info("Voyage AI: %s; retrying in %.1f s", error_kind(exc), wait)
                self._sleep(wait)
                continue
            except errors.VoyageError as exc:
                status = getattr(exc, "http_status", None)
                if isinstance(status, int) and status >= 500 and attempt < self._retries:
                    self._sleep(self._retry_wait(attempt, exc))
                    continue
                raise EmbedderError(f"Voyage AI answered with an error: {self._redact(exc)}") from None
            try:
                return np.asarray(result.embeddings, dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise EmbedderError(f"Voyage AI returned embeddings that are not vectors: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_wait(self, attempt: int, exc: Exception) -> float:
        headers: Any = getattr(exc, "headers", None) or {}
        try:
            retry_after = float(headers.get("retry-after"))
        except (TypeError, ValueError, AttributeError):
            retry_after = 0.0
        backoff = self._retry_backoff * 2**attempt * (0.5 + random.random() / 2)
        return min(max(backoff, retry_after), self._max_retry_wait)

    def _redact(self, exc: BaseException) -> str:
        return redact_error(exc, self._key)

    def __repr__(self) -> str:
        return f"VoyageEmbedder(model={self.model_id!r}, dimensions={self.dimensions})"


def voyage_api_key(env: Mapping[str, str] | None = None) -> str:
    """The key from VOYAGE_API_KEY, or a ConfigError saying where it must be."""
    key = ((os.environ if env is None else env).get(VOYAGE_KEY_ENV) or "").strip()
    if not key:
        raise ConfigError(
            f"Voyage AI needs an API key in the {VOYAGE_KEY_ENV} environment variable "
            "(or in the editor's secret storage)"
        )
    return key


def import_voyageai() -> Any:
    """The `voyageai` module, or one ConfigError line with the command that installs it."""
    try:
        import voyageai
    except ImportError:
        raise ConfigError(VOYAGE_INSTALL_HINT) from None
    return voyageai


def redact_error(exc: BaseException, key: str) -> str:
    """The client error's message with `key` scrubbed (in case a server or proxy echoes
    it); only the message: the client's errors also carry headers and bodies."""
    message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    return str(message).replace(key, "[redacted]")[:500]


def error_kind(exc: BaseException) -> str:
    status = getattr(exc, "http_status", None)
    name = {
        "RateLimitError": "rate limited",
        "ServerError": "server error",
        "ServiceUnavailableError": "service unavailable",
        "Timeout": "timed out",
        "APIConnectionError": "cannot connect",
    }.get(type(exc).__name__, type(exc).__name__)
    return f"{name}, HTTP {status}" if status else name


def describe_voyage_model(config: Config) -> ModelInfo | None:
    """The model's id, size and context from the settings alone (no key, no request)."""
    model = config.embedder.model or config.voyage.model
    spec = MODELS.get(model)
    if spec is None:
        return None
    dimensions = config.embedder.dimensions or spec.default
    if dimensions not in spec.dimensions:
        return None
    return ModelInfo("voyage", model, dimensions, spec.context)
