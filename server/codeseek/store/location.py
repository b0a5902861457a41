"""Where a workspace's index lives: `--store`, `store.path`, `CODESEEK_STORE`, or a folder
per workspace in the user's cache directory."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from codeseek.config import Config

STORE_ENV = "CODESEEK_STORE"


def default_store_path(root: Path) -> Path:
    """A folder per workspace in the user's cache directory: indexes never land in the
    user's repository, and two checkouts of one project never share one."""
    real = str(root.resolve())
    digest = hashlib.sha256(real.encode()).hexdigest()[:12]
    base = Path(platformdirs.user_cache_dir("codeseek"))
    return base / "indexes" / f"{root.resolve().name or 'root'}-{digest}"


def resolve_store_path(root: Path, config: Config, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    configured = config.store.path or env.get(STORE_ENV)
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else root / path
    return default_store_path(root)


def per_folder_store(root: Path, config: Config, env: Mapping[str, str] | None = None) -> None:
    """With several workspace folders, an absolute store path gets a subfolder per folder,
    so the folders' indexes never mix (relative paths already differ per folder)."""
    env = os.environ if env is None else env
    configured = config.store.path or env.get(STORE_ENV)
    if configured and Path(configured).expanduser().is_absolute():
        digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
        config.store.path = str(Path(configured).expanduser() / f"{root.name or 'root'}-{digest}")
