"""Stops an SGLang server when the codeseek process that launched it dies.

codeseek starts this tiny process next to every SGLang server it launches and keeps
the write end of a pipe whose read end is this process's stdin. The kernel closes that
pipe however codeseek ends, `kill -9` included, so end-of-file here means "the owner is
gone": the server's whole process group (SGLang forks a scheduler and a detokenizer, and
the scheduler holds the GPU memory) gets SIGTERM, then SIGKILL after a grace period.
It exits by itself once the group is gone. Unlike PR_SET_PDEATHSIG this works on macOS
too and reaches SGLang's grandchildren.

Usage: python -m codeseek.embedding.sglang_watchdog PGID [GRACE_SECONDS]
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time

POLL_SECONDS = 0.5


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies waiting to be reaped don't)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - the group exists but is not ours
        return True
    return _has_running_member(pgid)


def _has_running_member(pgid: int) -> bool:
    # kill(0) also succeeds for zombies; on Linux, /proc tells them apart.
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - not Linux
        return True
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return not os.path.isdir(f"/proc/{os.getpid()}")


def terminate_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, wait up to `grace` seconds, then SIGKILL what is left."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def watch(pgid: int, grace: float) -> int:
    # A Ctrl-C in codeseek's terminal or a hang-up must not take the guard down first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    stdin = sys.stdin.fileno()
    while group_alive(pgid):
        readable, _, _ = select.select([stdin], [], [], POLL_SECONDS)
        if readable and not os.read(stdin, 4096):
            terminate_group(pgid, grace)
            return 0
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or not args[0].isdigit():
        print("usage: python -m codeseek.embedding.sglang_watchdog PGID [GRACE_SECONDS]", file=sys.stderr)
        return 2
    grace = float(args[1]) if len(args) > 1 else 10.0
    return watch(int(args[0]), grace)


if __name__ == "__main__":
    sys.exit(main())
