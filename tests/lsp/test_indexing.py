"""The per-root index worker, in process, with the real engine (tree-sitter, LanceDB,
the bundled model): jobs coalesce, and an unreachable embedding backend makes indexing
wait and resume by itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from codeseek.config import Config, EmbedderConfig
from codeseek.embedding.base import Embedder
from codeseek.embedding.local import LocalEmbedder
from codeseek.engine import Engine
from codeseek.errors import EmbedderUnavailable
from codeseek.indexer import IndexProgress
from codeseek.lsp.indexing import Backoff, RootIndexer
from codeseek.search import SearchRequest


@pytest.fixture(scope="module")
def minilm() -> LocalEmbedder:
    return LocalEmbedder(EmbedderConfig())


class OutageEmbedder(Embedder):
    """The real model behind a switch that makes it unreachable, as a dead SGLang
    server or a network outage would be (the one thing that cannot happen for real here)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.provider, self.model_id = inner.provider, inner.model_id
        self.dimensions, self.max_tokens = inner.dimensions, inner.max_tokens
        self.down = threading.Event()
        self.refused = 0

    def _check(self) -> None:
        if self.down.is_set():
            self.refused += 1
            raise EmbedderUnavailable("the embedding server is not answering")

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self._check()
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        self._check()
        return self.inner.embed_query(text)


def make_engine(root: Path, store: Path, embedder: Embedder) -> Engine:
    config = Config()
    config.store.path = str(store)
    return Engine(root, config, embedder=embedder)


class Recorder:
    def __init__(self) -> None:
        self.titles: list[str] = []
        self.endings: list[str] = []

    def __call__(self, title: str, cancel: threading.Event) -> Recorder:
        self.titles.append(title)
        return self

    def progress(self, update: IndexProgress) -> None:
        pass

    def finish(self, message: str) -> None:
        self.endings.append(message)


def test_indexing_waits_for_the_embedder_and_resumes(
    sample_workspace: Path, tmp_path: Path, minilm: LocalEmbedder
) -> None:
    embedder = OutageEmbedder(minilm)
    embedder.down.set()
    engine = make_engine(sample_workspace, tmp_path / "store", embedder)
    runs = Recorder()
    indexer = RootIndexer(engine, on_run=runs, backoff=Backoff(first=0.05, ceiling=0.2))
    try:
        indexer.request_run()
        deadline = time.monotonic() + 30
        while embedder.refused < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert embedder.refused >= 3  # retried, not given up
        assert not indexer.idle
        assert any(e.startswith("Waiting for the embedding model") for e in runs.endings)
        # Meanwhile search still answers, from full text, and says so.
        result = engine.search(SearchRequest("retry"))
        assert result.degraded and result.mode == "lexical"

        embedder.down.clear()
        assert indexer.wait_idle(60)
        assert engine.status().files == 9
        assert engine.search(SearchRequest("retry with exponential backoff", 1)).hits[0].symbol == (
            "retry_with_backoff"
        )
    finally:
        indexer.stop()


def test_requests_coalesce_while_a_run_is_busy(
    sample_workspace: Path, tmp_path: Path, minilm: LocalEmbedder
) -> None:
    engine = make_engine(sample_workspace, tmp_path / "store", minilm)
    runs = Recorder()
    indexer = RootIndexer(engine, on_run=runs)
    try:
        indexer.request_run()
        # A burst of changes (a branch switch) while the first run works...
        for i in range(500):
            indexer.request_paths([f"src/generated_{i % 50}.py", "src/storage/retry.py"])
        indexer.request_run()
        assert indexer.wait_idle(60)
        # ... is at most one more whole run: the pending paths fold into it.
        assert 1 <= len(runs.titles) <= 2
        assert all(t.startswith("Indexing") for t in runs.titles)
        assert engine.pending == 0 and engine.status().files == 9
    finally:
        indexer.stop()


def test_stop_cancels_and_joins(sample_workspace: Path, tmp_path: Path, minilm: LocalEmbedder) -> None:
    engine = make_engine(sample_workspace, tmp_path / "store", minilm)
    indexer = RootIndexer(engine)
    indexer.request_run(rebuild=True)
    indexer.stop(timeout=30)
    assert not indexer._thread.is_alive()
    indexer.request_run()  # ignored after stop, never raises
    assert indexer.idle
