"""discover -> diff -> chunk -> store, then embed: incrementally, safely, words first.

A run has two phases, so that a new workspace is searchable within seconds:
1. **Chunk.** Every new or changed file is read, chunked and written with its full-text
   terms; a chunk whose content is in the vector cache gets its vector at once, the
   others wait with none. Files are committed in batches; the file's record is written
   after its chunks, so a run killed at any point leaves an index the next run
   completes without redoing finished files.
2. **Embed.** Chunks without a vector are embedded in batches (open and recently
   changed files first, when the caller says which) and their vectors filled in. An
   interrupted phase 2 is simply continued by the next run.

- An unchanged file costs a stat: size and mtime match the files table. A file whose
  mtime changed but whose content hash did not costs a read and a hash.
- Runs are cancellable between batches; what was committed stays valid.

Over a shared team index (`base`, team.py) the store is a local *overlay*: a file whose
content hash equals the shared index's is recorded with no chunks (the shared index
serves it), and vectors missing from the local cache are looked up in the shared cache
by chunk content before the model is asked.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import numpy as np

from codeseek.chunking.chunker import chunk_file
from codeseek.config import Config
from codeseek.embedding.base import Embedder, estimate_tokens
from codeseek.errors import IndexCancelled
from codeseek.model import Chunk, IndexProgress, Phase, SkippedFile, SkipReason
from codeseek.store.lance import IndexStore, IndexWriter, PendingChunk
from codeseek.store.schema import FileRecord
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
# Chunks waiting for a vector read at once in the embedding phase (see embed_pending).
PENDING_PAGE = 8192
# Files read, chunked and committed together in the first phase: tree-sitter chunks
# several MB a second, so a batch is a fraction of a second of work.
FILES_PER_BATCH = 200
BYTES_PER_BATCH = 4_000_000
FIRST_BATCH_SHARE = 16
# Long-context models (Qwen3 reads 32k tokens) could take a whole file as one chunk;
# retrieval wants one definition a hit, so chunks stay around a large function's size.
MAX_CHUNK_TOKENS = 1024
# The chunks/s shown is measured over this many recent seconds.
RATE_WINDOW_S = 30.0


def chunk_tokens_for(max_tokens: int) -> int:
    """How many tokens a chunk may have for a model that reads `max_tokens`: the model's
    input with a margin for the estimate's error, capped at MAX_CHUNK_TOKENS."""
    return max(64, min(MAX_CHUNK_TOKENS, int(max_tokens * 0.9)))


@dataclass
class IndexReport:
    files: int = 0  # files in the index after the run
    chunks: int = 0
    indexed: int = 0  # files (re-)chunked in this run
    unchanged: int = 0
    removed: int = 0
    chunks_embedded: int = 0  # chunks sent to the model
    chunks_cached: int = 0  # chunks whose vector came from the cache
    chunks_pending: int = 0  # chunks still without a vector after the run
    skipped: list[SkippedFile] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)  # what the writer healed first
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def add_time(self, phase: str, seconds: float) -> None:
        self.timings[phase] = self.timings.get(phase, 0.0) + seconds


ProgressCallback = Callable[[IndexProgress], None]
#: Secrets are masked here before chunking: (path, text) -> (masked text, secrets found).
SecretMasker = Callable[[str, str], tuple[str, int]]


