"""Where a workspace's index lives: `--store`, `store.path`, `CODESEEK_STORE`, or a folder
per workspace in the user's cache directory; or an object-store URI (`s3://`, `gs://`,
`az://`), which LanceDB opens itself with the standard credential environment."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from codeseek.config import OBJECT_STORE_SCHEMES, Config

STORE_ENV = "CODESEEK_STORE"
# Client limits for object storage. LanceDB's defaults retry for minutes against a dead
# endpoint and wait forever on one that accepts and never answers (docs/notes/
# object-storage.md); these turn both into an error within seconds. Writers get a longer
# request timeout: a data file's part upload takes a while on a slow link.
READ_TIMEOUTS = {"connect_timeout": "2s", "timeout": "5s", "client_max_retries": "1"}
WRITE_TIMEOUTS = {"connect_timeout": "5s", "timeout": "30s", "client_max_retries": "3"}

_USERINFO = re.compile(r"^([a-z0-9+.-]+://)[^/@]*@", re.IGNORECASE)


def is_remote(location: str | Path | None) -> bool:
    """Whether a store location is an object-store URI rather than a folder."""
    if location is None or isinstance(location, Path):
        return False
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.lower() in OBJECT_STORE_SCHEMES


def mask_uri(uri: str) -> str:
    """A URI fit for logs and status: no user info, no query string (SAS tokens, signed
    URLs), no trailing slash."""
    masked = _USERINFO.sub(r"\1", uri.strip())
    return masked.split("?", 1)[0].split("#", 1)[0].rstrip("/")


def storage_options(config: Config, *, writing: bool) -> dict[str, str]:
    """LanceDB `storage_options` for a remote store. Credentials are deliberately not
    among them: LanceDB reads the standard environment (AWS_*, GOOGLE_*, AZURE_*) itself,
    so they never pass through codeseek's settings, logs or index."""
    options = dict(WRITE_TIMEOUTS if writing else READ_TIMEOUTS)
    if config.store.allow_http:
        options["allow_http"] = "true"
    return options


def default_store_path(root: Path) -> Path:
    """A folder per workspace in the user's cache directory: indexes never land in the
    user's repository, and two checkouts of one project never share one."""
    real = str(root.resolve())
    digest = hashlib.sha256(real.encode()).hexdigest()[:12]
    base = Path(platformdirs.user_cache_dir("codeseek"))
    return base / "indexes" / f"{root.resolve().name or 'root'}-{digest}"


def resolve_store_path(root: Path, config: Config, env: Mapping[str, str] | None = None) -> Path | str:
    """The folder, or the object-store URI (a str), of the workspace's index."""
    env = os.environ if env is None else env
    configured = config.store.path or env.get(STORE_ENV)
    if configured and is_remote(configured):
        return configured.rstrip("/")
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else root / path
    return default_store_path(root)


def per_folder_store(root: Path, config: Config, env: Mapping[str, str] | None = None) -> None:
    """With several workspace folders, an absolute store path gets a subfolder per folder,
    so the folders' indexes never mix (relative paths already differ per folder)."""
    env = os.environ if env is None else env
    configured = config.store.path or env.get(STORE_ENV)
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    if configured and is_remote(configured):
        config.store.path = f"{configured.rstrip('/')}/{root.name or 'root'}-{digest}"
    elif configured and Path(configured).expanduser().is_absolute():
        config.store.path = str(Path(configured).expanduser() / f"{root.name or 'root'}-{digest}")
