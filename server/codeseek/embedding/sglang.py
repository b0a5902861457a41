"""Embeddings from an SGLang server over its OpenAI-compatible `/v1/embeddings` API.

The server is either one the user runs (`sglang.url`) or one codeseek launches and
supervises (sglang_server.py). Requests are sized by a token budget and a few are in
flight at once, which keeps SGLang's continuous batching fed without one huge request
blocking queries.

Qwen3-Embedding conventions are applied here, on the client: the task instruction goes
before queries only, and Matryoshka sizes are made by truncating the full vector and
re-normalising (SGLang's `dimensions` parameter only works when the model's config
declares Matryoshka support, which Qwen3-Embedding's does not). Blank texts are never
sent, because SGLang rejects them; they get a zero vector, which matches nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from codeseek.config import Config
from codeseek.embedding.base import (
    QWEN3_MIN_DIMENSIONS,
    Embedder,
    batch_by_tokens,
    format_instructed_query,
    is_qwen3_embedding,
    normalize,
    truncate_dimensions,
)
from codeseek.embedding.sglang_server import ServerInfo, ServerNotReady, SglangSupervisor, probe_server
from codeseek.errors import ConfigError, EmbedderError, EmbedderUnavailable

log = logging.getLogger(__name__)

QWEN3_MAX_TOKENS = 32768
DEFAULT_MAX_TOKENS = 8192  # for other models whose server does not say
# Characters sent per token of budget; code averages 3-4 characters a token, so a text cut
# at this length stays within the model's context in all but unusual scripts.
CHARS_PER_TOKEN = 3
QUERY_CACHE_SIZE = 256
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class SglangEmbedder(Embedder):
    """Qwen3-Embedding (or another embedding model) served by SGLang."""

    provider = "sglang"

    def __init__(
        self,
        config: Config,
        *,
        supervisor: SglangSupervisor | None = None,
        batch_tokens: int = 16384,
        max_batch_texts: int = 256,
        max_in_flight: int = 4,
        request_timeout: float = 120.0,
        retries: int = 3,
        retry_backoff: float = 0.5,
        state_dir: Path | None = None,
    ) -> None:
        settings = config.sglang
        model_path = supervisor.model_path if supervisor else config.embedder.model or settings.model_path
        self._batch_tokens = batch_tokens
        self._max_batch_texts = max_batch_texts
        self._timeout = request_timeout
        self._retries = retries
        self._retry_backoff = retry_backoff
        self._supervisor: SglangSupervisor | None = None
        if settings.url:
            self._fixed_url: str | None = settings.url.rstrip("/")
            # A user's server may be remote, behind the environment's proxy settings.
            self._http = httpx.Client(trust_env=True)
            info = self._probe_fixed_url(self._fixed_url)
        elif settings.launch or supervisor is not None:
            self._fixed_url = None
            self._http = httpx.Client(trust_env=False)
            self._supervisor = supervisor or SglangSupervisor(settings, model_path, state_dir=state_dir)
            try:
                info = self._supervisor.start()
            except BaseException:
                self._supervisor.stop()
                self._http.close()
                raise
        else:
            raise ConfigError("the sglang provider needs sglang.url, or sglang.launch turned on")

        try:
            self._configure(config, info, model_path)
        except BaseException:
            self.close()
            raise
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, max_in_flight), thread_name_prefix="codeseek-sglang"
        )
        self._cache_lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _probe_fixed_url(self, url: str) -> ServerInfo:
        try:
            return probe_server(self._http, url, timeout=self._timeout)
        except ServerNotReady as exc:
            self._http.close()
            raise EmbedderUnavailable(
                f"the SGLang server at {url} (sglang.url) is not answering: {exc}"
            ) from exc

    def _configure(self, config: Config, info: ServerInfo, model_path: str) -> None:
        self._served_model = info.model
        self.model_id = info.model
        if self._fixed_url and config.embedder.model and config.embedder.model != info.model:
            log.warning(
                "embedder.model is %r but the SGLang server at %s serves %r; using the server's model",
                config.embedder.model,
                self._fixed_url,
                info.model,
            )
        self._qwen3 = is_qwen3_embedding(info.model) or (
            self._supervisor is not None and is_qwen3_embedding(model_path)
        )
        full = info.dimensions
        wanted = config.embedder.dimensions
        if wanted is not None and wanted != full:
            if not self._qwen3:
                raise ConfigError(
                    f"embedder.dimensions: {info.model} has a fixed size of {full}; "
                    "only Matryoshka models (Qwen3-Embedding) can be truncated"
                )
            if not QWEN3_MIN_DIMENSIONS <= wanted <= full:
                raise ConfigError(
                    f"embedder.dimensions must be between {QWEN3_MIN_DIMENSIONS} and {full} for {info.model}"
                )
        self._full_dimensions = full
        self.dimensions = wanted or full
        self.max_tokens = info.max_model_len or (QWEN3_MAX_TOKENS if self._qwen3 else DEFAULT_MAX_TOKENS)
        self._instruction = config.embedder.query_instruction if self._qwen3 else None

    # -- Embedder ---------------------------------------------------------------------------

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        wanted = [i for i, text in enumerate(texts) if text.strip()]
        if not wanted:
            return out
        clipped = [self._clip(texts[i]) for i in wanted]
        futures: list[tuple[list[int], Future[np.ndarray]]] = []
        try:
            for batch in self._batches(clipped):
                future = self._pool.submit(self._embed_batch, [clipped[j] for j in batch])
                futures.append(([wanted[j] for j in batch], future))
            for rows, future in futures:
                out[rows] = future.result()
        except BaseException:
            # One failed batch fails the call; do not leave the rest running for nothing.
            for _, future in futures:
                future.cancel()
            raise
        return out

    def embed_query(self, text: str) -> np.ndarray:
        with self._cache_lock:
            cached = self._query_cache.get(text)
            if cached is not None:
                self._query_cache.move_to_end(text)
                return cached
        prompt = format_instructed_query(self._instruction, text) if self._instruction else text
        if not prompt.strip():
            return np.zeros(self.dimensions, dtype=np.float32)
        vector = self._embed_batch([self._clip(prompt)])[0]
        with self._cache_lock:
            self._query_cache[text] = vector
            if len(self._query_cache) > QUERY_CACHE_SIZE:
                self._query_cache.popitem(last=False)
        return vector

    def close(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if self._supervisor is not None:
            self._supervisor.stop()
        self._http.close()

    def describe(self) -> str:
        where = self._fixed_url or (
            self._supervisor.info.url if self._supervisor and self._supervisor.info else ""
        )
        return f"{self.provider}:{self.model_id} at {where}" if where else super().describe()

    @property
    def log_path(self) -> Path | None:
        """The launched server's log file (None for a server given by sglang.url)."""
        return self._supervisor.log_path if self._supervisor else None

    # -- requests -----------------------------------------------------------------------------

    def _clip(self, text: str) -> str:
        return text[: self.max_tokens * CHARS_PER_TOKEN]

    def _batches(self, texts: list[str]) -> list[list[int]]:
        """Consecutive groups within the token budget and the text count limit."""
        return batch_by_tokens(texts, self._batch_tokens, self._max_batch_texts)

    def _server(self) -> tuple[str, str]:
        """(url, served model) to send the next request to."""
        if self._supervisor is not None:
            info = self._supervisor.ensure_available()
            return info.url, info.model
        assert self._fixed_url is not None
        return self._fixed_url, self._served_model

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Full vectors for `texts` (none blank), truncated and normalised; retried."""
        last_error = "no attempt made"
        for attempt in range(self._retries + 1):
            if attempt:
                time.sleep(self._retry_backoff * 2 ** (attempt - 1))
            url, model = self._server()
            try:
                response = self._http.post(
                    f"{url}/v1/embeddings",
                    json={"model": model, "input": texts, "encoding_format": "float"},
                    timeout=self._timeout,
                )
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                if self._supervisor is not None:
                    self._supervisor.report_failure(last_error)
                continue
            if response.status_code in RETRYABLE_STATUS:
                last_error = f"HTTP {response.status_code}: {_error_message(response)}"
                continue
            if response.status_code != 200:
                raise EmbedderError(
                    f"SGLang rejected an embedding request (HTTP {response.status_code}): {_error_message(response)}"
                )
            return self._parse(response, len(texts))
        where = url if self._supervisor is None else f"{url} (log: {self._supervisor.log_path})"
        raise EmbedderUnavailable(
            f"the SGLang server at {where} did not answer after {self._retries + 1} attempts: {last_error}"
        )

    def _parse(self, response: httpx.Response, expected: int) -> np.ndarray:
        try:
            data = response.json()["data"]
            ordered = sorted(data, key=lambda item: item["index"])
            vectors = np.asarray([item["embedding"] for item in ordered], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbedderError(
                f"SGLang answered an embedding request with an unexpected body: {exc!r}"
            ) from exc
        if vectors.shape != (expected, self._full_dimensions):
            raise EmbedderError(
                f"SGLang returned vectors of shape {vectors.shape} for {expected} texts "
                f"of {self._full_dimensions} dimensions"
            )
        if self.dimensions < self._full_dimensions:
            return truncate_dimensions(vectors, self.dimensions)
        return normalize(vectors)


def _error_message(response: httpx.Response) -> str:
    """SGLang's error text: OpenAI-style {"message": ...} or {"error": {"message": ...}}."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if body.get("message"):
            return str(body["message"])
        if body.get("detail"):
            return str(body["detail"])
    return response.text[:500]
