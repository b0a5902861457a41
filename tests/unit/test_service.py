"""A folder's service with its real parts: tree-sitter, LanceDB and the bundled MiniLM."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from codeseek.config import Config
from codeseek.embedding.base import Embedder, InputType
from codeseek.errors import EmbedderUnavailable, IndexCancelled
from codeseek.model import IndexProgress, Phase
from codeseek.search import SearchRequest
from codeseek.service import FolderService, index_key
from codeseek.store.lance import IndexStore
from wrappers import WrappedEmbedder


def make_service(root: Path, embedder: Embedder, store: Path, **settings: object) -> FolderService:
    config = Config()
    config.store.path = str(store)
    for key, value in settings.items():
        section, name = key.split("__")
        setattr(getattr(config, section), name, value)
    return FolderService(root, config, embedder=embedder)


def index_of(service: FolderService) -> IndexStore:
    store = service.store()
    assert store is not None
    return store


@pytest.fixture
def engine(sample_workspace: Path, minilm: Embedder, tmp_path: Path) -> FolderService:
    e = make_service(sample_workspace, minilm, tmp_path / "store")
    e.index()
    return e


def top_symbols(engine: FolderService, query: str, k: int = 3, **kw: object) -> list[str | None]:
    return [h.symbol for h in engine.search(SearchRequest(query, k, **kw)).hits]  # type: ignore[arg-type]


def test_index_covers_every_language_and_honours_gitignore(engine: FolderService) -> None:
    status = engine.status()
    paths = set(index_of(engine).all_paths())
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
    assert set(index_of(engine).languages()) >= {
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
def test_semantic_search_finds_the_function(engine: FolderService, query: str, symbol: str) -> None:
    for mode in ("semantic", "hybrid"):
        found = top_symbols(engine, query, 3, mode=mode)
        # A hit on the enclosing class (a class small enough to be one chunk) holds it too.
        assert any(s == symbol or symbol.startswith(f"{s}.") for s in found if s), (mode, found)


def test_hits_have_the_interface_shape(engine: FolderService) -> None:
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


def test_lexical_mode_matches_identifiers_split_into_words(engine: FolderService) -> None:
    result = engine.search(SearchRequest("try acquire", 3, mode="lexical"))
    assert result.mode == "lexical"
    assert result.hits[0].symbol == "RateLimiter.tryAcquire"


def test_language_and_glob_filters(engine: FolderService) -> None:
    hits = engine.search(SearchRequest("function", 10, languages=["go"])).hits
    assert hits and {h.language for h in hits} == {"go"}
    hits = engine.search(SearchRequest("function", 10, include=["web/**"])).hits
    assert hits and all(h.path.startswith("web/") for h in hits)
    hits = engine.search(SearchRequest("function", 10, exclude=["*.ts", "*.js"])).hits
    assert hits and not any(h.path.startswith("web/") for h in hits)
    assert engine.search(SearchRequest("function", 10, include=["nothing/**"])).hits == []


def test_related_excludes_the_chunk_itself(engine: FolderService) -> None:
    source = (engine.root / "src/storage/json_store.py").read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if "def save" in text)
    hits = engine.related("src/storage/json_store.py", line, 5)
    assert hits
    for h in hits:
        assert not (h.path == "src/storage/json_store.py" and h.start_line <= line <= h.end_line)


def test_unchanged_reindex_costs_no_model_call(engine: FolderService) -> None:
    report = engine.index()
    assert report.indexed == 0 and report.chunks_embedded == 0
    assert report.unchanged == engine.status().files


def test_touch_without_change_is_not_rechunked(engine: FolderService) -> None:
    path = engine.root / "src/storage/retry.py"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10_000_000_000))
    report = engine.index()
    assert report.indexed == 0 and report.chunks_embedded == 0
    assert engine.index().unchanged == engine.status().files


def test_changed_file_replaces_its_chunks(engine: FolderService) -> None:
    path = engine.root / "src/storage/retry.py"
    path.write_text(
        "def parse_duration(text):\n"
        '    """Convert strings like 5m or 2h into a number of seconds."""\n'
        "    units = {'s': 1, 'm': 60, 'h': 3600}\n"
        "    return int(text[:-1]) * units[text[-1]]\n"
    )
    report = engine.update(["src/storage/retry.py"])
    assert report.indexed == 1
    assert "parse_duration" in top_symbols(engine, "convert a duration string to seconds", 3)
    assert "retry_with_backoff" not in top_symbols(engine, "retry with exponential backoff", 10)
    chunks = index_of(engine).chunks_of("src/storage/retry.py")
    assert [c.symbol for c in chunks] == ["parse_duration"]


def test_deleted_and_renamed_files(engine: FolderService) -> None:
    (engine.root / "web/debounce.js").unlink()
    shutil.move(engine.root / "native/matrix.rs", engine.root / "native/linalg.rs")
    report = engine.index()
    assert report.removed == 2
    assert report.indexed == 1
    # The renamed file's chunks are the same content: their vectors come from the cache.
    assert report.chunks_embedded == 0 and report.chunks_cached >= 2
    paths = set(index_of(engine).all_paths())
    assert "web/debounce.js" not in paths and "native/matrix.rs" not in paths
    assert "native/linalg.rs" in paths
    assert "debounce" not in top_symbols(engine, "delay a function call until calls stop", 10)
    hits = engine.search(SearchRequest("multiply two matrices", 1)).hits
    assert hits[0].path == "native/linalg.rs"


def test_branch_switch_back_reuses_vectors(engine: FolderService) -> None:
    path = engine.root / "src/storage/json_store.py"
    original = path.read_text()
    path.write_text(original.replace("merge_settings", "combine_settings"))
    engine.index()
    path.write_text(original)
    report = engine.index()
    assert report.indexed == 1 and report.chunks_embedded == 0


def test_deleted_directory_via_update_paths(engine: FolderService) -> None:
    shutil.rmtree(engine.root / "native")
    report = engine.update(["native"])
    assert report.removed == 2
    assert not any(p.startswith("native/") for p in index_of(engine).all_paths())


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
    engine = make_service(root, minilm, tmp_path / "store", index__max_file_bytes=2_000_000)
    report = engine.index()
    reasons = {s.path: s.why for s in engine.status().skipped}
    assert {"image.bin", "garbage.txt", "bundle.min.js", "huge.js", ".env"} <= set(reasons)
    assert "secret" in reasons[".env"]
    assert "too large" in reasons["huge.js"] or "minified" in reasons["huge.js"]
    paths = set(index_of(engine).all_paths())
    assert "latin1.py" in paths and "empty.py" in paths
    assert not any(p.startswith(("loop/", "outside/")) for p in paths)
    assert "greet" in top_symbols(engine, "say hello", 3)
    assert report.files == len(paths)
    # Nothing of the secret reached the index.
    assert engine.search(SearchRequest("hunter2", 5, mode="lexical")).hits == []


class FailingEmbedder(WrappedEmbedder):
    """The real model, failing like a dead server after `calls_before_failure` batches."""

    def __init__(self, inner: Embedder, calls_before_failure: int) -> None:
        super().__init__(inner)
        self.remaining = calls_before_failure
        self.embedded = 0

    def before_call(self, texts: Sequence[str], kind: InputType) -> None:
        if self.remaining <= 0:
            raise EmbedderUnavailable("the embedding server is not answering")
        self.remaining -= 1
        self.embedded += len(texts)


def _many_files(root: Path, count: int) -> None:
    for i in range(count):
        (root / "gen").mkdir(exist_ok=True)
        (root / "gen" / f"mod{i:03}.py").write_text(
            f"def handler_{i}(request):\n    '''Handle request number {i}.'''\n    return {i} * request\n"
            + "\n".join(f"VALUE_{i}_{j} = {j}" for j in range(40))
            + "\n"
        )


def test_interrupted_embedding_is_searchable_and_continued(
    sample_workspace: Path, minilm: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Words first: a run whose model fails part-way has chunked every file already, so
    the index answers full-text searches at once, and the next run embeds only what is
    left, re-chunking nothing."""
    import codeseek.indexer as indexer_module

    monkeypatch.setattr(indexer_module, "CHUNKS_PER_BATCH", 16)
    _many_files(sample_workspace, 40)
    store = tmp_path / "store"
    failing = FailingEmbedder(minilm, calls_before_failure=2)
    first = make_service(sample_workspace, failing, store)
    with pytest.raises(EmbedderUnavailable):
        first.index()
    status = first.status()
    assert status.state.value == "error" and "embedding model" in (status.last_error or "")
    assert status.files == 49 and 0 < status.embedded < status.dense_total
    assert first.search(SearchRequest("handle request number 37", 3, mode="lexical")).hits
    first_pass = failing.embedded
    counting = FailingEmbedder(minilm, calls_before_failure=10_000)
    engine = make_service(sample_workspace, counting, store)
    report = engine.index()
    assert report.files == 49
    assert report.indexed == 0  # every file was chunked by the first run
    total_chunks = engine.status().chunks
    assert counting.embedded + first_pass >= engine.status().dense_total
    assert counting.embedded < total_chunks
    assert engine.status().dense_percent == 100


