"""Every LanceDB, pyarrow and OS error at the store's boundary becomes one of the
project's store errors, so the CLI and the server turn it into one clear line, and the
service knows whether to rebuild (damaged), wait for space (full) or wait for the network
(unreachable).

LanceDB reports through several exception types (OSError, RuntimeError, ValueError,
pyarrow's ArrowException, and a Rust panic surfacing as pyo3's PanicException, which
derives from BaseException); their messages say what happened.
"""

from __future__ import annotations

import errno
import re

from codeseek.errors import StoreDamaged, StoreError, StoreFull, StoreUnreachable

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
_DENIED_ERRNOS = frozenset({errno.EACCES, errno.EPERM})
_FULL_TEXT = re.compile(r"no space left|disk quota|read-only file system|file too large", re.IGNORECASE)
_DENIED_TEXT = re.compile(r"permission denied|operation not permitted", re.IGNORECASE)
_UNREACHABLE_TEXT = re.compile(
    r"error sending request|connection (?:refused|reset|closed)|dns error|timed? ?out|"
    r"failed to connect|tcp connect|network is unreachable|broken pipe|service unavailable|"
    r"\b50[234]\b|no route to host",
    re.IGNORECASE,
)
# What a secret might look like in a message from the object-store client.
_CREDENTIAL = re.compile(
    r"(?i)(aws_secret_access_key|aws_access_key_id|secret_access_key|access_key_id|"
    r"account_key|sas_token|token|signature|credential)([=:\s\"']+)([^\s\"'&,;]+)"
)


def is_panic(exc: BaseException) -> bool:
    """A Rust panic inside LanceDB (corrupt data can cause one)."""
    return type(exc).__name__ == "PanicException"


#: What the store boundary catches. PanicException is a BaseException: see `is_panic`.
STORE_EXCEPTIONS: tuple[type[BaseException], ...] = (OSError, RuntimeError, ValueError)
try:  # pragma: no branch
    import pyarrow as pa

    STORE_EXCEPTIONS += (pa.ArrowException,)
except ImportError:  # pragma: no cover
    pass


def scrub(text: str) -> str:
    """A message with anything that looks like a credential blanked out."""
    return _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)


def short(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, credentials scrubbed, cut to `limit`."""
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    first = scrub(first)
    return first if len(first) <= limit else first[: limit - 1] + "…"


def store_error(exc: BaseException, what: str, *, writing: bool = False, remote: bool = False) -> StoreError:
    """The store error for `exc`, raised while doing `what` ("cannot read the index at X")."""
    if isinstance(exc, StoreError):
        return exc
    code = getattr(exc, "errno", None)
    message = str(exc)
    if code in _FULL_ERRNOS or _FULL_TEXT.search(message):
        reason = "the disk is full" if "space" in message.lower() or code == errno.ENOSPC else short(exc)
        return StoreFull(f"{what}: {reason}")
    if code in _DENIED_ERRNOS or _DENIED_TEXT.search(message):
        if writing:
            return StoreFull(f"{what}: it is not writable ({short(exc)})")
        return StoreError(f"{what}: permission denied")
    if remote and _UNREACHABLE_TEXT.search(message):
        return StoreUnreachable(f"{what}: the storage is not answering ({short(exc)})")
    return StoreDamaged(f"{what}: {short(exc)}")
