"""The domain exceptions. Boundaries (CLI, LSP handlers) catch these narrowly and turn
them into one clear message; anything else is a bug and keeps its traceback."""

from __future__ import annotations


class CodeseekError(Exception):
    """Base of every error codeseek reports to a user as a message."""


class ConfigError(CodeseekError):
    """A setting is missing, unknown or invalid and nothing sensible can be used instead."""


class WorkspaceError(CodeseekError):
    """The workspace path does not exist or is not a directory."""


class StoreError(CodeseekError):
    """The index store cannot be opened, read or written."""


class EmbedderError(CodeseekError):
    """The embedding model cannot be loaded or answered with an error."""


class EmbedderUnavailable(EmbedderError):
    """The embedding backend is (for now) unreachable: a dead server, a network outage.

    Search falls back to full-text results and indexing waits while this is raised."""


class IndexCancelled(CodeseekError):
    """An index run was cancelled; what was committed before stays valid."""