def test_cancel_stops_between_batches(
    sample_workspace: Path, minilm: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import codeseek.indexer as indexer_module

    monkeypatch.setattr(indexer_module, "FILES_PER_BATCH", 5)
    _many_files(sample_workspace, 20)
    engine = make_service(sample_workspace, minilm, tmp_path / "store")
    cancel = threading.Event()
    done: list[int] = []

    def progress(p: IndexProgress) -> None:
        if p.phase is Phase.CHUNK and p.files_done:
            done.append(p.files_done)
            cancel.set()

    with pytest.raises(IndexCancelled):
        engine.index(progress=progress, cancel=cancel)
    assert index_of(engine).count_files() == done[-1] < 29
    assert engine.index().indexed == 29 - done[-1]


def test_search_falls_back_to_full_text_when_the_model_is_down(
    engine: FolderService, minilm: Embedder
) -> None:
    dead = FailingEmbedder(minilm, calls_before_failure=0)
    searcher_engine = FolderService(engine.root, engine.config, embedder=dead)
    result = searcher_engine.search(SearchRequest("merge settings", 3))
    assert result.mode == "lexical"
    assert result.degraded and "full-text" in result.degraded
    assert result.hits[0].symbol == "merge_settings"


def test_model_switch_keeps_indexes_apart(engine: FolderService, tmp_path: Path) -> None:
    assert index_of(engine).index_key == index_key("sentence-transformers/all-MiniLM-L6-v2", 384)
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

    from codeseek.store.meta import peek_current

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
            current = peek_current(store_path)
            if current is not None:
                committed = IndexStore(store_path, current["index_key"], current["dimensions"]).count_files()
                if committed:
                    break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert committed, "the index run finished or never committed before it could be killed"

    engine = make_service(sample_workspace, minilm, store_path)
    before = engine.status()
    assert before.files < 49 or before.embedded < before.dense_total  # the kill landed part-way
    report = engine.index()
    assert report.files == 49
    assert report.indexed <= 49 - committed  # finished files were not redone
    # No chunk twice: each file's chunks tile it exactly once.
    for path in ("gen/mod000.py", "gen/mod039.py", "src/storage/retry.py"):
        chunks = index_of(engine).chunks_of(path)
        assert chunks[0].start_line == 1
        assert all(a.end_line + 1 == b.start_line for a, b in itertools.pairwise(chunks))
    assert engine.index().indexed == 0
    assert engine.status().dense_percent == 100


def test_interrupted_first_index_is_searchable_and_continued(
    sample_workspace: Path, minilm: Embedder, tmp_path: Path
) -> None:
    """The issue's new user: `codeseek index` on a fresh repository, with its stderr in a
    log (plain progress lines), stopped with Ctrl-C once every file is chunked and
    embedding has begun. The index answers by its words at once, says the last run
    happened, and the next run embeds only what was left, re-chunking nothing."""
    import signal
    import subprocess
    import sys
    import time

    for i in range(60):  # about 1,200 chunks to embed: several batches
        (sample_workspace / "gen").mkdir(exist_ok=True)
        body = "\n\n".join(
            f"def step_{i}_{j}(value):\n    # Step {j} of pipeline {i}.\n    return value * {i * 100 + j}\n"
            for j in range(20)
        )
        (sample_workspace / "gen" / f"pipeline{i:03}.py").write_text(body + "\n")
    store_path = tmp_path / "store"
    env = {
        **os.environ,
        "CODESEEK_STORE": str(store_path),
        "HF_HUB_OFFLINE": "1",
        "CODESEEK_PROGRESS_INTERVAL": "0",  # every progress update as a line
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "codeseek", "index", str(sample_workspace)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            # The second embedding line has a measured rate: stop there, like a user's Ctrl-C.
            if sum(entry.startswith("codeseek: embedding") for entry in lines) >= 2:
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    lines += rest.splitlines()
    embedding = [entry for entry in lines if entry.startswith("codeseek: embedding")]
    assert len(embedding) >= 2, lines
    assert any(entry.startswith("codeseek: indexing 69/69 files · ") for entry in lines), lines
    assert embedding[1].startswith("codeseek: embedding 69 files · ") and " chunks/s" in embedding[1]
    assert proc.returncode == 130 and "kept and searchable" in lines[-1], lines

    # Searchable by its words without starting over, and said to be so.
    reader = FolderService(sample_workspace, make_service(sample_workspace, minilm, store_path).config)
    hits = reader.search(SearchRequest("step_42_7", 3, mode="lexical")).hits
    assert hits and hits[0].path == "gen/pipeline042.py"
    before = reader.status()
    assert before.files == 69 and before.last_indexed_at is not None
    assert 0 < before.embedded < before.dense_total

    counting = FailingEmbedder(minilm, calls_before_failure=10_000)
    report = make_service(sample_workspace, counting, store_path).index()
    assert report.indexed == 0  # nothing re-chunked
    assert report.chunks_embedded == counting.embedded == before.dense_total - before.embedded
    assert make_service(sample_workspace, minilm, store_path).status().dense_percent == 100
