"""Every PromQL expression of every dashboard, ready to run against a real Prometheus.

    for q in iter_queries():
        result = prom_query(url, substitute(q.expr, range_seconds=3600))
        # every series of `result` is grouped by q.labels; q.measure says what the value means

Variable queries come from `iter_variable_queries()` as the series selector they list label values
from, so a test can check the label exists on real data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from dashboards.catalog import DASHBOARDS
from dashboards.promql import FILTERS, RANGE, RANGE_SECONDS, RATE_INTERVAL
from dashboards.spec import Measure
from dashboards.variables import LabelVariable, label_variables


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str  # uid
    panel: str  # title
    expr: str  # with Grafana variables; see substitute()
    labels: tuple[str, ...]  # every result series is grouped by these
    measure: Measure
    instant: bool


def iter_queries() -> Iterator[PanelQuery]:
    for board in DASHBOARDS:
        for panel in board.panels():
            for query in panel.queries:
                yield PanelQuery(
                    board.uid, panel.title, query.expr, query.labels, query.measure, query.instant
                )


def iter_variable_queries() -> Iterator[LabelVariable]:
    yield from label_variables()


def substitute(
    expr: str,
    *,
    range_seconds: int = 3600,
    rate_interval: str = "1m",
    values: Mapping[str, str] | None = None,
) -> str:
    """Replace Grafana's variables as Grafana would before sending the query.

    Filter variables default to ".*" (the "All" value); `values` may set some to a regex.
    """
    chosen = {var: ".*" for _, var in FILTERS} | dict(values or {})
    builtins = {
        RANGE_SECONDS: str(range_seconds),
        RANGE: f"{range_seconds}s",
        RATE_INTERVAL: rate_interval,
    }
    # Longest names first, so $__range_s is not read as $__range followed by "_s".
    for name in sorted(builtins, key=len, reverse=True):
        expr = expr.replace(name, builtins[name])
    for var, value in chosen.items():
        # A function replacement, so backslashes in a regex value are not read as group references.
        expr = re.sub(rf"\$\{{{var}\}}|\${var}\b", _literal(value), expr)
    return expr


def _literal(value: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: value
