"""One workspace's index, ready to use: store, embedder, indexer and searcher together.

The command line builds one Engine per call; the language server one per workspace
root, sharing one embedder. Nothing here is global: tests build as many as they like.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import platformdirs

from codeseek.config import Config
from codeseek.embedding.base import Embedder, model_slug
from codeseek.embedding.registry import ProviderChoice, choose_provider, create_embedder
from codeseek.errors import CodeseekError, IndexCancelled, WorkspaceError
from codeseek.indexer import Indexer, IndexReport, ProgressCallback
from codeseek.model import Hit, IndexStatus, SkippedFile
from codeseek.search import Searcher, SearchRequest, SearchResult
from codeseek.store.lance import IndexStore

log = logging.getLogger(__name__)

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


def index_key(embedder_model_id: str, dimensions: int) -> str:
    return f"{model_slug(embedder_model_id)}_{dimensions}"


class Engine:
    def __init__(
        self,
        root: Path,
        config: Config,
        *,
        embedder: Embedder | None = None,
        choice: ProviderChoice | None = None,
    ) -> None:
        root = Path(root).expanduser()
        if not root.exists():
            raise WorkspaceError(f"workspace {root} does not exist")
        if not root.is_dir():
            raise WorkspaceError(f"workspace {root} is not a directory")
        self.root = root.resolve()
        self.config = config
        self.store_path = resolve_store_path(self.root, config)
        self._embedder = embedder
        self._owns_embedder = embedder is None
        self._choice = choice or (
            ProviderChoice(embedder.provider, "given by the caller") if embedder else choose_provider(config)
        )
        self._store: IndexStore | None = None
        self._searcher: Searcher | None = None
        self._lock = threading.RLock()
        self.state = "idle"
        self.pending = 0
        self.last_error: str | None = None

    # -- parts, built on first use ---------------------------------------------------

    @property
    def choice(self) -> ProviderChoice:
        return self._choice

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = create_embedder(self.config, self._choice)
            return self._embedder

    @property
    def store(self) -> IndexStore:
        with self._lock:
            if self._store is None:
                embedder = self.embedder
                self._store = IndexStore(
                    self.store_path, index_key(embedder.model_id, embedder.dimensions), embedder.dimensions
                )
                self._store.record_current(
                    self.root, embedder.provider, embedder.model_id, self._choice.reason
                )
            return self._store

    def searcher(self) -> Searcher:
        with self._lock:
            if self._searcher is None:
                self._searcher = Searcher(self.store, self.embedder)
            return self._searcher

    # -- work -------------------------------------------------------------------------

    def has_index(self) -> bool:
        return self.store.index_meta().get("last_indexed_at") is not None

    def index(
        self,
        full: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        return self._run(lambda ix: ix.run(full=full, progress=progress, cancel=cancel))

    def update_paths(
        self,
        paths: Iterable[str],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        return self._run(lambda ix: ix.update_paths(paths, progress=progress, cancel=cancel))

    def _run(self, work: Callable[[Indexer], IndexReport]) -> IndexReport:
        indexer = Indexer(self.root, self.config, self.store, self.embedder)
        self.state = "indexing"
        try:
            report = work(indexer)
        except IndexCancelled:
            self.state = "idle"
            raise
        except CodeseekError as exc:
            self.state = "error"
            self.last_error = str(exc)
            self.store.update_meta(last_error=str(exc))
            raise
        self.state = "idle"
        self.last_error = None
        return report

    def search(self, request: SearchRequest) -> SearchResult:
        return self.searcher().search(request)

    def related(self, path: str, line: int, limit: int = 5) -> list[Hit]:
        return self.searcher().related(path, line, limit)

    def relative(self, path: str | Path) -> str | None:
        """A path as the index names it (relative, forward slashes), or None if outside."""
        p = Path(path)
        if not p.is_absolute():
            p = self.root / p
        try:
            return p.resolve().relative_to(self.root).as_posix()
        except ValueError:
            try:
                return p.absolute().relative_to(self.root).as_posix()
            except ValueError:
                return None

    # -- status ---------------------------------------------------------------------

    def status(self) -> IndexStatus:
        """The index's state. Never loads a model: without one loaded, the index last
        used for this workspace is reported."""
        if self._store is not None:
            store = self._store
        else:
            current = IndexStore.peek_current(self.store_path)
            if current is None:
                return IndexStatus(
                    state=self.state,
                    provider=self._choice.provider,
                    provider_reason=self._choice.reason,
                    store_path=str(self.store_path),
                    last_error=self.last_error,
                    pending=self.pending,
                )
            store = IndexStore(self.store_path, current["index_key"], int(current["dimensions"]))
        meta = store.index_meta()
        current = store.read_meta().get("current", {})
        return IndexStatus(
            state=self.state if self.state != "idle" or not meta.get("last_error") else "error",
            files=store.count_files(),
            chunks=store.count_chunks(),
            pending=self.pending,
            provider=meta.get("provider") or current.get("provider"),
            provider_reason=current.get("reason") or self._choice.reason,
            model=meta.get("model") or current.get("model"),
            dimensions=meta.get("dimensions") or current.get("dimensions"),
            last_indexed_at=meta.get("last_indexed_at"),
            last_error=self.last_error or meta.get("last_error"),
            skipped=[SkippedFile(**s) for s in meta.get("skipped", [])],
            store_path=str(self.store_path),
            embedder_available=self.last_error is None,
        )

    def close(self) -> None:
        if self._embedder is not None and self._owns_embedder:
            self._embedder.close()
