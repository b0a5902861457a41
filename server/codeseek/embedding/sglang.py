"""Embeddings from SGLang over its OpenAI-compatible `/v1/embeddings` API.

The servers are either ones the user runs (`sglang.url`, `sglang.urls`: several servers
share the work, or one `sglang-router` fronts several; endpoints.py) or one codeseek
launches and supervises (sglang_server.py). Requests are sized by a token budget and a
few are in flight per server at once, which keeps SGLang's continuous batching fed
without one huge request blocking queries.

Qwen3-Embedding conventions are applied on the client (by the base class): the task
instruction goes before queries only, and Matryoshka sizes are made by truncating the
full vector and re-normalising (SGLang's `dimensions` parameter only works when the
model's config declares Matryoshka support, which Qwen3-Embedding's does not). Blank
texts are never sent, because SGLang rejects them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import numpy as np

from codeseek.config import Config
from codeseek.embedding.base import Embedder, InputType, is_qwen3_embedding, matryoshka_dimensions
from codeseek.embedding.endpoints import Endpoint, EndpointPool, Endpoints, SupervisedEndpoint
from codeseek.embedding.sglang_server import Role, ServerInfo, SglangSupervisor
from codeseek.errors import ConfigError, EmbedderError, EmbedderUnavailable

log = logging.getLogger(__name__)

QWEN3_MAX_TOKENS = 32768
DEFAULT_MAX_TOKENS = 8192  # for other models whose server does not say
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def configured_urls(config: Config) -> list[str]:
    """The running servers named by `sglang.url` and `sglang.urls`, in order, once each."""
    urls: list[str] = []
    for url in [config.sglang.url, *config.sglang.urls]:
        url = (url or "").strip().rstrip("/")
        if url and url not in urls:
            urls.append(url)
    return urls


def reranker_is_launched(config: Config) -> bool:
    """Whether codeseek launches an SGLang reranker next to this configuration's embedder."""
    return config.reranker.provider == "sglang" and not config.reranker.url and config.sglang.launch


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
        health_interval: float = 5.0,
        state_dir: Path | None = None,
    ) -> None:
        super().__init__()
        settings = config.sglang
        model_path = supervisor.model_path if supervisor else config.embedder.model or settings.model_path
        self.batch_tokens = batch_tokens
        self.batch_texts = max_batch_texts
        self._timeout = request_timeout
        self._retries = retries
        self._retry_backoff = retry_backoff
        urls = configured_urls(config)
        self._endpoints: Endpoints
        if urls and supervisor is None:
            # A user's servers may be remote, behind the environment's proxy settings.
            self._http = httpx.Client(trust_env=True)
            setting = "sglang.url" if urls == [(settings.url or "").strip().rstrip("/")] else "sglang.urls"
            self._endpoints = EndpointPool(
                urls,
                self._http,
                setting=setting,
                probe_timeout=request_timeout,
                health_interval=health_interval,
            )
        elif settings.launch or supervisor is not None:
            # Our own loopback server: no proxy from the environment may sit in between.
            self._http = httpx.Client(trust_env=False)
            self._endpoints = SupervisedEndpoint(
                supervisor
                or SglangSupervisor(
                    settings,
                    model_path,
                    role=Role.EMBEDDING,
                    share_gpu=reranker_is_launched(config),
                    state_dir=state_dir,
                )
            )
        else:
            raise ConfigError(
                "the sglang provider needs sglang.url, or sglang.launch turned on "
                "(or several running servers in sglang.urls)"
            )
        # Several servers: each keeps a few requests in flight.
        self.max_in_flight = max(1, max_in_flight) * max(1, len(urls))
        try:
            info = self._endpoints.start()
            self._configure(config, info, model_path, launched=not urls or supervisor is not None)
        except BaseException:
            self.close()
            raise

    def _configure(self, config: Config, info: ServerInfo, model_path: str, *, launched: bool) -> None:
        self.model_id = info.model
        if not launched and config.embedder.model and config.embedder.model != info.model:
            log.warning(
                "embedder.model is %r but the SGLang server at %s serves %r; using the server's model",
                config.embedder.model,
                self._endpoints.describe(),
                info.model,
            )
        # The served name decides, unless it says nothing (a custom --served-model-name, or
        # a router that does not learn the name): then what codeseek launched, or the
        # model the user says is behind the URL.
        qwen3 = is_qwen3_embedding(info.model) or is_qwen3_embedding(
            model_path if launched else config.embedder.model or ""
        )
        if info.dimensions is None:  # pragma: no cover - the embedding probe measured it
            raise EmbedderError(f"the SGLang server at {info.url} returned no embedding")
        self.native_dimensions = info.dimensions
        self.dimensions = matryoshka_dimensions(
            config.embedder.dimensions, info.dimensions, matryoshka=qwen3, model=info.model
        )
        self.max_tokens = info.max_model_len or (QWEN3_MAX_TOKENS if qwen3 else DEFAULT_MAX_TOKENS)
        self.query_instruction = config.embedder.query_instruction if qwen3 else None

    # -- Embedder ---------------------------------------------------------------------------

    def close(self) -> None:
        super().close()
        endpoints = getattr(self, "_endpoints", None)
        if endpoints is not None:
            endpoints.close()
        self._http.close()

    def describe(self) -> str:
        where = self._endpoints.describe()
        return f"{self.provider}:{self.model_id} at {where}" if where else super().describe()

    def embed_batch(self, texts: list[str], input_type: InputType) -> np.ndarray:
        """Full vectors for `texts`, from whichever server is up. A request that cannot
        reach its server goes to another one at once; with none left (or while the
        launched server is down) it is retried with backoff, and after `retries` such
        rounds the backend is unavailable."""
        last_error, where = "no attempt made", ""
        waits = 0
        for _ in range(64):  # bounds failover between servers that keep coming back
            try:
                endpoint = self._endpoints.pick()
            except EmbedderUnavailable:
                # The launched server is down (restarting, or being checked after a
                # failed request): wait for it like for any other failure.
                if waits >= self._retries:
                    raise
                time.sleep(self._retry_backoff * 2**waits)
                waits += 1
                continue
            where = self._endpoints.where(endpoint)
            try:
                response = self._post(endpoint, texts)
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                if self._endpoints.release(endpoint, last_error):
                    continue  # another server is up: fail over at once
            else:
                self._endpoints.release(endpoint)
                if response.status_code == 200:
                    return self._parse(response, len(texts))
                if response.status_code not in RETRYABLE_STATUS:
                    raise EmbedderError(
                        f"SGLang rejected an embedding request (HTTP {response.status_code}): "
                        f"{error_message(response)}"
                    )
                # Busy, or a router with no worker up: the server itself is fine.
                last_error = f"HTTP {response.status_code}: {error_message(response)}"
            if waits >= self._retries:
                break
            time.sleep(self._retry_backoff * 2**waits)
            waits += 1
        raise EmbedderUnavailable(
            f"the SGLang server at {where} did not answer after {waits + 1} attempts: {last_error}"
        )

    # -- requests -----------------------------------------------------------------------------

    def _post(self, endpoint: Endpoint, texts: list[str]) -> httpx.Response:
        model = endpoint.info.model if endpoint.info else self.model_id
        return self._http.post(
            f"{endpoint.url}/v1/embeddings",
            json={"model": model, "input": texts, "encoding_format": "float"},
            timeout=self._timeout,
        )

    def _parse(self, response: httpx.Response, expected: int) -> np.ndarray:
        try:
            data = response.json()["data"]
            ordered = sorted(data, key=lambda item: item["index"])
            return np.asarray([item["embedding"] for item in ordered], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbedderError(
                f"SGLang answered an embedding request with an unexpected body: {exc!r}"
            ) from exc


def error_message(response: httpx.Response) -> str:
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
