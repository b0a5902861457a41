"""The malloc arena cap (codeseek.memory) is in place in a process that opens an index."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from codeseek.memory import _libc

# A fresh interpreter starts eight threads that are alive together and each allocate, then
# prints glibc's per-arena statistics (malloc_stats writes one "Arena N:" line per arena).
CHILD = textwrap.dedent(
    """
    import ctypes, sys, threading
    if sys.argv[1] == "store":
        from codeseek.store.lancedb_import import import_lancedb
        import_lancedb()
    barrier = threading.Barrier(8)
    def work():
        kept = [bytearray(200_000) for _ in range(4)]
        barrier.wait()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc_stats()
    """
)

glibc = pytest.mark.skipif(
    _libc() is None or not hasattr(_libc(), "mallopt"), reason="glibc's malloc arenas only"
)


def arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


@glibc
def test_opening_the_store_caps_malloc_arenas() -> None:
    # Without the cap each thread gets its own arena; once LanceDB is imported through
    # the store, every thread shares the two arenas.
    assert arenas("plain") > 2
    assert arenas("store") <= 2


def test_an_arena_limit_from_the_environment_is_left_alone() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from codeseek.memory import limit_arenas; print(limit_arenas())"],
        env={**os.environ, "MALLOC_ARENA_MAX": "4"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "False"
