"""The core engine with its real parts: tree-sitter, LanceDB and the bundled MiniLM."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from codeseek.config import Config
from codeseek.embedding.base import Embedder
from codeseek.engine import Engine
from codeseek.errors import EmbedderUnavailable, IndexCancelled
from codeseek.search import SearchRequest


def make_engine(root: Path, embedder: Embedder, store: Path, **settings: object) -> Engine:
    config = Config()
    config.store.path = str(store)
    for key, value in settings.items():
        section, name = key.split("__")
        setattr(getattr(config, section), name, value)
    return Engine(root, config, embedder=embedder)


@pytest.fixture
def engine(sample_workspace: Path, minilm: Embedder, tmp_path: Path) -> Engine:
    e = make_engine(sample_workspace, minilm, tmp_path / "store")
    e.index()
    return e


def top_symbols(engine: Engine, query: str, k: int = 3, **kw: object) -> list[str | None]:
    return [h.symbol for h in engine.search(SearchRequest(query, k, **kw)).hits]  # type: ignore[arg-type]


def test_index_covers_every_language_and_honours_gitignore(engine: Engine) -> None:
    status = engine.status()
    paths = set(engine.store.all_paths())
    assert paths == {
        ".gitignore",
        "cmd/server/main.go",
        "docs/guide.md",
        "native/Checksum.java",
        "native/matrix.rs",
        "src/storage/json_store.py",
        "src/storage/retry.py",
        "web/cart.ts",
        "web/debounce.js",
    }
    assert status.files == len(paths)
    assert status.chunks >= 15
    assert status.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert status.dimensions == 384
    assert status.last_indexed_at
    assert set(engine.store.languages()) >= {
        "python",
        "typescript",
        "javascript",
        "go",
        "rust",
        "java",
        "markdown",
    }


@pytest.mark.parametrize(
    ("query", "symbol"),
    [
        ("write the dictionary to disk atomically with a rename", "JsonStore.save"),
        ("recursively merge nested dictionaries", "merge_settings"),
        ("retry an operation with exponential backoff", "retry_with_backoff"),
        ("total price of the shopping cart with a discount", "cartTotal"),
        ("reverse the order of words in a sentence", "ReverseWords"),
        ("multiply two matrices", "Matrix.multiply"),
        ("adler-32 checksum of bytes", "Checksum.adler32"),
        ("delay a function call until calls stop", "debounce"),
    ],
)
def test_semantic_search_finds_the_function(engine: Engine, query: str, symbol: str) -> None:
    for mode in ("semantic", "hybrid"):
        found = top_symbols(engine, query, 3, mode=mode)
        # A hit on the enclosing class (a class small enough to be one chunk) holds it too.
        assert any(s == symbol or symbol.startswith(f"{s}.") for s in found if s), (mode, found)


def test_hits_have_the_interface_shape(engine: Engine) -> None:
    hits = engine.search(SearchRequest("handler that reports the server is alive", 3)).hits
    data = next(h.to_json() for h in hits if h.symbol == "Server.HandleHealth")
    assert set(data) == {"path", "start_line", "end_line", "score", "language", "symbol", "kind", "preview"}
    assert data["path"] == "cmd/server/main.go"
    assert data["symbol"] == "Server.HandleHealth"
    assert data["kind"] == "method"
    lines = (engine.root / data["path"]).read_text().splitlines()
    assert "HandleHealth" in lines[data["start_line"] - 1] or "HandleHealth" in lines[data["start_line"]]
    assert 1 <= data["start_line"] <= data["end_line"] <= len(lines)
    assert "HandleHealth" in data["preview"]


def test_lexical_mode_matches_identifiers_split_into_words(engine: Engine) -> None:
    result = engine.search(SearchRequest("try acquire", 3, mode="lexical"))
    assert result.mode == "lexical"
    assert result.hits[0].symbol == "RateLimiter.tryAcquire"


def test_language_and_glob_filters(engine: Engine) -> None:
    hits = engine.search(SearchRequest("function", 10, languages=["go"])).hits
    assert hits and {h.language for h in hits} == {"go"}
    hits = engine.search(SearchRequest("function", 10, include=["web/**"])).hits
    assert hits and all(h.path.startswith("web/") for h in hits)
    hits = engine.search(SearchRequest("function", 10, exclude=["*.ts", "*.js"])).hits
    assert hits and not any(h.path.startswith("web/") for h in hits)
    assert engine.search(SearchRequest("function", 10, include=["nothing/**"])).hits == []


def test_related_excludes_the_chunk_itself(engine: Engine) -> None:
    source = (engine.root / "src/storage/json_store.py").read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if "def save" in text)
    hits = engine.related("src/storage/json_store.py", line, 5)
    assert hits
    for h in hits:
        assert not (h.path == "src/storage/json_store.py" and h.start_line <= line <= h.end_line)


def test_unchanged_reindex_costs_no_model_call(engine: Engine) -> None:
    report = engine.index()
    assert report.indexed == 0 and report.chunks_embedded == 0
    assert report.unchanged == engine.status().files


def test_touch_without_change_is_not_rechunked(engine: Engine) -> None:
    path = engine.root / "src/storage/retry.py"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10_000_000_000))
    report = engine.index()
    assert report.indexed == 0 and report.chunks_embedded == 0
    assert engine.index().unchanged == engine.status().files


def test_changed_file_replaces_its_chunks(engine: Engine) -> None:
    path = engine.root / "src/storage/retry.py"
    path.write_text(
        "def parse_duration(text):\n"
        '    """Convert strings like 5m or 2h into a number of seconds."""\n'
        "    units = {'s': 1, 'm': 60, 'h': 3600}\n"
        "    return int(text[:-1]) * units[text[-1]]\n"
    )
    report = engine.update_paths(["src/storage/retry.py"])
    assert report.indexed == 1
    assert "parse_duration" in top_symbols(engine, "convert a duration string to seconds", 3)
    assert "retry_with_backoff" not in top_symbols(engine, "retry with exponential backoff", 10)
    chunks = engine.store.chunks_of("src/storage/retry.py")
    assert [c.symbol for c in chunks] == ["parse_duration"]


def test_deleted_and_renamed_files(engine: Engine) -> None:
    (engine.root / "web/debounce.js").unlink()
    shutil.move(engine.root / "native/matrix.rs", engine.root / "native/linalg.rs")
    report = engine.index()
    assert report.removed == 2
    assert report.indexed == 1
    # The renamed file's chunks are the same content: their vectors come from the cache.
    assert report.chunks_embedded == 0 and report.chunks_cached >= 2
    paths = set(engine.store.all_paths())
    assert "web/debounce.js" not in paths and "native/matrix.rs" not in paths
    assert "native/linalg.rs" in paths
    assert "debounce" not in top_symbols(engine, "delay a function call until calls stop", 10)
    hits = engine.search(SearchRequest("multiply two matrices", 1)).hits
    assert hits[0].path == "native/linalg.rs"


def test_branch_switch_back_reuses_vectors(engine: Engine) -> None:
    path = engine.root / "src/storage/json_store.py"
    original = path.read_text()
    path.write_text(original.replace("merge_settings", "combine_settings"))
    engine.index()
    path.write_text(original)
    report = engine.index()
    assert report.indexed == 1 and report.chunks_embedded == 0


def test_deleted_directory_via_update_paths(engine: Engine) -> None:
    shutil.rmtree(engine.root / "native")
    report = engine.update_paths(["native"])
    assert report.removed == 2
    assert not any(p.startswith("native/") for p in engine.store.all_paths())


def test_bad_input_is_skipped_with_reasons(sample_workspace: Path, minilm: Embedder, tmp_path: Path) -> None:
    root = sample_workspace
    (root / "image.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00" + bytes(range(256)) * 10)
    (root / "latin1.py").write_bytes(b"# caf\xe9\ndef greet():\n    return 'hello'\n")
    (root / "garbage.txt").write_bytes(bytes(range(128, 256)) * 40)
    (root / "bundle.min.js").write_text("var a=1;" * 10)
    (root / "huge.js").write_text("var x=" + "1+" * 5_000_000 + "1;")
    (root / "empty.py").write_text("")
    (root / ".env").write_text("SECRET=hunter2\n")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "outside").symlink_to(tmp_path, target_is_directory=True)
    engine = make_engine(root, minilm, tmp_path / "store", index__max_file_bytes=2_000_000)
    report = engine.index()
    reasons = {s.path: s.reason for s in engine.status().skipped}
    assert {"image.bin", "garbage.txt", "bundle.min.js", "huge.js", ".env"} <= set(reasons)
    assert "secret" in reasons[".env"]
    assert "too large" in reasons["huge.js"] or "minified" in reasons["huge.js"]
    paths = set(engine.store.all_paths())
    assert "latin1.py" in paths and "empty.py" in paths
    assert not any(p.startswith(("loop/", "outside/")) for p in paths)
    assert "greet" in top_symbols(engine, "say hello", 3)
    assert report.files == len(paths)
    # Nothing of the secret reached the index.
    assert engine.search(SearchRequest("hunter2", 5, mode="lexical")).hits == []


class FailingEmbedder(Embedder):
    """The real model, failing like a dead server after `calls_before_failure` batches."""

    def __init__(self, inner: Embedder, calls_before_failure: int) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.model_id = inner.model_id
        self.dimensions = inner.dimensions
        self.max_tokens = inner.max_tokens
        self.remaining = calls_before_failure
        self.embedded = 0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if self.remaining <= 0:
            raise EmbedderUnavailable("the embedding server is not answering")
        self.remaining -= 1
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        if self.remaining <= 0:
            raise EmbedderUnavailable("the embedding server is not answering")
        return self.inner.embed_query(text)


def _many_files(root: Path, count: int) -> None:
    for i in range(count):
        (root / "gen").mkdir(exist_ok=True)
        (root / "gen" / f"mod{i:03}.py").write_text(
            f"def handler_{i}(request):\n    '''Handle request number {i}.'''\n    return {i} * request\n"
            + "\n".join(f"VALUE_{i}_{j} = {j}" for j in range(40))
            + "\n"
        )


def test_interrupted_run_is_repaired_without_redoing_finished_files(
    sample_workspace: Path, minilm: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import codeseek.indexer as indexer_module

    monkeypatch.setattr(indexer_module, "FILES_PER_BATCH", 10)
    _many_files(sample_workspace, 40)
    store = tmp_path / "store"
    failing = FailingEmbedder(minilm, calls_before_failure=2)
    with pytest.raises(EmbedderUnavailable):
        make_engine(sample_workspace, failing, store).index()
    first_pass = failing.embedded
    assert first_pass > 0
    counting = FailingEmbedder(minilm, calls_before_failure=10_000)
    engine = make_engine(sample_workspace, counting, store)
    report = engine.index()
    assert report.files == 49
    assert report.indexed == 49 - 20  # the two committed batches of ten were not redone
    total_chunks = engine.status().chunks
    assert counting.embedded < total_chunks
    assert engine.search(SearchRequest("handle request number 37", 3, mode="lexical")).hits


def test_cancel_stops_between_batches(
    sample_workspace: Path, minilm: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import codeseek.indexer as indexer_module

    monkeypatch.setattr(indexer_module, "FILES_PER_BATCH", 5)
    _many_files(sample_workspace, 20)
    engine = make_engine(sample_workspace, minilm, tmp_path / "store")
    cancel = threading.Event()
    done: list[int] = []

    def progress(p: indexer_module.IndexProgress) -> None:
        if p.phase == "index" and p.files_done:
            done.append(p.files_done)
            cancel.set()

    with pytest.raises(IndexCancelled):
        engine.index(progress=progress, cancel=cancel)
    assert engine.store.count_files() == done[-1] < 29
    assert engine.index().indexed == 29 - done[-1]


def test_search_falls_back_to_full_text_when_the_model_is_down(engine: Engine, minilm: Embedder) -> None:
    dead = FailingEmbedder(minilm, calls_before_failure=0)
    searcher_engine = Engine(engine.root, engine.config, embedder=dead)
    result = searcher_engine.search(SearchRequest("merge settings", 3))
    assert result.mode == "lexical"
    assert result.degraded and "full-text" in result.degraded
    assert result.hits[0].symbol == "merge_settings"


def test_model_switch_keeps_indexes_apart(engine: Engine, tmp_path: Path) -> None:
    from codeseek.engine import index_key

    assert engine.store.index_key == index_key("sentence-transformers/all-MiniLM-L6-v2", 384)
    assert any(
        p.name.startswith("chunks_sentence_transformers_all_minilm_l6_v2_384")
        for p in engine.store_path.iterdir()
    )


def test_sigkilled_index_process_is_repaired(
    sample_workspace: Path, minilm: Embedder, tmp_path: Path
) -> None:
    """A real `codeseek index` killed with SIGKILL after its first committed batch: the
    next run completes the index without duplicating chunks or redoing finished files."""
    import signal
    import subprocess
    import sys
    import time

    from codeseek.store.lance import IndexStore

    for i in range(40):  # about 240 KB: two batches (the indexer's batch is about 176 KB)
        (sample_workspace / "gen").mkdir(exist_ok=True)
        body = "\n".join(f"    total += {j} * value  # step {j} of handler {i}" for j in range(150))
        (sample_workspace / "gen" / f"mod{i:03}.py").write_text(
            f"def handler_{i}(value):\n    total = 0\n{body}\n    return total\n"
        )
    store_path = tmp_path / "store"
    env = {**os.environ, "CODESEEK_STORE": str(store_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "codeseek", "index", str(sample_workspace)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    committed = 0
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            current = IndexStore.peek_current(store_path)
            if current is not None:
                committed = IndexStore(store_path, current["index_key"], current["dimensions"]).count_files()
                if committed:
                    break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert committed, "the index run finished or never committed before it could be killed"

    engine = make_engine(sample_workspace, minilm, store_path)
    already = engine.store.count_files()
    assert already < 49  # the kill landed part-way
    report = engine.index()
    assert report.files == 49
    assert report.indexed <= 49 - committed  # finished files were not redone
    # No chunk twice: each file's chunks tile it exactly once.
    for path in ("gen/mod000.py", "gen/mod039.py", "src/storage/retry.py"):
        chunks = engine.store.chunks_of(path)
        assert chunks[0].start_line == 1
        assert all(a.end_line + 1 == b.start_line for a, b in itertools.pairwise(chunks))
    assert engine.index().indexed == 0
