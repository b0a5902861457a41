"""A second stage after search: a reranker reads the query with each candidate and scores
how well the candidate answers it, which an embedding (one vector per side) cannot.

`reranker.provider` chooses it (off by default: it needs a GPU or the network):

* `sglang`: Qwen3-Reranker (default `Qwen/Qwen3-Reranker-4B`) on SGLang's `/v1/rerank`,
  a running server at `reranker.url`, or one launched and supervised like the embedding
  server (sglang_server.py, role `reranker`: its own port, state file and log). Request
  `{model, query, documents, instruct, return_documents: false}`; answer, a list sorted
  by score: `[{index, score}, ...]`, the score being p(yes) / (p(yes) + p(no)).
* `voyage`: Voyage AI's `rerank-2.5` (default) or another of its rerankers, through the
  official client (`client.rerank(query, documents, model=...)`), the key from
  `VOYAGE_API_KEY` as for embeddings; `voyage.baseUrl` applies too.

Both give relevance in [0, 1]; `rerank` returns the scores in the order the documents
came in. A reranker is an extra, so it never fails a search: it raises
RerankerUnavailable (starting, down, unreachable), RerankerTimeout (no answer within
`reranker.timeout` seconds, default 2) or RerankerError (anything else), and the
caller keeps the first-stage order and says why.

Search uses it as (search.py):

    reranker = create_reranker(config)          # None when reranker.provider is "none"
    top = first_stage_hits[: reranker.candidates]
    try:
        scores = reranker.rerank(query, [hit_text(h) for h in top])
    except RerankerError as exc:
        note = f"not reranked: {exc}"            # first-stage order stands
    else:
        top = [h for _, h in sorted(zip(scores, top), key=lambda p: -p[0])]
"""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import httpx

from codeseek.config import DEFAULT_RERANKER_MODELS, Config
from codeseek.embedding.sglang import configured_urls, error_message
from codeseek.embedding.sglang_server import Role, SglangSupervisor
from codeseek.embedding.voyage import (
    VOYAGE_KEY_ENV,
    error_kind,
    import_voyageai,
    redact_error,
    voyage_api_key,
)
from codeseek.errors import ConfigError, RerankerError, RerankerTimeout, RerankerUnavailable

log = logging.getLogger(__name__)

# Chunks are at most about 1,000 tokens; a clip keeps one odd candidate (a minified line,
# a data file) from making the request slow or too long for the model.
MAX_DOCUMENT_CHARS = 12_000
MAX_QUERY_CHARS = 2_000


