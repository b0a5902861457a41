"""The local model through ONNX Runtime on the CPU: the default embedder's fast path.

On 2 CPU cores an int8 ONNX export of all-MiniLM-L6-v2 embeds code chunks several times
faster than the same weights in torch (benchmarks/cpu_embedding.py measures it), and
loading it needs only onnxruntime, the `tokenizers` package and numpy: a search from a
cold command line never imports torch.

The ONNX file is made from the local weights the first time a model is used, by a child
process (`onnx_export`), and cached in the user cache directory under a key of the model
files, codeseek's and ONNX Runtime's versions and the export recipe, so a changed model
or an upgrade re-exports. The file is written under a new name and renamed into place,
a manifest with its size and modification time is written last, and a file that does not
match it (truncated, overwritten) or that ONNX Runtime cannot load is exported again. A
lock file keeps two first uses from exporting twice at once. When onnxruntime is missing or the export fails, the torch backend
(`local.LocalEmbedder`) takes over; a failed export is recorded so it is tried, and
logged, once rather than on every start.

Applies to BERT-style sentence-transformers folders with mean or CLS pooling (the bundled
model, or `embedder.model` naming such a folder) on the CPU. CUDA, Qwen3-Embedding and
models known only by a hub id stay with torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codeseek import __version__
from codeseek.config import EmbedderConfig
from codeseek.embedding.base import Embedder, InputType, is_qwen3_embedding, normalize

log = logging.getLogger(__name__)

# Bump when the export recipe (graph, pooling, quantisation) changes: old files re-export.
EXPORT_FORMAT = 2
EXPORT_TIMEOUT_SECONDS = 900.0
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
FAILED_FILE = "failed.json"
LOCK_FILE = "lock"
# What a model folder's identity is made of, for the cache key.
_MODEL_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "model.safetensors",
    "pytorch_model.bin",
)


class OnnxUnavailable(Exception):
    """The ONNX backend cannot serve this model here; torch takes over."""


@dataclass(frozen=True)
class OnnxModel:
    """A local model folder the ONNX backend can export, and what codeseek calls it."""

    directory: Path
    model_id: str  # the same id the torch backend gives it: one index serves both
    pooling: str  # mean | cls
    max_tokens: int
    dimensions: int


def onnx_embedder(config: EmbedderConfig, cache_dir: Path | None = None) -> OnnxEmbedder | None:
    """The ONNX backend for this configuration, or None when torch should serve it.

    None is returned (never raised) for a configuration the backend does not cover (a
    GPU, Qwen3, a hub id) and when onnxruntime or the export is unavailable; the reason
    goes to the log. The first call for a model exports it, which takes several seconds.
    """
    try:
        model = onnx_model_for(config)
        import onnxruntime  # noqa: F401 - before any work: without it there is nothing to do
    except OnnxUnavailable as exc:
        log.debug("using torch for the local model: %s", exc)
        return None
    except ImportError:
        log.warning("onnxruntime is not installed: the local model runs on torch, several times slower")
        return None
    cache = ExportCache(cache_dir or default_cache_dir())
    try:
        path = cache.model_file(model)
        try:
            return OnnxEmbedder(model, path)
        except OnnxUnavailable as exc:
            # Matching its manifest yet unloadable: export it once more before giving up.
            log.warning("%s; exporting it again", exc)
            cache.discard(path)
            return OnnxEmbedder(model, cache.model_file(model))
    except OnnxUnavailable as exc:
        log.info("using torch for the local model: %s", exc)
        return None


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("codeseek")) / "onnx"


def onnx_model_for(config: EmbedderConfig) -> OnnxModel:
    """Describe the configured local model, or raise OnnxUnavailable saying why not."""
    from codeseek.embedding.local import DEFAULT_MODEL_ID, bundled_model_path

    if config.device != "cpu" and (config.device != "auto" or cuda_available()):
        raise OnnxUnavailable("a GPU is in use (torch runs it in fp16)")
    if config.model:
        directory = Path(config.model).expanduser()
        if not directory.is_dir():
            raise OnnxUnavailable(f"{config.model!r} is not a local folder")
        model_id = f"local:{directory.resolve()}"
    else:
        directory = bundled_model_path()
        model_id = DEFAULT_MODEL_ID
    try:
        hf_config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise OnnxUnavailable(f"cannot read {directory / 'config.json'}: {exc}") from exc
    if hf_config.get("model_type") == "qwen3" or is_qwen3_embedding(model_id):
        raise OnnxUnavailable("Qwen3 models stay with torch")
    if not (directory / "tokenizer.json").is_file():
        raise OnnxUnavailable(f"{directory} has no tokenizer.json")
    pooling = "mean"
    pooling_file = directory / "1_Pooling" / "config.json"
    if pooling_file.is_file():
        try:
            pooling_cfg = json.loads(pooling_file.read_text())
        except (OSError, ValueError) as exc:
            raise OnnxUnavailable(f"cannot read {pooling_file}: {exc}") from exc
        if pooling_cfg.get("pooling_mode_lasttoken"):
            raise OnnxUnavailable("last-token pooling stays with torch")
        if pooling_cfg.get("pooling_mode_cls_token"):
            pooling = "cls"
    dimensions = int(hf_config.get("hidden_size") or 0)
    if dimensions <= 0:
        raise OnnxUnavailable(f"{directory / 'config.json'} does not give hidden_size")
    if config.dimensions is not None and config.dimensions != dimensions:
        raise OnnxUnavailable("embedder.dimensions differs from the model's size")  # torch says why
    return OnnxModel(directory, model_id, pooling, _max_tokens(directory, hf_config), dimensions)


def _max_tokens(directory: Path, hf_config: dict[str, Any]) -> int:
    # The same rule as the torch backend, so both truncate alike.
    st = directory / "sentence_bert_config.json"
    if st.is_file():
        return int(json.loads(st.read_text()).get("max_seq_length", 512))
    return min(int(hf_config.get("max_position_embeddings") or 512), 8192)


def cuda_available() -> bool:
    """Whether torch would find a CUDA (or ROCm) GPU, importing torch only when it might.

    A CPU-only torch build says so in `torch/version.py`, and a machine without an NVIDIA
    or AMD device node has no GPU to find: both are answered without the multi-second
    import of torch.
    """
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    try:
        version = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text()
    except OSError:
        version = ""
    gpu_build = [line for line in version.splitlines() if line.startswith(("cuda", "hip"))]
    if gpu_build and all(line.rstrip().endswith("None") for line in gpu_build):
        return False
    if sys.platform.startswith("linux") and not any(
        os.path.exists(node) for node in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")
    ):
        return False
    import torch

    return bool(torch.cuda.is_available())


def available_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


class ExportCache:
    """ONNX files in the user cache, one folder per (model files, versions, recipe)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, model: OnnxModel) -> Path:
        import onnxruntime

        files = []
        for name in _MODEL_FILES:
            with contextlib.suppress(OSError):
                st = (model.directory / name).stat()
                files.append([name, st.st_size, st.st_mtime_ns])
        fingerprint = {
            "format": EXPORT_FORMAT,
            "codeseek": __version__,
            "onnxruntime": onnxruntime.__version__,
            "model": str(model.directory.resolve()),
            "files": files,
            "pooling": model.pooling,
        }
        key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
        slug = "".join(c if c.isalnum() else "-" for c in model.directory.resolve().name)[:40]
        return self.root / f"{slug}-{key}"

    def model_file(self, model: OnnxModel) -> Path:
        """The checked ONNX file for `model`, exported first if it is missing or damaged."""
        entry = self.entry(model)
        path = self._checked(entry)
        if path is not None:
            return path
        try:
            entry.mkdir(parents=True, exist_ok=True)
            self._raise_if_failed(entry)
            with _exclusive(entry / LOCK_FILE):
                # Another process may have exported it while this one waited for the lock.
                path = self._checked(entry)
                if path is not None:
                    return path
                self._raise_if_failed(entry)
                return self._export(model, entry)
        except OSError as exc:  # a read-only or full disk: torch needs no cache
            raise OnnxUnavailable(f"cannot write the ONNX cache {entry}: {exc}") from exc

    def discard(self, path: Path) -> None:
        """Forget a file that checked out but cannot be loaded, so the next use re-exports."""
        with contextlib.suppress(OSError):
            (path.parent / MANIFEST_FILE).unlink()

    def _checked(self, entry: Path) -> Path | None:
        path = entry / MODEL_FILE
        try:
            manifest = json.loads((entry / MANIFEST_FILE).read_text())
            st = path.stat()
            if [manifest.get("bytes"), manifest.get("mtime_ns")] == [st.st_size, st.st_mtime_ns]:
                return path
        except (OSError, ValueError, AttributeError):
            return None
        log.warning("%s does not match its manifest: exporting it again", path)
        return None

    def _raise_if_failed(self, entry: Path) -> None:
        try:
            failed = json.loads((entry / FAILED_FILE).read_text())
        except (OSError, ValueError):
            return
        raise OnnxUnavailable(
            f"the ONNX export failed before ({failed.get('error', 'no detail')}); delete {entry} to try again"
        )

    def _export(self, model: OnnxModel, entry: Path) -> Path:
        log.info("exporting %s to ONNX (int8) once, into %s", model.model_id, entry)
        started = time.perf_counter()
        fd, tmp_name = tempfile.mkstemp(prefix="model-", suffix=".onnx.tmp", dir=entry)
        os.close(fd)
        tmp = Path(tmp_name)
        command = [
            sys.executable,
            "-m",
            "codeseek.embedding.onnx_export",
            str(model.directory),
            str(tmp),
            "--pooling",
            model.pooling,
            "--max-tokens",
            str(model.max_tokens),
        ]
        try:
            try:
                done = subprocess.run(
                    command,
                    capture_output=True,
                    text=True,
                    timeout=EXPORT_TIMEOUT_SECONDS,
                    stdin=subprocess.DEVNULL,
                    check=False,
                )
                error = None if done.returncode == 0 else _last_line(done.stderr) or f"exit {done.returncode}"
            except (OSError, subprocess.TimeoutExpired) as exc:
                error = str(exc)
            if error is not None:
                _write_atomically(entry / FAILED_FILE, json.dumps({"error": error}))
                log.warning(
                    "exporting %s to ONNX failed, so it runs on torch (several times slower): %s",
                    model.model_id,
                    error,
                )
                raise OnnxUnavailable(f"the ONNX export failed: {error}")
            os.replace(tmp, entry / MODEL_FILE)
            st = (entry / MODEL_FILE).stat()
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        manifest = {
            "bytes": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "model_id": model.model_id,
            "codeseek": __version__,
            "format": EXPORT_FORMAT,
            "probe": done.stdout.strip(),
        }
        # The manifest is the commit point: written last, and only for a complete file.
        _write_atomically(entry / MANIFEST_FILE, json.dumps(manifest, indent=1))
        log.info(
            "exported %s in %.1fs (%s)", model.model_id, time.perf_counter() - started, manifest["probe"]
        )
        return entry / MODEL_FILE


