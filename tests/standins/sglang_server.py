"""A stand-in for an SGLang server, speaking the same HTTP API on loopback.

Started through codeseek's real launch code as `python -m sglang.launch_server
--model-path M --is-embedding --host H --port P [--dtype D] [extras]` (an embedding
server) or `... --chat-template T --disable-radix-cache ...` without `--is-embedding`
(a decoder-only reranker such as Qwen3-Reranker), with tests/standins/pythonpath on
PYTHONPATH. It serves what codeseek uses:

  GET  /health          200 once "loaded", 503 before
  GET  /v1/models       {"data": [{"id", "root", "max_model_len", ...}]}
  GET  /get_model_info  {"model_path", "tokenizer_path", "is_generation"}
  GET  /server_info     some of the server's arguments (model_path, served_model_name, ...),
                        where sglang-router reads the model's name
  POST /v1/embeddings   OpenAI shape; blank inputs and `dimensions` are rejected with 400
                        as SGLang does for models without Matryoshka in their config
  POST /v1/rerank       {model, query, documents, instruct?, top_n?, return_documents?}
                        -> [{"score", "index", "document"?}, ...] sorted by score, as
                        SGLang answers; like SGLang, it serves a decoder-only reranker
                        only without --is-embedding and with a chat template that says
                        'answer can only be "yes" or "no"', which it renders with jinja2
                        as SGLang does (query as messages[0], document as messages[1],
                        `instruct`) and records

Vectors come from the bundled MiniLM model (384 dimensions) or, for lifecycle tests that
only need a fast start, from a hash of the text (64 dimensions). Rerank scores are the
share of the query's words a document holds (relevance.py). `--dp-size N` starts N
child processes in the server's process group, as SGLang's data-parallel schedulers are.

Behaviour is set by environment variables, so tests can drive the real supervisor:
  CODESEEK_STANDIN_VECTORS      "minilm" (default) or "hash"
  CODESEEK_STANDIN_START_DELAY  seconds before /health turns 200 (a slow model load)
  CODESEEK_STANDIN_EXIT_AT_START  print this message and exit 1 (a broken install)
  CODESEEK_STANDIN_EXIT_IF_EXISTS   the same, but only while this file exists
  CODESEEK_STANDIN_CRASH_AFTER  die without answering on the N-th embedding request
  CODESEEK_STANDIN_CRASH_MARKER with CRASH_AFTER: crash only if this file does not exist
                                (it is created on crashing, so a restarted server lives)
  CODESEEK_STANDIN_RECORD       append each embedding or rerank request as a JSON line to
                                this file: {"pid", "path", "body"} (+ "prompts" for rerank)
  CODESEEK_STANDIN_RERANK_DELAY seconds each rerank request takes (a slow reranker)
  CODESEEK_STANDIN_PIDFILE      write {"pid", "child_pid"} here once listening
  CODESEEK_STANDIN_SPAWN_CHILD  "1": start a child process in the same process group, as
                                SGLang starts its scheduler (tests that it is stopped too)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relevance import relevance

HASH_DIMENSIONS = 64


def parse_args(argv: list[str]) -> argparse.Namespace:
    # Only options SGLang has; an unknown one fails as SGLang's own parser would.
    parser = argparse.ArgumentParser(prog="sglang.launch_server")
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--is-embedding", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=30000)
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "half", "float16", "bfloat16", "float", "float32"]
    )
    parser.add_argument("--context-length", type=int, default=None)
    parser.add_argument("--served-model-name", default=None)
    parser.add_argument("--mem-fraction-static", type=float, default=None)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--chat-template", default=None)
    parser.add_argument("--disable-radix-cache", action="store_true")
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--dp-size", "--data-parallel-size", type=int, default=1)
    parser.add_argument("--tp-size", "--tensor-parallel-size", type=int, default=1)
    return parser.parse_args(argv)


def is_reranker_template(template: str) -> bool:
    """SGLang's own test for a decoder-only (yes/no) reranker's chat template."""
    lowered = template.lower()
    return 'answer can only be "yes" or "no"' in lowered or (
        "answer can only be" in lowered and '"yes"' in lowered and '"no"' in lowered
    )


def log(message: str) -> None:
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class StandIn:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.model_name = args.served_model_name or args.model_path
        self.context_length = args.context_length or 32768
        self.ready = threading.Event()
        self.requests = 0
        self.count_lock = threading.Lock()
        self.embedder: Any = None
        self.crash_after = int(os.environ.get("CODESEEK_STANDIN_CRASH_AFTER", "0") or 0)
        self.crash_marker = os.environ.get("CODESEEK_STANDIN_CRASH_MARKER")
        self.record = os.environ.get("CODESEEK_STANDIN_RECORD")
        self.rerank_delay = float(os.environ.get("CODESEEK_STANDIN_RERANK_DELAY", "0") or 0)
        self.chat_template: str | None = None
        if args.chat_template:
            # SGLang reads the template file when it starts; a missing one fails the launch.
            self.chat_template = Path(args.chat_template).read_text(encoding="utf-8")

    def load(self) -> None:
        delay = float(os.environ.get("CODESEEK_STANDIN_START_DELAY", "0") or 0)
        # A reranker scores by word overlap: it needs no model.
        if self.args.is_embedding and os.environ.get("CODESEEK_STANDIN_VECTORS", "minilm") == "minilm":
            from codeseek.config import EmbedderConfig
            from codeseek.embedding.local import LocalEmbedder

            log("Load weight begin (MiniLM stands in for the model)")
            self.embedder = LocalEmbedder(EmbedderConfig(provider="local"))
        time.sleep(delay)
        self.ready.set()
        log("The server is fired up and ready to roll!")

    def vectors(self, texts: list[str]) -> list[list[float]]:
        if self.embedder is not None:
            return [[float(x) for x in row] for row in self.embedder.embed_documents(texts)]
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            row = np.random.default_rng(seed).standard_normal(HASH_DIMENSIONS)
            rows.append([float(x) for x in row / np.linalg.norm(row)])
        return rows

    def write_record(self, path: str, body: Any, **extra: Any) -> None:
        if self.record:
            with open(self.record, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"pid": os.getpid(), "path": path, "body": body, **extra}) + "\n")

    def rerank(self, body: dict[str, Any]) -> tuple[int, Any]:
        """What SGLang's /v1/rerank answers for `body`: (status, JSON body)."""
        query, documents = body.get("query"), body.get("documents")
        if not query:
            return 400, error_body("Query cannot be empty")
        if isinstance(query, str) and not query.strip():
            return 400, error_body("Query cannot be empty or whitespace only")
        if not isinstance(documents, list) or not documents:
            return 400, error_body("Documents cannot be empty")
        for document in documents:
            if not document or not isinstance(document, str):
                return 400, error_body("Each document must be a non-empty string")
            if not document.strip():
                return 400, error_body("Each document cannot be empty or whitespace only")
        template = self.chat_template
        if template is None or not is_reranker_template(template):
            if self.args.is_embedding:
                return 400, error_body("This model is not a cross-encoder reranker")
            return 400, error_body(
                "This model does not appear to be an embedding model by default. Please add "
                "`--is-embedding` when launching the server or try another model."
            )
        if self.args.is_embedding:
            return 400, error_body(
                "Detected Qwen3 reranker chat template, but the server is not in generation mode. "
                "Please relaunch without --is-embedding for Qwen3-Reranker models."
            )
        import jinja2

        env = jinja2.Environment(loader=jinja2.BaseLoader(), autoescape=False, undefined=jinja2.Undefined)
        compiled = env.from_string(template)
        prompts = []
        for document in documents:
            variables: dict[str, Any] = {
                "messages": [{"role": "user", "content": query}, {"role": "user", "content": document}]
            }
            if body.get("instruct"):
                variables["instruct"] = body["instruct"]
            prompts.append(compiled.render(**variables))
        self.write_record("/v1/rerank", body, prompts=prompts)
        time.sleep(self.rerank_delay)
        results = [
            {
                "score": relevance(query, document),
                "document": document if body.get("return_documents", True) else None,
                "index": i,
                "meta_info": None,
            }
            for i, document in enumerate(documents)
        ]
        results.sort(key=lambda r: r["score"], reverse=True)
        top_n = body.get("top_n")
        if isinstance(top_n, int) and top_n > 0:
            results = results[:top_n]
        return 200, results

    def count_request(self) -> None:
        with self.count_lock:
            self.requests += 1
            crash = self.crash_after and self.requests >= self.crash_after
        if crash and not (self.crash_marker and Path(self.crash_marker).exists()):
            if self.crash_marker:
                Path(self.crash_marker).touch()
            log("Fatal error in the scheduler (stand-in crash)")
            os._exit(17)


