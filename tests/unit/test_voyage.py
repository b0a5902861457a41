"""The Voyage embedder: the real `voyageai` client against a loopback stand-in."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codeseek.config import Config
from codeseek.embedding.registry import ProviderChoice, create_embedder
from codeseek.embedding.sglang_server import find_free_port
from codeseek.embedding.voyage import VoyageEmbedder
from codeseek.errors import ConfigError, EmbedderError, EmbedderUnavailable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))
from voyage_server import MAX_TEXTS, MAX_TOKENS, VoyageStandIn

KEY = "test-key"


@pytest.fixture
def voyage() -> Iterator[VoyageStandIn]:
    with VoyageStandIn(api_key=KEY) as standin:
        yield standin


@pytest.fixture
def make(voyage: VoyageStandIn) -> Callable[..., VoyageEmbedder]:
    def make(
        model: str | None = None, dimensions: int | None = None, key: str = KEY, **options: Any
    ) -> VoyageEmbedder:
        config = Config()
        config.voyage.base_url = voyage.base_url
        config.embedder.model = model
        config.embedder.dimensions = dimensions
        options = {"retry_backoff": 0.01, "max_retry_wait": 0.5, **options}
        return VoyageEmbedder(config, env={"VOYAGE_API_KEY": key}, **options)

    return make


def test_documents_and_queries_are_sent_with_their_input_type(
    voyage: VoyageStandIn, make: Callable[..., VoyageEmbedder]
) -> None:
    embedder = make()
    assert (embedder.provider, embedder.model_id, embedder.dimensions) == ("voyage", "voyage-code-3", 1024)
    documents = embedder.embed_documents(["def add(a, b): return a + b", "class Stack: ..."])
    query = embedder.embed_query("def add(a, b): return a + b")
    assert documents.shape == (2, 1024) and query.shape == (1024,)
    np.testing.assert_allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-5)
    # The stand-in's vectors depend on input_type, as Voyage's do.
    assert not np.allclose(documents[0], query)
    first, second = voyage.requests
    assert (first["input_type"], second["input_type"]) == ("document", "query")
    assert first["input"] == ["def add(a, b): return a + b", "class Stack: ..."]
    assert all(
        r["model"] == "voyage-code-3" and r["output_dimension"] == 1024 and r["authorized"]
        for r in voyage.requests
    )


def test_blank_texts_are_not_sent(voyage: VoyageStandIn, make: Callable[..., VoyageEmbedder]) -> None:
    vectors = make().embed_documents(["", "x = 1", " \n"])
    assert np.all(vectors[[0, 2]] == 0) and np.isclose(np.linalg.norm(vectors[1]), 1.0)
    assert [r["input"] for r in voyage.requests] == [["x = 1"]]


@pytest.mark.parametrize(
    ("model", "dimensions", "sent"),
    [("voyage-code-3", 256, 256), ("voyage-code-3", 2048, 2048), ("voyage-code-2", None, None)],
)
def test_output_dimensions(
    voyage: VoyageStandIn,
    make: Callable[..., VoyageEmbedder],
    model: str,
    dimensions: int | None,
    sent: int | None,
) -> None:
    embedder = make(model, dimensions)
    vectors = embedder.embed_documents(["import os"])
    assert vectors.shape == (1, embedder.dimensions) == (1, dimensions or 1536)
    assert voyage.requests[0]["output_dimension"] == sent


@pytest.mark.parametrize(
    ("model", "dimensions", "message"),
    [
        ("voyage-code-3", 300, "must be 256 or 512 or 1024 or 2048 for voyage-code-3"),
        ("voyage-code-2", 1024, "must be 1536 for voyage-code-2"),
        ("voyage-3-large", None, "Voyage models are voyage-code-3, voyage-code-2"),
    ],
)
def test_bad_model_or_dimensions_are_config_errors(
    make: Callable[..., VoyageEmbedder], model: str, dimensions: int | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make(model, dimensions)


def test_batches_stay_within_voyage_limits(
    voyage: VoyageStandIn, make: Callable[..., VoyageEmbedder]
) -> None:
    embedder = make()
    many = embedder.embed_documents([f"x_{i} = {i}" for i in range(2500)])
    assert many.shape == (2500, 1024)
    assert [len(r["input"]) for r in voyage.requests] == [1000, 1000, 500]
    voyage.requests.clear()
    # Five texts of ~33,000 estimated tokens each: at most three fit in 120,000.
    long = embedder.embed_documents([f"# file {i}\n" + "y = [1, 2, 3]\n" * 7000 for i in range(5)])
    assert long.shape == (5, 1024)
    assert [len(r["input"]) for r in voyage.requests] == [3, 2]
    assert all(len(r["input"]) <= MAX_TEXTS for r in voyage.requests)
    assert all(sum(voyage.tokens(t) for t in r["input"]) <= MAX_TOKENS for r in voyage.requests)


def test_a_batch_voyage_counts_as_too_long_is_split(
    voyage: VoyageStandIn, make: Callable[..., VoyageEmbedder]
) -> None:
    voyage.chars_per_token = 1.0  # counts three times as many tokens as the client estimates
    texts = [f"# {i}\n" + "z" * 50_000 for i in range(4)]
    vectors = make().embed_documents(texts)
    assert vectors.shape == (4, 1024)
    sizes = [len(r["input"]) for r in voyage.requests]
    assert sizes == [4, 2, 2]  # 200,000 tokens by Voyage's count: refused, then halved
    single = make().embed_documents(texts[3:])
    np.testing.assert_allclose(vectors[3], single[0], atol=1e-6)


def test_rate_limits_and_server_errors_are_retried(
    voyage: VoyageStandIn, make: Callable[..., VoyageEmbedder]
) -> None:
    embedder = make()
    voyage.fail_next(429, retry_after="0.3")
    voyage.fail_next(500)
    voyage.fail_next(503)
    started = time.monotonic()
    assert embedder.embed_query("parse a config file").shape == (1024,)
    assert time.monotonic() - started >= 0.3  # Retry-After is honoured
    assert len(voyage.requests) == 4


def test_persistent_failures_make_the_backend_unavailable(
    voyage: VoyageStandIn, make: Callable[..., VoyageEmbedder]
) -> None:
    voyage.fail_next(429, times=3)
    with pytest.raises(EmbedderUnavailable, match=r"rate limited, HTTP 429\) after 3 attempts"):
        make(retries=2).embed_documents(["a = 1"])
    voyage.fail_next(500, times=3)
    with pytest.raises(EmbedderUnavailable, match="server error"):
        make(retries=2).embed_documents(["a = 1"])


def test_an_unreachable_endpoint_is_unavailable() -> None:
    config = Config()
    config.voyage.base_url = f"http://127.0.0.1:{find_free_port()}/v1"
    embedder = VoyageEmbedder(config, env={"VOYAGE_API_KEY": KEY}, retries=1, retry_backoff=0.01, timeout=2)
    with pytest.raises(EmbedderUnavailable, match="cannot connect"):
        embedder.embed_query("anything")


def test_a_bad_key_is_a_clear_error_that_never_shows_the_key(
    voyage: VoyageStandIn,
    make: Callable[..., VoyageEmbedder],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "pa-this-is-a-secret-key-0123456789"
    caplog.set_level(logging.DEBUG)
    embedder = make(key=secret)
    with pytest.raises(ConfigError, match="Voyage AI rejected the API key in VOYAGE_API_KEY") as caught:
        embedder.embed_documents(["a = 1"])
    assert voyage.requests[0]["authorized"] is False
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert secret not in repr(embedder) and secret not in embedder.describe()
    captured = capsys.readouterr()
    assert secret not in caplog.text + captured.out + captured.err


def test_a_server_that_echoes_the_key_has_it_redacted(
    voyage: VoyageStandIn, make: Callable[..., VoyageEmbedder]
) -> None:
    original = voyage.answer

    def echo(headers: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        original(headers, body)
        return 400, {"detail": f"bad request from {headers.get('Authorization')}"}, {}

    voyage.answer = echo  # type: ignore[method-assign]
    with pytest.raises(EmbedderError) as caught:
        make().embed_query("x")
    assert KEY not in str(caught.value) and "[redacted]" in str(caught.value)


def test_no_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="VOYAGE_API_KEY"):
        VoyageEmbedder(Config(), env={})


def test_the_registry_builds_it_with_the_key_from_the_environment(
    voyage: VoyageStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOYAGE_API_KEY", KEY)
    config = Config()
    config.voyage.base_url = voyage.base_url
    config.voyage.model = "voyage-code-2"
    embedder = create_embedder(config, ProviderChoice("voyage", "test"))
    assert isinstance(embedder, VoyageEmbedder) and embedder.dimensions == 1536
    assert embedder.embed_query("q").shape == (1536,)
