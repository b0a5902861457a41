"""A real S3-compatible server on loopback for tests: moto's, in a process of its own.

`S3Server` starts `python tests/s3.py` (the `serve` function below) on 127.0.0.1 with a
port the kernel picks, waits for it to print that port, and creates buckets through the
S3 API itself (botocore, which moto brings along). The server runs in its own process so
a test can make the storage go away the way a network does:

  kill()    SIGKILL: every connection is refused from then on (a crashed server)
  freeze()  SIGSTOP: connections are accepted by the kernel but never answered
            (a hung server or a black-holed network); thaw() is SIGCONT

`endpoint.storage_options()` are the options LanceDB's object-store client needs for it,
and `endpoint.environment()` the same as the standard AWS variables. moto accepts any
credentials; these are made up per server, so a test can look for them in messages.

Lance commits a table version by writing its manifest with `If-None-Match: *`; of two
writers racing for one version, S3 lets exactly one succeed (412 for the other, which then
rebases and retries). The server makes moto's check-then-store atomic (`_serialized_writes`)
and counts the 412s (`precondition_failures`), so a test of concurrent writers can show it
exercised that path; `commit_rendezvous` makes concurrent writers race for certain.

moto answers every ranged GET by reading the whole object; `_direct_ranges` reads just the
range, so Lance's many small reads of large files cost what they cost on S3.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
READY_PREFIX = "S3-LISTENING "


@dataclass(frozen=True)
class S3Endpoint:
    """Where the server listens and the credentials it was started with."""

    url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    def storage_options(self, **extra: str) -> dict[str, str]:
        """LanceDB `storage_options` for this plain-HTTP endpoint. `extra` adds or overrides
        keys, e.g. `timeout="5s"`, `client_max_retries="0"`."""
        options = {
            "aws_endpoint": self.url,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_region": self.region,
            "allow_http": "true",
        }
        options.update(extra)
        return options

    def environment(self) -> dict[str, str]:
        """The standard AWS variables that point a client at this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
        }


