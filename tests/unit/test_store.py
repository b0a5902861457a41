"""The LanceDB store on its own: replacement semantics, chunks waiting for vectors, the
vector cache, indexes, a reader that never writes, and a writer that heals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import codeseek.store.lance as lance
from codeseek.errors import StoreDamaged
from codeseek.model import Chunk
from codeseek.store.lance import IndexStore
from codeseek.store.meta import peek_current
from codeseek.store.schema import SCHEMA_VERSION, FileRecord, identifier_words

DIMS = 16


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIMS)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def chunk(path: str, line: int, text: str, symbol: str | None = None, dense: bool = True) -> Chunk:
    return Chunk(path, "python", line, line, text, symbol, "function" if symbol else None, dense=dense)


@pytest.fixture
def store(tmp_path: Path) -> IndexStore:
    return IndexStore(tmp_path / "store", "test_16", DIMS)


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


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
    with store.writer() as writer:
        writer.replace_files(
            [FileRecord("a.py", "h1", 10, 1, 2), FileRecord("b.py", "h1", 10, 1, 1)], a1 + b1, unit(rng, 3)
        )
        table = store._table(store.chunks_name)
        version_before = table.version
        a2 = [chunk("a.py", 1, "def new_one(): pass", "new_one")]
        writer.replace_files([FileRecord("a.py", "h2", 11, 2, 1)], a2, unit(rng, 1))
        # One commit for the chunk swap (then one for the file record).
        assert table.version == version_before + 1
    assert [c.symbol for c in store.chunks_of("a.py")] == ["new_one"]
    assert [c.symbol for c in store.chunks_of("b.py")] == ["other"]
    assert store.file_records()["a.py"].hash == "h2"


def test_a_file_that_became_empty_loses_its_chunks(store: IndexStore) -> None:
    rng = np.random.default_rng(1)
    with store.writer() as writer:
        writer.replace_files([FileRecord("a.py", "h1", 10, 1, 1)], [chunk("a.py", 1, "x = 1")], unit(rng, 1))
        writer.replace_files([FileRecord("a.py", "h2", 0, 2, 0)], [], np.zeros((0, DIMS), np.float32))
    assert store.chunks_of("a.py") == []
    assert store.file_records()["a.py"].chunks == 0


def test_chunks_wait_for_vectors_and_are_found_by_words_meanwhile(store: IndexStore) -> None:
    rng = np.random.default_rng(7)
    chunks = [
        chunk("a.py", 1, "def parse_duration(): pass", "parse_duration"),
        chunk("a.py", 2, "import os", dense=False),
        chunk("b.py", 1, "def load_config(): pass", "load_config"),
        chunk("c.py", 1, "def save_config(): pass", "save_config"),
    ]
    records = [FileRecord(p, "h", 1, 1, n) for p, n in (("a.py", 2), ("b.py", 1), ("c.py", 1))]
    vectors = unit(rng, 4)
    with store.writer() as writer:
        writer.replace_files(records, chunks, vectors, present=[False, False, True, False])
        writer.ensure_text_index()
    assert store.count_embedded() == (1, 3)  # the import block gets no vector, ever
    # Dense search sees only chunks with a vector; full text sees them all.
    assert [c.symbol for c in store.vector_search(vectors[0], 10)] == ["load_config"]
    assert store.text_search("parse duration", 5)[0].symbol == "parse_duration"
    # Waiting chunks come back with the paths asked for first first.
    pending = store.unembedded(10, first=["c.py"])
    assert [p.path for p in pending] == ["c.py", "a.py"]
    assert pending[1].embed_text == next(c for c in chunks if c.path == "a.py" and c.dense).embed_text
    with store.writer() as writer:
        writer.set_vectors([p.id for p in pending], vectors[[3, 0]])
    assert store.count_embedded() == (3, 3)
    assert store.unembedded(10) == []
    found = store.chunk_at("a.py", 2)
    assert found is not None and found[1] is None  # the import block still has none


def test_vector_cache_round_trip(store: IndexStore) -> None:
    rng = np.random.default_rng(2)
    vectors = unit(rng, 3)
    with store.writer() as writer:
        writer.cache_vectors(["k1", "k2", "k3"], vectors)
        writer.cache_vectors(["k1"], unit(rng, 1))  # an existing key keeps its vector
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
    with store.writer() as writer:
        writer.replace_files(records, chunks, vectors)
        assert not store.has_vector_index()
        writer.optimize()
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
    with store.writer() as writer:
        writer.replace_files([FileRecord("a.py", "h", 1, 1, 1)], [chunk("a.py", 1, "x = 1")], unit(rng, 1))
        writer.cache_vectors(["k"], unit(rng, 1))
    meta = json.loads((path / "meta.json").read_text())
    meta["schema_version"] = SCHEMA_VERSION - 1
    (path / "meta.json").write_text(json.dumps(meta))
    reopened = IndexStore(path, "test_16", DIMS)
    assert not reopened.exists()  # a reader does not read an index of another layout
    with reopened.writer() as writer:
        assert any("schema" in r for r in writer.repairs)
    assert reopened.count_chunks() == 0 and reopened.count_files() == 0
    assert reopened.read_meta()["schema_version"] == SCHEMA_VERSION
    assert set(reopened.cached_vectors(["k"])) == {"k"}  # the vector cache keeps its layout


def test_a_reader_never_repairs_and_the_writer_does(tmp_path: Path) -> None:
    path = tmp_path / "store"
    rng = np.random.default_rng(5)
    first = IndexStore(path, "test_16", DIMS)
    with first.writer() as writer:
        writer.replace_files([FileRecord("a.py", "h", 1, 1, 1)], [chunk("a.py", 1, "x = 1")], unit(rng, 1))
    (path / "meta.json").write_text("{not json")
    for manifest in (path / "chunks_test_16.lance" / "_versions").iterdir():
        manifest.write_bytes(b"garbage")
    before = tree(path)
    reader = IndexStore(path, "test_16", DIMS)
    assert reader.check()  # it sees the damage ...
    with pytest.raises(StoreDamaged):
        reader.count_chunks()
    assert tree(path) == before  # ... and changes nothing
    with reader.writer() as writer:
        assert writer.repairs
    assert reader.check() == []
    assert reader.count_chunks() == 0  # rebuilt empty; the next run re-indexes
    assert reader.read_meta()["schema_version"] == SCHEMA_VERSION
    with reader.writer() as writer:
        writer.replace_files([FileRecord("b.py", "h", 1, 1, 1)], [chunk("b.py", 1, "y = 2")], unit(rng, 1))
        assert writer.repairs == []
    assert [c.path for c in reader.chunks_of("b.py")] == ["b.py"]


def test_peek_current_reads_without_opening_the_database(tmp_path: Path) -> None:
    assert peek_current(tmp_path / "nothing") is None
    path = tmp_path / "store"
    path.mkdir()
    (path / "meta.json").write_text(json.dumps({"current": {"index_key": "k", "dimensions": 8}}))
    assert peek_current(path) == {"index_key": "k", "dimensions": 8}
    (path / "meta.json").write_text(json.dumps({"current": {"index_key": "k", "dimensions": "x"}}))
    assert peek_current(path) is None


def test_write_lock_excludes_a_second_writer(store: IndexStore, tmp_path: Path) -> None:
    other = IndexStore(tmp_path / "store", "test_16", DIMS)
    with store.writer():
        assert not other.lock.acquire(blocking=False)
    assert other.lock.acquire(blocking=False)
    other.lock.release()


def test_chunks_written_without_their_file_record_are_not_duplicated(store: IndexStore) -> None:
    """A run killed between a file's chunks and its record: the next writer removes the
    orphans, and the retry replaces, not appends."""
    rng = np.random.default_rng(6)
    with store.writer() as writer:
        writer.replace_files(
            [FileRecord("keep.py", "h", 1, 1, 1)], [chunk("keep.py", 1, "k = 1")], unit(rng, 1)
        )
        writer.replace_files(
            [FileRecord("a.py", "h", 1, 1, 1)], [chunk("a.py", 1, "x = 1", "x")], unit(rng, 1)
        )
        store._table(store.files_name).delete("path = 'a.py'")  # as if killed before the record
    with store.writer() as writer:
        assert store.chunks_of("a.py") == []
        writer.replace_files(
            [FileRecord("a.py", "h", 1, 1, 1)], [chunk("a.py", 1, "x = 1", "x")], unit(rng, 1)
        )
    assert len(store.chunks_of("a.py")) == 1
    assert len(store.chunks_of("keep.py")) == 1


def test_a_reader_between_a_writers_two_commits_drops_and_changes_nothing(tmp_path: Path) -> None:
    """A writer holds the lock between a file's chunks commit and its files commit (a run
    killed there, or just slow): a reader opening the store then (status, a search, the
    CLI in another process) must neither drop nor change anything."""
    path = tmp_path / "store"
    rng = np.random.default_rng(8)
    store = IndexStore(path, "test_16", DIMS)
    with store.writer() as writer:
        writer.replace_files(
            [FileRecord("a.py", "h", 1, 1, 1)], [chunk("a.py", 1, "x = 1", "x")], unit(rng, 1)
        )
        writer.ensure_text_index()
        # Half-way through the next file: its chunks are in, its record is not.
        table = store._table(store.chunks_name)
        from codeseek.store.schema import chunk_rows

        table.add(chunk_rows([chunk("b.py", 1, "y = 2", "y")], unit(rng, 1), [True], DIMS))
        before = tree(path)
        reader = IndexStore(path, "test_16", DIMS)
        assert reader.check() == []  # half-written is not damaged
        assert reader.count_chunks() == 2 and reader.count_files() == 1
        assert reader.text_search("x", 5) and reader.vector_search(unit(rng, 1)[0], 5)
        assert reader.file_records().keys() == {"a.py"}
        assert tree(path) == before
    # The next writer finishes the job: the orphan chunk goes, and nothing else.
    with store.writer():
        pass
    assert [c.path for c in store.chunks_of("b.py")] == []
    assert [c.symbol for c in store.chunks_of("a.py")] == ["x"]


def test_a_long_first_index_stays_compact_and_builds_its_vector_index_once(
    store: IndexStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vectors filled in batch by batch, as a first index's embedding phase does: the
    chunk ids have a B-tree from the first rows, the table is compacted every
    COMPACT_EVERY_ROWS rows written instead of collecting a fragment per batch, and the
    vector index waits until no chunk waits for a vector."""
    monkeypatch.setattr(lance, "COMPACT_EVERY_ROWS", 200)
    monkeypatch.setattr(lance, "VECTOR_INDEX_MIN_ROWS", 300)
    rng = np.random.default_rng(5)
    n = 1000
    chunks = [chunk(f"f{i // 50}.py", i % 50 + 1, f"def fn_{i}(): return {i}", f"fn_{i}") for i in range(n)]
    records = [FileRecord(f"f{j}.py", "h", 1, 1, 50) for j in range(n // 50)]
    vectors = unit(rng, n)

    def fragments() -> int:
        table = store._table(store.chunks_name)
        return int(table.stats()["fragment_stats"]["num_fragments"])

    with store.writer() as writer:
        writer.replace_files(records, chunks, vectors, present=[False] * n)
        indexes = store._table(store.chunks_name).list_indices()
        assert any(idx.columns == ["id"] and idx.index_type == "BTree" for idx in indexes)
        most = 0
        while pending := store.unembedded(50):
            writer.set_vectors([p.id for p in pending], unit(rng, len(pending)))
            most = max(most, fragments())
            if store.count_embedded()[0] == 500:
                writer.optimize()  # a save's run ends while half the backlog still waits
                assert not store.has_vector_index()
        assert most <= 6  # 20 batches of vectors, never 20 fragments
        writer.optimize()
    assert store.has_vector_index() and store.index_meta()["vector_index_rows"] == n
    assert store.count_embedded() == (n, n)
