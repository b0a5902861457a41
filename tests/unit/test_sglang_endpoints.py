"""Several SGLang servers (`sglang.urls`): the work is spread over the healthy ones, a
server that dies mid-index loses no request, one that comes back is used again, and one
URL may be the real `sglang-router` in front of several servers. Also: a launched server
with SGLang's data parallelism (`--dp-size` in `sglang.extraArgs`).

The servers are the stand-in (hash vectors: the same text gets the same vector from any
server, as it would from two copies of one model), launched through the real command line
by the real supervisor, each with its own state folder and request record."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from codeseek.config import Config, SglangConfig
from codeseek.embedding.endpoints import EndpointPool
from codeseek.embedding.sglang import SglangEmbedder
from codeseek.embedding.sglang_server import (
    SglangSupervisor,
    build_launch_command,
    find_free_port,
    process_alive,
)
from codeseek.errors import ConfigError, EmbedderUnavailable
from waiting import wait_until

STANDIN_PATH = Path(__file__).resolve().parents[1] / "standins" / "pythonpath"
MODEL = "Qwen/Qwen3-Embedding-4B"
TEXTS = [f"def handler_{i}(request):\n    return {i} * request.value + {i % 7}\n" for i in range(60)]

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SGLang and process groups are POSIX-only")


class Server:
    """One running stand-in server, as a user runs it (started here, not supervised: a
    server that dies stays dead), with its own request record."""

    def __init__(
        self, folder: Path, port: int | None = None, extra_args: list[str] | None = None, **options: str
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.record = folder / "requests.jsonl"
        self.pidfile = folder / "standin.json"
        self.port = port or find_free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        path = os.pathsep.join(filter(None, [str(STANDIN_PATH), os.environ.get("PYTHONPATH")]))
        self.env = {
            **os.environ,
            "PYTHONPATH": path,
            "CODESEEK_STANDIN_VECTORS": "hash",
            "CODESEEK_STANDIN_RECORD": str(self.record),
            "CODESEEK_STANDIN_PIDFILE": str(self.pidfile),
            **options,
        }
        self.command = build_launch_command(SglangConfig(extra_args=extra_args or []), MODEL, self.port)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        assert wait_until(self.healthy, 30), (self.folder / "server.log").read_text()[-2000:]
        return self.url

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    @property
    def pid(self) -> int:
        return int(json.loads(self.pidfile.read_text())["pid"])

    def embedded(self) -> list[str]:
        """The texts this server was asked to embed (readiness probes left out)."""
        lines = self.record.read_text().splitlines() if self.record.exists() else []
        bodies = [json.loads(line)["body"] for line in lines]
        return [text for body in bodies for text in body["input"] if "readiness_probe" not in text]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(
        name: str, port: int | None = None, extra_args: list[str] | None = None, **options: str
    ) -> Server:
        server = Server(tmp_path / name, port, extra_args, **options)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


def embedder_for(*urls: str, **options: float) -> SglangEmbedder:
    config = Config()
    config.embedder.provider = "sglang"
    config.sglang.urls = list(urls)
    # Three texts a request: many requests, so the servers share them.
    return SglangEmbedder(config, batch_tokens=60, health_interval=0.2, retry_backoff=0.05, **options)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[np.ndarray]:
    """TEXTS' vectors from one server alone."""
    server = Server(tmp_path_factory.mktemp("reference"))
    embedder = embedder_for(server.start())
    try:
        yield embedder.embed_documents(TEXTS)
    finally:
        embedder.close()
        server.stop()


def test_requests_are_spread_over_the_servers(servers: Callable[..., Server], reference: np.ndarray) -> None:
    a, b = servers("a"), servers("b")
    embedder = embedder_for(a.start(), b.start())
    try:
        assert embedder.max_in_flight == 8  # a few requests in flight on each server
        vectors = embedder.embed_documents(TEXTS)
        np.testing.assert_allclose(vectors, reference, atol=1e-6)
        assert a.embedded() and b.embedded()
        assert sorted(a.embedded() + b.embedded()) == sorted(TEXTS)  # each text once
        assert embedder.describe() == f"sglang:{MODEL} at 2 servers ({a.url}, {b.url})"
    finally:
        embedder.close()


