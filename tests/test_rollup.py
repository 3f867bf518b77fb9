"""The daily totals behind the report: equal to the calls, whatever the range (real SQLite; the
PostgreSQL report is compared with SQLite's in tests/test_store_postgres.py)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import genai_cost.store.db as db
from genai_cost import semconv as sc
from genai_cost.store import rollup
from genai_cost.store.db import GROUP_BY, TOTAL, UsageRow, UsageStore, format_time
from genai_cost.store.timerange import TimeRange
from genai_cost.usage import Usage

BASE = datetime(2026, 11, 1, tzinfo=UTC)


def random_rows(count: int, seed: int, first_id: int = 0) -> list[UsageRow]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        failed = rng.random() < 0.1
        op = sc.OP_COUNT_TOKENS if rng.random() < 0.05 else sc.OP_CHAT
        rows.append(
            UsageRow(
                start_time=format_time(BASE + timedelta(seconds=rng.uniform(0, 6 * 86400))),
                duration_s=None if rng.random() < 0.03 else rng.lognormvariate(0, 1.2),
                trace_id=None,
                span_id=f"{first_id + i:016x}",
                operation=op,
                provider=rng.choice(["openai", "groq", None]),
                request_model=rng.choice(["m1", "m2", None]),
                response_model=rng.choice(["m1-2026", None]),
                feature=rng.choice(["a", "b", "c", None]),
                user_id=rng.choice(["u1", "u2", "u3", "u4", None]),
                session_id=rng.choice([f"s{k}" for k in range(12)] + [None]),
                cost=None if failed or rng.random() < 0.1 else rng.uniform(0, 0.01),
                unpriced=rng.random() < 0.05,
                usage_missing=rng.random() < 0.05,
                error_type="APIError" if failed else None,
                rate_limited=failed and rng.random() < 0.5,
                usage=Usage() if failed else Usage(rng.randrange(1, 5000), rng.randrange(1, 500)),
            )
        )
        if not failed:  # how the call was served, as its response said (mostly not stated)
            usage = rows[-1].usage
            usage.service_tier = rng.choice([None, None, "default", "flex", "priority"])
            usage.processing = "batch" if rng.random() < 0.1 else None
            usage.speed = "fast" if rng.random() < 0.1 else None
            usage.inference_geo = "us" if rng.random() < 0.05 else None
    return rows


def served_group(row: UsageRow) -> str | None:
    """The --by pricing group: the stated dimensions as name=value words, None when none is stated."""
    usage = row.usage
    named = [
        ("service_tier", usage.service_tier),
        ("processing", usage.processing),
        ("speed", usage.speed),
        ("inference_geo", usage.inference_geo),
    ]
    return " ".join(f"{name}={value}" for name, value in named if value is not None) or None


def brute_force(rows: list[UsageRow], by: str, time_range: TimeRange) -> dict[object, dict[str, object]]:
    """What the report must say, computed from the calls in Python."""
    keys = {
        "feature": lambda r: r.feature,
        "model": lambda r: r.request_model or r.response_model,
        "provider": lambda r: r.provider,
        "user": lambda r: r.user_id,
        "session": lambda r: r.session_id,
        "operation": lambda r: r.operation,
        "day": lambda r: r.start_time[:10],
        "pricing": served_group,
        TOTAL: lambda r: None,
    }
    start = format_time(time_range.start) if time_range.start else ""
    end = format_time(time_range.end) if time_range.end else "~"
    groups: dict[object, list[UsageRow]] = {}
    for row in rows:
        if start <= row.start_time < end:
            groups.setdefault(keys[by](row), []).append(row)
    out = {}
    for key, calls in groups.items():
        costs = [r.cost for r in calls if r.cost is not None]
        billed = [r for r in calls if r.operation != sc.OP_COUNT_TOKENS and r.input_tokens is not None]
        out[key] = {
            "requests": len(calls),
            "errors": sum(r.error_type is not None for r in calls),
            "rate_limited": sum(r.rate_limited for r in calls),
            "input_tokens": sum(r.input_tokens for r in billed) if billed else None,
            "cost": sum(costs) if costs else None,
            "priced": len(costs),
            "unpriced": sum(r.unpriced for r in calls),
            "sessions": len({r.session_id for r in calls if r.session_id}),
            "durations": sorted(r.duration_s for r in calls if r.duration_s is not None),
        }
    return out


def nearest_rank(durations: list[float], p: int) -> float | None:
    return durations[(p * len(durations) + 99) // 100 - 1] if durations else None


RANGES = [
    TimeRange(),
    TimeRange(BASE + timedelta(days=1), BASE + timedelta(days=4)),  # whole days only
    TimeRange(BASE + timedelta(days=1, hours=7), None),  # a partial first day
    TimeRange(None, BASE + timedelta(days=3, hours=5, minutes=3)),  # a partial last day
    TimeRange(BASE + timedelta(days=2, hours=1), BASE + timedelta(days=2, hours=20)),  # inside one day
    TimeRange(BASE + timedelta(days=1, hours=23), BASE + timedelta(days=2, hours=1)),  # two partial days
    TimeRange(BASE + timedelta(days=2, minutes=10), BASE + timedelta(days=2, minutes=50)),  # in one hour
    TimeRange(
        BASE + timedelta(hours=5, minutes=59), BASE + timedelta(hours=6, minutes=1)
    ),  # two partial hours
    TimeRange(BASE + timedelta(days=30), None),  # nothing
]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[UsageStore, list[UsageRow]]:
    rows = random_rows(3000, seed=11)
    store = UsageStore.open(tmp_path_factory.mktemp("rollup") / "usage.db")
    for i in range(0, len(rows), 700):
        store.insert(rows[i : i + 700])
    store.insert(rows[:1000])  # a batch sent again: stored once, counted once
    extra = random_rows(5, seed=99, first_id=10_000)
    store.insert(rows[2900:] + extra)  # partly new
    return store, rows + extra


@pytest.mark.parametrize("by", [TOTAL, *GROUP_BY])
@pytest.mark.parametrize("time_range", RANGES, ids=range(len(RANGES)))
def test_the_report_equals_the_calls(
    stored: tuple[UsageStore, list[UsageRow]], by: str, time_range: TimeRange
) -> None:
    store, rows = stored
    expected = brute_force(rows, by, time_range)
    got = {row.key: row for row in store.report(by, time_range)}
    if by == TOTAL and not expected:
        assert got[None].requests == 0
        return
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        assert (row.requests, row.errors, row.rate_limited, row.priced, row.unpriced, row.sessions) == (
            want["requests"], want["errors"], want["rate_limited"], want["priced"], want["unpriced"],
            want["sessions"],
        ), key  # fmt: skip
        assert row.input_tokens == want["input_tokens"], key
        assert (row.cost is None) == (want["cost"] is None)
        assert math.isclose(row.cost or 0, want["cost"] or 0, rel_tol=1e-9, abs_tol=1e-15)  # type: ignore[arg-type]
        durations = want["durations"]
        assert row.latency_exact
        assert (row.p50_s, row.p95_s, row.p99_s) == tuple(nearest_rank(durations, p) for p in (50, 95, 99))  # type: ignore[arg-type]


def test_approximate_percentiles_beyond_the_exact_limit(
    stored: tuple[UsageStore, list[UsageRow]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, rows = stored
    monkeypatch.setattr(db, "EXACT_PERCENTILES_UP_TO", 10)
    for time_range in RANGES[:4]:
        expected = brute_force(rows, "feature", time_range)
        for row in store.report("feature", time_range):
            durations = expected[row.key]["durations"]
            assert not row.latency_exact
            for p, got in ((50, row.p50_s), (95, row.p95_s), (99, row.p99_s)):
                exact = nearest_rank(durations, p)  # type: ignore[arg-type]
                assert exact is not None and got is not None
                # Within the bucket's spread: sqrt(RATIO) either way of the exact value.
                assert exact / math.sqrt(rollup.RATIO) <= got <= exact * math.sqrt(rollup.RATIO), (
                    p,
                    exact,
                    got,
                )


def test_bucket_bounds_are_the_same_in_sql_and_python(tmp_path: Path) -> None:
    durations = [0.0, 0.0099, 0.01, *rollup.BOUNDS, *(b * 0.999999 for b in rollup.BOUNDS), 10_000.0]
    rows = [
        UsageRow(format_time(BASE), d, None, f"{i:016x}", "chat", feature=f"f{i}")
        for i, d in enumerate(durations)
    ]
    with UsageStore.open(tmp_path / "usage.db") as store:
        store.insert(rows)
        conn = store._conn
        in_sql = conn.execute(
            f"SELECT b FROM (SELECT {rollup._bucket_sql()} AS b, id FROM usage) ORDER BY id"
        )
        assert [b for (b,) in in_sql] == [rollup.bucket(d) for d in durations]
        # A migrated store's backfill gives the totals that inserts keep.
        for table in rollup.TABLES:
            kept = conn.execute(f"SELECT * FROM {table.name} ORDER BY feature").fetchall()
            conn.execute(f"DELETE FROM {table.name}")
            table.backfill(conn)
            assert conn.execute(f"SELECT * FROM {table.name} ORDER BY feature").fetchall() == kept
