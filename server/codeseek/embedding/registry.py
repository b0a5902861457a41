"""Which embedder to use, and why: the `auto` rule and the constructors.

`auto` picks SGLang when `sglang.url` or `sglang.urls` is set, or a CUDA GPU and SGLang
are present (and `sglang.launch` is on), Voyage when `VOYAGE_API_KEY` is set, and otherwise the bundled
local model. Nothing leaves the machine unless the user set a Voyage key or chose Voyage.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass

from codeseek.config import Config
from codeseek.embedding.base import Embedder
from codeseek.errors import ConfigError

VOYAGE_KEY_ENV = "VOYAGE_API_KEY"


@dataclass(frozen=True)
class ProviderChoice:
    provider: str  # local | sglang | voyage
    reason: str  # shown in `status`


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _sglang_installed(config: Config) -> bool:
    # A configured interpreter is another environment: trust the user's choice there.
    if config.sglang.python:
        return True
    return importlib.util.find_spec("sglang") is not None


def choose_provider(config: Config, env: Mapping[str, str] | None = None) -> ProviderChoice:
    env = os.environ if env is None else env
    provider = config.embedder.provider
    if provider != "auto":
        return ProviderChoice(provider, f"embedder.provider is {provider!r}")
    if config.sglang.url:
        return ProviderChoice("sglang", "sglang.url is set")
    if config.sglang.urls:
        return ProviderChoice("sglang", "sglang.urls is set")
    # Without sglang.launch there is nothing to talk to, however capable the machine.
    if config.sglang.launch and _sglang_installed(config) and _cuda_available():
        return ProviderChoice("sglang", "a CUDA GPU and SGLang are available")
    if env.get(VOYAGE_KEY_ENV):
        if importlib.util.find_spec("voyageai") is not None:
            return ProviderChoice("voyage", f"{VOYAGE_KEY_ENV} is set")
        return ProviderChoice(
            "local",
            f"{VOYAGE_KEY_ENV} is set but the Voyage AI client is not installed "
            "(pip install 'codeseek-lsp[voyage]')",
        )
    return ProviderChoice("local", "the default: no SGLang server, GPU with SGLang, or Voyage key")


def create_embedder(config: Config, choice: ProviderChoice | None = None) -> Embedder:
    """Build the chosen embedder. Raises ConfigError or EmbedderError with a clear message."""
    choice = choice or choose_provider(config)
    if choice.provider == "local":
        # ONNX Runtime on a CPU (several times faster, no torch import once exported);
        # None where it does not apply or is unavailable, and torch serves the model.
        from codeseek.embedding.onnx_local import onnx_embedder

        fast = onnx_embedder(config.embedder)
        if fast is not None:
            return fast
        from codeseek.embedding.local import LocalEmbedder

        return LocalEmbedder(config.embedder)
    if choice.provider == "sglang":
        from codeseek.embedding.sglang import SglangEmbedder

        return SglangEmbedder(config)
    if choice.provider == "voyage":
        from codeseek.embedding.voyage import VoyageEmbedder

        return VoyageEmbedder(config)
    raise ConfigError(f"embedder.provider: unknown provider {choice.provider!r}")


@dataclass(frozen=True)
class ModelInfo:
    """What an embedder will be, known without loading it: enough to name its index,
    size its chunks, and search an existing index by its words."""

    provider: str
    model_id: str
    dimensions: int
    max_tokens: int


def describe_model(config: Config, choice: ProviderChoice | None = None) -> ModelInfo | None:
    """The chosen embedder's identity from the configuration and the model's own files,
    without importing torch or asking a server; None when only the running model can say
    (an SGLang server names its model and size itself)."""
    choice = choice or choose_provider(config)
    if choice.provider == "local":
        from codeseek.embedding.local import describe_local_model

        return describe_local_model(config.embedder)
    if choice.provider == "voyage":
        from codeseek.embedding.voyage import describe_voyage_model

        return describe_voyage_model(config)
    return None
