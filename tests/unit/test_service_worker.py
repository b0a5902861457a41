"""A folder's service working in the background, as the language server runs it, with
the real parts: its worker, its one change batcher, the watchdog observer, LanceDB and
the bundled model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from codeseek.config import Config
from codeseek.embedding.base import Embedder, InputType
from codeseek.errors import EmbedderUnavailable
from codeseek.model import IndexProgress, IndexState
from codeseek.search import SearchRequest
from codeseek.service import Backoff, FolderService
from wrappers import WrappedEmbedder


class OutageEmbedder(WrappedEmbedder):
    """The real model behind a switch that makes it unreachable, as a dead SGLang
    server or a network outage would be (the one thing that cannot happen for real here)."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.down = threading.Event()
        self.refused = 0

    def before_call(self, texts: Sequence[str], kind: InputType) -> None:
        if self.down.is_set():
            self.refused += 1
            raise EmbedderUnavailable("the embedding server is not answering")


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


def make_service(root: Path, store: Path, embedder: Embedder | None, **kwargs: object) -> FolderService:
    config = Config()
    config.store.path = str(store)
    return FolderService(root, config, embedder=embedder, **kwargs)  # type: ignore[arg-type]


def eventually(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def test_words_first_then_waits_for_the_embedder_and_resumes(
    sample_workspace: Path, tmp_path: Path, minilm: Embedder
) -> None:
    embedder = OutageEmbedder(minilm)
    embedder.down.set()
    runs = Recorder()
    service = make_service(
        sample_workspace, tmp_path / "store", None, on_run=runs, backoff=Backoff(first=0.05, ceiling=0.2)
    )
    service.start(watch=False)
    try:
        # Chunked and searchable by its words before any model is there.
        eventually(lambda: service.status().files == 9)
        result = service.search(SearchRequest("retry", 3))
        assert result.mode == "lexical" and result.degraded and "loading" in result.degraded
        assert result.hits and result.dense_percent == 0
        service.attach_embedder(embedder)
        eventually(lambda: embedder.refused >= 3)  # retried, not given up
        status = service.status()
        assert status.state is IndexState.ERROR and "embedding model" in (status.last_error or "")
        assert not status.embedder_available
        embedder.down.clear()
        assert service.wait_idle(60)
        status = service.status()
        assert status.state is IndexState.IDLE and status.last_error is None
        assert status.dense_percent == 100
        hits = service.search(SearchRequest("retry with exponential backoff", 1)).hits
        assert hits[0].symbol == "retry_with_backoff"
    finally:
        service.stop()


def test_requests_coalesce_while_a_run_is_busy(
    sample_workspace: Path, tmp_path: Path, minilm: Embedder
) -> None:
    runs = Recorder()
    service = make_service(sample_workspace, tmp_path / "store", minilm, on_run=runs)
    service.start(watch=False)
    try:
        # A burst of changes (a branch switch) while the first run works...
        for i in range(500):
            service.files_changed([f"src/generated_{i % 50}.py", "src/storage/retry.py"])
        service.request_reindex()
        assert service.wait_idle(60)
        # ... is at most one more whole run: the pending paths fold into it.
        assert 1 <= sum(t.startswith("Indexing") for t in runs.titles) <= 2
        assert service.status().pending == 0 and service.status().files == 9
    finally:
        service.stop()


def test_one_save_reported_three_ways_is_one_run(
    sample_workspace: Path, tmp_path: Path, minilm: Embedder
) -> None:
    """An editor save arrives as didSave, as the client watcher's event and as the
    watchdog observer's event: the folder's one batcher makes it one run."""
    service = make_service(sample_workspace, tmp_path / "store", minilm)
    service.start(watch=True)
    try:
        assert service.wait_idle(120)
        time.sleep(0.5)  # let the watcher deliver what the first run's reads caused, if anything
        before = service.runs
        path = sample_workspace / "src/storage/retry.py"
        path.write_text(path.read_text() + "\n\ndef jitter():\n    return 0.5\n")
        service.files_changed([path])  # didSave
        service.files_changed(["src/storage/retry.py"])  # didChangeWatchedFiles
        # ... and the watchdog observer sees the write itself.
        eventually(lambda: service.runs > before)
        assert service.wait_idle(60)
        time.sleep(1.0)  # a late duplicate would start a second run by now
        assert service.runs == before + 1
        assert service.search(SearchRequest("jitter", 3, mode="lexical")).hits[0].symbol == "jitter"
    finally:
        service.stop()


def test_an_exception_in_a_run_leaves_the_state_error_with_its_message(
    sample_workspace: Path, tmp_path: Path, minilm: Embedder
) -> None:
    def broken_masker(path: str, text: str) -> tuple[str, int]:
        raise RuntimeError("the masker broke")

    service = make_service(sample_workspace, tmp_path / "store", minilm, mask_secrets=broken_masker)
    with pytest.raises(RuntimeError):
        service.index()
    status = service.status()
    assert status.state is IndexState.ERROR
    assert "the masker broke" in (status.last_error or "")
    # The same in the background: the worker survives and the status says why.
    service.start(watch=False)
    try:
        eventually(lambda: service.status().state is IndexState.ERROR)
        assert "the masker broke" in (service.status().last_error or "")
    finally:
        service.stop()


def test_stop_cancels_and_joins(sample_workspace: Path, tmp_path: Path, minilm: Embedder) -> None:
    service = make_service(sample_workspace, tmp_path / "store", minilm)
    service.start(watch=True)
    service.request_reindex(full=True)
    service.stop(timeout=30)
    assert service._worker is not None and not service._worker.is_alive()
    service.request_reindex()  # ignored after stop, never raises
    service.files_changed(["src/storage/retry.py"])


class RecordingEmbedder(WrappedEmbedder):
    """The real model, remembering each batch of documents it was sent."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.batches: list[list[str]] = []

    def before_call(self, texts: Sequence[str], kind: InputType) -> None:
        if kind == "document":
            self.batches.append(list(texts))


def embedded_from(service: FolderService, path: str) -> Callable[[str], bool]:
    """Whether an embedded text is one of `path`'s chunks as indexed now (the embedded
    text is the enclosing signatures and the code, without the path)."""
    store = service.store()
    assert store is not None
    texts = [c.text for c in store.chunks_of(path)]
    assert texts
    return lambda embedded: any(embedded.endswith(text) for text in texts)


def test_open_files_are_embedded_first(
    sample_workspace: Path, tmp_path: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import codeseek.indexer as indexer_module

    monkeypatch.setattr(indexer_module, "CHUNKS_PER_BATCH", 3)
    recording = RecordingEmbedder(minilm)
    service = make_service(sample_workspace, tmp_path / "store", None)
    service.set_open_files([sample_workspace / "web/cart.ts"])
    service.start(watch=False)
    try:
        eventually(lambda: service.status().files == 9)  # chunked, nothing embedded yet
        service.attach_embedder(recording)
        assert service.wait_idle(120)
        of_cart = embedded_from(service, "web/cart.ts")
        order = [text for batch in recording.batches for text in batch]
        store = service.store()
        assert store is not None
        dense = sum(c.dense for c in store.chunks_of("web/cart.ts"))
        assert dense and all(of_cart(text) for text in order[:dense]), order[:dense]
        assert service.status().dense_percent == 100
    finally:
        service.stop()


class GatedEmbedder(RecordingEmbedder):
    """The real model, holding its first batch of documents until the test opens the
    gate, and noting for each batch how many runs the service had finished by then."""

    def __init__(self, inner: Embedder, service: list[FolderService]) -> None:
        super().__init__(inner)
        self.gate = threading.Event()
        self.started = threading.Event()
        self.service = service
        self.runs_at: list[int] = []

    def before_call(self, texts: Sequence[str], kind: InputType) -> None:
        if kind != "document":
            return
        super().before_call(texts, kind)
        self.runs_at.append(self.service[0].runs)
        self.started.set()
        assert self.gate.wait(60)


def test_a_save_during_the_backlog_embeds_that_file_first_and_only_it(
    sample_workspace: Path, tmp_path: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large first index is embedding in the background when the user saves a file:
    the save's run embeds that file's chunks before anything else of the backlog, and
    only those; the backlog goes on afterwards, in the background's steps."""
    import codeseek.indexer as indexer_module
    import codeseek.service as service_module

    monkeypatch.setattr(indexer_module, "CHUNKS_PER_BATCH", 4)
    monkeypatch.setattr(service_module, "EMBED_STEP_CHUNKS", 8)
    holder: list[FolderService] = []
    gated = GatedEmbedder(minilm, holder)
    service = make_service(sample_workspace, tmp_path / "store", None)
    holder.append(service)
    service.start(watch=False)
    try:
        eventually(lambda: service.status().files == 9)  # chunked; the backlog is everything
        service.attach_embedder(gated)
        assert gated.started.wait(60)  # the first background batch is being embedded
        runs_before = service.runs
        saved = sample_workspace / "src/storage/retry.py"
        saved.write_text(saved.read_text() + "\n\ndef give_up_after(attempts):\n    return attempts > 5\n")
        service.files_changed([saved])
        eventually(lambda: service.status().pending == 1)
        gated.gate.set()
        assert service.wait_idle(120)
        batches = list(zip(gated.batches, gated.runs_at, strict=True))
        of_saved = embedded_from(service, "src/storage/retry.py")
        saved_batches = [i for i, (texts, _) in enumerate(batches) if of_saved(texts[0])]
        # At most one background step (two batches) was under way when the save came.
        assert saved_batches and saved_batches[0] <= 2
        during_save = [texts for texts, runs in batches if runs == runs_before]
        after_save = [texts for texts, runs in batches if runs > runs_before]
        saved_chunks = [t for texts in during_save[saved_batches[0] :] for t in texts]
        assert saved_chunks and all(of_saved(t) for t in saved_chunks)
        assert after_save and not any(of_saved(t) for b in after_save for t in b)
        assert service.status().dense_percent == 100
        hits = service.search(SearchRequest("stop retrying after too many attempts", 3)).hits
        assert "give_up_after" in [h.symbol for h in hits]
    finally:
        gated.gate.set()
        service.stop()
