"""Daily totals kept beside the calls, so a report over millions of calls reads thousands of rows.

``usage_daily`` holds one row per UTC day and group of calls that a report can ask for (feature,
user, session, provider, model, operation), with every sum a report needs and a latency histogram.
``UsageStore.insert`` adds a batch's totals in the transaction that stores its calls, counting only
calls actually stored (a batch sent again is not counted twice). A report over a time range reads
the whole days from here and the calls of the partial days at its edges from ``usage``.

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

from genai_cost import semconv as sc
from genai_cost.store.dialect import Dialect
from genai_cost.usage import TOKEN_KINDS

TABLE = "usage_daily"
FIRST_BOUND_S = 0.01
RATIO = 1.5
BOUNDS: tuple[float, ...] = tuple(FIRST_BOUND_S * RATIO**i for i in range(28))  # 10 ms .. ~9.5 min
BUCKETS = tuple(f"lat{i:02d}" for i in range(len(BOUNDS) + 1))  # bucket i: BOUNDS[i-1] <= d < BOUNDS[i]

KEYS = ("feature", "user_id", "session_id", "provider", "model", "operation")
# Where each key comes from in a row of ``usage``.
KEY_SOURCES = {
    "feature": "feature",
    "user_id": "user_id",
    "session_id": "session_id",
    "provider": "provider",
    "model": "COALESCE(request_model, response_model)",
    "operation": "operation",
}
COUNTS = ("requests", "errors", "rate_limited", "priced", "unpriced", "usage_missing", "timed")
SUMS = ("cost", *(kind.column for kind in TOKEN_KINDS))  # NULL when no call reported one


def create(db: Any, d: Dialect) -> None:
    db.execute(
        f"""
        CREATE TABLE {TABLE} (
            day TEXT NOT NULL,
            {", ".join(f"{key} TEXT NOT NULL" for key in KEYS)},
            {", ".join(f"{name} INTEGER NOT NULL" for name in COUNTS)},
            cost {d.real},
            {", ".join(f"{kind.column} INTEGER" for kind in TOKEN_KINDS)},
            duration_min {d.real},
            duration_max {d.real},
            {", ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name in BUCKETS)},
            PRIMARY KEY (day, {", ".join(KEYS)})
        )
        """
    )


def _bucket_sql() -> str:
    cases = " ".join(f"WHEN duration_s < {bound!r} THEN {i}" for i, bound in enumerate(BOUNDS))
    return f"CASE WHEN duration_s IS NULL THEN NULL {cases} ELSE {len(BOUNDS)} END"


def _flag(column: str) -> str:
    return f"CASE WHEN {column} THEN 1 ELSE 0 END"


def from_calls_sql(where: str) -> str:
    """The calls of ``usage`` matching ``where``, as rollup rows (one per call, not yet summed)."""
    bucket = _bucket_sql()
    return f"""
        SELECT substr(start_time, 1, 10) AS day,
               {", ".join(f"COALESCE({KEY_SOURCES[key]}, '') AS {key}" for key in KEYS)},
               1 AS requests, CASE WHEN error_type IS NOT NULL THEN 1 ELSE 0 END AS errors,
               {_flag("rate_limited")} AS rate_limited, CASE WHEN cost IS NOT NULL THEN 1 ELSE 0 END AS priced,
               {_flag("unpriced")} AS unpriced, {_flag("usage_missing")} AS usage_missing,
               CASE WHEN duration_s IS NOT NULL THEN 1 ELSE 0 END AS timed,
               {", ".join(SUMS)}, duration_s AS duration_min, duration_s AS duration_max,
               {", ".join(f"CASE WHEN b = {i} THEN 1 ELSE 0 END AS {name}" for i, name in enumerate(BUCKETS))}
        FROM (SELECT *, {bucket} AS b FROM usage WHERE {where}) AS calls
    """


COLUMNS = ("day", *KEYS, *COUNTS, *SUMS, "duration_min", "duration_max", *BUCKETS)


def backfill(db: Any) -> None:
    """Totals of the calls stored before the rollup existed (a migration)."""
    db.execute(
        f"""
        INSERT INTO {TABLE} ({", ".join(COLUMNS)})
        SELECT day, {", ".join(KEYS)}, {", ".join(f"SUM({c})" for c in COUNTS)},
               {", ".join(f"SUM({c})" for c in SUMS)}, MIN(duration_min), MAX(duration_max),
               {", ".join(f"SUM({b})" for b in BUCKETS)}
        FROM ({from_calls_sql("1 = 1")}) AS one GROUP BY day, {", ".join(KEYS)}
        """
    )


def bucket(duration: float) -> int:
    return bisect.bisect_right(BOUNDS, duration)


class _Totals:
    __slots__ = ("counts", "high", "hist", "low", "sums")

    def __init__(self) -> None:
        self.counts = [0] * len(COUNTS)
        self.sums: list[Any] = [None] * len(SUMS)
        self.low: float | None = None
        self.high: float | None = None
        self.hist = [0] * len(BUCKETS)


_REQUESTS, _ERRORS, _LIMITED, _PRICED, _UNPRICED, _MISSING, _TIMED = range(len(COUNTS))
_SUM_FIELDS = ("cost", *(kind.name for kind in TOKEN_KINDS))


def totals(rows: Iterable[Any]) -> list[tuple[Any, ...]]:
    """The rollup rows of a batch of ``UsageRow``s, in ``COLUMNS`` order."""
    groups: dict[tuple[str, ...], _Totals] = {}
    for row in rows:
        key = (
            row.start_time[:10],
            row.feature or "",
            row.user_id or "",
            row.session_id or "",
            row.provider or "",
            row.request_model or row.response_model or "",
            row.operation,
        )
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Totals()
        counts = group.counts
        counts[_REQUESTS] += 1
        counts[_ERRORS] += row.error_type is not None
        counts[_LIMITED] += bool(row.rate_limited)
        counts[_PRICED] += row.cost is not None
        counts[_UNPRICED] += bool(row.unpriced)
        counts[_MISSING] += bool(row.usage_missing)
        sums = group.sums
        usage = row.usage
        for i, name in enumerate(_SUM_FIELDS):
            value = row.cost if i == 0 else getattr(usage, name)
            if value is not None:
                sums[i] = value if sums[i] is None else sums[i] + value
        duration = row.duration_s
        if duration is not None:
            counts[_TIMED] += 1
            group.hist[bisect.bisect_right(BOUNDS, duration)] += 1
            if group.low is None or duration < group.low:
                group.low = duration
            if group.high is None or duration > group.high:
                group.high = duration
    return [(*key, *g.counts, *g.sums, g.low, g.high, *g.hist) for key, g in groups.items()]


def _add(column: str) -> str:
    return f"{column} = {TABLE}.{column} + excluded.{column}"


def _add_nullable(column: str) -> str:
    return (
        f"{column} = CASE WHEN excluded.{column} IS NULL THEN {TABLE}.{column} "
        f"ELSE COALESCE({TABLE}.{column}, 0) + excluded.{column} END"
    )


def _keep(column: str, better: str) -> str:
    return (
        f"{column} = CASE WHEN {TABLE}.{column} IS NULL OR excluded.{column} {better} {TABLE}.{column} "
        f"THEN excluded.{column} ELSE {TABLE}.{column} END"
    )


UPSERT = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    f"ON CONFLICT (day, {', '.join(KEYS)}) DO UPDATE SET "
    + ", ".join(
        [
            *(_add(c) for c in COUNTS),
            *(_add_nullable(c) for c in SUMS),
            _keep("duration_min", "<"),
            _keep("duration_max", ">"),
            *(_add(b) for b in BUCKETS),
        ]
    )
)


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


OP_COUNT_TOKENS = sc.OP_COUNT_TOKENS
