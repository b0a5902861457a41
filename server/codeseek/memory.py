"""Handing freed memory back to the system during a long index run.

glibc keeps memory that Python, Arrow and LanceDB free in its arenas, and a long first
index frees a lot of it in pieces (each batch's texts, Arrow buffers, a compaction's
rewrite). Without a trim the process's resident size only ever grows, towards the peak
of all batches together instead of the peak of one. `malloc_trim(0)` returns the free
tops and whole free pages of every arena. Elsewhere (macOS, Windows, musl) this does
nothing: their allocators return memory by themselves or have no such call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_memory() -> None:
    """Return memory freed since the last call to the system, where the allocator can."""
    trim = _malloc_trim()
    if trim is None:
        return
    try:
        trim(0)
    except OSError as exc:  # pragma: no cover - a libc that cannot trim
        log.debug("malloc_trim failed: %s", exc)