class OnnxEmbedder(Embedder):
    """A BERT-style sentence-transformers model as an ONNX Runtime session on the CPU.

    Each text is one ONNX Runtime call on one thread, and `threads` calls run at once
    (the session releases the GIL). Not padded batches, because dynamic quantisation
    scales a call's activations by the largest value in the whole call: batched, a
    chunk's vector moves with its neighbours (cosine 0.984 to 0.996 against the same
    chunk alone), while alone it is always the same vector, a query is embedded exactly
    like the same text as a document, and no work goes to padding. Per CPU-second it is
    as fast as the best batching, and on a busy machine faster than threads that split
    one batch (benchmarks/cpu_embedding.py).

    Thread-safe: a query runs on its caller's thread beside an indexing batch instead of
    waiting for it (the torch backend serialises them)."""

    provider = "local"
    # The tokenizer truncates at exactly `max_tokens`; a cut by characters could only lose text.
    clip_chars_per_token = None
    # The base class hands over this many texts at once; they run `threads` at a time.
    batch_texts = 64

    def __init__(self, model: OnnxModel, path: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        super().__init__()
        self.model_id = model.model_id
        self.dimensions = model.dimensions
        self.native_dimensions = model.dimensions
        self.max_tokens = model.max_tokens
        self.path = path
        self.threads = threads or available_cores()
        self._tokenizer_file = str(model.directory / "tokenizer.json")
        self._tokenizer = Tokenizer.from_file(self._tokenizer_file)
        self._tokenizer.no_padding()
        # The same truncation as the torch backend's `truncation=True, max_length=...`.
        self._tokenizer.enable_truncation(max_length=model.max_tokens)
        options = ort.SessionOptions()
        # Parallelism comes from running several texts at once, not from splitting one.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: its warnings would land in the CLI's stderr
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise OnnxUnavailable(f"ONNX Runtime cannot load {path}: {exc}") from exc
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._lock = threading.Lock()
        self._runners: ThreadPoolExecutor | None = None

    def describe(self) -> str:
        return f"{self.provider}:{self.model_id} (onnx int8)"

    def embed_batch(self, texts: list[str], input_type: InputType) -> np.ndarray:
        """L2-normalised float32 vectors of `texts`, in order: shape (len(texts), dimensions).
        Queries and documents are embedded alike (MiniLM is symmetric)."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        ids = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        if len(ids) < 2 or self.threads == 1:
            for i, one in enumerate(ids):
                out[i] = self._run(one)
            return normalize(out)
        # Longest first, so the workers finish together on short texts.
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out[order] = list(self._workers().map(lambda i: self._run(ids[i]), order))
        return normalize(out)

    def close(self) -> None:
        super().close()
        with self._lock:
            pool, self._runners = self._runners, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, ids: list[int]) -> np.ndarray:
        input_ids = np.array([ids], dtype=np.int64)
        mask = np.ones_like(input_ids)
        feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}
        return self._session.run(None, {name: feed[name] for name in self._inputs})[0][0]

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._runners is None:
                self._runners = ThreadPoolExecutor(self.threads, thread_name_prefix="codeseek-onnx")
            return self._runners


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An advisory lock between processes; without fcntl (Windows) the atomic renames
    alone keep a concurrent export from leaving a half-written file."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
