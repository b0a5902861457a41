"""The SGLang embedder against the stand-in server (launched through the real command
line), which computes vectors with the bundled MiniLM model and records every request."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from codeseek.config import DEFAULT_QUERY_INSTRUCTION, Config, SglangConfig
from codeseek.embedding.base import format_instructed_query, normalize
from codeseek.embedding.local import LocalEmbedder
from codeseek.embedding.registry import ProviderChoice, create_embedder
from codeseek.embedding.sglang import SglangEmbedder
from codeseek.embedding.sglang_server import SglangSupervisor, find_free_port
from codeseek.errors import ConfigError, EmbedderUnavailable

STANDIN_PATH = Path(__file__).resolve().parents[1] / "standins" / "pythonpath"
MODEL = "Qwen/Qwen3-Embedding-4B"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SGLang is POSIX-only")


def standin_env(tmp: Path, **options: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(STANDIN_PATH), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "CODESEEK_STANDIN_RECORD": str(tmp / "requests.jsonl"),
        **options,
    }


class Server:
    def __init__(self, tmp: Path, supervisor: SglangSupervisor) -> None:
        self.tmp = tmp
        self.supervisor = supervisor
        self.url = supervisor.start().url

    def requests(self) -> list[dict]:
        path = self.tmp / "requests.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line)["body"] for line in lines]

    def clear(self) -> None:
        (self.tmp / "requests.jsonl").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One MiniLM-backed stand-in serving "Qwen/Qwen3-Embedding-4B" for the whole module."""
    tmp = tmp_path_factory.mktemp("sglang")
    supervisor = SglangSupervisor(
        SglangConfig(startup_timeout=60), MODEL, state_dir=tmp / "state", env=standin_env(tmp), stop_grace=2.0
    )
    yield Server(tmp, supervisor)
    supervisor.stop()


def url_config(server: Server, dimensions: int | None = None) -> Config:
    config = Config()
    config.embedder.provider = "sglang"
    config.sglang.url = server.url
    config.embedder.dimensions = dimensions
    return config


@pytest.fixture
def embedder(server: Server) -> Iterator[SglangEmbedder]:
    embedder = SglangEmbedder(url_config(server, dimensions=128), batch_tokens=64)
    server.clear()
    yield embedder
    embedder.close()


def test_queries_carry_the_instruction_and_documents_do_not(server: Server, embedder: SglangEmbedder) -> None:
    embedder.embed_documents(["def add(a, b):\n    return a + b"])
    embedder.embed_query("add two numbers")
    document, query = server.requests()
    assert document["input"] == ["def add(a, b):\n    return a + b"]
    assert query["input"] == [format_instructed_query(DEFAULT_QUERY_INSTRUCTION, "add two numbers")]
    assert query["input"][0].startswith("Instruct: ") and "\nQuery:add two numbers" in query["input"][0]
    assert all(body["model"] == MODEL for body in (document, query))


def test_matryoshka_truncation_is_done_on_the_client(
    server: Server, embedder: SglangEmbedder, torch_minilm: LocalEmbedder
) -> None:
    texts = ["def add(a, b):\n    return a + b", "class Stack:\n    def push(self, item): ..."]
    vectors = embedder.embed_documents(texts)
    query = embedder.embed_query("push onto a stack")
    assert embedder.dimensions == 128 and vectors.shape == (2, 128) and query.shape == (128,)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The server's full 384-d vectors, cut to 128 and re-normalised.
    expected = normalize(torch_minilm.embed_documents(texts)[:, :128])
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    prompt = format_instructed_query(DEFAULT_QUERY_INSTRUCTION, "push onto a stack")
    np.testing.assert_allclose(query, normalize(torch_minilm.embed_documents([prompt])[0, :128]), atol=1e-5)
    # SGLang's own `dimensions` parameter would be refused for Qwen3: it is never sent.
    assert all("dimensions" not in body for body in server.requests())


def test_blank_texts_are_never_sent_and_get_zero_vectors(server: Server, embedder: SglangEmbedder) -> None:
    vectors = embedder.embed_documents(["", "x = 1", "  \n\t", "y = 2"])
    assert np.all(vectors[[0, 2]] == 0)
    np.testing.assert_allclose(np.linalg.norm(vectors[[1, 3]], axis=1), 1.0, atol=1e-5)
    sent = [text for body in server.requests() for text in body["input"]]
    assert sent == ["x = 1", "y = 2"]
    assert embedder.embed_documents([]).shape == (0, 128)


