"""Handing freed memory back to the system during a long index run, and keeping
glibc from spreading it over many arenas in the first place.

glibc keeps memory that Python, Arrow and LanceDB free in its arenas, and a long first
index frees a lot of it in pieces (each batch's texts, Arrow buffers, a compaction's
rewrite). Without a trim the process's resident size only ever grows, towards the peak
of all batches together instead of the peak of one. `malloc_trim(0)` returns the free
tops and whole free pages of every arena. Elsewhere (macOS, Windows, musl) this does
nothing: their allocators return memory by themselves or have no such call.

The arenas: glibc gives each new thread that allocates an arena of its own, up to eight
per core, and LanceDB's Rust runtime runs a pool of worker threads that allocate and free
a merge's or a compaction's buffers. Each arena then keeps its own high-water mark, which
`malloc_trim` cannot shrink where a few live blocks pin its pages, so the resident size
grew with every merge of vectors into a 115,000-row table (564 MB after chunking to
1,439 MB at the end, with no model loaded). Two arenas cut the peak of a 50,000-chunk
store-only run from 1,020 MB to 601 MB in the same time, and of the whole 115,000-chunk
run to 969 MB, flat (docs/benchmarks.md, "Indexing at scale").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)

# mallopt's parameter number for the arena limit (malloc.h: M_ARENA_MAX).
M_ARENA_MAX = -8
# Arenas kept for a process that indexes: the main thread's and one the worker threads
# share. More arenas only help threads that allocate at the same moment, which these do
# for short bursts around each write.
MAX_ARENAS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is None:  # not glibc (musl has no malloc_trim), or not Linux
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


@functools.cache
def limit_arenas(arenas: int = MAX_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process; True when the cap is in place.

    Call before the threads that allocate start (before LanceDB's runtime): glibc fixes
    its arena limit the first time it would make a ninth arena, and arenas already made
    stay. A MALLOC_ARENA_MAX in the environment (glibc reads it itself) is left to rule.
    Once per process: the first call's cap stays."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is None:  # not glibc, or not Linux
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    try:
        return bool(mallopt(M_ARENA_MAX, arenas))
    except OSError as exc:  # pragma: no cover - a libc without the parameter
        log.debug("mallopt(M_ARENA_MAX) failed: %s", exc)
        return False


def release_memory() -> None:
    """Return memory freed since the last call to the system, where the allocator can."""
    trim = _malloc_trim()
    if trim is None:
        return
    try:
        trim(0)
    except OSError as exc:  # pragma: no cover - a libc that cannot trim
        log.debug("malloc_trim failed: %s", exc)
