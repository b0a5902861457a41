"""`textDocument/hover`: a short "Related code" section with links to the code most
similar to the chunk under the cursor.

A hover is typed-ahead UI: it must come back fast or not at all. Related code needs
no model call (the chunk's vector is already in the store), but a cold store or a busy
disk can still be slow, so the lookup runs on a thread with a budget and the section is
left out when the budget runs out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types

from codeseek.model import Hit

log = logging.getLogger(__name__)
T = TypeVar("T")

HOVER_BUDGET = 0.08  # seconds; the bound is 100 ms for the whole hover
HOVER_HITS = 3


async def related_within_budget(
    executor: Executor, lookup: Callable[[], T], budget: float = HOVER_BUDGET
) -> T | None:
    """The lookup's hits, or None when it failed or took longer than `budget`."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(executor, lookup)
    try:
        return await asyncio.wait_for(asyncio.shield(future), budget)
    except asyncio.TimeoutError:
        # The thread finishes in the background; its result is dropped.
        log.debug("related code for hover took longer than %.0f ms; left out", budget * 1000)
        future.add_done_callback(_consume)
        return None
    except Exception as exc:
        log.warning("related code for hover failed: %s", exc)
        return None


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # mark it retrieved, so asyncio does not warn


def related_markdown(hits: Sequence[Hit], root: Path) -> str:
    lines = ["**Related code**", ""]
    for hit in hits:
        uri = f"{(root / hit.path).as_uri()}#L{hit.start_line}"
        label = hit.symbol or hit.preview or hit.path
        lines.append(f"- [`{_escape(label)}`]({uri}) {hit.path}:{hit.start_line}")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("`", "'")


def lsp_related_hover(hits: Sequence[Hit], root: Path) -> types.Hover | None:
    if not hits:
        return None
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=related_markdown(hits, root))
    )
