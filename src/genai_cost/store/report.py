"""The report as text tables: what ``genai-cost report`` prints, and ``genai-cost demo`` too."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from genai_cost import config
from genai_cost.store import render
from genai_cost.store.db import TOTAL, UsageStore, resolve_db
from genai_cost.store.timerange import TimeRange

DEFAULT_SECTIONS = (TOTAL, "feature", "model")


def sections_top(by: str, top: int | None) -> int | None:
    """``--top`` applies to breakdowns, not to the summary."""
    return None if by == TOTAL else top


# A table by user or session lists the most expensive first and stops here unless --top says
# otherwise: a month of a busy app has 100k sessions, which no one reads in a terminal and which
# take seconds to print. CSV and JSON keep every row.
TABLE_ROWS = 50
MANY_GROUPS = frozenset({"user", "session"})


def _cut(by: str, top: int | None, rows: Sequence[object]) -> bool:
    """The table stopped at TABLE_ROWS (there may be more)."""
    return top is None and by in MANY_GROUPS and len(rows) == TABLE_ROWS


def _table_top(by: str, top: int | None) -> int | None:
    if top is None and by in MANY_GROUPS:
        return TABLE_ROWS
    return sections_top(by, top)


def report_table(
    database: str | None,
    sections: Sequence[str],
    time_range: TimeRange | None = None,
    *,
    top: int | None = None,
    wide: bool = False,
    header: bool = True,
    notes: bool = True,
    out: TextIO | None = None,
) -> None:
    """The report as tables, one per section, then (``notes``) the notes and legend that apply."""
    out = out or sys.stdout
    time_range = time_range or TimeRange()
    with UsageStore.open(resolve_db(database), readonly=True) as store:
        results = [(by, store.report(by, time_range, top=_table_top(by, top))) for by in sections]
        # The total is read for its counts (the notes below), not its sessions.
        [total] = results[0][1] if sections[0] == TOTAL else store.report(TOTAL, time_range, sessions=False)
        first, last = store.time_bounds()
    if header:
        out.write(f"genai-cost report: {store.path}, {time_range.describe()}\n")
    if not total.requests:
        recorded = f"{_minute(first)} to {_minute(last)} UTC" if first and last else "none"
        out.write(f"no GenAI calls in this range (calls recorded: {recorded})\n")
        return
    to_show = [
        render.Section(
            "Summary"
            if by == TOTAL
            else f"By {by}"
            + (f" (top {top})" if top else f" (top {TABLE_ROWS})" if _cut(by, top, rows) else ""),
            rows,
            "" if by == TOTAL else by,
        )
        for by, rows in results
    ]
    tables = render.tables(to_show, wide=wide, width=None if wide else _terminal_width(out))
    for text in tables.text:
        out.write("\n" + text + "\n")
    if not notes:
        return
    lines = []
    if total.unpriced:
        lines.append(
            f"{render.plural(total.unpriced, 'call')} had tokens but no known price; "
            f"{'its' if total.unpriced == 1 else 'their'} cost is not "
            f"included (add prices with {config.PRICES_FILE})."
        )
    if total.partial:
        lines.append(
            f"{render.plural(total.partial, 'call')} used a billed unit with no known rate (a tool call, "
            f"images, audio, characters); {'its' if total.partial == 1 else 'their'} cost covers the rest "
            f"only (add the rate with {config.PRICES_FILE})."
        )
    if total.usage_missing:
        lines.append(
            f"{render.plural(total.usage_missing, 'call')} reported no token usage; "
            f"{'its' if total.usage_missing == 1 else 'their'} tokens and cost "
            "are missing."
        )
    for by, rows in results:
        if _cut(by, top, rows):
            lines.append(
                f"By {by}: the {TABLE_ROWS} most expensive shown; --top N for more, --format csv or json for all."
            )
    if tables.legend:
        lines.append(tables.legend)
    if tables.hidden:
        lines.append(f"More columns ({', '.join(tables.hidden)}): --wide.")
    if lines:
        out.write("\n" + "\n".join(lines) + "\n")


def _terminal_width(out: TextIO) -> int | None:
    """The width to fit: $COLUMNS, else the terminal's; None (no limit) when writing to a file or pipe."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    try:
        return os.get_terminal_size(out.fileno()).columns if out.isatty() else None
    except (OSError, ValueError, io.UnsupportedOperation):
        return None


def _minute(stored: str) -> str:
    return stored[:16].replace("T", " ")  # 2026-11-22T05:30:00.000000Z -> 2026-11-22 05:30
