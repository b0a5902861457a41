"""discover -> diff -> chunk -> embed -> store, incrementally and safely.

- An unchanged file costs a stat: size and mtime match the files table. A file whose
  mtime changed but whose content hash did not (a `touch`, a checkout of identical
  content) costs a read and a hash, never a re-chunk or a model call.
- A changed file's chunks are replaced in one commit per batch (`IndexStore.replace_files`),
  and the file's hash is written only after its chunks: a run killed at any point leaves
  an index whose next run repairs exactly the files that were not finished.
- Vectors are looked up by chunk content before the model is called.
- Runs are cancellable between batches; what was committed stays valid.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from codeseek.chunking.chunker import chunk_file
from codeseek.config import Config
from codeseek.embedding.base import Embedder, estimate_tokens
from codeseek.errors import IndexCancelled
from codeseek.model import Chunk, SkippedFile
from codeseek.store.lance import FileRecord, IndexStore
from codeseek.workspace.discovery import (
    DiscoveredFile,
    IgnoreRules,
    SkipFile,
    check_file,
    discover,
    is_ignore_file,
    read_source,
)

log = logging.getLogger(__name__)

# Chunks embedded and committed together. Large enough that a commit's fixed cost
# (about 10 ms) vanishes next to embedding; small enough that progress moves and a
# cancel or a crash loses little.
CHUNKS_PER_BATCH = 256
FILES_PER_BATCH = 200
# Long-context models (Qwen3 reads 32k tokens) could take a whole file as one chunk;
# retrieval wants one definition a hit, so chunks stay around a large function's size.
MAX_CHUNK_TOKENS = 1024


@dataclass(slots=True)
class IndexProgress:
    phase: str  # discover | index | optimize | done
    files_done: int = 0
    files_total: int = 0
    message: str = ""


@dataclass
class IndexReport:
    files: int = 0  # files in the index after the run
    chunks: int = 0
    indexed: int = 0  # files (re-)chunked in this run
    unchanged: int = 0
    removed: int = 0
    chunks_embedded: int = 0  # chunks sent to the model
    chunks_cached: int = 0  # chunks whose vector came from the cache
    skipped: list[SkippedFile] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def add_time(self, phase: str, seconds: float) -> None:
        self.timings[phase] = self.timings.get(phase, 0.0) + seconds


ProgressCallback = Callable[[IndexProgress], None]


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(slots=True)
class _Prepared:
    """A batch of files read, hashed and chunked, ready to embed."""

    records: list[FileRecord] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    touched: list[FileRecord] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    read_seconds: float = 0.0
    chunk_seconds: float = 0.0


class Indexer:
    def __init__(self, root: Path, config: Config, store: IndexStore, embedder: Embedder) -> None:
        self.root = root
        self.config = config
        self.store = store
        self.embedder = embedder
        # Chunks must fit the model's input, header included; a small margin absorbs
        # the estimate's error on unusual text.
        self.chunk_tokens = max(64, min(MAX_CHUNK_TOKENS, int(embedder.max_tokens * 0.9)))

    # -- public ----------------------------------------------------------------

    def run(
        self,
        full: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Bring the index up to date with the whole workspace."""
        started = time.perf_counter()
        report = IndexReport()
        notify = progress or (lambda p: None)
        with self.store.lock.held():
            if full:
                self.store.clear()
            notify(IndexProgress("discover", message="discovering files"))
            t = time.perf_counter()
            found = discover(
                self.root,
                include=self.config.index.include,
                exclude=self.config.index.exclude,
                max_file_bytes=self.config.index.max_file_bytes,
            )
            records = self.store.file_records()
            report.add_time("discover", time.perf_counter() - t)
            report.skipped = list(found.skipped)
            present = {f.path for f in found.files}
            gone = [p for p in records if p not in present]
            if gone:
                self.store.delete_files(gone)
                report.removed += len(gone)
            candidates = [f for f in found.files if self._maybe_changed(f, records.get(f.path))]
            report.unchanged = len(found.files) - len(candidates)
            self._index_files(candidates, records, report, notify, cancel)
            self._finish(report, notify, changed=bool(candidates or gone))
        report.seconds = time.perf_counter() - started
        return report

    def update_paths(
        self,
        rel_paths: Iterable[str],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Re-index just these paths (a save, a watcher batch). A directory, a vanished
        directory or a changed ignore file falls back to a full (cheap) run."""
        paths = sorted({p.strip("/") for p in rel_paths if p.strip("/")})
        if any(is_ignore_file(p) or (self.root / p).is_dir() for p in paths):
            return self.run(progress=progress, cancel=cancel)
        started = time.perf_counter()
        report = IndexReport()
        notify = progress or (lambda p: None)
        with self.store.lock.held():
            records = self.store.file_records()
            if any(p not in records and not (self.root / p).exists() for p in paths):
                # Maybe a directory that was deleted or moved away: drop what was under it.
                prefixes = tuple(p + "/" for p in paths)
                under = [r for r in records if r.startswith(prefixes)]
                if under:
                    self.store.delete_files(under)
                    report.removed += len(under)
            rules = IgnoreRules.load(self.root, self.config.index.include, self.config.index.exclude)
            candidates: list[DiscoveredFile] = []
            removed: list[str] = []
            for path in paths:
                result = check_file(self.root, path, rules, self.config.index.max_file_bytes)
                if isinstance(result, DiscoveredFile):
                    if self._maybe_changed(result, records.get(path)):
                        candidates.append(result)
                    else:
                        report.unchanged += 1
                    continue
                if isinstance(result, SkippedFile):
                    report.skipped.append(result)
                if path in records:
                    removed.append(path)
            if removed:
                self.store.delete_files(removed)
                report.removed += len(removed)
            self._index_files(candidates, records, report, notify, cancel)
            self._finish(report, notify, changed=bool(candidates or removed), checked=set(paths))
        report.seconds = time.perf_counter() - started
        return report

    # -- the work ----------------------------------------------------------------

    @staticmethod
    def _maybe_changed(found: DiscoveredFile, record: FileRecord | None) -> bool:
        return record is None or record.size != found.size or record.mtime_ns != found.mtime_ns

    def _batches(self, files: Sequence[DiscoveredFile]) -> Iterable[list[DiscoveredFile]]:
        # Sized by bytes as a proxy for chunks, so one batch is a few seconds of model time.
        budget = CHUNKS_PER_BATCH * self.chunk_tokens * 3
        batch: list[DiscoveredFile] = []
        size = 0
        for f in files:
            batch.append(f)
            size += f.size
            if size >= budget or len(batch) >= FILES_PER_BATCH:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _prepare(self, files: Sequence[DiscoveredFile], records: dict[str, FileRecord]) -> _Prepared:
        out = _Prepared()
        max_bytes = self.config.index.max_file_bytes
        for f in files:
            t = time.perf_counter()
            try:
                text = read_source(f.abs_path, max_bytes)
            except SkipFile as exc:
                out.read_seconds += time.perf_counter() - t
                if exc.reason == "vanished":
                    out.vanished.append(f.path)
                else:
                    out.skipped.append(SkippedFile(f.path, exc.reason))
                continue
            digest = content_hash(text)
            out.read_seconds += time.perf_counter() - t
            previous = records.get(f.path)
            if previous is not None and previous.hash == digest:
                out.touched.append(FileRecord(f.path, digest, f.size, f.mtime_ns, previous.chunks))
                continue
            t = time.perf_counter()
            chunks = chunk_file(f.path, text, max_tokens=self.chunk_tokens, count_tokens=estimate_tokens)
            out.chunk_seconds += time.perf_counter() - t
            out.records.append(FileRecord(f.path, digest, f.size, f.mtime_ns, len(chunks)))
            out.chunks.extend(chunks)
        return out

    def _index_files(
        self,
        files: Sequence[DiscoveredFile],
        records: dict[str, FileRecord],
        report: IndexReport,
        notify: ProgressCallback,
        cancel: threading.Event | None,
    ) -> None:
        total = len(files)
        done = 0
        notify(IndexProgress("index", 0, total, f"indexing {total} files" if total else "up to date"))
        if not files:
            return
        # Reading and chunking the next batch overlaps with embedding this one: the model
        # spends its time in native code, which releases the GIL.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="codeseek-prepare") as pool:
            batches = list(self._batches(files))
            pending: Future[_Prepared] | None = pool.submit(self._prepare, batches[0], records)
            for i in range(len(batches)):
                assert pending is not None
                prepared = pending.result()
                pending = (
                    pool.submit(self._prepare, batches[i + 1], records) if i + 1 < len(batches) else None
                )
                if cancel is not None and cancel.is_set():
                    if pending is not None:
                        pending.cancel()
                    raise IndexCancelled(f"indexing cancelled after {done} of {total} files")
                self._commit(prepared, report)
                done += len(batches[i])
                notify(IndexProgress("index", done, total, f"{done}/{total} files"))

    def _commit(self, prepared: _Prepared, report: IndexReport) -> None:
        report.add_time("read", prepared.read_seconds)
        report.add_time("chunk", prepared.chunk_seconds)
        report.skipped.extend(prepared.skipped)
        gone = [s.path for s in prepared.skipped] + prepared.vanished
        t = time.perf_counter()
        if gone:
            self.store.delete_files(gone)
        if prepared.touched:
            self.store.touch_files(prepared.touched)
        report.add_time("store", time.perf_counter() - t)
        report.unchanged += len(prepared.touched)
        if not prepared.records:
            return
        vectors = self._vectors_for(prepared.chunks, report)
        t = time.perf_counter()
        self.store.replace_files(prepared.records, prepared.chunks, vectors)
        report.add_time("store", time.perf_counter() - t)
        report.indexed += len(prepared.records)

    def _vectors_for(self, chunks: Sequence[Chunk], report: IndexReport) -> np.ndarray:
        dims = self.embedder.dimensions
        vectors = np.zeros((len(chunks), dims), dtype=np.float32)
        if not chunks:
            return vectors
        keys = [c.content_key for c in chunks]
        t = time.perf_counter()
        cached = self.store.cached_vectors(keys)
        report.add_time("store", time.perf_counter() - t)
        missing: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key in cached:
                vectors[i] = cached[key]
            elif key not in missing:
                missing[key] = i
        report.chunks_cached += len(chunks) - len(missing)
        if missing:
            t = time.perf_counter()
            fresh = self.embedder.embed_documents([chunks[i].embed_text for i in missing.values()])
            report.add_time("embed", time.perf_counter() - t)
            report.chunks_embedded += len(missing)
            by_key = dict(zip(missing, fresh, strict=True))
            for i, key in enumerate(keys):
                if key in by_key:
                    vectors[i] = by_key[key]
            t = time.perf_counter()
            # Cached before the chunks are written: a crash after this costs no model call.
            self.store.cache_vectors(list(missing), fresh)
            report.add_time("store", time.perf_counter() - t)
        return vectors

    def _finish(
        self, report: IndexReport, notify: ProgressCallback, changed: bool, checked: set[str] | None = None
    ) -> None:
        """Optimise, then record the run. `checked`: the paths a partial update looked at
        (None for a whole-workspace run, whose skipped list replaces the old one)."""
        if changed:
            notify(IndexProgress("optimize", message="optimizing the index"))
            t = time.perf_counter()
            self.store.optimize()
            report.add_time("optimize", time.perf_counter() - t)
        report.files = self.store.count_files()
        report.chunks = self.store.count_chunks()
        skipped = list(report.skipped)
        if checked is not None:
            # A partial update knows only about its own paths: keep the others' reasons.
            previous = [SkippedFile(**s) for s in self.store.index_meta().get("skipped", [])]
            skipped += [s for s in previous if s.path not in checked]
        self.store.update_meta(
            last_indexed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            last_error=None,
            provider=self.embedder.provider,
            model=self.embedder.model_id,
            dimensions=self.embedder.dimensions,
            skipped=[{"path": s.path, "reason": s.reason} for s in sorted(skipped, key=lambda s: s.path)],
        )
        notify(
            IndexProgress("done", report.files, report.files, f"{report.files} files, {report.chunks} chunks")
        )