class Reranker(abc.ABC):
    """Scores first-stage candidates against a query. Thread-safe."""

    #: "sglang" or "voyage"
    provider: str
    #: the model asked (the served name once a server has said it)
    model_id: str

    def __init__(self, *, candidates: int, timeout: float) -> None:
        #: how many first-stage hits search hands over (reranker.candidates)
        self.candidates = candidates
        #: seconds one rerank may take (reranker.timeout)
        self.timeout = timeout
        self._pool_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def rerank(self, query: str, documents: Sequence[str], *, timeout: float | None = None) -> list[float]:
        """The relevance of each document to `query`, in the order given (higher is more
        relevant; blank documents score 0), within `timeout` seconds (default
        `self.timeout`). Raises RerankerTimeout past it, RerankerUnavailable while the
        reranker is down or starting, RerankerError when it answers wrongly."""
        budget = self.timeout if timeout is None else timeout
        scores = [0.0] * len(documents)
        wanted = [i for i, document in enumerate(documents) if document.strip()]
        if not wanted or not query.strip():
            return scores
        texts = [documents[i][:MAX_DOCUMENT_CHARS] for i in wanted]
        # A worker thread makes the budget a deadline for the whole call (clients'
        # timeouts are per connect or read, and would let a trickling answer run over).
        future = self._executor().submit(self.score, query[:MAX_QUERY_CHARS], texts, budget)
        try:
            got = future.result(timeout=budget)
        except FutureTimeout:
            future.cancel()
            raise self.over_budget(budget) from None
        if len(got) != len(texts):
            raise RerankerError(
                f"the reranker ({self.describe()}) scored {len(got)} of {len(texts)} documents"
            )
        for i, score in zip(wanted, got, strict=True):
            scores[i] = float(score)
        return scores

    @abc.abstractmethod
    def score(self, query: str, documents: list[str], timeout: float) -> list[float]:
        """Scores for `documents` (none blank, clipped) in their order; the request
        should give up after about `timeout` seconds. Raises the reranker errors."""

    def over_budget(self, budget: float) -> RerankerTimeout:
        """The error for an answer that did not come within `budget` seconds."""
        return RerankerTimeout(
            f"the reranker ({self.describe()}) did not answer within {budget:g} s (reranker.timeout)"
        )

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a reranker that is starting (evaluation wants
        reranked rows, not fallbacks); whether it is ready."""
        return True

    def describe(self) -> str:
        return f"{self.provider}:{self.model_id}"

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="codeseek-rerank")
            return self._pool


def create_reranker(
    config: Config, *, env: Mapping[str, str] | None = None, state_dir: Path | None = None
) -> Reranker | None:
    """The configured reranker, or None when `reranker.provider` is "none". A launched
    SGLang reranker starts in the background: until it is ready `rerank` raises
    RerankerUnavailable. Raises ConfigError for settings that cannot work."""
    provider = config.reranker.provider
    if provider == "none":
        return None
    if provider == "sglang":
        return SglangReranker(config, state_dir=state_dir)
    if provider == "voyage":
        return VoyageReranker(config, env=env)
    raise ConfigError(f"reranker.provider: unknown provider {provider!r}")


def embedder_is_launched(config: Config) -> bool:
    """Whether codeseek launches an SGLang embedding server for this configuration."""
    from codeseek.embedding.registry import choose_provider

    if configured_urls(config) or not config.sglang.launch:
        return False
    return choose_provider(config).provider == "sglang"


class SglangReranker(Reranker):
    """Qwen3-Reranker served by SGLang as a decoder-only yes/no scorer."""

    provider = "sglang"

    def __init__(
        self,
        config: Config,
        *,
        supervisor: SglangSupervisor | None = None,
        state_dir: Path | None = None,
    ) -> None:
        settings = config.reranker
        super().__init__(candidates=settings.candidates, timeout=settings.timeout)
        self.model_id = settings.model or DEFAULT_RERANKER_MODELS["sglang"]
        # The same task as the query embedding's instruction; Qwen3-Reranker reads it
        # as the "<Instruct>" of its prompt.
        self._instruction = config.embedder.query_instruction
        self._url = (settings.url or "").strip().rstrip("/") or None
        self._served: str | None = None  # the model name the running server answers to
        self._supervisor: SglangSupervisor | None = None
        if self._url and supervisor is None:
            self._http = httpx.Client(trust_env=True)  # maybe remote, behind a proxy
        elif config.sglang.launch or supervisor is not None:
            self._http = httpx.Client(trust_env=False)  # our own loopback server
            self._supervisor = supervisor or SglangSupervisor(
                config.sglang,
                self.model_id,
                role=Role.RERANKER,
                share_gpu=embedder_is_launched(config),
                state_dir=state_dir,
            )
            try:
                self._supervisor.start_in_background()
            except BaseException:
                self._supervisor.stop()
                self._http.close()
                raise
        else:
            raise ConfigError(
                "reranker.provider is 'sglang': set reranker.url to a running server, or turn sglang.launch on"
            )

    def score(self, query: str, documents: list[str], timeout: float) -> list[float]:
        url, model = self._server(timeout)
        body: dict[str, Any] = {
            "model": model,
            "query": query,
            "documents": documents,
            "instruct": self._instruction,
            "return_documents": False,
        }
        try:
            response = self._http.post(f"{url}/v1/rerank", json=body, timeout=timeout)
        except httpx.TimeoutException:
            raise self.over_budget(timeout) from None
        except httpx.TransportError as exc:
            if self._supervisor is not None:
                self._supervisor.report_failure(str(exc))
            raise RerankerUnavailable(
                f"the SGLang reranker at {url} is not answering: {type(exc).__name__}: {exc}"
            ) from None
        if response.status_code != 200:
            message = f"the SGLang reranker at {url} answered HTTP {response.status_code}: {error_message(response)}"
            if response.status_code in (408, 429, 500, 502, 503, 504):
                raise RerankerUnavailable(message)
            raise RerankerError(message)
        return _scores_in_order(response, len(documents), url)

    def wait_ready(self, timeout: float) -> bool:
        if self._supervisor is not None:
            return self._supervisor.wait_available(timeout) is not None
        try:
            self._server(timeout)
        except RerankerError:
            return False
        return True

    def describe(self) -> str:
        where = self._url or (self._supervisor.info.url if self._supervisor and self._supervisor.info else "")
        return f"sglang:{self.model_id} at {where}" if where else f"sglang:{self.model_id}"

    def close(self) -> None:
        super().close()
        if self._supervisor is not None:
            self._supervisor.stop()
        self._http.close()

    def _server(self, timeout: float) -> tuple[str, str]:
        """(url, served model name) for the next request."""
        if self._supervisor is not None:
            info = self._supervisor.ensure_available()
            return info.url, info.model
        assert self._url is not None
        if self._served is None:
            self._served = self._served_model(self._url, timeout)
        return self._url, self._served

    def _served_model(self, url: str, timeout: float) -> str:
        try:
            response = self._http.get(f"{url}/v1/models", timeout=timeout)
            response.raise_for_status()
            served = str(response.json()["data"][0]["id"])
        except httpx.TimeoutException:
            raise self.over_budget(timeout) from None
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise RerankerUnavailable(
                f"the SGLang reranker at {url} (reranker.url) is not answering: {type(exc).__name__}: {exc}"
            ) from None
        if served != self.model_id:
            log.info("the reranker at %s serves %r (reranker.model is %r)", url, served, self.model_id)
        self.model_id = served
        return served


class VoyageReranker(Reranker):
    """Voyage AI's rerankers (rerank-2.5 by default) through the official client."""

    provider = "voyage"

    def __init__(self, config: Config, *, env: Mapping[str, str] | None = None) -> None:
        settings = config.reranker
        super().__init__(candidates=settings.candidates, timeout=settings.timeout)
        self._key = voyage_api_key(env)
        voyageai = import_voyageai()
        self.model_id = settings.model or DEFAULT_RERANKER_MODELS["voyage"]
        self._errors = voyageai.error
        # No retries: a search waits for no second try; the next search asks again.
        self._client = voyageai.Client(
            api_key=self._key,
            max_retries=0,
            timeout=settings.timeout,
            base_url=config.voyage.base_url or None,
        )

    def score(self, query: str, documents: list[str], timeout: float) -> list[float]:
        errors = self._errors
        try:
            result = self._client.rerank(query, documents, model=self.model_id, truncation=True)
        except errors.AuthenticationError as exc:
            raise RerankerError(
                f"Voyage AI rejected the API key in {VOYAGE_KEY_ENV}: {redact_error(exc, self._key)}"
            ) from None
        except errors.Timeout:
            raise self.over_budget(timeout) from None
        except (
            errors.RateLimitError,
            errors.ServerError,
            errors.ServiceUnavailableError,
            errors.APIConnectionError,
            errors.TryAgain,
        ) as exc:
            raise RerankerUnavailable(
                f"Voyage AI is not answering ({error_kind(exc)}): {redact_error(exc, self._key)}"
            ) from None
        except errors.VoyageError as exc:
            raise RerankerError(
                f"Voyage AI refused the rerank request: {redact_error(exc, self._key)}"
            ) from None
        try:
            pairs = [(item.index, item.relevance_score) for item in result.results]
            return _in_document_order(pairs, len(documents), "Voyage AI")
        except (TypeError, ValueError, AttributeError) as exc:
            raise RerankerError(f"Voyage AI answered a rerank request with {exc!r}") from None

    def __repr__(self) -> str:
        return f"VoyageReranker(model={self.model_id!r})"


def _scores_in_order(response: httpx.Response, expected: int, url: str) -> list[float]:
    """SGLang answers a list sorted by score; put the scores back in document order."""
    try:
        pairs = [(item["index"], item["score"]) for item in response.json()]
        return _in_document_order(pairs, expected, f"the SGLang reranker at {url}")
    except (ValueError, KeyError, TypeError) as exc:
        raise RerankerError(f"the SGLang reranker at {url} answered with an unexpected body: {exc}") from None


def _in_document_order(pairs: list[tuple[Any, Any]], expected: int, who: str) -> list[float]:
    """Scores given as (document index, score), as both rerank APIs answer them sorted by
    score, back in document order. ValueError for an index out of range or seen twice;
    RerankerError when a document got no score."""
    scores: list[float | None] = [None] * expected
    for index, score in pairs:
        if not isinstance(index, int) or not 0 <= index < expected or scores[index] is not None:
            raise ValueError(f"index {index!r}")
        scores[index] = float(score)
    if any(s is None for s in scores):
        raise RerankerError(f"{who} scored {sum(s is not None for s in scores)} of {expected} documents")
    return [float(s) for s in scores if s is not None]
