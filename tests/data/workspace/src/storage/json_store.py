"""A tiny key-value store persisted as JSON."""

import json
import os
from pathlib import Path


class JsonStore:
    """Keeps a dictionary on disk and writes it back atomically."""

    def __init__(self, path):
        self.path = Path(path)
        self.data = {}

    def load(self):
        """Read the stored dictionary from the JSON file, or start empty."""
        if self.path.exists():
            with self.path.open() as fh:
                self.data = json.load(fh)
        return self.data

    def save(self):
        """Write the dictionary to a temporary file and rename it over the old one."""
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            json.dump(self.data, fh, indent=2, sort_keys=True)
        os.replace(tmp, self.path)


def merge_settings(defaults, overrides):
    """Recursively merge two nested dictionaries, values from overrides winning."""
    result = dict(defaults)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_settings(result[key], value)
        else:
            result[key] = value
    return result