def make_handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log(f'{self.address_string()} "{self.requestline}" {args[1] if len(args) > 1 else ""}')

        def send_json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def error(self, message: str, status: int = 400) -> None:
            self.send_json(
                status,
                {
                    "object": "error",
                    "message": message,
                    "type": "BadRequestError",
                    "param": None,
                    "code": status,
                },
            )

        def do_GET(self) -> None:
            if self.path == "/health":
                if standin.ready.is_set():
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.send_json(503, {"detail": "not ready"})
            elif self.path == "/v1/models":
                card = {
                    "id": standin.model_name,
                    "object": "model",
                    "created": int(time.time()),
                    "owned_by": "sglang",
                    "root": standin.args.model_path,
                    "max_model_len": standin.context_length,
                }
                self.send_json(200, {"object": "list", "data": [card]})
            elif self.path == "/get_model_info":
                self.send_json(
                    200,
                    {
                        "model_path": standin.args.model_path,
                        "tokenizer_path": standin.args.model_path,
                        "is_generation": not standin.args.is_embedding,
                    },
                )
            elif self.path in ("/server_info", "/get_server_info"):
                # A few of SGLang's server arguments; sglang-router names the model from these.
                args = standin.args
                self.send_json(
                    200,
                    {
                        "model_path": args.model_path,
                        "served_model_name": standin.model_name,
                        "is_embedding": args.is_embedding,
                        "dp_size": args.dp_size,
                        "tp_size": args.tp_size,
                        "context_length": standin.context_length,
                        "version": "stand-in",
                    },
                )
            else:
                self.send_json(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path == "/v1/rerank":
                if not standin.ready.is_set():
                    self.error("the server is not ready", 503)
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self.error("invalid JSON")
                    return
                self.send_json(*standin.rerank(body))
                return
            if self.path != "/v1/embeddings":
                self.send_json(404, {"detail": "Not Found"})
                return
            if not standin.ready.is_set():
                self.error("the server is not ready", 503)
                return
            if not standin.args.is_embedding:
                self.error("This model does not support embeddings (launch with --is-embedding)")
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self.error("invalid JSON")
                return
            standin.count_request()
            texts = body.get("input")
            if isinstance(texts, str):
                texts = [texts]
            standin.write_record("/v1/embeddings", body)
            if not isinstance(texts, list) or not texts:
                self.error("Input cannot be empty")
                return
            for i, text in enumerate(texts):
                if not isinstance(text, str):
                    self.error("All items in input list must be strings")
                    return
                if not text.strip():
                    self.error(f"Input at index {i} cannot be empty or whitespace only")
                    return
            if body.get("dimensions") is not None:
                self.error(
                    f"Model {standin.model_name} does not support matryoshka representation, "
                    "changing output dimensions will lead to poor results."
                )
                return
            tokens = sum(max(1, len(t) // 4) for t in texts)
            if max(len(t) // 4 for t in texts) > standin.context_length:
                self.error(
                    f"The input is longer than the model's context length ({standin.context_length} tokens)."
                )
                return
            data = [
                {"object": "embedding", "embedding": vector, "index": i}
                for i, vector in enumerate(standin.vectors(texts))
            ]
            usage = {"prompt_tokens": tokens, "total_tokens": tokens}
            self.send_json(200, {"object": "list", "data": data, "model": standin.model_name, "usage": usage})

    return Handler


def error_body(message: str, status: int = 400) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": status}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    failure = os.environ.get("CODESEEK_STANDIN_EXIT_AT_START")
    marker = os.environ.get("CODESEEK_STANDIN_EXIT_IF_EXISTS")
    if marker and Path(marker).exists():
        failure = f"CUDA out of memory (stand-in: {marker} exists)"
    if failure:
        log(failure)
        return 1
    log(f"server_args=ServerArgs(model_path={args.model_path!r}, host={args.host!r}, port={args.port})")
    standin = StandIn(args)
    try:
        httpd = ThreadingHTTPServer((args.host, args.port), make_handler(standin))
    except OSError as exc:
        log(
            f"ERROR: [Errno {exc.errno}] error while attempting to bind on address ({args.host}, {args.port}): {exc}"
        )
        return 1
    child = None
    if os.environ.get("CODESEEK_STANDIN_SPAWN_CHILD") == "1":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    # One scheduler process per data-parallel rank, as SGLang starts them.
    schedulers = (
        [
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
            for _ in range(args.dp_size)
        ]
        if args.dp_size > 1
        else []
    )
    pidfile = os.environ.get("CODESEEK_STANDIN_PIDFILE")
    if pidfile:
        Path(pidfile).write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "child_pid": child.pid if child else None,
                    "scheduler_pids": [p.pid for p in schedulers],
                    "argv": sys.argv[1:],
                }
            )
        )
    threading.Thread(target=standin.load, daemon=True).start()
    try:
        httpd.serve_forever(poll_interval=0.1)
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
