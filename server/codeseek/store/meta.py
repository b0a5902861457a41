"""The index's small record of itself, `meta.json` beside the tables: the schema version,
which index the workspace uses now, and per index its last run, the files skipped with
their reasons, and how its vector index was trained.

Only a writer (under the store's lock) changes it, atomically: a reader sees the old file
or the new one, never half of one. A damaged file reads as empty (and says so); the next
writer rewrites it, and the next complete run fills it in again.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from codeseek.store.errors import store_error

META_FILENAME = "meta.json"


class MetaFile:
    def __init__(self, folder: Path) -> None:
        self.path = folder / META_FILENAME

    def read(self) -> tuple[dict[str, Any], bool]:
        """(contents, damaged): a missing file is empty and not damaged."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}, False
        except (OSError, UnicodeDecodeError):
            return {}, True
        try:
            data = json.loads(text)
        except ValueError:
            return {}, True
        return (data, False) if isinstance(data, dict) else ({}, True)

    def write(self, meta: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".meta-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(meta, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise store_error(exc, f"cannot write {self.path}", writing=True) from None


def peek_current(folder: Path) -> dict[str, Any] | None:
    """The index a workspace used last (key, provider, model, dimensions), read without
    opening the database; None if there is none (or its record is damaged)."""
    meta, _ = MetaFile(folder).read()
    current = meta.get("current")
    if isinstance(current, dict) and isinstance(current.get("index_key"), str):
        try:
            int(current.get("dimensions"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return current
    return None
