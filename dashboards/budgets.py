"""GenAI cost / Budgets: budget burn from the recording rules of prometheus/rules.

Budgets are set overall and per feature (prometheus/budgets.yml), so these panels follow the
feature variable only: the rules sum over services, providers and models on purpose.
"""

from __future__ import annotations

from dashboards import names as n
from dashboards import promql as p
from dashboards.spec import Dashboard, Measure, Panel, Query, Row, grouped

_OVERALL = f'{n.FEATURE}=""'  # budgets without feature_name are the overall ones
_BURN_STEPS = ((0.8, "yellow"), (0.9, "orange"), (1.0, "red"))
_HAS_FEATURE = f'{n.FEATURE}!=""'
_BY_FEATURE = (n.FEATURE,)


def _feature(metric: str, *extra: str) -> str:
    matchers = (f'{n.FEATURE}=~"${p.VAR_FEATURE}"', *extra)
    return f"{metric}{{{', '.join(matchers)}}}"


def _stat(
    title: str,
    expr: str,
    unit: str,
    measure: Measure,
    description: str,
    thresholds: tuple[tuple[float | None, str], ...] = (),
) -> Panel:
    query = Query(expr, measure, instant=True)
    return Panel(title, "stat", unit, (query,), description, width=4, height=4, thresholds=thresholds)


def _overall() -> Row:
    return Row(
        "Overall budget (UTC days and months)",
        (
            _stat(
                "Daily budget used",
                n.DAILY_BURN,
                "percentunit",
                "ratio",
                "Cost of the last 24 hours / daily budget.",
                thresholds=_BURN_STEPS,
            ),
            _stat("Cost, last 24 hours", n.COST_1D, "currencyUSD", "usd", "All services, providers, models."),
            _stat(
                "Daily budget",
                f"{n.BUDGET_DAILY_USD}{{{_OVERALL}}}",
                "currencyUSD",
                "usd",
                "From budgets.yml.",
            ),
            _stat(
                "Monthly budget used",
                n.MONTHLY_BURN,
                "percentunit",
                "ratio",
                "Month-to-date cost / monthly budget.",
                thresholds=_BURN_STEPS,
            ),
            _stat("Cost, month to date", n.COST_MTD, "currencyUSD", "usd", "Since the 1st, 00:00 UTC."),
            _stat(
                "Projected month",
                n.FORECAST_MONTH,
                "currencyUSD",
                "usd",
                "Month to date + the last 24 hours' rate for the rest of the month.",
            ),
            Panel(
                "Month: to date, projected and budget",
                "timeseries",
                "currencyUSD",
                (
                    Query(n.COST_MTD, "usd", "month to date"),
                    Query(n.FORECAST_MONTH, "usd", "projected"),
                    Query(f"{n.BUDGET_MONTHLY_USD}{{{_OVERALL}}}", "usd", "budget"),
                ),
            ),
            Panel(
                "Budget burn over time",
                "timeseries",
                "percentunit",
                (
                    Query(n.DAILY_BURN, "ratio", "daily (last 24h)"),
                    Query(n.MONTHLY_BURN, "ratio", "monthly (to date)"),
                ),
                "1 = 100 % of the budget; the budget alerts fire at 80, 90 and 100 %.",
                thresholds=_BURN_STEPS,
            ),
        ),
    )


def _per_feature() -> Row:
    forecast_ratio = (
        f"{_feature(n.FORECAST_MONTH_BY_FEATURE)} / on({n.FEATURE}) "
        f"{_feature(n.BUDGET_MONTHLY_USD, _HAS_FEATURE)}"
    )
    return Row(
        "Per feature (features with a budget)",
        (
            Panel(
                "Daily budget used by feature",
                "bargauge",
                "percentunit",
                (
                    grouped(
                        f"sort_desc({_feature(n.DAILY_BURN_BY_FEATURE)})", "ratio", _BY_FEATURE, instant=True
                    ),
                ),
                width=8,
                thresholds=_BURN_STEPS,
            ),
            Panel(
                "Monthly budget used by feature",
                "bargauge",
                "percentunit",
                (
                    grouped(
                        f"sort_desc({_feature(n.MONTHLY_BURN_BY_FEATURE)})",
                        "ratio",
                        _BY_FEATURE,
                        instant=True,
                    ),
                ),
                width=8,
                thresholds=_BURN_STEPS,
            ),
            Panel(
                "Projected month / budget by feature",
                "bargauge",
                "percentunit",
                (grouped(f"sort_desc({forecast_ratio})", "ratio", _BY_FEATURE, instant=True),),
                "Above 100 %: the feature will overspend this month at the current pace.",
                width=8,
                thresholds=_BURN_STEPS,
            ),
            Panel(
                "Cost month to date by feature",
                "timeseries",
                "currencyUSD",
                (grouped(_feature(n.COST_MTD_BY_FEATURE), "usd", _BY_FEATURE),),
                "All features, with or without a budget. Click a series for its traces.",
                trace_link=True,
                width=24,
            ),
        ),
    )


DASHBOARD = Dashboard(
    uid="genai-cost-budgets",
    title="GenAI cost / Budgets",
    description="Daily and monthly budget burn, overall and per feature, from the recording rules.",
    rows=(_overall(), _per_feature()),
    time_from="now-7d",
)
