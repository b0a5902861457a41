"""A stand-in for Voyage AI's embeddings and rerank APIs on loopback, for the real
`voyageai` client.

It checks what the real service checks and codeseek must get right: the bearer key,
the model, `input_type`, at most 1,000 texts and 120,000 tokens a request, and the
`output_dimension` each model allows; for `/v1/rerank`, a reranking model, a query,
at most 1,000 documents and `top_k`, answering `{"data": [{"relevance_score", "index"}]}`
sorted by score (the share of the query's words a document holds, relevance.py).
Tests can queue failures (429 with Retry-After, 500, 503, 401), slow rerank answers
down (`rerank_delay`), and read back every request it received.

Run alone: python tests/standins/voyage_server.py [PORT] (key: "test-key").
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relevance import relevance

RERANK_MODELS = ("rerank-2.5", "rerank-2.5-lite", "rerank-2", "rerank-2-lite")
MAX_RERANK_DOCUMENTS = 1000
MAX_RERANK_QUERY_TOKENS = 8000
MAX_RERANK_TOKENS = 600_000
MODELS = {"voyage-code-3": ((256, 512, 1024, 2048), 1024), "voyage-code-2": ((1536,), 1536)}
MAX_TEXTS = 1000
MAX_TOKENS = 120_000


@dataclass
class Failure:
    status: int
    detail: str
    retry_after: str | None = None


@dataclass
class VoyageStandIn:
    api_key: str = "test-key"
    # Characters a token, for the batch limit; lower it to count more strictly than the client.
    chars_per_token: float = 4.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: deque[Failure] = field(default_factory=deque)
    # Seconds each rerank request takes (a slow service).
    rerank_delay: float = 0.0

    def __post_init__(self) -> None:
        self._httpd: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    # -- control ---------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        self._httpd = _Server(("127.0.0.1", port), _make_handler(self))
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self.base_url

    def __enter__(self) -> VoyageStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        details = {
            401: "Provided API key is invalid.",
            429: "You have exceeded your rate limit.",
            500: "Internal server error.",
            503: "Service temporarily unavailable.",
        }
        for _ in range(times):
            self.failures.append(Failure(status, details.get(status, "error"), retry_after))

    # -- the API -----------------------------------------------------------------------------

    def tokens(self, text: str) -> int:
        return max(1, int(len(text) / self.chars_per_token + 0.999))

    def _receive(
        self, path: str, headers: Any, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Record the request; the queued failure or the refusal of a bad key, if any."""
        with self._lock:
            self.requests.append(
                {"path": path, "authorized": headers.get("Authorization") == f"Bearer {self.api_key}", **body}
            )
            failure = self.failures.popleft() if self.failures else None
        if failure is not None:
            extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return failure.status, {"detail": failure.detail}, extra
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"detail": "Provided API key is invalid."}, {}
        return None

    def answer_rerank(self, headers: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        refused = self._receive("/v1/rerank", headers, body)
        if refused is not None:
            return refused
        model = body.get("model")
        if model not in RERANK_MODELS:
            return 400, {"detail": f"Model {model} is not supported."}, {}
        query, documents = body.get("query"), body.get("documents")
        if not isinstance(query, str) or not query:
            return 400, {"detail": "query must be a non-empty string"}, {}
        if not isinstance(documents, list) or not documents or not all(isinstance(d, str) for d in documents):
            return 400, {"detail": "documents must be a non-empty list of strings"}, {}
        if len(documents) > MAX_RERANK_DOCUMENTS:
            return 400, {"detail": f"The number of documents must not exceed {MAX_RERANK_DOCUMENTS}."}, {}
        if self.tokens(query) > MAX_RERANK_QUERY_TOKENS:
            return 400, {"detail": f"The query must not exceed {MAX_RERANK_QUERY_TOKENS} tokens."}, {}
        total = sum(self.tokens(query) + self.tokens(d) for d in documents)
        if total > MAX_RERANK_TOKENS:
            return 400, {"detail": f"The total number of tokens must not exceed {MAX_RERANK_TOKENS}."}, {}
        time.sleep(self.rerank_delay)
        data = [
            {"relevance_score": relevance(query, d), "index": i}
            | ({"document": d} if body.get("return_documents") else {})
            for i, d in enumerate(documents)
        ]
        data.sort(key=lambda item: item["relevance_score"], reverse=True)
        top_k = body.get("top_k")
        if isinstance(top_k, int) and top_k > 0:
            data = data[:top_k]
        return 200, {"object": "list", "data": data, "model": model, "usage": {"total_tokens": total}}, {}

    def answer(self, headers: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        refused = self._receive("/v1/embeddings", headers, body)
        if refused is not None:
            return refused
        model = body.get("model")
        if model not in MODELS:
            return 400, {"detail": f"Model {model} is not supported."}, {}
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return 400, {"detail": "input must be a non-empty list of strings"}, {}
        if len(texts) > MAX_TEXTS:
            return (
                400,
                {"detail": f"The batch size limit is {MAX_TEXTS}. Your batch size is {len(texts)}."},
                {},
            )
        total = sum(self.tokens(t) for t in texts)
        if total > MAX_TOKENS:
            return 400, {"detail": f"Request to model '{model}' failed. The max allowed tokens per submitted batch is {MAX_TOKENS}. Your batch has {total} tokens after truncation."}, {}  # fmt: skip
        input_type = body.get("input_type")
        if input_type not in (None, "query", "document"):
            return 400, {"detail": f"input_type must be query, document or null, not {input_type!r}"}, {}
        sizes, default = MODELS[model]
        dimension = body.get("output_dimension")
        if dimension is not None and (len(sizes) == 1 or dimension not in sizes):
            return 400, {"detail": f"output_dimension {dimension} is not supported by {model}."}, {}
        dimension = dimension or default
        vectors = [_vector(f"{input_type}:{text}", dimension) for text in texts]
        if body.get("encoding_format") == "base64":
            encoded: list[Any] = [base64.b64encode(v.astype(np.float32).tobytes()).decode() for v in vectors]
        else:
            encoded = [v.tolist() for v in vectors]
        data = [{"object": "embedding", "embedding": e, "index": i} for i, e in enumerate(encoded)]
        return 200, {"object": "list", "data": data, "model": model, "usage": {"total_tokens": total}}, {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout) leaves a broken pipe: that is its business.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _vector(text: str, dimension: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimension)
    return vector / np.linalg.norm(vector)


def _make_handler(standin: VoyageStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            routes = {"/v1/embeddings": standin.answer, "/v1/rerank": standin.answer_rerank}
            route = routes.get(self.path)
            if route is None:
                status, body, extra = 404, {"detail": "Not Found"}, {}
            else:
                try:
                    status, body, extra = route(self.headers, json.loads(raw))
                except ValueError:
                    status, body, extra = 400, {"detail": "invalid JSON"}, {}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


if __name__ == "__main__":
    server = VoyageStandIn()
    print(server.start(int(sys.argv[1]) if len(sys.argv) > 1 else 0), flush=True)
    threading.Event().wait()
