"""The second stage inside search: the real voyageai client against the Voyage stand-in on
loopback reorders the top candidates; when the reranker is down or slow, search keeps the
first-stage order and says so."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeseek.config import Config
from codeseek.embedding.base import Embedder
from codeseek.embedding.rerank import create_reranker
from codeseek.search import SearchRequest
from codeseek.service import FolderService

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standins"))
from relevance import relevance
from voyage_server import VoyageStandIn

KEY = "pa-test-rerank-key"
QUERY = "load the json settings file"


@pytest.fixture
def voyage() -> Iterator[VoyageStandIn]:
    with VoyageStandIn(api_key=KEY) as standin:
        yield standin


@pytest.fixture
def service(sample_workspace: Path, minilm: Embedder, tmp_path: Path) -> Iterator[FolderService]:
    config = Config()
    config.store.path = str(tmp_path / "store")
    folder = FolderService(sample_workspace, config, embedder=minilm)
    folder.index()
    yield folder
    folder.close()


def reranker_for(base_url: str, timeout: float = 2.0, candidates: int = 10):  # type: ignore[no-untyped-def]
    config = Config()
    config.voyage.base_url = base_url
    config.reranker.provider = "voyage"
    config.reranker.timeout = timeout
    config.reranker.candidates = candidates
    return create_reranker(config, env={"VOYAGE_API_KEY": KEY})


def texts_of(service: FolderService) -> dict[tuple[str, int], str]:
    store = service.store()
    assert store is not None
    return {(c.path, c.start_line): c.text for p in store.all_paths() for c in store.chunks_of(p)}


def test_the_reranker_reorders_the_top_candidates(service: FolderService, voyage: VoyageStandIn) -> None:
    first = service.search(SearchRequest(QUERY, 10))
    assert not first.reranked
    service.attach_reranker(reranker_for(voyage.base_url))
    second = service.search(SearchRequest(QUERY, 10))
    assert second.reranked and second.degraded is None
    (request,) = [r for r in voyage.requests if r["path"] == "/v1/rerank"]
    assert len(request["documents"]) == 10 and request["query"] == QUERY
    texts = texts_of(service)
    scores = [hit.score for hit in second.hits]
    assert scores == sorted(scores, reverse=True)
    for hit in second.hits:
        assert hit.score == pytest.approx(relevance(QUERY, texts[(hit.path, hit.start_line)]), abs=1e-4)
    assert [(h.path, h.start_line) for h in second.hits] != [(h.path, h.start_line) for h in first.hits]


def test_a_down_or_slow_reranker_keeps_the_first_stage_order_and_says_so(
    service: FolderService, voyage: VoyageStandIn
) -> None:
    first = [(h.path, h.start_line) for h in service.search(SearchRequest(QUERY, 5)).hits]
    service.attach_reranker(reranker_for("http://127.0.0.1:9/v1"))
    down = service.search(SearchRequest(QUERY, 5))
    assert not down.reranked and down.degraded and "not reranked" in down.degraded
    assert [(h.path, h.start_line) for h in down.hits] == first
    voyage.rerank_delay = 3.0
    service.attach_reranker(reranker_for(voyage.base_url, timeout=0.5))
    started = time.monotonic()
    slow = service.search(SearchRequest(QUERY, 5))
    assert time.monotonic() - started < 2.5
    assert not slow.reranked and slow.degraded and "did not answer within 0.5 s" in slow.degraded
    assert [(h.path, h.start_line) for h in slow.hits] == first
