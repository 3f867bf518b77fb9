"""Pricing stored calls again: ``genai-cost reprice`` and ``genai-cost prices``.

The store keeps every token part of every call, so a call can be priced again exactly with another
price book (a newer genai-prices, a corrected or new override file): prices change, and models get a
price after they were first used. Only calls genai-cost priced itself (``cost_source`` local, or no
cost yet) are re-priced: a cost the provider stated (``cost_source`` provider) is the bill and stays.
count_tokens calls and calls without usage are never priced. A call the new book has no price for
keeps its stored cost: a removed override must not erase history.

Kept apart from db.py (which holds the report queries): this module only reads rows and writes back
their cost columns, in one transaction, with one ``reprice_runs`` row saying what was done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from genai_cost import semconv as sc
from genai_cost.pricing.book import PriceBook
from genai_cost.store import rollup
from genai_cost.store.db import UsageStore, _where, format_time
from genai_cost.store.timerange import TimeRange
from genai_cost.usage import STORED_COLUMNS, Cost, Usage

_TOKEN_COLUMNS = ", ".join(STORED_COLUMNS)  # token counts and served dimensions: Usage(*values)
_SELECT = f"""
    SELECT id, start_time, provider, COALESCE(response_model, request_model), request_model, feature,
           cost, price_version, partial_reason, {_TOKEN_COLUMNS}
    FROM usage
    WHERE {{where}} AND operation IS NOT '{sc.OP_COUNT_TOKENS}'
      AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL
           OR audio_seconds IS NOT NULL OR input_characters IS NOT NULL OR images IS NOT NULL)
      AND (cost_source IS NULL OR cost_source = '{sc.COST_SOURCE_LOCAL}')
    ORDER BY start_time, id
"""
_UPDATE = """
    UPDATE usage SET cost = ?, currency = ?, cost_source = ?, cost_input = ?, cost_output = ?,
        cost_cache_read = ?, cost_cache_write = ?, unpriced = 0, price_version = ?, priced_at = ?,
        cost_tools = ?, partial = ?, partial_reason = ?
    WHERE id = ?