def test_a_server_killed_mid_index_loses_no_request(
    servers: Callable[..., Server], reference: np.ndarray
) -> None:
    # b dies, without answering, on its second embedding request (after the readiness probe).
    a, b = servers("a"), servers("b", CODESEEK_STANDIN_CRASH_AFTER="3")
    embedder = embedder_for(a.start(), b.start())
    try:
        vectors = embedder.embed_documents(TEXTS)
        assert wait_until(lambda: not process_alive(b.pid), 5)
        # Every text embedded, and exactly as one server would have.
        np.testing.assert_allclose(vectors, reference, atol=1e-6)
        assert np.all(np.linalg.norm(vectors, axis=1) > 0.99)
        # b did some of the work before it died; what it held went to a with the rest.
        assert b.embedded() and set(a.embedded()) | set(b.embedded()) == set(TEXTS)
        # Work goes on with the one server left.
        np.testing.assert_allclose(embedder.embed_documents(TEXTS[:5]), reference[:5], atol=1e-6)
    finally:
        embedder.close()


def test_a_server_that_comes_back_is_used_again(
    servers: Callable[..., Server], reference: np.ndarray
) -> None:
    a = servers("a")
    port = find_free_port()
    embedder = embedder_for(a.start(), f"http://127.0.0.1:{port}")  # nothing there yet
    try:
        pool = embedder._endpoints
        assert isinstance(pool, EndpointPool)
        assert pool.endpoints[1].down is not None
        np.testing.assert_allclose(embedder.embed_documents(TEXTS[:9]), reference[:9], atol=1e-6)
        b = servers("b", port)
        b.start()
        assert wait_until(lambda: pool.endpoints[1].down is None, 10)
        np.testing.assert_allclose(embedder.embed_documents(TEXTS), reference, atol=1e-6)
        assert b.embedded()
    finally:
        embedder.close()


def test_servers_of_different_models_are_refused(servers: Callable[..., Server]) -> None:
    a = servers("a")
    b = servers("b", extra_args=["--served-model-name", "another-model"])
    with pytest.raises(
        ConfigError, match=rf"sglang\.urls: every server must serve the same model, but {a.start()}"
    ):
        embedder_for(a.url, b.start())


def test_no_server_answering_is_unavailable() -> None:
    with pytest.raises(EmbedderUnavailable, match=r"none of the SGLang servers in sglang\.urls is answering"):
        embedder_for(
            f"http://127.0.0.1:{find_free_port()}", f"http://127.0.0.1:{find_free_port()}", request_timeout=2
        )


@pytest.mark.skipif(
    importlib.util.find_spec("sglang_router") is None, reason="sglang-router is not installed"
)
def test_one_url_may_be_an_sglang_router_in_front_of_several_servers(
    servers: Callable[..., Server], reference: np.ndarray, tmp_path: Path
) -> None:
    """The real router (`pip install sglang-router`): codeseek sees one server."""
    a, b = servers("a"), servers("b")
    port = find_free_port()
    with (tmp_path / "router.log").open("wb") as log:
        router = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sglang_router.launch_router",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--worker-urls",
                a.start(),
                b.start(),
                "--policy",
                "round_robin",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def workers_registered() -> bool:
            try:
                cards = httpx.get(f"{url}/v1/models", timeout=2).json()["data"]
            except (httpx.HTTPError, ValueError, KeyError):
                return False
            return any(card.get("id") == MODEL for card in cards)

        assert wait_until(workers_registered, 30), (tmp_path / "router.log").read_text()[-2000:]
        embedder = embedder_for(url)
        try:
            assert embedder.model_id == MODEL and embedder.query_instruction  # Qwen3's conventions
            np.testing.assert_allclose(embedder.embed_documents(TEXTS), reference, atol=1e-6)
            assert a.embedded() and b.embedded()  # the router spread them
            b.stop()  # one worker goes away: the router sends its share to the other
            np.testing.assert_allclose(embedder.embed_documents(TEXTS), reference, atol=1e-6)
        finally:
            embedder.close()
    finally:
        router.terminate()
        router.wait(timeout=10)


