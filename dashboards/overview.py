"""GenAI cost / Overview: spend today, this month and projected, traffic, success and latency."""

from __future__ import annotations

from dashboards import names as n
from dashboards import promql as p
from dashboards.spec import Dashboard, Panel, Query, Row, grouped

_COST = f"{n.COST}_sum"
_CALLS = f"{n.DURATION}_count"
_TOKENS = f"{n.TOKENS}_sum"
_QUANTILES = (0.5, 0.95, 0.99)
_BY_PROVIDER = (n.PROVIDER,)


def _projected_month() -> str:
    # Month to date plus the last 24 hours' pace for the rest of the month: the same forecast as the
    # recording rule genai_cost:cost_usd:forecast_month, but under this dashboard's filters.
    last_day = p.total(_COST, window="1d")
    return f"{p.total(_COST)} + ({last_day} or vector(0)) / 86400 * {p.MONTH_REMAINING_SECONDS}"


def _spend() -> Row:
    usd = "currencyUSD"
    return Row(
        "Spend (UTC days and months, like the budget rules)",
        (
            Panel(
                "Cost today",
                "stat",
                usd,
                (Query(p.total(_COST), "usd", instant=True),),
                "Cost of calls since 00:00 UTC.",
                width=4,
                height=4,
                time_from="now/d",
            ),
            Panel(
                "Cost this month",
                "stat",
                usd,
                (Query(p.total(_COST), "usd", instant=True),),
                "Cost of calls since the 1st of this month, 00:00 UTC.",
                width=4,
                height=4,
                time_from="now/M",
            ),
            Panel(
                "Projected this month",
                "stat",
                usd,
                (Query(_projected_month(), "usd", instant=True),),
                "Month to date plus the last 24 hours' spending rate for the rest of the month.",
                width=4,
                height=4,
                time_from="now/M",
            ),
            Panel(
                "Cost in range",
                "stat",
                usd,
                (Query(p.total(_COST), "usd", instant=True),),
                "Cost of calls in the dashboard's time range.",
                width=4,
                height=4,
            ),
            Panel(
                "Requests in range",
                "stat",
                "short",
                (Query(p.total(_CALLS), "calls", instant=True),),
                "All calls, failed ones included.",
                width=4,
                height=4,
            ),
            Panel(
                "Tokens in range",
                "stat",
                "short",
                (Query(p.total(_TOKENS), "tokens", instant=True),),
                "Input plus output tokens.",
                width=4,
                height=4,
            ),
        ),
    )


def _health() -> Row:
    success = f"{p.total(_CALLS, (), p.SUCCEEDED)} / {p.total(_CALLS)}"
    latency = tuple(
        Query(p.quantile_over_range(q, n.DURATION), "seconds", f"p{round(q * 100)}", instant=True)
        for q in _QUANTILES
    )
    return Row(
        "Health",
        (
            Panel(
                "Success rate",
                "stat",
                "percentunit",
                (Query(success, "ratio", instant=True),),
                "Share of calls without an error.type in the time range.",
                width=6,
                height=4,
                thresholds=((None, "red"), (0.95, "orange"), (0.99, "green")),
            ),
            Panel(
                "Latency p50 / p95 / p99",
                "stat",
                "s",
                latency,
                "Operation duration quantiles over the time range (histogram estimate).",
                width=10,
                height=4,
            ),
            Panel(
                "Unpriced calls",
                "stat",
                "short",
                (Query(p.total(n.UNPRICED), "calls", instant=True),),
                "Calls that used tokens but whose model has no known price: their cost is missing from "
                "every cost panel. Add a price override (see the Cost breakdown dashboard for the models).",
                width=4,
                height=4,
                thresholds=((1, "orange"),),
                no_value="0",
            ),
            Panel(
                "Partially priced calls",
                "stat",
                "short",
                (Query(p.total(f"{n.COST}_count", (), f'{n.PARTIAL}="true"'), "calls", instant=True),),
                "Calls priced for part of what was billed: a unit or tier with no known rate (a code "
                "interpreter session, a region uplift, ...). Their cost is short by that part; the span's "
                "genai_cost.cost.partial_reason says what, and the price override file can give the rate.",
                width=4,
                height=4,
                thresholds=((1, "orange"),),
                no_value="0",
            ),
        ),
    )


def _trends() -> Row:
    latency = tuple(
        Query(p.quantile_over_time(q, n.DURATION), "seconds", f"p{round(q * 100)}") for q in _QUANTILES
    )
    return Row(
        "Trends",
        (
            Panel(
                "Spend rate by provider (USD per hour)",
                "timeseries",
                "currencyUSD",
                (grouped(p.per_hour(p.rate(_COST, _BY_PROVIDER)), "usd_rate", _BY_PROVIDER),),
                stacked=True,
                trace_link=True,
            ),
            Panel(
                "Requests per second by provider",
                "timeseries",
                "reqps",
                (grouped(p.rate(_CALLS, _BY_PROVIDER), "call_rate", _BY_PROVIDER),),
                stacked=True,
                trace_link=True,
            ),
            Panel(
                "Tokens per second by type",
                "timeseries",
                "short",
                (grouped(p.rate(_TOKENS, (n.TOKEN_TYPE,)), "token_rate", (n.TOKEN_TYPE,)),),
                stacked=True,
            ),
            Panel(
                "Latency p50 / p95 / p99",
                "timeseries",
                "s",
                latency,
                "Exemplar dots open the trace of a slow call when exemplars are enabled.",
            ),
        ),
    )


DASHBOARD = Dashboard(
    uid="genai-cost-overview",
    title="GenAI cost / Overview",
    description="Spend, traffic, success rate and latency of LLM calls instrumented by genai-cost.",
    rows=(_spend(), _health(), _trends()),
)