def test_batches_follow_the_token_budget_and_keep_order(server: Server, embedder: SglangEmbedder) -> None:
    texts = [f"def function_{i}(value):\n    return value * {i} + {i * 7} - {i}" for i in range(9)]
    batched = embedder.embed_documents(texts)
    bodies = server.requests()
    # Each text is about 20 estimated tokens; a 64-token budget fits 3 of them a request.
    # Up to four requests are in flight, so they may arrive in any order.
    assert sorted(body["input"] for body in bodies) == [texts[0:3], texts[3:6], texts[6:9]]
    singles = np.stack([embedder.embed_documents([text])[0] for text in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_full_size_when_no_dimensions_are_set(server: Server, torch_minilm: LocalEmbedder) -> None:
    embedder = create_embedder(url_config(server), ProviderChoice("sglang", "test"))
    try:
        assert isinstance(embedder, SglangEmbedder)
        assert (embedder.provider, embedder.model_id, embedder.dimensions) == ("sglang", MODEL, 384)
        assert embedder.max_tokens == 32768
        vector = embedder.embed_documents(["import os"])[0]
        np.testing.assert_allclose(vector, torch_minilm.embed_documents(["import os"])[0], atol=1e-5)
    finally:
        embedder.close()


@pytest.mark.parametrize("dimensions", [16, 385])
def test_dimensions_outside_the_matryoshka_range_are_a_config_error(server: Server, dimensions: int) -> None:
    with pytest.raises(ConfigError, match=r"embedder\.dimensions must be between 32 and 384"):
        SglangEmbedder(url_config(server, dimensions))


def test_an_unreachable_url_is_reported_as_unavailable() -> None:
    config = Config()
    config.sglang.url = f"http://127.0.0.1:{find_free_port()}"
    with pytest.raises(EmbedderUnavailable, match=r"sglang\.url\) is not answering"):
        SglangEmbedder(config, request_timeout=2)


def test_a_server_that_goes_away_makes_requests_unavailable(tmp_path: Path) -> None:
    supervisor = SglangSupervisor(
        SglangConfig(startup_timeout=30),
        MODEL,
        state_dir=tmp_path,
        env=standin_env(tmp_path, CODESEEK_STANDIN_VECTORS="hash"),
        stop_grace=2.0,
    )
    info = supervisor.start()
    config = Config()
    config.sglang.url = info.url
    embedder = SglangEmbedder(config, retries=2, retry_backoff=0.01, request_timeout=2)
    try:
        assert embedder.embed_query("find the parser").shape == (64,)
        supervisor.stop()
        with pytest.raises(EmbedderUnavailable, match="did not answer after 3 attempts"):
            embedder.embed_documents(["def parse(): ..."])
    finally:
        embedder.close()
        supervisor.stop()


def test_other_models_get_no_instruction_and_a_fixed_size(tmp_path: Path) -> None:
    """Extra arguments reach the server: here the served name and the context length."""
    settings = SglangConfig(
        startup_timeout=30, extra_args=["--served-model-name", "code-embedder", "--context-length", "64"]
    )
    supervisor = SglangSupervisor(
        settings,
        "/models/code-embedder",
        state_dir=tmp_path,
        env=standin_env(tmp_path, CODESEEK_STANDIN_VECTORS="hash"),
    )
    config = Config()
    config.sglang = settings
    embedder = SglangEmbedder(config, supervisor=supervisor)
    try:
        assert (embedder.model_id, embedder.dimensions, embedder.max_tokens) == ("code-embedder", 64, 64)
        embedder.embed_query("sort a list")
        # A text far past the 64-token context is cut before sending instead of refused.
        assert embedder.embed_documents(["x = 1\n" * 2000]).shape == (1, 64)
        inputs = [
            json.loads(line)["body"]["input"]
            for line in (tmp_path / "requests.jsonl").read_text().splitlines()
        ]
        assert inputs[-2] == ["sort a list"]
        assert len(inputs[-1][0]) == 64 * 3
    finally:
        embedder.close()
    config.embedder.dimensions = 32
    with pytest.raises(ConfigError, match="has a fixed size of 64"):
        SglangEmbedder(
            config,
            supervisor=SglangSupervisor(
                settings,
                "/models/code-embedder",
                state_dir=tmp_path,
                env=standin_env(tmp_path, CODESEEK_STANDIN_VECTORS="hash"),
            ),
        )
