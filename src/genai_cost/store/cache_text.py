"""What ``genai-cost report --cache`` prints: cache economics per feature and model, as a table, CSV or
JSON (feature names escaped for the terminal and made spreadsheet-safe, as in the report)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from genai_cost.store import render
from genai_cost.store.cache import CacheRow
from genai_cost.store.reprice_text import table


def _name(value: str | None) -> str:
    return render.NONE_KEY if value is None else render.visible(value)


def _rate(value: float | None) -> str:
    return render.DASH if value is None else f"{value:.1%}"


def _saved(value: float | None) -> str:
    if value is None:
        return render.DASH
    return ("-" if value < 0 else "") + render.money(abs(value))


def to_table(rows: Sequence[CacheRow]) -> str:
    if not rows:
        return "No call in this range read from or wrote to a prompt cache.\n"
    lines = [
        [
            _name(r.feature),
            _name(r.model),
            f"{r.calls:,}",
            _rate(r.hit_rate),
            f"{r.cache_read_tokens:,}",
            f"{r.cache_write_tokens:,}",
            render.money(r.cost_without_cache),
            render.money(r.cost),
            _saved(r.saved),
            f"{r.unread_writes:,}" + (f" ({render.money(r.unread_write_cost)})" if r.unread_writes else ""),
        ]
        for r in rows
    ]
    headers = (
        "feature",
        "model",
        "calls",
        "hit rate",
        "cached tok",
        "written tok",
        "without cache",
        "with cache",
        "saved",
        "unread writes",
    )
    notes = (
        "hit rate = cached input tokens / all input tokens; saved = cost without cache - cost with cache, "
        "both at the prices in use; unread writes = cache writes no later call of the same feature and "
        "model read within their TTL (their cost in brackets)."
    )
    return "Cache by feature and model\n" + table(headers, lines) + "\n" + notes + "\n"


def to_json(rows: Sequence[CacheRow]) -> str:
    return json.dumps([row.to_dict() for row in rows], indent=2) + "\n"


def to_csv(rows: Sequence[CacheRow]) -> str:
    buffer = io.StringIO()
    fieldnames = list(CacheRow(None, None, None).to_dict())
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writeheader()
    writer.writerows({k: render.spreadsheet_safe(v) for k, v in row.to_dict().items()} for row in rows)
    return buffer.getvalue()
