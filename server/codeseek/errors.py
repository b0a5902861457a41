"""The domain exceptions. Boundaries (CLI, LSP handlers) catch these narrowly and turn
them into one clear message; anything else is a bug and keeps its traceback."""

from __future__ import annotations


class CodeseekError(Exception):
    """Base of every error codeseek reports to a user as a message."""


class ConfigError(CodeseekError):
    """A setting is missing, unknown or invalid and nothing sensible can be used instead."""


class UsageError(CodeseekError):
    """A request names something that does not exist or cannot be parsed: an unknown
    language, a malformed glob, a file that is not there. The CLI exits 2; the language
    server answers InvalidParams. `field` names the parameter, when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class WorkspaceError(CodeseekError):
    """The workspace path does not exist or is not a directory."""


class StoreError(CodeseekError):
    """The index store cannot be opened, read or written."""


class StoreDamaged(StoreError):
    """Files of the index cannot be read back: deleted, truncated or overwritten.

    Readers report it; the next writer rebuilds what is damaged (from the vector cache
    when that survived, so without model calls)."""


class StoreFull(StoreError):
    """The index cannot be written: the disk is full, or the store is read-only.

    The previous index stays valid and searchable; writing resumes when space returns."""


class StoreUnreachable(StoreError):
    """A remote store (object storage) does not answer. Nothing is wrong with its data."""


class StoreConflict(StoreError):
    """Another writer committed to a remote store at the same time and LanceDB could not
    rebase this commit onto it. Nothing is lost: the work is done again on the new version."""


class EmbedderError(CodeseekError):
    """The embedding model cannot be loaded or answered with an error."""


class EmbedderUnavailable(EmbedderError):
    """The embedding backend is (for now) unreachable: a dead server, a network outage.

    Search falls back to full-text results and indexing waits while this is raised."""


class IndexCancelled(CodeseekError):
    """An index run was cancelled; what was committed before stays valid."""


class RerankerError(CodeseekError):
    """The second-stage reranker could not reorder this search's candidates (it refused
    the request or answered nonsense). Search keeps the first-stage order and says so."""


class RerankerUnavailable(RerankerError):
    """The reranker is (for now) unreachable: starting, down, or no network."""


class RerankerTimeout(RerankerError):
    """The reranker did not answer within its time budget (`reranker.timeout`)."""
