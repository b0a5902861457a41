"""The ONNX Runtime backend of the local model: the real bundled MiniLM exported at first
use into a temporary cache, compared with the torch backend on real code chunks; the
cache's keying, repair and locking; and what happens when ONNX cannot be used."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from codeseek.chunking.chunker import chunk_file
from codeseek.config import Config, EmbedderConfig
from codeseek.embedding import onnx_local, registry
from codeseek.embedding.local import DEFAULT_MODEL_ID, LocalEmbedder, bundled_model_path
from codeseek.embedding.onnx_local import (
    FAILED_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    ExportCache,
    OnnxEmbedder,
    OnnxUnavailable,
    onnx_embedder,
    onnx_model_for,
)
from codeseek.workspace.discovery import discover, read_source

WORKSPACE = Path(__file__).parents[1] / "data" / "workspace"
SERVER = Path(__file__).parents[2] / "server"
# What int8 dynamic quantisation may cost against the fp32 vectors. Measured on these 30
# chunks: mean 0.9963, min 0.9943 (on 300 chunks of requests and click: 0.9965 and
# 0.9927; with every MatMul in int8, 0.9937 and 0.9870; with per-tensor instead of
# per-channel scales, a mean of 0.95). The margin is for CPUs whose int8 kernels differ
# (AVX2 without VNNI, ARM).
MIN_MEAN_COSINE = 0.99
MIN_COSINE = 0.98


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx_minilm(cache_dir: Path) -> OnnxEmbedder:
    """The bundled model exported once for this module (several seconds: a child process
    imports torch, exports, quantises and checks the file)."""
    embedder = onnx_embedder(EmbedderConfig(device="cpu"), cache_dir=cache_dir)
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.fixture(scope="module")
def workspace_chunks() -> list[str]:
    texts = []
    for f in discover(WORKSPACE).files:
        texts += [
            c.embed_text for c in chunk_file(f.path, read_source(f.abs_path, 1_000_000), max_tokens=230)
        ]
    assert len(texts) >= 20
    return texts


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(SERVER), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )


def test_quantised_vectors_stay_close_to_torch_fp32(
    onnx_minilm: OnnxEmbedder, torch_minilm: LocalEmbedder, workspace_chunks: list[str]
) -> None:
    expected = torch_minilm.embed_documents(workspace_chunks)
    got = onnx_minilm.embed_documents(workspace_chunks)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = (got * expected).sum(axis=1)
    assert cosines.mean() >= MIN_MEAN_COSINE, cosines.mean()
    assert cosines.min() >= MIN_COSINE, cosines.min()


def test_it_is_the_same_model_to_the_index(onnx_minilm: OnnxEmbedder, torch_minilm: LocalEmbedder) -> None:
    # The same id and size: an index built by one backend is searched by the other.
    assert (onnx_minilm.provider, onnx_minilm.model_id, onnx_minilm.dimensions) == (
        "local",
        DEFAULT_MODEL_ID,
        384,
    )
    assert onnx_minilm.max_tokens == torch_minilm.max_tokens == 256
    assert "onnx int8" in onnx_minilm.describe()


def test_the_tokenizer_matches_the_torch_backend(
    onnx_minilm: OnnxEmbedder, torch_minilm: LocalEmbedder, workspace_chunks: list[str]
) -> None:
    texts = [*workspace_chunks, "x" * 5000, "Ünïcödé  tabs\tand\nnewlines", ""]
    for text in texts:
        expected = torch_minilm._tokenizer(text, truncation=True, max_length=torch_minilm.max_tokens)[
            "input_ids"
        ]
        assert onnx_minilm._tokenizer.encode(text).ids == expected


def test_a_texts_vector_does_not_depend_on_its_neighbours(
    onnx_minilm: OnnxEmbedder, workspace_chunks: list[str]
) -> None:
    # Dynamic quantisation scales activations per call: one text a call keeps a chunk's
    # vector the same whatever else is embedded with it, in the caller's order.
    texts = workspace_chunks[:12]
    together = onnx_minilm.embed_documents(texts)
    reversed_ = onnx_minilm.embed_documents(texts[::-1])[::-1]
    singles = np.stack([onnx_minilm.embed_documents([t])[0] for t in texts])
    np.testing.assert_allclose(together, singles, atol=1e-6)
    np.testing.assert_allclose(together, reversed_, atol=1e-6)
    assert onnx_minilm.embed_documents([]).shape == (0, 384)


def test_queries_are_embedded_like_documents_and_cached(onnx_minilm: OnnxEmbedder) -> None:
    query = onnx_minilm.embed_query("parse a JSON file")
    np.testing.assert_allclose(query, onnx_minilm.embed_documents(["parse a JSON file"])[0], atol=1e-6)
    assert onnx_minilm.embed_query("parse a JSON file") is query


def test_a_warm_cache_loads_without_torch_or_transformers(onnx_minilm: OnnxEmbedder, cache_dir: Path) -> None:
    done = run_python(
        """
        import sys
        from pathlib import Path
        from codeseek.config import EmbedderConfig
        from codeseek.embedding.onnx_local import onnx_embedder
        embedder = onnx_embedder(EmbedderConfig(), cache_dir=Path(sys.argv[1]))
        print(type(embedder).__name__, embedder.embed_query("open a file").shape)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "onnx")))
        """,
        str(cache_dir),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["OnnxEmbedder (384,)", "[]"]


def test_the_cache_key_follows_the_model_and_the_version(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ExportCache(cache_dir)
    model = onnx_model_for(EmbedderConfig(device="cpu"))
    copy = tmp_path / "minilm"
    shutil.copytree(model.directory, copy)
    copied = onnx_model_for(EmbedderConfig(model=str(copy), device="cpu"))
    assert copied.model_id == f"local:{copy.resolve()}"
    before = cache.entry(copied)
    assert before != cache.entry(model)
    config = copy / "config.json"
    config.write_text(config.read_text().replace("\n}", ',\n  "note": "fine-tuned"\n}'))
    changed = cache.entry(copied)
    assert changed != before
    monkeypatch.setattr(onnx_local, "__version__", "99.0")
    assert cache.entry(copied) != changed


def test_a_corrupt_file_is_re_exported_once_by_concurrent_first_users(
    onnx_minilm: OnnxEmbedder, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(onnx_minilm.path.parent, cache / onnx_minilm.path.parent.name)
    damaged = cache / onnx_minilm.path.parent.name / MODEL_FILE
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64  # a damaged block in the weights
    damaged.write_bytes(bytes(data))
    code = """
        import logging, sys
        from pathlib import Path
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        from codeseek.config import EmbedderConfig
        from codeseek.embedding.onnx_local import onnx_embedder
        embedder = onnx_embedder(EmbedderConfig(device="cpu"), cache_dir=Path(sys.argv[1]))
        print(type(embedder).__name__, float(embedder.embed_query("open a file")[0]))
        """
    environment = {**os.environ, "PYTHONPATH": str(SERVER)}
    users = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        for _ in range(2)
    ]
    outputs = [user.communicate(timeout=600) for user in users]
    assert [user.returncode for user in users] == [0, 0], outputs
    logs = "".join(err for _, err in outputs)
    assert logs.count("does not match its manifest") >= 1
    assert logs.count("exporting sentence-transformers/all-MiniLM-L6-v2") == 1, logs
    assert outputs[0][0] == outputs[1][0] and outputs[0][0].startswith("OnnxEmbedder")
    entry = damaged.parent
    assert sorted(p.name for p in entry.iterdir()) == sorted([MODEL_FILE, MANIFEST_FILE, "lock"])
    assert json.loads((entry / MANIFEST_FILE).read_text())["model_id"] == DEFAULT_MODEL_ID


def test_a_failed_export_falls_back_to_torch_and_is_not_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken-model"
    shutil.copytree(bundled_model_path(), broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    config = EmbedderConfig(model=str(broken), device="cpu")
    with caplog.at_level("INFO", logger="codeseek.embedding.onnx_local"):
        assert onnx_embedder(config, cache_dir=tmp_path / "cache") is None
    assert "exporting" in caplog.text and "failed, so it runs on torch" in caplog.text
    failed = list((tmp_path / "cache").glob(f"*/{FAILED_FILE}"))
    assert len(failed) == 1
    caplog.clear()
    with caplog.at_level("INFO", logger="codeseek.embedding.onnx_local"):
        assert onnx_embedder(config, cache_dir=tmp_path / "cache") is None
    assert "failed before" in caplog.text and "delete" in caplog.text
    assert "exporting" not in caplog.text


def test_without_onnxruntime_the_local_model_runs_on_torch(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    with caplog.at_level("WARNING"):
        assert onnx_embedder(EmbedderConfig(device="cpu")) is None
    assert "onnxruntime is not installed" in caplog.text
    embedder = registry.create_embedder(Config(), registry.ProviderChoice("local", "test"))
    assert isinstance(embedder, LocalEmbedder)


def test_the_registry_uses_onnx_for_the_local_model_on_a_cpu(
    onnx_minilm: OnnxEmbedder, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_local, "default_cache_dir", lambda: cache_dir)
    embedder = registry.create_embedder(Config(), registry.ProviderChoice("local", "test"))
    assert isinstance(embedder, OnnxEmbedder) and embedder.path == onnx_minilm.path


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (EmbedderConfig(device="cuda"), "GPU"),
        (EmbedderConfig(model="sentence-transformers/all-mpnet-base-v2"), "not a local folder"),
        (EmbedderConfig(dimensions=128), "dimensions"),
    ],
)
def test_what_stays_with_torch(config: EmbedderConfig, reason: str) -> None:
    with pytest.raises(OnnxUnavailable, match=reason):
        onnx_model_for(config)


def test_a_cpu_only_torch_is_known_without_importing_it() -> None:
    import torch

    if torch.version.cuda or torch.version.hip:
        pytest.skip("a GPU build of torch: only torch itself can say whether a GPU is usable")
    done = run_python(
        """
        import sys
        from codeseek.embedding.onnx_local import cuda_available
        print(cuda_available(), "torch" in sys.modules)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
