"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from codeseek.config import EmbedderConfig
from codeseek.embedding.local import LocalEmbedder


@pytest.fixture(scope="session")
def minilm() -> LocalEmbedder:
    """The bundled default model, loaded once per test session (about a second)."""
    return LocalEmbedder(EmbedderConfig())
