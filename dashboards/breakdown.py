"""GenAI cost / Breakdown: cost by feature, model, provider and user; tokens; top operations; unpriced."""

from __future__ import annotations

from dataclasses import replace

from dashboards import names as n
from dashboards import promql as p
from dashboards.spec import Dashboard, Panel, Row, grouped
from genai_cost import config
from genai_cost import semconv as sc

_COST = f"{n.COST}_sum"
_CALLS = f"{n.COST}_count"
_TOKENS = f"{n.TOKENS}_sum"
_CACHE_READ = n.CACHE_READ_TOKENS
_OPERATION = (n.OPERATION, n.PROVIDER, n.MODEL, n.FEATURE)
_TOP = 10

_USER_OPT_IN = (
    f"Needs user.id on metrics: set {config.METRIC_USER_ATTRIBUTES}=true in the app "
    "(off by default, since one series per user can be many)."
)


def _cost_over_time(title: str, labels: tuple[str, ...], *extra: str, top: bool = False) -> Panel:
    expr = p.per_hour(p.rate(_COST, labels, *extra))
    if top:
        expr = f"topk({_TOP}, {expr})"
    return Panel(
        title,
        "timeseries",
        "currencyUSD",
        (grouped(expr, "usd_rate", labels),),
        "US dollars per hour, stacked. Click a series for its traces.",
        stacked=True,
        trace_link=True,
    )


def _cost_in_range(title: str, labels: tuple[str, ...]) -> Panel:
    return Panel(
        title,
        "bargauge",
        "currencyUSD",
        (grouped(f"sort_desc({p.total(_COST, labels)})", "usd", labels, instant=True),),
        "Cost in the dashboard's time range.",
        width=8,
    )


def _over_time() -> Row:
    user = _cost_over_time(f"Cost by user (top {_TOP}, USD per hour)", (n.USER,), f'{n.USER}!=""', top=True)
    user = replace(user, description=_USER_OPT_IN, no_value=_USER_OPT_IN)
    return Row(
        "Cost over time",
        (
            _cost_over_time("Cost by feature (USD per hour)", (n.FEATURE,)),
            _cost_over_time("Cost by model (USD per hour)", (n.MODEL,)),
            _cost_over_time("Cost by provider (USD per hour)", (n.PROVIDER,)),
            user,
        ),
    )


def _in_range() -> Row:
    top = f"topk({_TOP}, {p.total(_COST, _OPERATION)})"
    average = f"topk({_TOP}, {p.total(_COST, _OPERATION)} / {p.total(_CALLS, _OPERATION)})"
    return Row(
        "Cost in range",
        (
            _cost_in_range("Cost by feature", (n.FEATURE,)),
            _cost_in_range("Cost by model", (n.MODEL,)),
            _cost_in_range("Cost by provider", (n.PROVIDER,)),
            Panel(
                f"Top {_TOP} expensive operations",
                "table",
                "currencyUSD",
                (grouped(top, "usd", _OPERATION, instant=True),),
                "Total cost per operation, provider, model and feature. Click a row for its traces.",
                trace_link=True,
            ),
            Panel(
                f"Top {_TOP} by average cost per call",
                "table",
                "currencyUSD",
                (grouped(average, "usd_per_call", _OPERATION, instant=True),),
                "Average cost of one priced call. Click a row for its traces.",
                trace_link=True,
            ),
        ),
    )


def _tokens() -> Row:
    by_type = (n.TOKEN_TYPE,)
    by_model_type = (n.MODEL, n.TOKEN_TYPE)
    per_mtok = f"{p.total(_COST, (n.MODEL,))} / {p.total(_TOKENS, (n.MODEL,))} * 1e6"
    return Row(
        "Tokens",
        (
            Panel(
                "Tokens per second by type",
                "timeseries",
                "short",
                (grouped(p.rate(_TOKENS, by_type), "token_rate", by_type),),
                stacked=True,
                width=8,
            ),
            Panel(
                "Tokens by model and type",
                "bargauge",
                "short",
                (
                    grouped(
                        f"sort_desc({p.total(_TOKENS, by_model_type)})", "tokens", by_model_type, instant=True
                    ),
                ),
                "Tokens in the time range. Anthropic input tokens include cache reads and writes.",
                width=8,
            ),
            Panel(
                "Effective price per million tokens by model",
                "bargauge",
                "currencyUSD",
                (grouped(f"sort_desc({per_mtok})", "usd_per_mtok", (n.MODEL,), instant=True),),
                "Cost divided by input+output tokens. Prompt-cache hits lower it.",
                width=8,
            ),
            _cache_hit_rate(),
        ),
    )


def _cache_hit_rate() -> Panel:
    # Cached input tokens / all input tokens. `or ... * 0`: a model with no cache-read series (no hit
    # yet) shows 0, not nothing; `> 0`: no input in the interval, no rate (not NaN).
    by = (n.MODEL,)
    inputs = p.rate(_TOKENS, by, f'{n.TOKEN_TYPE}="{sc.TOKEN_TYPE_INPUT}"')
    expr = f"({p.rate(_CACHE_READ, by)} or {inputs} * 0) / ({inputs} > 0)"
    return Panel(
        "Prompt cache hit rate by model",
        "timeseries",
        "percentunit",
        (grouped(expr, "ratio", by),),
        "Share of input tokens served from the provider's prompt cache. A drop means cached prompts "
        "stopped matching (alert GenAICostCacheHitRateDrop); `genai-cost report --cache` shows what "
        "caching saved per feature and model.",
    )


def _unpriced() -> Row:
    labels = (n.PROVIDER, n.MODEL)
    return Row(
        "Unpriced calls",
        (
            Panel(
                "Unpriced calls by model",
                "table",
                "short",
                (grouped(p.total(n.UNPRICED, labels), "calls", labels, instant=True),),
                "Models used with tokens but without a known price: their cost is missing above. "
                "Add a price override for them.",
                trace_link=True,
                no_value="None: every call was priced",
            ),
            Panel(
                "Unpriced calls per second",
                "timeseries",
                "short",
                (grouped(p.rate(n.UNPRICED, labels), "call_rate", labels),),
            ),
        ),
    )


DASHBOARD = Dashboard(
    uid="genai-cost-breakdown",
    title="GenAI cost / Breakdown",
    description="Where the money goes: cost by feature, model, provider and user, tokens, top operations.",
    rows=(_over_time(), _in_range(), _tokens(), _unpriced()),
)
