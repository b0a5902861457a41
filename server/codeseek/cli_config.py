"""What every command-line entry point shares (the `codeseek` commands and `eval`/`bench`
in evaluation/cli.py): exit codes, settings from flags, and the workspace a command names.
Kept apart from cli.py so that neither imports the other's module at load time."""

from __future__ import annotations

import argparse
from pathlib import Path

from codeseek.errors import UsageError, WorkspaceError

# Not `from typing import TYPE_CHECKING`, and no configuration code at import: a command
# answered by a running server needs neither (mypy treats any TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from codeseek.config import Config, ConfigProblem

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    embedder = getattr(args, "embedder", None)
    if isinstance(embedder, str):
        settings["embedder.provider"] = embedder
    if getattr(args, "model", None):
        settings["embedder.model"] = args.model
    if getattr(args, "dims", None) is not None:
        settings["embedder.dimensions"] = args.dims
    if getattr(args, "store", None):
        store = args.store
        settings["store.path"] = store if "://" in store else str(Path(store).expanduser().absolute())
    if getattr(args, "shared", None):
        settings["store.shared"] = args.shared
    return settings


def load_cli_config(root: Path, args: argparse.Namespace, err: TextIO) -> Config:
    """Config for a command: flag errors are usage errors; file errors are warnings."""
    from codeseek.config import load_config

    config, problems = load_config(root if root.is_dir() else None, (flag_settings(args), "command line"))
    flag_problems = [p for p in problems if p.source == "command line"]
    if flag_problems:
        raise UsageError(_flag_message(flag_problems[0]))
    for problem in problems:
        print(f"codeseek: warning: {problem}", file=err)
    return config


def _flag_message(problem: ConfigProblem) -> str:
    flag = {
        "embedder.provider": "--embedder",
        "embedder.model": "--model",
        "embedder.dimensions": "--dims",
        "store.path": "--store",
        "store.shared": "--shared",
    }.get(problem.key, problem.key)
    return f"{flag}: {problem.message}"


def workspace_path(path: str) -> Path:
    """The workspace folder a command names, resolved; WorkspaceError when it is not one."""
    root = Path(path).expanduser()
    if not root.exists():
        raise WorkspaceError(f"{path}: no such directory")
    if not root.is_dir():
        raise WorkspaceError(f"{path}: not a directory")
    return root.resolve()
