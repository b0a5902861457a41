"""What the Embedder base class does once for every backend: blank inputs, the query
cache (shared between threads, bounded), batching and the check of the model's output.

The cache is exercised through the Voyage backend (the real client against its loopback
stand-in, which records every request and answers in milliseconds); the rest with the
bundled MiniLM model."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from codeseek.config import Config
from codeseek.embedding import base
from codeseek.embedding.local import LocalEmbedder
from codeseek.embedding.voyage import VoyageEmbedder
from codeseek.errors import EmbedderError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))
from voyage_server import VoyageStandIn


@pytest.fixture
def voyage() -> Iterator[VoyageStandIn]:
    standin = VoyageStandIn(api_key="test-key")
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def embedder(voyage: VoyageStandIn) -> VoyageEmbedder:
    config = Config()
    config.voyage.base_url = voyage.base_url
    config.embedder.dimensions = 256
    return VoyageEmbedder(config, env={"VOYAGE_API_KEY": "test-key"}, retry_backoff=0.01)


def queries_sent(voyage: VoyageStandIn) -> list[str]:
    return [text for r in voyage.requests if r["input_type"] == "query" for text in r["input"]]


def test_queries_are_cached_between_threads(voyage: VoyageStandIn, embedder: VoyageEmbedder) -> None:
    queries = [f"find the parser number {i}" for i in range(10)]
    expected = {q: embedder.embed_query(q).copy() for q in queries}
    voyage.requests.clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(embedder.embed_query, queries * 20))
    for query, vector in zip(queries * 20, results, strict=True):
        np.testing.assert_array_equal(vector, expected[query])
    assert voyage.requests == []  # every one came from the cache
    with pytest.raises(ValueError, match="read-only"):
        results[0][0] = 1.0  # a caller cannot change what the next one gets


def test_the_cache_keeps_the_most_recent_queries(
    voyage: VoyageStandIn, embedder: VoyageEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "QUERY_CACHE_SIZE", 8)  # the rule, at a size quick to fill
    queries = [f"query {i}" for i in range(base.QUERY_CACHE_SIZE + 3)]
    for query in queries:
        embedder.embed_query(query)
    voyage.requests.clear()
    embedder.embed_query(queries[-1])
    embedder.embed_query(queries[0])  # long evicted
    assert queries_sent(voyage) == [queries[0]]
    assert len(embedder._query_cache) == base.QUERY_CACHE_SIZE
    embedder.forget_queries()
    embedder.embed_query(queries[-1])
    assert queries_sent(voyage) == [queries[0], queries[-1]]


def test_blank_inputs_get_zero_vectors_and_are_never_sent(
    voyage: VoyageStandIn, embedder: VoyageEmbedder, torch_minilm: LocalEmbedder
) -> None:
    for model in (embedder, torch_minilm):
        assert np.all(model.embed_query(" \n\t") == 0) and model.embed_query("").shape == (model.dimensions,)
        vectors = model.embed_documents(["", "x = 1", "   "])
        assert np.all(vectors[[0, 2]] == 0) and np.isclose(np.linalg.norm(vectors[1]), 1.0)
        assert model.embed_documents([]).shape == (0, model.dimensions)
    assert [r["input"] for r in voyage.requests] == [["x = 1"]]


def test_local_batches_sorted_by_length_keep_the_input_order(torch_minilm: LocalEmbedder) -> None:
    texts = [f"def f{i}():\n" + "    x = 1\n" * (i % 5) + "    return x" for i in range(10)]
    batched = torch_minilm.embed_documents(texts)  # 8 at a time, shortest first
    singles = np.stack([torch_minilm.embed_documents([text])[0] for text in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_output_of_the_wrong_shape_is_an_error(
    torch_minilm: LocalEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch_minilm, "native_dimensions", 512)  # what a swapped model would answer with
    with pytest.raises(EmbedderError, match=r"returned vectors of shape \(1, 384\) for 1 texts of 512"):
        torch_minilm.embed_documents(["x = 1"])
