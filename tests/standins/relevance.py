"""How the reranker stand-ins score a document: the share of the query's words it holds.

Deterministic and fast, yet a real relevance signal, so tests can tell a reranked list
from the first-stage order. Words are lower-case letter runs, identifiers split at
underscores and case changes ("parseDuration" holds "parse" and "duration")."""

from __future__ import annotations

import re


def words(text: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return set(re.findall(r"[a-z]+", spaced.lower()))


def relevance(query: str, document: str) -> float:
    wanted = words(query)
    return len(wanted & words(document)) / len(wanted) if wanted else 0.0
