"""A small in-memory cache (module docstrings are not queries)."""

import time


class LRUCache:
    """A mapping that forgets its least recently used entries (class docs are not queries)."""

    def __init__(self, capacity):
        """Create an empty cache holding at most capacity entries."""
        self.capacity = capacity
        self.entries = {}

    def get(self, key):
        """Return the cached value for a key and mark it as recently used.

        Raises KeyError when the key is missing.
        """
        value = self.entries.pop(key)
        self.entries[key] = value
        return value

    def stub(self):
        """A method whose body is only its docstring must still parse once stripped."""


def evict_expired(entries, now=None):
    """Remove every entry whose expiry time has passed from the cache."""
    now = time.time() if now is None else now
    expired = [key for key, (_, expires) in entries.items() if expires <= now]
    for key in expired:
        del entries[key]
    return len(expired)


def reverse_items(items):
    """Split a sentence into words and return the words in reverse order."""
    result = list(items)
    result.reverse()
    return result


def short():
    """Too short."""
    return 1
