"""Report rows as an aligned text table, CSV or JSON. Plain string formatting, no dependency.

Group names are tag values, which come from the app (and through it from its users), so they are
made harmless for each reader: control characters are shown escaped in tables (an escape sequence
cannot clear the screen, a newline cannot forge a row), CSV cells that a spreadsheet would run as a
formula get a leading ``'``, and JSON keeps every value exactly (its escapes are inert).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from genai_cost.store.db import TOTAL, ReportRow
from genai_cost.usage import TOKEN_KINDS, TokenKind

NONE_KEY = "(none)"  # a group with no value, e.g. calls made outside any feature()
DASH = "-"  # the one symbol for "not reported" (the legend under the tables says so)


def money(value: float | None) -> str:
    if value is None:
        return DASH
    if value >= 100:
        return f"${value:,.2f}"
    if value >= 1:
        return f"${value:,.4f}"
    return f"${value:.6f}"


def count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def with_rate(value: int, total: int) -> str:
    return f"{value:,} ({value / total:.1%})" if value and total else f"{value:,}"


APPROXIMATE = "~"  # before a latency estimated from histograms (the legend says so)


def latency(seconds: float | None, exact: bool = True) -> str:
    if seconds is None:
        return DASH
    mark = "" if exact else APPROXIMATE
    if seconds < 0.01:
        return f"{mark}{seconds * 1000:.2f}ms"
    return mark + (f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s")


def plural(number: int, noun: str) -> str:
    """``1 call``, ``2 calls``, ``1,024 calls``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


# C0 and C1 controls and DEL, line and paragraph separators, and the bidirectional formatting
# characters that can reorder what a terminal shows ("Trojan Source").
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def visible(text: str) -> str:
    """``text`` for a terminal: control characters written as Python escapes (``\\x1b``, ``\\n``)."""
    return _CONTROL.sub(_escaped, text)


def _cost_cell(row: ReportRow) -> str:
    # An unpriced group shows as such, never as $0.
    if row.cost is None and row.unpriced:
        return "unpriced"
    return money(row.cost)


def _key_cell(row: ReportRow) -> str:
    if row.by == TOTAL:
        return "all calls"
    return NONE_KEY if row.key is None else visible(str(row.key))


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    cell: Callable[[ReportRow], str]
    # Columns of the compact (default) table, ranked: when the terminal is too narrow the highest
    # rank goes first, down to requests and cost. None: --wide only.
    rank: int | None


def _token_column(kind: TokenKind) -> Column:
    name = kind.name
    return Column(kind.label or name, lambda r: count(getattr(r.tokens, name)), kind.rank)


COLUMNS: tuple[Column, ...] = (
    Column("requests", lambda r: count(r.requests), 1),
    Column("errors", lambda r: with_rate(r.errors, r.requests), 5),
    Column("rate-limited", lambda r: with_rate(r.rate_limited, r.requests), None),
    # One per token kind that has a report label (usage.TOKEN_KINDS).
    *(_token_column(kind) for kind in TOKEN_KINDS if kind.label),
    Column("cost (USD)", _cost_cell, 2),
    Column("unpriced", lambda r: count(r.unpriced), None),
    Column("avg/call", lambda r: money(r.avg_cost_per_call), 7),
    Column("sessions", lambda r: count(r.sessions), None),
    Column("avg/session", lambda r: money(r.avg_cost_per_session), None),
    Column("p50", lambda r: latency(r.p50_s, r.latency_exact), None),
    Column("p95", lambda r: latency(r.p95_s, r.latency_exact), 8),
    Column("p99", lambda r: latency(r.p99_s, r.latency_exact), None),
)
_ALWAYS = 2  # requests and cost are never dropped


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    rows: Sequence[ReportRow]
    key_header: str


@dataclass(frozen=True, slots=True)
class Tables:
    text: list[str]  # one aligned table per section
    hidden: tuple[str, ...]  # headers left out (compact, or too narrow): --wide shows them
    legend: str | None  # what DASH and NONE_KEY mean, when a table shows them


def tables(sections: Sequence[Section], *, wide: bool = False, width: int | None = None) -> Tables:
    """Aligned tables with the same columns. Compact unless ``wide``; ``width`` (characters) drops
    compact columns, highest rank first, until the widest table fits."""
    columns = [c for c in COLUMNS if wide or c.rank is not None]
    keys = [[_key_cell(r) for r in section.rows] for section in sections]
    cells = {c.header: [[c.cell(r) for r in section.rows] for section in sections] for c in columns}

    def widths(i: int) -> list[int]:
        key = max([len(sections[i].key_header), *map(len, keys[i])])
        return [key] + [max([len(c.header), *map(len, cells[c.header][i])]) for c in columns]

    def too_wide() -> bool:
        assert width is not None
        return any(sum(w) + 2 * len(columns) > width for w in map(widths, range(len(sections))))

    if not wide and width is not None:
        while too_wide():
            ranked = [c for c in columns if (c.rank or 0) > _ALWAYS]
            if not ranked:
                break
            columns.remove(max(ranked, key=lambda c: c.rank or 0))
    text = []
    for i, section in enumerate(sections):
        sizes = widths(i)

        def line(values: Sequence[str], sizes: list[int] = sizes) -> str:
            # The key column is left-aligned, every number right-aligned.
            parts = [values[0].ljust(sizes[0])] + [
                v.rjust(w) for v, w in zip(values[1:], sizes[1:], strict=True)
            ]
            return "  ".join(parts).rstrip()

        rows = [[keys[i][n]] + [cells[c.header][i][n] for c in columns] for n in range(len(section.rows))]
        out = [section.title, line([section.key_header] + [c.header for c in columns])]
        out += ["  ".join("-" * w for w in sizes)] + [line(values) for values in rows]
        text.append("\n".join(out))
    shown = {c.header for c in columns}
    legend = []
    if any(DASH in cells[c.header][i] for c in columns for i in range(len(sections))):
        legend.append(f"{DASH} = not reported (or nothing to average)")
    if any(NONE_KEY in k for k in keys):
        legend.append(f"{NONE_KEY} = calls without that tag")
    if any(
        cell.startswith(APPROXIMATE)
        for c in columns
        for i in range(len(sections))
        for cell in cells[c.header][i]
    ):
        legend.append(f"{APPROXIMATE} = estimated from hourly latency histograms (within about 22%)")
    return Tables(text, tuple(c.header for c in COLUMNS if c.header not in shown), "; ".join(legend) or None)


def _clean(value: Any) -> Any:
    # Sums of floats carry noise in the last bits (0.1 + 0.2); 12 decimals is far below a cent.
    return round(value, 12) if isinstance(value, float) else value


def records(rows: Sequence[ReportRow]) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.to_dict().items()} for row in rows]


def to_json(rows: Sequence[ReportRow]) -> str:
    return json.dumps(records(rows), indent=2)


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) can send
# data away); the usual defence (OWASP "CSV injection") is a leading apostrophe, shown as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: Sequence[ReportRow]) -> str:
    """One record per row. Text is quoted (so a line break inside a tag stays inside its cell) and
    made spreadsheet-safe; numbers are written as numbers, a missing value as an empty cell."""
    buffer = io.StringIO()
    fieldnames = list(ReportRow.empty(TOTAL).to_dict())
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(v) for k, v in record.items()} for record in records(rows))
    return buffer.getvalue()
