"""A store that heals itself from any damage: every kind of file of the index deleted,
truncated or overwritten with garbage, and then `status`, `search` and `index` run as a
user would. Each must exit without a traceback, and the index must end equal to a fresh
one, without model calls when the vector cache survived."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from codeseek import cli
from codeseek.config import Config
from codeseek.embedding.base import Embedder, InputType
from codeseek.service import FolderService
from codeseek.store.lance import IndexStore
from wrappers import WrappedEmbedder

KEY = "sentence_transformers_all_minilm_l6_v2_384"
TABLES = ("chunks", "files", "vectors")


class CountingEmbedder(WrappedEmbedder):
    """The real model, counting the chunks sent to it."""

    embedded = 0

    def before_call(self, texts: Sequence[str], kind: InputType) -> None:
        if kind == "document":
            self.embedded += len(texts)


def snapshot(store_path: Path) -> dict[str, object]:
    """What an index holds, independent of how it is laid out on disk."""
    store = IndexStore(store_path, KEY, 384)
    chunks = sorted(
        (c.path, c.start_line, c.end_line, c.text) for p in store.all_paths() for c in store.chunks_of(p)
    )
    files = sorted((r.path, r.hash, r.chunks) for r in store.file_records().values())
    return {"chunks": chunks, "files": files, "embedded": store.count_embedded()}


@pytest.fixture(scope="module")
def pristine(
    tmp_path_factory: pytest.TempPathFactory, minilm: Embedder
) -> tuple[Path, Path, dict[str, object]]:
    """A workspace and its index, built once: big enough for a vector index (the
    threshold is lowered for it) so that its files can be damaged too."""
    import codeseek.store.lance as lance

    base = tmp_path_factory.mktemp("faults")
    root = base / "workspace"
    shutil.copytree(Path(__file__).parent.parent / "data" / "workspace", root)
    (root / "gen").mkdir()
    for i in range(30):
        (root / "gen" / f"mod{i:02}.py").write_text(
            f"def handler_{i}(request):\n    '''Handle request number {i}.'''\n    return {i} * request\n\n\n"
            f"class Model{i}:\n    def save(self):\n        return {i}\n\n    def load(self):\n        return -{i}\n"
        )
    store = base / "store"
    config = Config()
    config.store.path = str(store)
    saved = lance.VECTOR_INDEX_MIN_ROWS
    lance.VECTOR_INDEX_MIN_ROWS = 50
    try:
        FolderService(root, config, embedder=minilm).index()
    finally:
        lance.VECTOR_INDEX_MIN_ROWS = saved
    expected = snapshot(store)
    assert expected["embedded"][0] == expected["embedded"][1] > 50  # type: ignore[index]
    return root, store, expected


def table_dir(store: Path, table: str) -> Path:
    return store / f"{table}_{KEY}.lance"


def data_file(store: Path, table: str) -> Path:
    return sorted((table_dir(store, table) / "data").iterdir())[0]


def latest_manifest(store: Path, table: str) -> Path:
    # Lance names manifests by u64::MAX - version: the smallest name is the latest.
    manifests = [p for p in (table_dir(store, table) / "_versions").iterdir() if p.suffix == ".manifest"]
    return min(manifests, key=lambda p: int(p.stem))


def latest_transaction(store: Path, table: str) -> Path:
    files = list((table_dir(store, table) / "_transactions").iterdir())
    return max(files, key=lambda p: int(p.name.split("-", 1)[0]))


def index_files(store: Path, marker: str) -> list[Path]:
    """Files of the chunks table's full-text (marker "tokens") or vector ("idx") index."""
    out = []
    for folder in (table_dir(store, "chunks") / "_indices").iterdir():
        names = [p.name for p in folder.iterdir()]
        if any(marker in name for name in names):
            out += sorted(folder.iterdir())
    assert out, f"no {marker} index files"
    return out


def delete(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink()


def truncate(paths: Sequence[Path]) -> None:
    for path in paths:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])


def garbage(paths: Sequence[Path]) -> None:
    rng = np.random.default_rng(0)
    for path in paths:
        size = max(64, path.stat().st_size)
        path.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())


DAMAGE = {"delete": delete, "truncate": truncate, "garbage": garbage}
Target = Callable[[Path], list[Path]]

