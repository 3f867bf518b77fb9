"""Report rows as an aligned text table, CSV or JSON. Plain string formatting, no dependency."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

from genai_cost.store.db import TOTAL, ReportRow

NONE_KEY = "(none)"  # a group with no value, e.g. calls made outside any feature()
DASH = "-"


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


def latency(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    if seconds < 0.01:
        return f"{seconds * 1000:.2f}ms"
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def _cost_cell(row: ReportRow) -> str:
    # An unpriced group shows as such, never as $0.
    if row.cost is None and row.unpriced:
        return "unpriced"
    return money(row.cost)


def _key_cell(row: ReportRow) -> str:
    if row.by == TOTAL:
        return "all calls"
    return NONE_KEY if row.key is None else str(row.key)


# (header, cell, right-aligned)
Column = tuple[str, Callable[[ReportRow], str], bool]
_COLUMNS: tuple[Column, ...] = (
    ("requests", lambda r: count(r.requests), True),
    ("errors", lambda r: with_rate(r.errors, r.requests), True),
    ("rate-limited", lambda r: with_rate(r.rate_limited, r.requests), True),
    ("input tok", lambda r: count(r.input_tokens), True),
    ("output tok", lambda r: count(r.output_tokens), True),
    ("cached tok", lambda r: count(r.cache_read_tokens), True),
    ("cost (USD)", _cost_cell, True),
    ("unpriced", lambda r: count(r.unpriced), True),
    ("avg/call", lambda r: money(r.avg_cost_per_call), True),
    ("sessions", lambda r: count(r.sessions), True),
    ("avg/session", lambda r: money(r.avg_cost_per_session), True),
    ("p50", lambda r: latency(r.p50_s), True),
    ("p95", lambda r: latency(r.p95_s), True),
    ("p99", lambda r: latency(r.p99_s), True),
)


def table(title: str, rows: Sequence[ReportRow], key_header: str) -> str:
    headers = [key_header] + [c[0] for c in _COLUMNS]
    body = [[_key_cell(r)] + [c[1](r) for c in _COLUMNS] for r in rows]
    right = [False] + [c[2] for c in _COLUMNS]
    widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    out = [title, line(headers), "  ".join("-" * w for w in widths)]
    out += [line(cells) for cells in body]
    return "\n".join(out)


def _clean(value: Any) -> Any:
    # Sums of floats carry noise in the last bits (0.1 + 0.2); 12 decimals is far below a cent.
    return round(value, 12) if isinstance(value, float) else value


def records(rows: Sequence[ReportRow]) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.to_dict().items()} for row in rows]


def to_json(rows: Sequence[ReportRow]) -> str:
    return json.dumps(records(rows), indent=2)


def to_csv(rows: Sequence[ReportRow]) -> str:
    data = records(rows)
    buffer = io.StringIO()
    fieldnames = list(ReportRow.empty(TOTAL).to_dict())
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(data)
    return buffer.getvalue()
