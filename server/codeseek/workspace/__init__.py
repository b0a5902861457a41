"""The workspace: which files are indexed (discovery) and when they change (watcher)."""

from codeseek.workspace.discovery import (
    DiscoveredFile,
    Discovery,
    IgnoreRules,
    SkipFile,
    check_file,
    discover,
    is_ignore_file,
    read_source,
)
from codeseek.workspace.watcher import ChangeBatcher, WorkspaceWatcher

__all__ = [
    "ChangeBatcher",
    "DiscoveredFile",
    "Discovery",
    "IgnoreRules",
    "SkipFile",
    "WorkspaceWatcher",
    "check_file",
    "discover",
    "is_ignore_file",
    "read_source",
]
