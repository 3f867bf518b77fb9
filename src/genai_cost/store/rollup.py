"""Hourly totals kept beside the calls, so a report over millions of calls reads far fewer rows.

Two tables hold one row per UTC hour and group of calls, with every sum a report needs and a latency
histogram: ``usage_hourly`` per feature, user, session, provider, model, operation and pricing (for
reports by user or session), ``usage_hourly_totals`` per feature, provider, model, operation and
pricing only (a few rows an hour, for every other report). Pricing is how the calls were served
(``Usage.served_label``: "service_tier=flex", ...; '' for the standard path). ``UsageStore.insert`` adds a batch's totals in the
transaction that stores its calls, counting only calls actually stored (a batch sent again is not
counted twice). A report over a time range reads the whole hours from here and the calls of the
partial hours at its edges from ``usage``.

Text keys are '' where the call had no value (a unique key cannot hold NULLs in SQLite); a report
turns them back into "none", so a tag set to the empty string is reported as no tag.

Latency percentiles from the histogram are approximate: buckets grow by ``RATIO``, and a percentile
is the geometric middle of its bucket, within the group's slowest and fastest call, so within about
±22% (see ``percentile``). Reports say so; small ranges get exact percentiles from the calls.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from typing import Any

from genai_cost.store.dialect import Dialect
from genai_cost.usage import SERVED_LABEL_SQL, TOKEN_KINDS

FIRST_BOUND_S = 0.01
RATIO = 1.5
BOUNDS: tuple[float, ...] = tuple(FIRST_BOUND_S * RATIO**i for i in range(28))  # 10 ms .. ~9.5 min
BUCKETS = tuple(f"lat{i:02d}" for i in range(len(BOUNDS) + 1))  # bucket i: BOUNDS[i-1] <= d < BOUNDS[i]

# Where each key comes from in a row of ``usage``.
KEY_SOURCES = {
    "feature": "feature",
    "user_id": "user_id",
    "session_id": "session_id",
    "provider": "provider",
    "model": "COALESCE(request_model, response_model)",
    "operation": "operation",
    "pricing": SERVED_LABEL_SQL,
}
COUNTS = ("requests", "errors", "rate_limited", "priced", "unpriced", "usage_missing", "timed")
# Calls priced for part of what was billed (usage.partial), kept as a sum (NULL when none) so the
# migration that added it (m007_priced_units) needed no change to the counts above.
PARTIAL_CALLS = "partial_calls"
SUMS = (
    "cost",
    "session_cost",
    *(kind.column for kind in TOKEN_KINDS),
    PARTIAL_CALLS,
)  # NULL when no call had one
_SUM_SOURCES = {
    "cost": "cost",
    "session_cost": "CASE WHEN session_id IS NOT NULL THEN cost END",
    PARTIAL_CALLS: "CASE WHEN partial THEN 1 END",
}


class Table:
    """One rollup table: its name and the keys of its groups (besides the hour)."""

    def __init__(self, name: str, keys: tuple[str, ...]) -> None:
        self.name = name
        self.keys = keys
        self.columns = ("hour", *keys, *COUNTS, *SUMS, "duration_min", "duration_max", *BUCKETS)
        self.upsert = (
            f"INSERT INTO {name} ({', '.join(self.columns)}) VALUES ({', '.join('?' for _ in self.columns)}) "
            f"ON CONFLICT (hour, {', '.join(keys)}) DO UPDATE SET "
            + ", ".join(
                [
                    *(self._add(c) for c in COUNTS),
                    *(self._add_nullable(c) for c in SUMS),
                    self._keep("duration_min", "<"),
                    self._keep("duration_max", ">"),
                    *(self._add(b) for b in BUCKETS),
                ]
            )
        )

    def _add(self, column: str) -> str:
        return f"{column} = {self.name}.{column} + excluded.{column}"

    def _add_nullable(self, column: str) -> str:
        return (
            f"{column} = CASE WHEN excluded.{column} IS NULL THEN {self.name}.{column} "
            f"ELSE COALESCE({self.name}.{column}, 0) + excluded.{column} END"
        )

    def _keep(self, column: str, better: str) -> str:
        return (
            f"{column} = CASE WHEN {self.name}.{column} IS NULL OR excluded.{column} {better} "
            f"{self.name}.{column} THEN excluded.{column} ELSE {self.name}.{column} END"
        )

    def create(self, db: Any, d: Dialect, tokens: tuple[str, ...]) -> None:
        """Create the table with these token columns (a migration names them: the ones of its time)."""
        db.execute(
            f"""
            CREATE TABLE {self.name} (
                hour TEXT NOT NULL,
                {", ".join(f"{key} TEXT NOT NULL" for key in self.keys)},
                {", ".join(f"{name} INTEGER NOT NULL" for name in COUNTS)},
                cost {d.real},
                session_cost {d.real},
                {", ".join(f"{column} INTEGER" for column in tokens)},
                duration_min {d.real},
                duration_max {d.real},
                {", ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name in BUCKETS)},
                PRIMARY KEY (hour, {", ".join(self.keys)})
            )
            """
        )

    def from_calls_sql(self, where: str, sums: tuple[str, ...] = SUMS) -> str:
        """The calls of ``usage`` matching ``where``, as rows of this table (one per call, unsummed)."""
        return f"""
            SELECT substr(start_time, 1, 13) AS hour,
                   {", ".join(f"COALESCE({KEY_SOURCES[key]}, '') AS {key}" for key in self.keys)},
                   1 AS requests, CASE WHEN error_type IS NOT NULL THEN 1 ELSE 0 END AS errors,
                   {_flag("rate_limited")} AS rate_limited,
                   CASE WHEN cost IS NOT NULL THEN 1 ELSE 0 END AS priced,
                   {_flag("unpriced")} AS unpriced, {_flag("usage_missing")} AS usage_missing,
                   CASE WHEN duration_s IS NOT NULL THEN 1 ELSE 0 END AS timed,
                   {", ".join(f"{_SUM_SOURCES.get(c, c)} AS {c}" for c in sums)},
                   duration_s AS duration_min, duration_s AS duration_max,
                   {", ".join(f"CASE WHEN b = {i} THEN 1 ELSE 0 END AS {name}" for i, name in enumerate(BUCKETS))}
            FROM (SELECT *, {_bucket_sql()} AS b FROM usage WHERE {where}) AS calls
        """

    def backfill(
        self, db: Any, tokens: tuple[str, ...] | None = None, where: str = "1 = 1", params: Sequence[Any] = ()
    ) -> None:
        """Totals of the calls matching ``where`` (all: a migration, naming its token columns)."""
        sums = SUMS[:2] + (tokens if tokens is not None else SUMS[2:])
        columns = ("hour", *self.keys, *COUNTS, *sums, "duration_min", "duration_max", *BUCKETS)
        db.execute(
            f"""
            INSERT INTO {self.name} ({", ".join(columns)})
            SELECT hour, {", ".join(self.keys)}, {", ".join(f"SUM({c})" for c in COUNTS)},
                   {", ".join(f"SUM({c})" for c in sums)}, MIN(duration_min), MAX(duration_max),
                   {", ".join(f"SUM({b})" for b in BUCKETS)}
            FROM ({self.from_calls_sql(where, sums)}) AS one GROUP BY hour, {", ".join(self.keys)}
            """,
            params,
        )

    def rebuild(self, db: Any, first_hour: str | None, last_hour: str | None) -> None:
        """Add up again, from the calls, the hours from ``first_hour`` to ``last_hour`` (``YYYY-MM-DDTHH``,
        both included; None: no bound), after the calls' costs changed (``genai-cost reprice``)."""
        hours, calls, params = ["1 = 1"], ["1 = 1"], []
        if first_hour is not None:
            hours.append("hour >= ?")
            calls.append("start_time >= ?")  # the hour's text sorts before its calls' times
            params.append(first_hour)
        if last_hour is not None:
            hours.append("hour <= ?")
            calls.append("start_time < ?")
            params.append(last_hour + "~")  # "~" sorts after every character of a time
        db.execute(f"DELETE FROM {self.name} WHERE {' AND '.join(hours)}", params)
        self.backfill(db, where=" AND ".join(calls), params=params)

    def totals(self, rows: Iterable[Any]) -> list[tuple[Any, ...]]:
        """The rows of this table for a batch of ``UsageRow``s, in ``columns`` order."""
        keys = self.keys
        groups: dict[tuple[str, ...], _Totals] = {}
        for row in rows:
            values = {
                "feature": row.feature,
                "user_id": row.user_id,
                "session_id": row.session_id,
                "provider": row.provider,
                "model": row.request_model or row.response_model,
                "operation": row.operation,
                "pricing": row.usage.served_label(),
            }
            key = (row.start_time[:13], *(values[k] or "" for k in keys))
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Totals()
            group.add(row)
        return [(*key, *g.counts, *g.sums, g.low, g.high, *g.hist) for key, g in groups.items()]


def _bucket_sql() -> str:
    cases = " ".join(f"WHEN duration_s < {bound!r} THEN {i}" for i, bound in enumerate(BOUNDS))
    return f"CASE WHEN duration_s IS NULL THEN NULL {cases} ELSE {len(BOUNDS)} END"


def _flag(column: str) -> str:
    return f"CASE WHEN {column} THEN 1 ELSE 0 END"


def bucket(duration: float) -> int:
    return bisect.bisect_right(BOUNDS, duration)


_REQUESTS, _ERRORS, _LIMITED, _PRICED, _UNPRICED, _MISSING, _TIMED = range(len(COUNTS))
_TOKEN_FIELDS = tuple(kind.name for kind in TOKEN_KINDS)


class _Totals:
    __slots__ = ("counts", "high", "hist", "low", "sums")

    def __init__(self) -> None:
        self.counts = [0] * len(COUNTS)
        self.sums: list[Any] = [None] * len(SUMS)
        self.low: float | None = None
        self.high: float | None = None
        self.hist = [0] * len(BUCKETS)

    def add(self, row: Any) -> None:
        counts = self.counts
        counts[_REQUESTS] += 1
        counts[_ERRORS] += row.error_type is not None
        counts[_LIMITED] += bool(row.rate_limited)
        counts[_PRICED] += row.cost is not None
        counts[_UNPRICED] += bool(row.unpriced)
        counts[_MISSING] += bool(row.usage_missing)
        sums = self.sums
        usage = row.usage
        values = (
            row.cost,
            row.cost if row.session_id is not None else None,
            *(getattr(usage, n) for n in _TOKEN_FIELDS),
            1 if row.partial else None,
        )
        for i, value in enumerate(values):
            if value is not None:
                sums[i] = value if sums[i] is None else sums[i] + value
        duration = row.duration_s
        if duration is not None:
            counts[_TIMED] += 1
            self.hist[bisect.bisect_right(BOUNDS, duration)] += 1
            if self.low is None or duration < self.low:
                self.low = duration
            if self.high is None or duration > self.high:
                self.high = duration


CALLS = Table(
    "usage_hourly", ("feature", "user_id", "session_id", "provider", "model", "operation", "pricing")
)
TOTALS = Table("usage_hourly_totals", ("feature", "provider", "model", "operation", "pricing"))
TABLES = (CALLS, TOTALS)


def percentile(hist: Sequence[int], p: int, low: float | None, high: float | None) -> float | None:
    """The ``p``-th percentile (nearest rank) estimated from a histogram: the geometric middle of the
    bucket holding that rank, kept within [low, high] (the fastest and slowest call)."""
    n = sum(hist)
    if not n:
        return None
    rank = (p * n + 99) // 100
    seen = 0
    for i, count in enumerate(hist):
        seen += count
        if seen >= rank:
            lo = BOUNDS[i - 1] if i > 0 else (low if low is not None else BOUNDS[0] / RATIO)
            hi = BOUNDS[i] if i < len(BOUNDS) else (high if high is not None else BOUNDS[-1] * RATIO)
            estimate = math.sqrt(max(lo, 1e-9) * hi)
            if low is not None:
                estimate = max(estimate, low)
            if high is not None:
                estimate = min(estimate, high)
            return estimate
    return high