class S3Server:
    """One moto server process on 127.0.0.1. Use as a context manager, or start()/stop()."""

    def __init__(self, commit_rendezvous: float = 0.0) -> None:
        """`commit_rendezvous`: seconds an `If-None-Match` PUT (a Lance commit) waits for a
        second one before it is served. Two writers that commit at about the same time then
        both read the old version as the latest and race for the same next one, so the test
        takes Lance's conflict path every time instead of by luck (unaided, two writers
        collided on 2 of 300 commits)."""
        self._commit_rendezvous = commit_rendezvous
        self._process: subprocess.Popen[str] | None = None
        self._endpoint: S3Endpoint | None = None
        self._log: list[str] = []
        self.precondition_failures = 0

    @property
    def endpoint(self) -> S3Endpoint:
        if self._endpoint is None:
            raise RuntimeError("the S3 server is not started")
        return self._endpoint

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the S3 server is not started")
        return self._process.pid

    def start(self) -> S3Endpoint:
        if self._process is not None:
            raise RuntimeError("the S3 server is already started")
        # stdin stays a pipe that only we hold: when this process dies, however it dies,
        # the server reads end-of-file and exits, so no test run leaves one behind.
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "127.0.0.1", str(self._commit_rendezvous)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        port = self._wait_for_port()
        self._endpoint = S3Endpoint(
            url=f"http://127.0.0.1:{port}",
            access_key_id="AKIA" + secrets.token_hex(8).upper(),
            secret_access_key="codeseek-test-secret-" + secrets.token_hex(12),
        )
        # The rest of the output (moto's request log, tracebacks) is kept for failures.
        threading.Thread(target=self._drain, daemon=True).start()
        return self._endpoint

    def _wait_for_port(self) -> int:
        assert self._process is not None and self._process.stdout is not None
        found: list[int] = []

        def read() -> None:
            assert self._process is not None and self._process.stdout is not None
            for line in self._process.stdout:
                self._log.append(line)
                if line.startswith(READY_PREFIX):
                    found.append(int(line[len(READY_PREFIX) :]))
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(STARTUP_TIMEOUT_S)
        if not found:
            self.stop()
            raise RuntimeError(
                f"the S3 server did not start within {STARTUP_TIMEOUT_S:.0f}s:\n" + "".join(self._log[-40:])
            )
        return found[0]

    def _drain(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            # werkzeug's request log: ... "PUT /bucket/key HTTP/1.1" 412 -
            if '" 412 ' in line:
                self.precondition_failures += 1
            self._log.append(line)
            del self._log[:-200]

    def output(self) -> str:
        """The server's recent output (its request log), for assertion messages."""
        return "".join(self._log)

    def create_bucket(self, name: str) -> str:
        """Create a bucket through the S3 API; returns `s3://name`."""
        self._client().create_bucket(Bucket=name)
        return f"s3://{name}"

    def list_keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every object under `prefix` in `bucket`, with its size in bytes."""
        client = self._client()
        keys: dict[str, int] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                keys[item["Key"]] = item["Size"]
        return keys

    def _client(self) -> Any:
        import botocore.session  # moto's own dependency; only the tests need it

        endpoint = self.endpoint
        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=endpoint.url,
            region_name=endpoint.region,
            aws_access_key_id=endpoint.access_key_id,
            aws_secret_access_key=endpoint.secret_access_key,
        )

    def kill(self) -> None:
        """The storage goes away: SIGKILL, so connections are refused from now on."""
        if self._process is not None and self._process.poll() is None:
            self._signal(signal.SIGKILL)
            self._process.wait(STOP_TIMEOUT_S)

    def freeze(self) -> None:
        """The storage stops answering: connections hang until the client's timeouts."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signum)

    def stop(self) -> None:
        """Stop the server, whatever state it is in, within a few seconds."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)  # a frozen server cannot act on SIGTERM
            with suppress(OSError):
                assert process.stdin is not None
                process.stdin.close()
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)
        if process.stdout is not None:
            with suppress(OSError):
                process.stdout.close()

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _serialized_writes(
    app: Callable[..., Iterable[bytes]], commit_rendezvous: float
) -> Callable[..., Iterable[bytes]]:
    """Run writes one at a time. moto checks `If-None-Match: *` and then stores the object
    without a lock, so two racing conditional PUTs can both succeed (measured: two Lance
    writers lost 1,400 of 3,000 rows without an error); S3 guarantees one fails, and
    Lance's commit protocol depends on that. Reads stay concurrent."""
    lock = threading.Lock()
    arrived = threading.Condition()
    waiting = 0
    pairs = 0

    def rendezvous() -> None:
        # Outside the write lock, like a slow network: the other writer goes on, reads the
        # old version as the latest and sends its commit for the same one.
        nonlocal waiting, pairs
        with arrived:
            waiting += 1
            if waiting >= 2:
                waiting, pairs = 0, pairs + 1
                arrived.notify_all()
                return
            pair = pairs
            if not arrived.wait_for(lambda: pairs != pair, timeout=commit_rendezvous):
                waiting -= 1  # no partner came: go alone

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE"):
            if commit_rendezvous and environ.get("HTTP_IF_NONE_MATCH") == "*":
                rendezvous()
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def _direct_ranges(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Serve `GET /bucket/key` with a byte range by reading just that range. moto reads the
    whole object for every ranged GET and slices it, so Lance's many small reads of one
    large file (an IVF index, a data file) cost O(file size) each: a 10,000-chunk vector
    search took 140 ms instead of 10, an IVF build 78 s instead of 3. Anything else, or
    anything this cannot find, goes to moto unchanged."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        wanted = _RANGE.match(environ.get("HTTP_RANGE", ""))
        bucket, _, key_name = environ.get("PATH_INFO", "").lstrip("/").partition("/")
        conditional = any(name.startswith("HTTP_IF_") for name in environ)
        if environ.get("REQUEST_METHOD") != "GET" or not wanted or not key_name:
            return app(environ, start_response)
        if environ.get("QUERY_STRING") or conditional:
            return app(environ, start_response)
        key = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key_name)
        begin = int(wanted.group(1))
        if key is None or begin >= key.size:
            return app(environ, start_response)
        end = min(int(wanted.group(2) or key.size - 1), key.size - 1)
        with key.lock:
            key._value_buffer.seek(begin)
            body = key._value_buffer.read(end - begin + 1)
        start_response(
            "206 Partial Content",
            [
                ("Content-Type", "binary/octet-stream"),
                ("Content-Length", str(len(body))),
                ("Content-Range", f"bytes {begin}-{end}/{key.size}"),
                ("Accept-Ranges", "bytes"),
                ("ETag", key.etag),
                ("Last-Modified", key.last_modified_RFC1123),
            ],
        )
        return [body]

    return wrapped


def serve(host: str, commit_rendezvous: float) -> None:
    """The server process: moto's S3 on `host` and a free port, until stdin closes."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    moto = DomainDispatcherApplication(create_backend_app)
    app = _direct_ranges(_serialized_writes(moto, commit_rendezvous))
    server = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"{READY_PREFIX}{server.server_port}", flush=True)
    sys.stdin.read()  # returns when the test process closes the pipe or dies
    server.shutdown()


if __name__ == "__main__":
    serve(sys.argv[1], float(sys.argv[2]))