CASES: list[tuple[str, Target, str, bool]] = []  # (what, files, how, vector cache survives)
for _table in TABLES:
    for _how in ("delete", "truncate", "garbage"):
        CASES.append((f"{_table} data", lambda s, t=_table: [data_file(s, t)], _how, _table != "vectors"))
    for _how in ("delete", "truncate", "garbage"):
        CASES.append(
            (f"{_table} manifest", lambda s, t=_table: [latest_manifest(s, t)], _how, _table != "vectors")
        )
    CASES.append(
        (
            f"{_table} every manifest",
            lambda s, t=_table: sorted((table_dir(s, t) / "_versions").glob("*.manifest")),
            "garbage",
            _table != "vectors",
        )
    )
for _how in ("delete", "garbage"):
    CASES.append(("chunks transaction", lambda s: [latest_transaction(s, "chunks")], _how, True))
    CASES.append(("full-text index", lambda s: index_files(s, "tokens"), _how, True))
    CASES.append(("vector index", lambda s: index_files(s, "idx"), _how, True))
CASES.append(
    (
        "version hint",
        lambda s: [table_dir(s, "chunks") / "_versions" / "latest_version_hint.json"],
        "garbage",
        True,
    )
)
for _how in ("delete", "truncate", "garbage"):
    CASES.append(("meta.json", lambda s: [s / "meta.json"], _how, True))


@pytest.mark.parametrize(
    ("what", "target", "how", "cache_survives"),
    CASES,
    ids=[f"{what}-{how}" for what, _, how, _ in CASES],
)
def test_every_damage_heals_without_a_traceback(
    pristine: tuple[Path, Path, dict[str, object]],
    minilm: Embedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    what: str,
    target: Target,
    how: str,
    cache_survives: bool,
) -> None:
    root, clean, expected = pristine
    store = tmp_path / "store"
    shutil.copytree(clean, store)
    DAMAGE[how](target(store))
    counting = CountingEmbedder(minilm)
    import codeseek.embedding.registry as registry

    monkeypatch.setattr(registry, "create_embedder", lambda config, choice=None: counting)
    monkeypatch.setenv("CODESEEK_STORE", str(store))

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(list(argv), out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    outputs = []
    code, out, err = run("status", "-w", str(root), "--json")
    outputs.append(("status", code, out, err))
    assert code == 0 and json.loads(out)["state"] in ("idle", "error")
    code, out, err = run("search", "handle request number 7", "-w", str(root), "--json", "-k", "3")
    outputs.append(("search", code, out, err))
    assert code == 0, err
    assert any(h["path"] == "gen/mod07.py" for h in json.loads(out))
    code, out, err = run("index", str(root), "--json")
    outputs.append(("index", code, out, err))
    assert code == 0, err
    for command, _, stdout, stderr in outputs:
        assert "Traceback" not in stdout + stderr, f"{command}: {stderr}"
        assert len(stderr.splitlines()) <= 4, f"{command} said too much: {stderr}"
    assert snapshot(store) == expected
    if cache_survives:
        assert counting.embedded == 0, f"{what}: {counting.embedded} chunks re-embedded"
    # And the store is clean now: nothing left for the next reader to trip on.
    assert IndexStore(store, KEY, 384).check(deep=True) == []
    assert not os.path.exists(store / "meta.json") or json.loads((store / "meta.json").read_text())


def test_a_torn_file_is_indexed_again(
    pristine: tuple[Path, Path, dict[str, object]], minilm: Embedder, tmp_path: Path
) -> None:
    """A record and chunks that disagree (two publishers writing one file at the same
    moment; a run killed between its two commits): the next run redoes those files."""
    from dataclasses import replace

    root, clean, expected = pristine
    store_path = tmp_path / "store"
    shutil.copytree(clean, store_path)
    store = IndexStore(store_path, KEY, 384)
    records = store.file_records()
    with store.writer() as writer:
        # Another version's record over these chunks; part of a file's chunks gone.
        writer._upsert_files([replace(records["gen/mod03.py"], hash="0" * 16)])
        chunks = writer._table(store.chunks_name)
        one = store.chunks_of("gen/mod04.py")[0]
        chunks.delete(f"path = 'gen/mod04.py' AND start_line = {one.start_line}")
        # Chunks of a file with no record at all.
        writer._table(store.files_name).delete("path = 'gen/mod05.py'")
    counting = CountingEmbedder(minilm)
    config = Config()
    config.store.path = str(store_path)
    report = FolderService(root, config, embedder=counting).index()
    assert report.indexed == 3  # mod03, mod04, mod05: nothing else
    assert counting.embedded == 0  # their vectors come from the cache by content
    assert snapshot(store_path) == expected
