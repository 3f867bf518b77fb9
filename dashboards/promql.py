"""PromQL building blocks shared by every dashboard: the variable filter and a few aggregations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from dashboards import names as n

# Dashboard variables and the label each one filters. Every panel query goes through `selector`,
# so every query honours every variable.
VAR_DATASOURCE: Final = "datasource"
VAR_TRACES: Final = "traces"
VAR_SERVICE: Final = "service"
VAR_PROVIDER: Final = "provider"
VAR_MODEL: Final = "model"
VAR_FEATURE: Final = "feature"
FILTERS: Final = (
    (n.JOB, VAR_SERVICE),
    (n.PROVIDER, VAR_PROVIDER),
    (n.MODEL, VAR_MODEL),
    (n.FEATURE, VAR_FEATURE),
)

# Grafana range variables; the tests substitute durations for them.
RANGE: Final = "$__range"
RANGE_SECONDS: Final = "$__range_s"
RATE_INTERVAL: Final = "$__rate_interval"

FAILED: Final = f'{n.ERROR_TYPE}!=""'
SUCCEEDED: Final = f'{n.ERROR_TYPE}=""'  # also matches series without the label


def selector(metric: str, *extra: str) -> str:
    matchers = [f'{label}=~"${var}"' for label, var in FILTERS]
    matchers.extend(extra)
    return f"{metric}{{{', '.join(matchers)}}}"


def _sum(labels: Sequence[str], inner: str) -> str:
    return f"sum by ({', '.join(labels)}) ({inner})" if labels else f"sum({inner})"


def total(metric: str, labels: Sequence[str] = (), *extra: str, window: str = RANGE) -> str:
    """How much a counter (or histogram _sum/_count/_bucket) grew over the panel's range, summed.

    `increase` alone misses the first sample of a series born inside the range (it has nothing to
    subtract it from), which for a short-lived app is the whole bill. So series that existed at the
    start of the range use `increase` (it copes with counter resets), and series born inside the
    range count their last value, which is exactly what they accumulated.
    """
    sel = selector(metric, *extra)
    inner = f"(increase({sel}[{window}]) and {sel} offset {window}) or last_over_time({sel}[{window}])"
    return _sum(labels, inner)


def rate(metric: str, labels: Sequence[str] = (), *extra: str) -> str:
    return _sum(labels, f"rate({selector(metric, *extra)}[{RATE_INTERVAL}])")


def quantile_over_range(q: float, metric: str, labels: Sequence[str] = ()) -> str:
    return f"histogram_quantile({q}, {total(f'{metric}_bucket', (*labels, n.LE))})"


def quantile_over_time(q: float, metric: str, labels: Sequence[str] = ()) -> str:
    return f"histogram_quantile({q}, {rate(f'{metric}_bucket', (*labels, n.LE))})"


def per_hour(expr: str) -> str:
    return f"{expr} * 3600"


# Seconds left in the current calendar month, UTC (the month the budget rules use).
MONTH_REMAINING_SECONDS: Final = (
    "scalar(days_in_month() * 86400 - ((day_of_month() - 1) * 86400 + time() % 86400))"
)
