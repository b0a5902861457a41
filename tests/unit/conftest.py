"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from codeseek.config import Config, EmbedderConfig
from codeseek.embedding.base import Embedder
from codeseek.embedding.local import LocalEmbedder
from codeseek.embedding.registry import ProviderChoice, create_embedder


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """The bundled default model as users get it on a CPU (ONNX Runtime, exported once
    into the user cache and reused), loaded once per test session."""
    return create_embedder(Config(), ProviderChoice("local", "the tests' default"))


@pytest.fixture(scope="session")
def torch_minilm() -> LocalEmbedder:
    """The same model through PyTorch (the GPU path, and the reference the ONNX export
    is held to)."""
    return LocalEmbedder(EmbedderConfig())