"""


@dataclass(slots=True)
class Group:
    """Calls of one feature and model: their stored cost and what the book prices them at now."""

    feature: str | None
    provider: str | None
    model: str | None
    calls: int = 0
    changed: int = 0  # calls whose cost differs (newly priced included)
    newly_priced: int = 0  # calls stored without a cost that the book prices now
    no_price: int = 0  # calls the book has no price for (their stored cost is kept)
    before: float = 0.0  # stored cost of the group's calls
    after: float = 0.0  # their cost with the book (the stored one where the book has no price)
    versions: set[str] = field(default_factory=set)  # price versions stored on the calls

    @property
    def difference(self) -> float:
        return self.after - self.before


@dataclass(slots=True)
class Repricing:
    """What re-pricing a range of the store with one price book gives (nothing written yet)."""

    version: str
    groups: list[Group]
    _updates: list[tuple[object, ...]]

    @property
    def calls(self) -> int:
        return sum(g.calls for g in self.groups)

    @property
    def changed(self) -> int:
        return sum(g.changed for g in self.groups)

    @property
    def before(self) -> float:
        return sum(g.before for g in self.groups)

    @property
    def after(self) -> float:
        return sum(g.after for g in self.groups)


def _unix(start_time: str) -> float:
    return datetime.fromisoformat(start_time.replace("Z", "+00:00")).timestamp()


def plan(store: UsageStore, book: PriceBook, time_range: TimeRange | None = None) -> Repricing:
    """Price every re-priceable call in ``time_range`` with ``book``, grouped by feature and model
    (most changed first)."""
    where, params = _where(time_range)
    now = format_time(datetime.now(UTC))
    groups: dict[tuple[str | None, str | None, str | None], Group] = {}
    updates: list[tuple[object, ...]] = []
    for (
        row_id,
        start,
        provider,
        model,
        request_model,
        feature,
        stored,
        version,
        partial,
        *tokens,
    ) in store.connection.execute(_SELECT.format(where=where), params):
        group = groups.get((feature, provider, model))
        if group is None:
            group = groups[(feature, provider, model)] = Group(feature, provider, model)
        group.calls += 1
        if version:
            group.versions.add(version)
        # The request's model when the response's is unknown to the prices, as at the call.
        cost, _ = book.price_either(provider, model, request_model, Usage(*tokens), _unix(start))
        before = stored or 0.0
        group.before += before
        if cost is None:
            group.no_price += 1
            group.after += before
            continue
        group.after += cost.total
        # A rate of 0 given for a unit that had none changes no total but makes the call exact.
        if stored is None or cost.total != stored or cost.partial != partial:
            group.changed += 1
            group.newly_priced += stored is None
            updates.append(_update_values(cost, book.price_version(), now, row_id))
    ordered = sorted(
        groups.values(), key=lambda g: (-abs(g.difference), -g.calls, g.feature or "", g.model or "")
    )
    return Repricing(book.price_version(), ordered, updates)


def _update_values(cost: Cost, version: str, now: str, row_id: int) -> tuple[object, ...]:
    return (
        cost.total,
        cost.currency,
        sc.COST_SOURCE_LOCAL,
        cost.input,
        cost.output,
        cost.cache_read,
        cost.cache_write,
        version,
        now,
        cost.tools if cost.tools else None,
        cost.partial is not None,
        cost.partial,
        row_id,
    )


def apply(store: UsageStore, repricing: Repricing, time_range: TimeRange | None = None) -> int:
    """Write the new costs and a ``reprice_runs`` row, in one transaction; return the calls changed."""
    conn = store.connection
    time_range = time_range or TimeRange()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_UPDATE, repricing._updates)
        if repricing._updates:  # the hourly totals hold the old costs: add those hours up again
            first = format_time(time_range.start)[:13] if time_range.start else None
            last = format_time(time_range.end)[:13] if time_range.end else None
            for table in rollup.TABLES:
                table.rebuild(conn, first, last)
        conn.execute(
            "INSERT INTO reprice_runs (run_at, price_version, range_start, range_end, calls_seen, "
            "calls_changed, cost_before, cost_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                format_time(datetime.now(UTC)),
                repricing.version,
                format_time(time_range.start) if time_range.start else None,
                format_time(time_range.end) if time_range.end else None,
                repricing.calls,
                repricing.changed,
                repricing.before,
                repricing.after,
            ),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(repricing._updates)


def stored_versions(store: UsageStore) -> list[tuple[str | None, int]]:
    """Each price version stored on calls with a cost, with its number of calls (None: written before
    genai-cost kept it)."""
    cursor = store.connection.execute(
        "SELECT price_version, COUNT(*) FROM usage WHERE cost IS NOT NULL GROUP BY price_version "
        "ORDER BY COUNT(*) DESC"
    )
    return [(version, count) for version, count in cursor]


def runs(store: UsageStore) -> list[tuple[str, str, int, float | None, float | None]]:
    """Past re-pricings: when, with which prices, calls changed, cost before and after."""
    cursor = store.connection.execute(
        "SELECT run_at, price_version, calls_changed, cost_before, cost_after FROM reprice_runs ORDER BY id"
    )
    return list(cursor)


def unpriced_models(groups: Sequence[Group]) -> list[Group]:
    """Models in the store the book has no price for (by provider and model, calls summed)."""
    merged: dict[tuple[str | None, str | None], Group] = {}
    for group in groups:
        if not group.no_price:
            continue
        key = (group.provider, group.model)
        seen = merged.setdefault(key, Group(None, group.provider, group.model))
        seen.calls += group.no_price
    return sorted(merged.values(), key=lambda g: (-g.calls, g.model or ""))


def changed_models(groups: Sequence[Group]) -> list[Group]:
    """Models whose stored cost differs from what the book prices now (by provider and model)."""
    merged: dict[tuple[str | None, str | None], Group] = {}
    for group in groups:
        if not group.changed:
            continue
        key = (group.provider, group.model)
        seen = merged.setdefault(key, Group(None, group.provider, group.model))
        seen.calls += group.calls
        seen.changed += group.changed
        seen.newly_priced += group.newly_priced
        seen.before += group.before
        seen.after += group.after
        seen.versions |= group.versions
    return sorted(merged.values(), key=lambda g: (-abs(g.difference), g.model or ""))
