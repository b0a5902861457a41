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
import os
import re

from codeseek.errors import StoreConflict, StoreDamaged, StoreError, StoreFull, StoreUnreachable

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
# Lance's words for a commit that lost a race it could not rebase (concurrent publishers).
_CONFLICT_TEXT = re.compile(
    r"commit conflict|conflicting|concurrent (?:commit|write)|retryable", re.IGNORECASE
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


_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b")
# Real AWS echoes these in InvalidAccessKeyId / SignatureDoesNotMatch bodies.
_SIGNED_XML = re.compile(
    r"<(AWSAccessKeyId|StringToSign|CanonicalRequest|SignatureProvided)>.*?</\1>", re.DOTALL
)
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_SIGNED_QUERY = re.compile(
    r"([?&](?:X-Amz-[A-Za-z-]+|sig|se|sp|sv|st|skoid|sktid|skt|ske|sks|skv))=[^&\s\"']+"
)
# The environment variables whose values are secrets, whatever their shape.
SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
)


def scrub(text: str) -> str:
    """A message with anything that looks like a credential blanked out: the values of
    the credential variables in the environment, key ids, signed request fields, URL
    user info and signed query strings."""
    for name in SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 8:
            text = text.replace(value, "[redacted]")
    text = _SIGNED_XML.sub(lambda m: f"<{m.group(1)}>[redacted]</{m.group(1)}>", text)
    text = _KEY_ID.sub("[redacted]", text)
    text = _USERINFO.sub(r"\1[redacted]@", text)
    text = _SIGNED_QUERY.sub(r"\1=[redacted]", text)
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
    if remote and _CONFLICT_TEXT.search(message):
        return StoreConflict(f"{what}: another writer committed at the same time ({short(exc)})")
    if remote and _UNREACHABLE_TEXT.search(message):
        return StoreUnreachable(f"{what}: the storage is not answering ({short(exc)})")
    return StoreDamaged(f"{what}: {short(exc)}")
