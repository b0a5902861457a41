"""A stand-in for an SGLang embedding server, speaking the same HTTP API on loopback.

Started through codeseek's real launch code as `python -m sglang.launch_server
--model-path M --is-embedding --host H --port P [--dtype D] [extras]` with
tests/standins/pythonpath on PYTHONPATH. It serves what codeseek uses:

  GET  /health          200 once "loaded", 503 before
  GET  /v1/models       {"data": [{"id", "root", "max_model_len", ...}]}
  GET  /get_model_info  {"model_path", "is_generation": false}
  POST /v1/embeddings   OpenAI shape; blank inputs and `dimensions` are rejected with 400
                        as SGLang does for models without Matryoshka in their config

Vectors come from the bundled MiniLM model (384 dimensions) or, for lifecycle tests that
only need a fast start, from a hash of the text (64 dimensions).

Behaviour is set by environment variables, so tests can drive the real supervisor:
  CODESEEK_STANDIN_VECTORS      "minilm" (default) or "hash"
  CODESEEK_STANDIN_START_DELAY  seconds before /health turns 200 (a slow model load)
  CODESEEK_STANDIN_EXIT_AT_START  print this message and exit 1 (a broken install)
  CODESEEK_STANDIN_EXIT_IF_EXISTS   the same, but only while this file exists
  CODESEEK_STANDIN_CRASH_AFTER  die without answering on the N-th embedding request
  CODESEEK_STANDIN_CRASH_MARKER with CRASH_AFTER: crash only if this file does not exist
                                (it is created on crashing, so a restarted server lives)
  CODESEEK_STANDIN_RECORD       append each embedding request as a JSON line to this file
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
    return parser.parse_args(argv)


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

    def load(self) -> None:
        delay = float(os.environ.get("CODESEEK_STANDIN_START_DELAY", "0") or 0)
        if os.environ.get("CODESEEK_STANDIN_VECTORS", "minilm") == "minilm":
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
                self.send_json(200, {"model_path": standin.args.model_path, "is_generation": False})
            else:
                self.send_json(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
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
            if standin.record:
                with open(standin.record, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"pid": os.getpid(), "body": body}) + "\n")
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
    pidfile = os.environ.get("CODESEEK_STANDIN_PIDFILE")
    if pidfile:
        Path(pidfile).write_text(json.dumps({"pid": os.getpid(), "child_pid": child.pid if child else None}))
    threading.Thread(target=standin.load, daemon=True).start()
    try:
        httpd.serve_forever(poll_interval=0.1)
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
