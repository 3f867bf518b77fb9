"""The PostgreSQL usage-store dashboard: every panel's SQL, as Grafana would send it, run against a real
PostgreSQL holding calls whose totals are known."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from dashboards import generate, usage_store

from genai_cost.store.db import UsageRow, UsageStore, format_time
from genai_cost.usage import Usage
from postgres_server import postgres_server

NOW = datetime.now(UTC)
HOUR = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


def _call(
    ago: timedelta, user: str, session: str | None, feature: str | None, cost: float, **kw: Any
) -> UsageRow:
    _call.count += 1  # type: ignore[attr-defined]
    return UsageRow(
        format_time(HOUR - ago + timedelta(minutes=30)),
        0.5,
        kw.pop("trace_id", None),
        f"{_call.count:016x}",  # type: ignore[attr-defined]
        "chat",
        provider="openai",
        request_model="gpt-4o-mini",
        feature=feature,
        user_id=user,
        session_id=session,
        cost=cost,
        usage=Usage(100, 10),
        **kw,
    )


_call.count = 0  # type: ignore[attr-defined]
DAY = timedelta(days=1)
CALLS = [
    *(_call(DAY, "u1", "s1", "interview", 0.01, trace_id="ab" * 16 if i == 0 else None) for i in range(3)),
    *(_call(10 * DAY, "u1", "s2", "resume", 0.05) for _ in range(2)),
    *(
        _call(2 * DAY, "u2", "s3", "interview", 0.002, error_type="APIError" if i == 0 else None)
        for i in range(4)
    ),
    _call(40 * DAY, "u2", None, "interview", 1.0),
    _call(100 * DAY, "u3", "s4", None, 5.0),
]
RANGE = (HOUR - 5 * DAY, NOW)  # the dashboard's time range: holds s1 and s3


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with postgres_server() as server:
        with UsageStore.open(server.url) as store:
            store.insert(CALLS)
        yield server.url


def grafana_sql(sql: str, **variables: str) -> str:
    """The SQL Grafana sends: its range macros and the variables filled in (default All)."""
    start, end = (f"'{moment:%Y-%m-%dT%H:%M:%SZ}'" for moment in RANGE)
    sql = sql.replace("$__timeFrom()", start).replace("$__timeTo()", end)
    for name in (usage_store.VAR_FEATURE, usage_store.VAR_USER, usage_store.VAR_SESSION):
        sql = sql.replace(f"${{{name}}}", variables.get(name, usage_store.ALL))
    assert "$" not in sql, sql
    return sql


def run(url: str, sql: str, **variables: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        cursor = conn.execute(grafana_sql(sql, **variables))
        names = [c.name for c in cursor.description or ()]
        return [
            dict(
                zip(
                    names,
                    [
                        float(v) if hasattr(v, "as_integer_ratio") and not isinstance(v, int) else v
                        for v in row
                    ],
                    strict=True,
                )
            )
            for row in cursor
        ]


PANELS = {panel.title: panel for panel in usage_store.PANELS}


def one(url: str, title: str, **variables: str) -> Any:
    [row] = run(url, PANELS[title].sql, **variables)
    [value] = row.values()
    return value


def test_stats_over_the_range(url: str) -> None:
    assert math.isclose(one(url, "Cost in range"), 0.03 + 0.008)
    assert one(url, "Calls in range") == 7
    assert one(url, "Sessions in range") == 2
    assert math.isclose(one(url, "Average cost per session"), 0.019)
    assert math.isclose(one(url, "Cost in range", user="u1"), 0.03)
    assert one(url, "Calls in range", feature="interview", session="s3") == 4


def test_drill_down_from_feature_to_user_to_session_to_calls(url: str) -> None:
    features = {
        r["feature"]: (r["calls"], round(r["cost_usd"], 9), r["users"], r["sessions"])
        for r in run(url, PANELS["Cost by feature"].sql)
    }
    assert features == {"interview": (7, 0.038, 2, 2)}
    users = [
        (r["user_id"], r["calls"], round(r["cost_usd"], 9))
        for r in run(url, PANELS["Most expensive users"].sql, feature="interview")
    ]
    assert users == [("u1", 3, 0.03), ("u2", 4, 0.008)]
    sessions = [
        (r["session_id"], r["user_id"], r["calls"], r["errors"])
        for r in run(url, PANELS["Most expensive sessions"].sql, user="u2")
    ]
    assert sessions == [("s3", "u2", 4, 1)]
    calls = run(url, PANELS["Calls"].sql, feature="interview", user="u1", session="s1")
    assert len(calls) == 3 and {c["session_id"] for c in calls} == {"s1"}
    assert sorted(c["trace_id"] or "" for c in calls) == ["", "", "ab" * 16]  # sampled calls only
    assert len(run(url, PANELS["Calls"].sql)) == 7


def test_users_over_7_30_and_90_days(url: str) -> None:
    rows = {
        r["user_id"]: (r["cost_7d"], r["cost_30d"], r["cost_90d"])
        for r in run(url, PANELS["Users over the last 7, 30 and 90 days"].sql)
    }
    assert set(rows) == {"u1", "u2"}  # u3's one call is 100 days old
    assert [round(v or 0, 9) for v in rows["u1"]] == [0.03, 0.13, 0.13]
    assert [round(v or 0, 9) for v in rows["u2"]] == [0.008, 0.008, 1.008]


def test_variables_list_the_values(url: str) -> None:
    def values(name: str, **variables: str) -> list[Any]:
        return [next(iter(r.values())) for r in run(url, usage_store.VARIABLE_QUERIES[name], **variables)]

    assert values(usage_store.VAR_FEATURE) == ["interview"]
    assert values(usage_store.VAR_USER, feature="interview") == ["u1", "u2"]
    assert values(usage_store.VAR_SESSION, user="u1") == ["s1"]


def test_the_committed_json_carries_these_queries_and_the_trace_link() -> None:
    board = json.loads(generate.POSTGRES_JSON.read_text())
    sql = {panel["title"]: panel["targets"][0]["rawSql"] for panel in board["panels"]}
    assert sql == {panel.title: panel.sql for panel in usage_store.PANELS}
    assert all(p["datasource"]["type"] == "grafana-postgresql-datasource" for p in board["panels"])
    calls = next(p for p in board["panels"] if p["title"] == "Calls")
    [link] = calls["fieldConfig"]["overrides"][0]["properties"][0]["value"]
    assert "${__value.raw:percentencode}" in link["url"] and re.search(r"tempo", link["url"])
