"""The dashboard on the PostgreSQL usage store: the high-cardinality views Prometheus cannot hold.

Grafana's built-in PostgreSQL data source (``grafana-postgresql-datasource``) over the store's
tables: cost per session and per user (over the dashboard's range and over the last 7, 30 and 90
days), the most expensive sessions and users, and a drill-down from feature to user to session to
the calls, whose trace ids open the trace in Tempo. Totals read the hourly rollups (whole hours that
overlap the range); the calls table is read for the drill-down only, a page of calls at a time.

Panels are data (``SqlPanel``) so the tests run every query against a real PostgreSQL holding calls
whose totals are known (tests/test_usage_store_dashboard.py). Written as plain Grafana JSON: the
Grafana SDK the Prometheus dashboards use has no typed SQL query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from dashboards.links import _explore_url  # the one builder of Explore links to Tempo
from dashboards.promql import VAR_TRACES

UID: Final = "genai-cost-usage-store"
DATASOURCE_TYPE: Final = "grafana-postgresql-datasource"
VAR_DATASOURCE: Final = "store"
VAR_FEATURE: Final = "feature"
VAR_USER: Final = "user"
VAR_SESSION: Final = "session"
ALL: Final = "__all"  # the "All" value of a variable: no filter

# The store keeps UTC times as fixed-width text; Grafana's range as the same text, for comparing.
_TEXT_TIME = "to_char(({moment})::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')"
HOUR_FROM: Final = _TEXT_TIME.format(moment="$__timeFrom()")
HOUR_TO: Final = _TEXT_TIME.format(moment="$__timeTo()")
IN_RANGE: Final = f"hour >= {HOUR_FROM} AND hour <= {HOUR_TO}"  # the hours that overlap the range


def _matches(column: str, variable: str) -> str:
    return f"('${{{variable}}}' = '{ALL}' OR {column} = '${{{variable}}}')"


def _days_ago(days: int) -> str:
    return _TEXT_TIME.format(moment=f"now() - interval '{days} days'")


FILTERED: Final = f"{_matches('feature', VAR_FEATURE)} AND {_matches('user_id', VAR_USER)} AND {_matches('session_id', VAR_SESSION)}"
SHOWN = "NULLIF({column}, '')"  # rollup keys are '' where the call had no value


@dataclass(frozen=True)
class SqlPanel:
    title: str
    kind: Literal["stat", "table"]
    sql: str
    unit: str = "none"
    description: str = ""
    width: int = 12
    height: int = 8
    trace_link: bool = False  # a data link on the trace_id column


PANELS: Final[tuple[SqlPanel, ...]] = (
    SqlPanel(
        "Cost in range",
        "stat",
        f"SELECT COALESCE(SUM(cost), 0) AS cost_usd FROM usage_hourly WHERE {IN_RANGE} AND {FILTERED}",
        unit="currencyUSD",
        description="Every call in the store (not sampled), by the hour: the hours that overlap the range.",
        width=6,
    ),
    SqlPanel(
        "Calls in range",
        "stat",
        f"SELECT COALESCE(SUM(requests), 0) AS calls FROM usage_hourly WHERE {IN_RANGE} AND {FILTERED}",
        width=6,
    ),
    SqlPanel(
        "Sessions in range",
        "stat",
        f"SELECT COUNT(DISTINCT session_id) AS sessions FROM usage_hourly "
        f"WHERE {IN_RANGE} AND {FILTERED} AND session_id <> ''",
        width=6,
    ),
    SqlPanel(
        "Average cost per session",
        "stat",
        f"SELECT SUM(session_cost) / NULLIF(COUNT(DISTINCT session_id), 0) AS usd_per_session "
        f"FROM usage_hourly WHERE {IN_RANGE} AND {FILTERED} AND session_id <> ''",
        unit="currencyUSD",
        width=6,
    ),
    SqlPanel(
        "Cost by feature",
        "table",
        f"SELECT {SHOWN.format(column='feature')} AS feature, SUM(requests) AS calls, SUM(cost) AS cost_usd, "
        f"COUNT(DISTINCT NULLIF(user_id, '')) AS users, COUNT(DISTINCT NULLIF(session_id, '')) AS sessions "
        f"FROM usage_hourly WHERE {IN_RANGE} AND {FILTERED} GROUP BY feature ORDER BY cost_usd DESC NULLS LAST",
        description="Pick a feature in the variable above to see its users and sessions.",
    ),
    SqlPanel(
        "Most expensive users",
        "table",
        f"SELECT {SHOWN.format(column='user_id')} AS user_id, SUM(requests) AS calls, SUM(cost) AS cost_usd, "
        f"COUNT(DISTINCT NULLIF(session_id, '')) AS sessions FROM usage_hourly "
        f"WHERE {IN_RANGE} AND {FILTERED} GROUP BY user_id ORDER BY cost_usd DESC NULLS LAST LIMIT 50",
    ),
    SqlPanel(
        "Users over the last 7, 30 and 90 days",
        "table",
        "SELECT NULLIF(user_id, '') AS user_id, "
        + ", ".join(
            f"SUM(CASE WHEN hour >= {_days_ago(days)} THEN cost END) AS cost_{days}d" for days in (7, 30, 90)
        )
        + f" FROM usage_hourly WHERE hour >= {_days_ago(90)} "
        f"AND {FILTERED} GROUP BY user_id ORDER BY cost_30d DESC NULLS LAST LIMIT 100",
        description="Fixed windows ending now (whole hours), whatever the dashboard's range.",
        width=24,
    ),
    SqlPanel(
        "Most expensive sessions",
        "table",
        f"SELECT {SHOWN.format(column='session_id')} AS session_id, MIN(NULLIF(user_id, '')) AS user_id, "
        f"MIN(NULLIF(feature, '')) AS feature, SUM(requests) AS calls, SUM(errors) AS errors, "
        f"SUM(cost) AS cost_usd, MIN(hour) AS first_hour FROM usage_hourly "
        f"WHERE {IN_RANGE} AND {FILTERED} AND session_id <> '' "
        f"GROUP BY session_id ORDER BY cost_usd DESC NULLS LAST LIMIT 50",
        width=24,
    ),
    SqlPanel(
        "Calls",
        "table",
        "SELECT start_time, feature, user_id, session_id, provider, COALESCE(request_model, response_model) "
        "AS model, input_tokens, output_tokens, cost AS cost_usd, duration_s, error_type, trace_id FROM usage "
        f"WHERE substr(start_time, 1, 13) >= {HOUR_FROM} AND substr(start_time, 1, 13) <= {HOUR_TO} "
        f"AND ('${{{VAR_FEATURE}}}' = '{ALL}' OR COALESCE(feature, '') = '${{{VAR_FEATURE}}}') "
        f"AND ('${{{VAR_USER}}}' = '{ALL}' OR COALESCE(user_id, '') = '${{{VAR_USER}}}') "
        f"AND ('${{{VAR_SESSION}}}' = '{ALL}' OR COALESCE(session_id, '') = '${{{VAR_SESSION}}}') "
        "ORDER BY start_time DESC LIMIT 200",
        description="The calls behind the totals; a trace id (set when the call's span was sampled) opens its trace.",
        width=24,
        height=10,
        trace_link=True,
    ),
)


def _variable(name: str, label: str, sql: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": {"type": DATASOURCE_TYPE, "uid": f"${{{VAR_DATASOURCE}}}"},
        "query": sql,
        "definition": sql,
        "refresh": 2,
        "includeAll": True,
        "allValue": ALL,
        "current": {"text": "All", "value": "$__all"},
        "multi": False,
        "sort": 1,
    }


VARIABLE_QUERIES: Final = {
    VAR_FEATURE: f"SELECT DISTINCT feature FROM usage_hourly_totals WHERE {IN_RANGE} ORDER BY 1",
    VAR_USER: f"SELECT DISTINCT user_id FROM usage_hourly WHERE {IN_RANGE} AND {_matches('feature', VAR_FEATURE)} ORDER BY 1 LIMIT 1000",
    VAR_SESSION: (
        f"SELECT DISTINCT session_id FROM usage_hourly WHERE {IN_RANGE} AND {_matches('feature', VAR_FEATURE)} "
        f"AND {_matches('user_id', VAR_USER)} AND session_id <> '' ORDER BY 1 LIMIT 1000"
    ),
}


def _panel(panel: SqlPanel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "datasource": {"type": DATASOURCE_TYPE, "uid": f"${{{VAR_DATASOURCE}}}"},
        "targets": [
            {
                "refId": "A",
                "datasource": {"type": DATASOURCE_TYPE, "uid": f"${{{VAR_DATASOURCE}}}"},
                "editorMode": "code",
                "format": "table",
                "rawQuery": True,
                "rawSql": panel.sql,
            }
        ],
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {},
    }
    if panel.trace_link:
        url = _explore_url("${__value.raw:percentencode}")  # Tempo opens a trace from its id
        out["fieldConfig"]["overrides"].append(
            {
                "matcher": {"id": "byName", "options": "trace_id"},
                "properties": [{"id": "links", "value": [{"title": "Open the trace", "url": url}]}],
            }
        )
    return out


def dashboard() -> dict[str, Any]:
    panels, x, y, row_height = [], 0, 0, 0
    for i, panel in enumerate(PANELS, start=1):
        if x + panel.width > 24:
            x, y = 0, y + row_height
            row_height = 0
        panels.append(_panel(panel, i, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return {
        "uid": UID,
        "title": "genai-cost: usage store (PostgreSQL)",
        "description": __doc__.split("\n\n")[0] if __doc__ else "",
        "tags": ["genai-cost"],
        "timezone": "utc",
        "schemaVersion": 39,
        "time": {"from": "now-7d", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": VAR_DATASOURCE,
                    "label": "Usage store",
                    "type": "datasource",
                    "query": DATASOURCE_TYPE,
                    "current": {},
                },
                {
                    "name": VAR_TRACES,
                    "label": "Traces",
                    "type": "datasource",
                    "query": "tempo",
                    "current": {},
                },
                *(_variable(name, name.capitalize(), sql) for name, sql in VARIABLE_QUERIES.items()),
            ]
        },
        "panels": panels,
    }


def to_json() -> str:
    return json.dumps(dashboard(), indent=2, sort_keys=True) + "\n"
