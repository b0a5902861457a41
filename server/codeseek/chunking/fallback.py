"""Line windows: the chunking of last resort.

Used for files without a grammar, for files whose parse failed badly, and for single
syntax nodes too large for the token budget. Windows tile their range exactly (no
overlap), so every line is embedded once and a hit maps to one place.
"""

from __future__ import annotations

from collections.abc import Sequence


def window_ranges(
    lines: Sequence[str],
    line_tokens: Sequence[int],
    start: int,
    end: int,
    budget: int,
) -> list[tuple[int, int]]:
    """Cut rows `start..end` (0-based, inclusive) into consecutive windows of at most
    `budget` tokens each, where `line_tokens[i]` is the cost of row `i`.

    A window that must end prefers to end on a blank line, when one lies in its second
    half, so paragraphs and statement groups stay together. A single line over the
    budget becomes a window of its own: lines are never cut, and the embedder truncates.
    """
    if end < start:
        return []
    budget = max(1, budget)
    windows: list[tuple[int, int]] = []
    window_start = start
    used = 0
    last_blank = -1
    row = start
    while row <= end:
        cost = line_tokens[row]
        if used and used + cost > budget:
            cut = row - 1
            if last_blank >= window_start + (row - window_start) // 2:
                cut = last_blank
            windows.append((window_start, cut))
            window_start = cut + 1
            used = sum(line_tokens[window_start:row])
            last_blank = -1
            continue
        used += cost
        if not lines[row].strip():
            last_blank = row
        row += 1
    windows.append((window_start, end))
    return windows
