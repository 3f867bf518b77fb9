"""Dashboards as plain data: what each panel shows, before it is rendered with the Grafana SDK.

Keeping queries as data (and not only inside the rendered JSON) lets the tests run every expression
against Prometheus and check the labels and kind of value each one must return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# What a query's value means, so an end-to-end test knows what to compare it with:
#   usd         US dollars over the panel's range (compare with the billing record)
#   usd_rate    US dollars per hour
#   tokens      tokens over the panel's range;  token_rate: tokens per second
#   calls       calls over the panel's range;   call_rate: calls per second
#   usd_per_call, usd_per_mtok   average price of one call, of a million tokens
#   ratio       a fraction in [0, 1] (budget burn can exceed 1)
#   seconds     a latency (quantile or mean)
Measure = Literal[
    "usd",
    "usd_rate",
    "usd_per_call",
    "usd_per_mtok",
    "tokens",
    "token_rate",
    "calls",
    "call_rate",
    "ratio",
    "seconds",
]
PanelKind = Literal["stat", "timeseries", "table", "bargauge"]


@dataclass(frozen=True)
class Query:
    expr: str
    measure: Measure
    legend: str = ""
    # Labels every result series is grouped by (a series may carry an empty value when the
    # attribute was absent on the call, e.g. feature_name for untagged calls).
    labels: tuple[str, ...] = ()
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    kind: PanelKind
    unit: str
    queries: tuple[Query, ...]
    description: str = ""
    width: int = 12
    height: int = 8
    # Panel relative time, e.g. "now/d" (today so far) or "now/M" (this month so far).
    time_from: str | None = None
    stacked: bool = False
    # Data link from each series or row to its traces in Tempo, filtered by the query's labels.
    trace_link: bool = False
    no_value: str | None = None
    decimals: int | None = None
    # Thresholds as (value, color) steps, e.g. ((0.8, "orange"), (1.0, "red")) above a green base;
    # a first step with value None sets another base colour.
    thresholds: tuple[tuple[float | None, str], ...] = ()
    max_value: float | None = None


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    tags: tuple[str, ...] = field(default=("genai-cost",))
    time_from: str = "now-24h"

    def panels(self) -> list[Panel]:
        return [panel for row in self.rows for panel in row.panels]


def legend(labels: tuple[str, ...]) -> str:
    return " / ".join("{{" + label + "}}" for label in labels)


def grouped(expr: str, measure: Measure, labels: tuple[str, ...], *, instant: bool = False) -> Query:
    """A query whose series are grouped by `labels`, named after them in the legend."""
    return Query(expr, measure, legend(labels), labels, instant)