def test_a_launched_server_can_use_data_parallelism(tmp_path: Path, reference: np.ndarray) -> None:
    """`sglang.extraArgs = ["--dp-size", "2"]` reaches SGLang, and stopping takes down the
    scheduler processes SGLang starts for each rank."""
    server = Server(tmp_path)  # only for its environment and files
    config = Config()
    config.sglang = SglangConfig(startup_timeout=30, extra_args=["--dp-size", "2"])
    supervisor = SglangSupervisor(
        config.sglang, MODEL, state_dir=tmp_path / "state", env=server.env, stop_grace=2.0
    )
    embedder = SglangEmbedder(config, supervisor=supervisor, batch_tokens=60)
    try:
        started = json.loads(server.pidfile.read_text())
        assert started["argv"][-2:] == ["--dp-size", "2"] and len(started["scheduler_pids"]) == 2
        np.testing.assert_allclose(embedder.embed_documents(TEXTS), reference, atol=1e-6)
    finally:
        embedder.close()
    processes = [started["pid"], *started["scheduler_pids"]]
    assert wait_until(lambda: not any(process_alive(pid) for pid in processes), 10)


def codeseek(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codeseek", *argv], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_codeseek_index_over_two_servers_with_one_killed_mid_index(
    servers: Callable[..., Server], tmp_path: Path
) -> None:
    """The real CLI, configured with `sglang.urls`: one server dies while it holds part of
    the index's work, and the index ends exactly as one server alone would make it."""
    workspace = tmp_path / "workspace"
    (workspace / "pkg").mkdir(parents=True)
    for f in range(120):
        (workspace / "pkg" / f"module_{f:03}.py").write_text(
            "\n\n".join(
                f"def handle_{f}_{g}(request, retries={g}):\n"
                f'    """Handle request kind {g} of module {f}, retrying {g} times."""\n'
                f"    for attempt in range(retries):\n"
                f"        if request.ready(attempt * {f + g}):\n"
                f"            return request.value * {g} + {f}\n"
                f"    raise TimeoutError('module {f} kind {g}')\n"
                for g in range(6)
            )
        )

    def index_with(*urls: str, store: str) -> dict:
        (workspace / "codeseek.toml").write_text(
            '[embedder]\nprovider = "sglang"\n'
            f"[sglang]\nurls = {json.dumps(list(urls))}\n"
            '[index]\nexclude = ["codeseek.toml"]\n'
        )
        done = codeseek("index", str(workspace), "--store", str(tmp_path / store), "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def search(query: str, store: str) -> list[dict]:
        done = codeseek(
            "search", query, "-w", str(workspace), "--store", str(tmp_path / store), "--mode", "semantic",
            "-k", "20", "--json", cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    # b dies, without answering, on the first batch of chunks it is sent.
    a, b = servers("a"), servers("b", CODESEEK_STANDIN_CRASH_AFTER="2")
    both = index_with(a.start(), b.start(), store="both")
    assert b.process is not None and b.process.poll() == 17  # it died mid-index, holding work
    alone = index_with(a.url, store="alone")
    assert both["files"] == alone["files"] == 120
    assert both["chunks"] == alone["chunks"] == both["chunks_embedded"] == 720
    assert both["skipped"] == []
    assert search("retry a request several times", "both") == search("retry a request several times", "alone")
