"""A tiny JSON-backed key/value store used by the examples."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_PATH = Path("~/.cache/kv.json").expanduser()
MAX_KEYS = 10_000


class StoreError(Exception):
    """Raised when the store file cannot be read or written."""


class JsonStore(Base):
    """Keeps string keys and JSON values in one file."""

    encoding = "utf-8"

    def __init__(self, path: Path = DEFAULT_PATH) -> None:
        self.path = path
        self._data: dict[str, object] = {}

    @classmethod
    def open(cls, path: Path) -> JsonStore:
        store = cls(path)
        store.load()
        return store

    def load(self) -> None:
        try:
            self._data = json.loads(self.path.read_text(self.encoding))
        except FileNotFoundError:
            self._data = {}

    class Snapshot:
        def restore(self, store):
            store._data = dict(self.data)


# Helpers used by the command line.

def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    print(JsonStore.open(DEFAULT_PATH).path)
