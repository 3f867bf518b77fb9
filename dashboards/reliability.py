"""GenAI cost / Reliability: errors and rate limits by provider, latency, time to first chunk."""

from __future__ import annotations

from dashboards import names as n
from dashboards import promql as p
from dashboards.spec import Dashboard, Panel, Query, Row, grouped

_CALLS = f"{n.DURATION}_count"
_RATE_LIMITED = f'{n.ERROR_TYPE}=~"{n.RATE_LIMITED_ERROR_TYPES}"'
_BY_PROVIDER = (n.PROVIDER,)
_QUANTILES = (0.5, 0.95, 0.99)


def _ratio_by_provider(matcher: str) -> str:
    # `or ... * 0` keeps a 0 line for providers with no matching call instead of no line at all;
    # `> 0` leaves a gap, not NaN, while a provider has no calls.
    part = p.rate(_CALLS, _BY_PROVIDER, matcher)
    whole = p.rate(_CALLS, _BY_PROVIDER)
    return f"({part} or {whole} * 0) / ({whole} > 0)"


def _errors() -> Row:
    by_error = (n.PROVIDER, n.ERROR_TYPE)
    return Row(
        "Errors and rate limits",
        (
            Panel(
                "Error ratio by provider",
                "timeseries",
                "percentunit",
                (grouped(_ratio_by_provider(p.FAILED), "ratio", _BY_PROVIDER),),
                "Failed calls (with error.type) / all calls.",
                trace_link=True,
                max_value=1,
            ),
            Panel(
                "Errors per second by provider and type",
                "timeseries",
                "reqps",
                (grouped(p.rate(_CALLS, by_error, p.FAILED), "call_rate", by_error),),
                "error.type is the SDK exception class. Click a series for the failed calls' traces.",
                stacked=True,
                trace_link=True,
            ),
            Panel(
                "Rate-limited calls per second by provider",
                "timeseries",
                "reqps",
                (grouped(p.rate(_CALLS, _BY_PROVIDER, _RATE_LIMITED), "call_rate", _BY_PROVIDER),),
                f'error.type matching "{n.RATE_LIMITED_ERROR_TYPES}" (the same match as the '
                "GenAICostRateLimitSurge alert).",
                stacked=True,
                trace_link=True,
            ),
            Panel(
                "Rate-limited ratio by provider",
                "timeseries",
                "percentunit",
                (grouped(_ratio_by_provider(_RATE_LIMITED), "ratio", _BY_PROVIDER),),
                max_value=1,
            ),
            Panel(
                "Failed calls in range",
                "table",
                "short",
                (
                    grouped(
                        f"sort_desc({p.total(_CALLS, by_error, p.FAILED)})", "calls", by_error, instant=True
                    ),
                ),
                "Click a row for the failed calls' traces.",
                trace_link=True,
                width=24,
                no_value="No failed calls",
            ),
        ),
    )


def _latency() -> Row:
    by_model = (n.PROVIDER, n.MODEL)
    mean = f"{p.total(f'{n.DURATION}_sum', by_model)} / {p.total(_CALLS, by_model)}"
    return Row(
        "Latency",
        (
            Panel(
                "Latency p50 / p95 / p99",
                "timeseries",
                "s",
                tuple(
                    Query(p.quantile_over_time(q, n.DURATION), "seconds", f"p{round(q * 100)}")
                    for q in _QUANTILES
                ),
                "Exemplar dots open the trace of a call when exemplars are enabled.",
            ),
            Panel(
                "Latency p95 by model",
                "timeseries",
                "s",
                (grouped(p.quantile_over_time(0.95, n.DURATION, by_model), "seconds", by_model),),
                trace_link=True,
            ),
            Panel(
                "Mean latency by model in range",
                "bargauge",
                "s",
                (grouped(f"sort_desc({mean})", "seconds", by_model, instant=True),),
                width=24,
                height=6,
            ),
        ),
    )


def _streams() -> Row:
    by_model = (n.PROVIDER, n.MODEL)
    return Row(
        "Streams: time to first chunk",
        (
            Panel(
                "Time to first chunk p50 / p95 / p99",
                "timeseries",
                "s",
                tuple(
                    Query(p.quantile_over_time(q, n.TTFC), "seconds", f"p{round(q * 100)}")
                    for q in _QUANTILES
                ),
                "Streamed calls only: time from the request to the first chunk.",
            ),
            Panel(
                "Time to first chunk p95 by model",
                "timeseries",
                "s",
                (grouped(p.quantile_over_time(0.95, n.TTFC, by_model), "seconds", by_model),),
                trace_link=True,
            ),
            Panel(
                "Time to first chunk in range",
                "stat",
                "s",
                tuple(
                    Query(p.quantile_over_range(q, n.TTFC), "seconds", f"p{round(q * 100)}", instant=True)
                    for q in _QUANTILES
                ),
                width=12,
                height=4,
            ),
            Panel(
                "Streamed calls in range by model",
                "bargauge",
                "short",
                (
                    grouped(
                        f"sort_desc({p.total(f'{n.TTFC}_count', by_model)})", "calls", by_model, instant=True
                    ),
                ),
                width=12,
                height=4,
            ),
        ),
    )


DASHBOARD = Dashboard(
    uid="genai-cost-reliability",
    title="GenAI cost / Reliability",
    description="Errors and rate limits by provider, latency and streaming time to first chunk.",
    rows=(_errors(), _latency(), _streams()),
    time_from="now-6h",
)
