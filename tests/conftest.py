"""Fixtures for every test: fixture workspaces copied to a temporary folder, so tests
can change them freely."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

# Never reach for a model hub from a test, whatever the environment says.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture
def sample_workspace(tmp_path: Path) -> Path:
    """A small multi-language project (Python, TypeScript, JavaScript, Go, Rust, Java,
    Markdown) with a .gitignore that excludes build/ and *.log."""
    root = tmp_path / "workspace"
    shutil.copytree(DATA / "workspace", root)
    return root