class SharedBase(Protocol):
    """What an overlay index needs of the shared index under it."""

    def hash_of(self, path: str) -> str | None:
        """The content hash the shared index has for `path` (None: it has no such file)."""
        ...

    def vectors(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors the shared cache has for these chunk content keys ({} when unreachable)."""
        ...


def _no_masking(path: str, text: str) -> tuple[str, int]:
    return text, 0


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(slots=True)
class _Prepared:
    """A batch of files read, hashed and chunked."""

    records: list[FileRecord] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    touched: list[FileRecord] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    read_seconds: float = 0.0
    chunk_seconds: float = 0.0


class RateMeter:
    """Chunks per second over the recent past, and the time left at that pace."""

    def __init__(self, window: float = RATE_WINDOW_S) -> None:
        self._window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, done: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window:
            self._samples.popleft()

    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 and d1 > d0 else None

    def eta(self, remaining: int) -> float | None:
        rate = self.rate()
        return remaining / rate if rate and remaining > 0 else None


class Indexer:
    """One run's worth of work on one workspace; the caller holds the store's writer."""

    def __init__(
        self,
        root: Path,
        config: Config,
        store: IndexStore,
        *,
        chunk_tokens: int,
        embedder: Embedder | None = None,
        rules: IgnoreRules | None = None,
        mask_secrets: SecretMasker = _no_masking,
        base: SharedBase | None = None,
    ) -> None:
        self.base = base
        self.root = root
        self.config = config
        self.store = store
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.rules = rules
        self.mask_secrets = mask_secrets

    # -- phase 1: chunk ------------------------------------------------------------

    def run(
        self,
        writer: IndexWriter,
        *,
        full: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Bring the chunks up to date with the whole workspace (phase 1)."""
        started = time.perf_counter()
        report = IndexReport(repairs=list(writer.repairs))
        notify = progress or (lambda p: None)
        if full:
            writer.clear()
        notify(IndexProgress(Phase.DISCOVER, message="discovering files"))
        t = time.perf_counter()
        if self.rules is not None:
            self.rules.refresh()  # an ignore file may have changed since
        config = self.config.index
        found = discover(
            self.root,
            include=config.include,
            exclude=config.exclude,
            max_file_bytes=config.max_file_bytes,
            rules=self.rules,
        )
        records = writer.file_records()
        report.add_time("discover", time.perf_counter() - t)
        report.skipped = list(found.skipped)
        present = {f.path for f in found.files}
        gone = [p for p in records if p not in present]
        if gone:
            writer.delete_files(gone)
            report.removed += len(gone)
        candidates = [f for f in found.files if _maybe_changed(f, records.get(f.path))]
        report.unchanged = len(found.files) - len(candidates)
        self._chunk_files(writer, candidates, records, report, notify, cancel)
        self._record_run(writer, report, checked=None)
        report.seconds = time.perf_counter() - started
        return report

    def update_paths(
        self,
        writer: IndexWriter,
        rel_paths: Iterable[str],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Re-chunk just these paths (a save, a watcher batch). A directory, a vanished
        directory or a changed ignore file falls back to a whole (cheap) run."""
        paths = sorted({p.strip("/") for p in rel_paths if p.strip("/")})
        if any(is_ignore_file(p) or (self.root / p).is_dir() for p in paths):
            if self.rules is not None:
                self.rules.refresh()
            return self.run(writer, progress=progress, cancel=cancel)
        started = time.perf_counter()
        report = IndexReport(repairs=list(writer.repairs))
        notify = progress or (lambda p: None)
        records = writer.file_records()
        if any(p not in records and not (self.root / p).exists() for p in paths):
            # Maybe a directory that was deleted or moved away: drop what was under it.
            prefixes = tuple(p + "/" for p in paths)
            under = [r for r in records if r.startswith(prefixes)]
            if under:
                writer.delete_files(under)
                report.removed += len(under)
        rules = self.rules or IgnoreRules.load(
            self.root, self.config.index.include, self.config.index.exclude
        )
        candidates: list[DiscoveredFile] = []
        removed: list[str] = []
        for path in paths:
            result = check_file(self.root, path, rules, self.config.index.max_file_bytes)
            if isinstance(result, DiscoveredFile):
                if _maybe_changed(result, records.get(path)):
                    candidates.append(result)
                else:
                    report.unchanged += 1
                continue
            if isinstance(result, SkippedFile):
                report.skipped.append(result)
            if path in records:
                removed.append(path)
        if removed:
            writer.delete_files(removed)
            report.removed += len(removed)
        self._chunk_files(writer, candidates, records, report, notify, cancel)
        if candidates or removed or report.skipped:
            self._record_run(writer, report, checked=set(paths))
        report.seconds = time.perf_counter() - started
        return report

    def _batches(self, files: Sequence[DiscoveredFile]) -> Iterable[list[DiscoveredFile]]:
        """Batches of files to commit together. The first is a sixteenth of the full size
        and each next one twice the last: a new index answers its first search after a
        fraction of a second of chunking, and a large one still commits in few steps."""
        batch: list[DiscoveredFile] = []
        size = 0
        share = FIRST_BATCH_SHARE
        for f in files:
            batch.append(f)
            size += f.size
            if size >= BYTES_PER_BATCH // share or len(batch) >= max(1, FILES_PER_BATCH // share):
                yield batch
                batch, size = [], 0
                share = max(1, share // 2)
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
                if exc.reason is SkipReason.VANISHED:
                    out.vanished.append(f.path)
                else:
                    out.skipped.append(exc.skipped(f.path))
                continue
            digest = content_hash(text)
            out.read_seconds += time.perf_counter() - t
            previous = records.get(f.path)
            if previous is not None and previous.hash == digest:
                out.touched.append(
                    FileRecord(f.path, digest, f.size, f.mtime_ns, previous.chunks, previous.secrets)
                )
                continue
            if self.base is not None and self.base.hash_of(f.path) == digest:
                # The shared index has this very content: recorded, served from there.
                out.records.append(FileRecord(f.path, digest, f.size, f.mtime_ns, 0, 0))
                continue
            t = time.perf_counter()
            masked, secrets = self.mask_secrets(f.path, text)
            chunks = chunk_file(f.path, masked, max_tokens=self.chunk_tokens, count_tokens=estimate_tokens)
            out.chunk_seconds += time.perf_counter() - t
            out.records.append(FileRecord(f.path, digest, f.size, f.mtime_ns, len(chunks), secrets))
            out.chunks.extend(chunks)
        return out

    def _chunk_files(
        self,
        writer: IndexWriter,
        files: Sequence[DiscoveredFile],
        records: dict[str, FileRecord],
        report: IndexReport,
        notify: ProgressCallback,
        cancel: threading.Event | None,
    ) -> None:
        total = len(files)
        notify(
            IndexProgress(Phase.CHUNK, 0, total, message=f"chunking {total} files" if total else "up to date")
        )
        if not files:
            return
        done = 0
        chunks_written = 0
        # Reading and chunking the next batch overlaps with writing this one.
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
                self._commit(writer, prepared, report)
                if i == 0:
                    writer.ensure_text_index()  # searchable by its words from the first batch on
                done += len(batches[i])
                chunks_written += len(prepared.chunks)
                notify(
                    IndexProgress(Phase.CHUNK, done, total, chunks_written, message=f"{done}/{total} files")
                )
        writer.settle_chunks(chunks_written)

    def _commit(self, writer: IndexWriter, prepared: _Prepared, report: IndexReport) -> None:
        report.add_time("read", prepared.read_seconds)
        report.add_time("chunk", prepared.chunk_seconds)
        report.skipped.extend(prepared.skipped)
        gone = [s.path for s in prepared.skipped] + prepared.vanished
        t = time.perf_counter()
        if gone:
            writer.delete_files(gone)
        if prepared.touched:
            writer.touch_files(prepared.touched)
        report.unchanged += len(prepared.touched)
        if prepared.records:
            chunks = prepared.chunks
            vectors = np.zeros((len(chunks), self.store.dimensions), dtype=np.float32)
            present = [False] * len(chunks)
            cached = self._cached(writer, [c.content_key for c in chunks if c.dense])
            for i, c in enumerate(chunks):
                vector = cached.get(c.content_key) if c.dense else None
                if vector is not None:
                    vectors[i] = vector
                    present[i] = True
            report.chunks_cached += sum(present)
            writer.replace_files(prepared.records, chunks, vectors, present)
            report.indexed += len(prepared.records)
        report.add_time("store", time.perf_counter() - t)

    def _record_run(self, writer: IndexWriter, report: IndexReport, checked: set[str] | None) -> None:
        """Record the run. `checked`: the paths a partial update looked at (None for a
        whole-workspace run, whose skipped list replaces the old one)."""
        skipped = list(report.skipped)
        meta = self.store.index_meta()
        if checked is not None:
            # A partial update knows only about its own paths: keep the others' reasons.
            previous = [SkippedFile.from_json(s) for s in meta.get("skipped", []) if isinstance(s, dict)]
            skipped += [s for s in previous if s.path not in checked]
        values: dict[str, object] = {
            "skipped": [s.to_json() for s in sorted(skipped, key=lambda s: s.path)],
            "complete": True if checked is None else bool(meta.get("complete")),
        }
        if checked is None:
            values["last_indexed_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        writer.update_meta(**values)

    # -- phase 2: embed ------------------------------------------------------------

    def embed_pending(
        self,
        writer: IndexWriter,
        *,
        first: Iterable[str] = (),
        only_first: bool = False,
        max_chunks: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        report: IndexReport | None = None,
        meter: RateMeter | None = None,
    ) -> int:
        """Embed chunks that have no vector yet, `first` paths' before the others (or
        only theirs: a save while a large backlog waits embeds the saved file, and the
        backlog goes on after it), up to `max_chunks` (all when None). Progress counts
        the whole index's vectors. Returns how many chunks got a vector."""
        if self.embedder is None:
            return 0
        notify = progress or (lambda p: None)
        report = report or IndexReport()
        meter = meter or RateMeter()
        first = list(first)
        if only_first and not first:
            return 0
        embedded_before, dense = self.store.count_embedded()
        filled = 0
        meter.add(embedded_before)
        # Chunks waiting for a vector are read a page at a time: finding them scans the
        # table, and once per batch made a first index's batches slower as it grew.
        page: deque[PendingChunk] = deque()
        while max_chunks is None or filled < max_chunks:
            if cancel is not None and cancel.is_set():
                raise IndexCancelled(f"embedding cancelled after {filled} chunks")
            if not page:
                t = time.perf_counter()
                size = PENDING_PAGE if max_chunks is None else min(PENDING_PAGE, max_chunks - filled)
                page.extend(self.store.unembedded(size, first, only_first=only_first))
                report.add_time("store", time.perf_counter() - t)
                if not page:
                    break
            want = CHUNKS_PER_BATCH if max_chunks is None else min(CHUNKS_PER_BATCH, max_chunks - filled)
            pending = [page.popleft() for _ in range(min(want, len(page)))]
            vectors = self._vectors_for(
                writer, [p.content_key for p in pending], [p.embed_text for p in pending], report
            )
            t = time.perf_counter()
            writer.set_vectors([p.id for p in pending], vectors)
            report.add_time("store", time.perf_counter() - t)
            filled += len(pending)
            done = embedded_before + filled
            meter.add(done)
            notify(
                IndexProgress(
                    Phase.EMBED,
                    chunks_done=min(done, max(dense, done)),
                    chunks_total=max(dense, done),
                    rate=meter.rate(),
                    eta_seconds=meter.eta(max(0, dense - done)),
                )
            )
        return filled

    def _cached(self, writer: IndexWriter, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors for these content keys from the local cache, then the shared one."""
        cached = writer.cached_vectors(keys)
        if self.base is None:
            return cached
        missing = [k for k in dict.fromkeys(keys) if k not in cached]
        shared = self.base.vectors(missing) if missing else {}
        if shared:
            # Kept locally too: the next run (and a day without the network) needs no fetch.
            found = list(shared)
            writer.cache_vectors(found, np.stack([shared[k] for k in found]))
            cached.update(shared)
        return cached

    def _vectors_for(
        self, writer: IndexWriter, keys: Sequence[str], texts: Sequence[str], report: IndexReport
    ) -> np.ndarray:
        assert self.embedder is not None
        vectors = np.zeros((len(keys), self.store.dimensions), dtype=np.float32)
        t = time.perf_counter()
        cached = self._cached(writer, keys)
        report.add_time("store", time.perf_counter() - t)
        missing: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key in cached:
                vectors[i] = cached[key]
            elif key not in missing:
                missing[key] = i
        report.chunks_cached += len(keys) - len(missing)
        if missing:
            t = time.perf_counter()
            fresh = self.embedder.embed_documents([texts[i] for i in missing.values()])
            report.add_time("embed", time.perf_counter() - t)
            report.chunks_embedded += len(missing)
            by_key = dict(zip(missing, fresh, strict=True))
            for i, key in enumerate(keys):
                if key in by_key:
                    vectors[i] = by_key[key]
            t = time.perf_counter()
            # Cached before the chunks are written: a crash after this costs no model call.
            writer.cache_vectors(list(missing), fresh)
            report.add_time("store", time.perf_counter() - t)
        return vectors


def _maybe_changed(found: DiscoveredFile, record: FileRecord | None) -> bool:
    return record is None or record.size != found.size or record.mtime_ns != found.mtime_ns
