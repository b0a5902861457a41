"""The LanceDB store on its own: replacement semantics, the vector cache, indexes,
and stores that must rebuild themselves instead of asking the user to delete them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import codeseek.store.lance as lance
from codeseek.model import Chunk
from codeseek.store.lance import FileRecord, IndexStore, identifier_words

DIMS = 16


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIMS)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def chunk(path: str, line: int, text: str, symbol: str | None = None) -> Chunk:
    return Chunk(path, "python", line, line, text, symbol, "function" if symbol else None)


@pytest.fixture
def store(tmp_path: Path) -> IndexStore:
    return IndexStore(tmp_path / "store", "test_16", DIMS)


def test_identifier_words_split_camel_and_snake_case() -> None:
    words = identifier_words("def loadJsonFile(): return parse_http_request(HTTPServer)")
    assert "load json file" in words
    assert "parse http request" in words
    assert "http server" in words


def test_replace_files_swaps_a_files_chunks_in_one_step(store: IndexStore) -> None:
    rng = np.random.default_rng(0)
    a1 = [
        chunk("a.py", 1, "def old_one(): pass", "old_one"),
        chunk("a.py", 2, "def old_two(): pass", "old_two"),
    ]
    b1 = [chunk("b.py", 1, "def other(): pass", "other")]
    with store.lock.held():
        store.replace_files(
            [FileRecord("a.py", "h1", 10, 1, 2), FileRecord("b.py", "h1", 10, 1, 1)], a1 + b1, unit(rng, 3)
        )
        version_before = store._chunks.version
        a2 = [chunk("a.py", 1, "def new_one(): pass", "new_one")]
        store.replace_files([FileRecord("a.py", "h2", 11, 2, 1)], a2, unit(rng, 1))
    # One commit for the chunk swap (then one for the file record).
    assert store._chunks.version == version_before + 1
    assert [c.symbol for c in store.chunks_of("a.py")] == ["new_one"]
    assert [c.symbol for c in store.chunks_of("b.py")] == ["other"]
    assert store.file_records()["a.py"].hash == "h2"


def test_a_file_that_became_empty_loses_its_chunks(store: IndexStore) -> None:
    rng = np.random.default_rng(1)
    with store.lock.held():
        store.replace_files([FileRecord("a.py", "h1", 10, 1, 1)], [chunk("a.py", 1, "x = 1")], unit(rng, 1))
        store.replace_files([FileRecord("a.py", "h2", 0, 2, 0)], [], np.zeros((0, DIMS), np.float32))
    assert store.chunks_of("a.py") == []
    assert store.file_records()["a.py"].chunks == 0


def test_vector_cache_round_trip(store: IndexStore) -> None:
    rng = np.random.default_rng(2)
    vectors = unit(rng, 3)
    with store.lock.held():
        store.cache_vectors(["k1", "k2", "k3"], vectors)
        store.cache_vectors(["k1"], unit(rng, 1))  # an existing key keeps its vector
    found = store.cached_vectors(["k1", "k3", "missing"])
    assert set(found) == {"k1", "k3"}
    np.testing.assert_allclose(found["k1"], vectors[0])
    np.testing.assert_allclose(found["k3"], vectors[2])


def test_vector_index_above_the_threshold_keeps_results_right(
    store: IndexStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lance, "VECTOR_INDEX_MIN_ROWS", 2000)
    rng = np.random.default_rng(3)
    n = 2500
    centres = unit(rng, 40)
    vectors = centres[rng.integers(0, 40, n)] + 0.3 * unit(rng, n)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [chunk(f"f{i // 50}.py", i % 50 + 1, f"def fn_{i}(): return {i}", f"fn_{i}") for i in range(n)]
    records = [FileRecord(f"f{j}.py", "h", 1, 1, 50) for j in range(n // 50)]
    with store.lock.held():
        store.replace_files(records, chunks, vectors)
        assert not store.has_vector_index()
        store.optimize()
    assert store.has_vector_index()
    assert store.index_meta()["vector_index_rows"] == n
    hits = 0
    for i in rng.integers(0, n, 30):
        hits += store.vector_search(vectors[i], 5)[0].symbol == f"fn_{i}"
    assert hits >= 28
    # Full-text search works beside it.
    assert store.text_search("fn_1234", 3)[0].symbol == "fn_1234"


def test_old_schema_is_rebuilt_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "store"
    store = IndexStore(path, "test_16", DIMS)
    rng = np.random.default_rng(4)
    with store.lock.held():
        store.replace_files([FileRecord("a.py", "h", 1, 1, 1)], [chunk("a.py", 1, "x = 1")], unit(rng, 1))
    meta = json.loads((path / "meta.json").read_text())
    meta["schema_version"] = lance.SCHEMA_VERSION - 1
    (path / "meta.json").write_text(json.dumps(meta))
    reopened = IndexStore(path, "test_16", DIMS)
    assert reopened.count_chunks() == 0 and reopened.count_files() == 0
    assert reopened.read_meta()["schema_version"] == lance.SCHEMA_VERSION


def test_damaged_meta_and_table_are_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "store"
    rng = np.random.default_rng(5)
    first = IndexStore(path, "test_16", DIMS)
    with first.lock.held():
        first.replace_files([FileRecord("a.py", "h", 1, 1, 1)], [chunk("a.py", 1, "x = 1")], unit(rng, 1))
    (path / "meta.json").write_text("{not json")
    for manifest in (path / "chunks_test_16.lance" / "_versions").iterdir():
        manifest.write_bytes(b"garbage")
    store = IndexStore(path, "test_16", DIMS)
    assert store.count_chunks() == 0  # rebuilt empty; the next run re-indexes
    assert store.read_meta()["schema_version"] == lance.SCHEMA_VERSION
    with store.lock.held():
        store.replace_files([FileRecord("b.py", "h", 1, 1, 1)], [chunk("b.py", 1, "y = 2")], unit(rng, 1))
    assert [c.path for c in store.chunks_of("b.py")] == ["b.py"]


def test_peek_current_reads_without_opening_the_database(tmp_path: Path) -> None:
    assert IndexStore.peek_current(tmp_path / "nothing") is None
    path = tmp_path / "store"
    path.mkdir()
    (path / "meta.json").write_text(json.dumps({"current": {"index_key": "k", "dimensions": 8}}))
    assert IndexStore.peek_current(path) == {"index_key": "k", "dimensions": 8}


def test_write_lock_excludes_a_second_writer(store: IndexStore, tmp_path: Path) -> None:
    other = IndexStore(tmp_path / "store", "test_16", DIMS)
    assert store.lock.acquire()
    try:
        assert not other.lock.acquire(blocking=False)
    finally:
        store.lock.release()
    assert other.lock.acquire(blocking=False)
    other.lock.release()


def test_chunks_written_without_their_file_record_are_not_duplicated(store: IndexStore) -> None:
    """A run killed between a file's chunks and its record: the retry replaces, not appends."""
    rng = np.random.default_rng(6)
    with store.lock.held():
        store.replace_files(
            [FileRecord("keep.py", "h", 1, 1, 1)], [chunk("keep.py", 1, "k = 1")], unit(rng, 1)
        )
        store.replace_files(
            [FileRecord("a.py", "h", 1, 1, 1)], [chunk("a.py", 1, "x = 1", "x")], unit(rng, 1)
        )
        store._files.delete("path = 'a.py'")  # as if killed before the record was written
        store.replace_files(
            [FileRecord("a.py", "h", 1, 1, 1)], [chunk("a.py", 1, "x = 1", "x")], unit(rng, 1)
        )
    assert len(store.chunks_of("a.py")) == 1
