"""Prompt-cache economics from the store: per feature and model, what caching saved, the hit rate, and
cache writes that no call read before they expired.

- saved: the cost of the calls had nothing been cached (every cache read and cache write billed as
  plain input) minus their cost with the cache, both from the same price book, so a price change since
  the calls were recorded cannot pass for a saving. Negative when writes cost more than reads gave back
  (Anthropic bills a write at 1.25x or 2x input).
- hit rate: cache-read input tokens over all input tokens.
- unread writes: calls that wrote to the cache when no later call of the same feature and model read
  from the cache within the write's TTL (5 minutes, or 1 hour for 1-hour writes; a write of unknown TTL
  counts as 5 minutes, Anthropic's default). The store does not keep prompts, so which prefix a read hit
  is unknown: a read by the same feature and model stands for a hit. Their write cost was paid for
  nothing. Providers that report no writes (OpenAI, Gemini implicit caching) show none.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from genai_cost import semconv as sc
from genai_cost.pricing.book import PriceBook
from genai_cost.store.db import UsageStore, _where
from genai_cost.store.timerange import TimeRange
from genai_cost.usage import STORED_COLUMNS, Usage

TTL_5M = 300.0
TTL_1H = 3600.0
_TOKEN_COLUMNS = ", ".join(STORED_COLUMNS)  # token counts and served dimensions: Usage(*values)
_SELECT = f"""
    SELECT start_time, feature, provider, COALESCE(response_model, request_model), {_TOKEN_COLUMNS}
    FROM usage
    WHERE {{where}} AND operation IS NOT '{sc.OP_COUNT_TOKENS}' AND input_tokens IS NOT NULL
    ORDER BY start_time, id
"""


@dataclass(slots=True)
class CacheRow:
    feature: str | None
    provider: str | None
    model: str | None
    calls: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: float | None = None  # with the cache (None: no call of the group has a price)
    cost_without_cache: float | None = None
    unread_writes: int = 0  # calls whose cache write nothing read within its TTL
    unread_write_tokens: int = 0
    unread_write_cost: float = 0.0  # what those writes cost
    _reads: list[float] = field(default_factory=list, repr=False)  # times of calls that read the cache
    _writes: list[tuple[float, float, int, float]] = field(default_factory=list, repr=False)

    @property
    def saved(self) -> float | None:
        if self.cost is None or self.cost_without_cache is None:
            return None
        return self.cost_without_cache - self.cost

    @property
    def hit_rate(self) -> float | None:
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "provider": self.provider,
            "model": self.model,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_hit_rate": self.hit_rate,
            "cost_usd": self.cost,
            "cost_without_cache_usd": self.cost_without_cache,
            "cache_saved_usd": self.saved,
            "unread_cache_writes": self.unread_writes,
            "unread_cache_write_tokens": self.unread_write_tokens,
            "unread_cache_write_cost_usd": self.unread_write_cost,
        }


def _uncached(usage: Usage) -> Usage:
    """The same call with nothing cached: every input token billed as input."""
    return dataclasses.replace(
        usage,
        cache_read_tokens=None,
        cache_creation_tokens=None,
        cache_creation_5m_tokens=None,
        cache_creation_1h_tokens=None,
    )


def _add(total: float | None, value: float) -> float:
    return value if total is None else total + value


def cache_economics(
    store: UsageStore, book: PriceBook, time_range: TimeRange | None = None
) -> list[CacheRow]:
    """One row per feature and model that used the cache (read or wrote), most saved first."""
    where, params = _where(time_range)
    groups: dict[tuple[str | None, str | None, str | None], CacheRow] = {}
    for start, feature, provider, model, *tokens in store.connection.execute(
        _SELECT.format(where=where), params
    ):
        usage = Usage(*tokens)
        key = (feature, provider, model)
        row = groups.get(key)
        if row is None:
            row = groups[key] = CacheRow(feature, provider, model)
        at = datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()
        row.calls += 1
        row.input_tokens += usage.input_tokens or 0
        reads = usage.cache_read_tokens or 0
        writes = max(
            usage.cache_creation_tokens or 0,
            (usage.cache_creation_5m_tokens or 0) + (usage.cache_creation_1h_tokens or 0),
        )
        row.cache_read_tokens += reads
        row.cache_write_tokens += writes
        cost = book.price(provider, model, usage, at) if model else None
        if cost is not None:
            without = book.price(provider, model, _uncached(usage), at)
            row.cost = _add(row.cost, cost.total)
            row.cost_without_cache = _add(row.cost_without_cache, without.total if without else cost.total)
        if reads:
            row._reads.append(at)
        if writes:
            ttl = TTL_1H if (usage.cache_creation_1h_tokens or 0) >= writes else TTL_5M
            row._writes.append((at, ttl, writes, cost.cache_write if cost is not None else 0.0))
    for row in groups.values():
        for at, ttl, tokens, write_cost in row._writes:
            # The first read strictly after the write (rows come in time order).
            i = bisect.bisect_right(row._reads, at)
            if i == len(row._reads) or row._reads[i] > at + ttl:
                row.unread_writes += 1
                row.unread_write_tokens += tokens
                row.unread_write_cost += write_cost
    used = [row for row in groups.values() if row.cache_read_tokens or row.cache_write_tokens]
    return sorted(used, key=lambda r: (-(r.saved or 0.0), r.feature or "", r.model or ""))
