"""Prometheus names of our metrics and labels, derived from genai_cost.semconv.

The collector's `prometheus` exporter and the SDK's Prometheus exporter translate OpenTelemetry names
the same way: dots become underscores, a unit in braces (`{token}`, `{cost}`) adds no suffix, `s` adds
`_seconds`, a monotonic counter gets `_total`. Deriving the names here keeps the dashboards in step
with semconv.py instead of repeating its strings.
"""

from __future__ import annotations

import re
from typing import Final

from genai_cost import semconv as sc

_UNIT_SUFFIX: Final = {sc.UNIT_SECONDS: "seconds"}


def prom_label(attribute: str) -> str:
    """An attribute key as a Prometheus label name (anything outside [a-zA-Z0-9_] becomes `_`)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", attribute)


def prom_metric(name: str, unit: str, *, counter: bool = False) -> str:
    base = prom_label(name)
    suffix = "" if unit.startswith("{") else _UNIT_SUFFIX.get(unit, "")
    if suffix and not base.endswith(f"_{suffix}"):
        base = f"{base}_{suffix}"
    return f"{base}_total" if counter else base


# --- metrics (histograms: add _bucket / _sum / _count) ------------------------------------------------
COST: Final = prom_metric(sc.METRIC_COST, sc.UNIT_COST)
TOKENS: Final = prom_metric(sc.METRIC_TOKEN_USAGE, sc.UNIT_TOKEN)
DURATION: Final = prom_metric(sc.METRIC_OPERATION_DURATION, sc.UNIT_SECONDS)
TTFC: Final = prom_metric(sc.METRIC_TIME_TO_FIRST_CHUNK, sc.UNIT_SECONDS)
UNPRICED: Final = prom_metric(sc.METRIC_UNPRICED, sc.UNIT_CALL, counter=True)
CACHE_READ_TOKENS: Final = prom_metric(sc.METRIC_CACHE_READ_TOKENS, sc.UNIT_TOKEN, counter=True)

# --- labels --------------------------------------------------------------------------------------------
JOB: Final = "job"  # the service: set by Prometheus scraping or from service.name by the collector
OPERATION: Final = prom_label(sc.GEN_AI_OPERATION_NAME)
PROVIDER: Final = prom_label(sc.GEN_AI_PROVIDER_NAME)
MODEL: Final = prom_label(sc.GEN_AI_REQUEST_MODEL)
RESPONSE_MODEL: Final = prom_label(sc.GEN_AI_RESPONSE_MODEL)
FEATURE: Final = prom_label(sc.FEATURE_NAME)
USER: Final = prom_label(sc.USER_ID)
ERROR_TYPE: Final = prom_label(sc.ERROR_TYPE)
TOKEN_TYPE: Final = prom_label(sc.GEN_AI_TOKEN_TYPE)
PARTIAL: Final = prom_label(sc.GENAI_COST_PARTIAL)  # "true" on the cost of a partially priced call
LE: Final = "le"

# error_type values that mean "rate limited" across SDKs; the same regex as the recording rule
# genai_cost:rate_limited:rate5m in prometheus/rules (a test keeps the two equal).
RATE_LIMITED_ERROR_TYPES: Final = sc.RATE_LIMITED_ERROR_TYPES

# --- recording rules of prometheus/rules (see prometheus/README.md) ------------------------------------
BUDGET_DAILY_USD: Final = "genai_cost:budget_daily_usd"
BUDGET_MONTHLY_USD: Final = "genai_cost:budget_monthly_usd"
COST_1D: Final = "genai_cost:cost_usd:increase1d"
COST_1D_BY_FEATURE: Final = "genai_cost:cost_usd_by_feature:increase1d"
COST_MTD: Final = "genai_cost:cost_usd:month_to_date"
COST_MTD_BY_FEATURE: Final = "genai_cost:cost_usd_by_feature:month_to_date"
FORECAST_MONTH: Final = "genai_cost:cost_usd:forecast_month"
FORECAST_MONTH_BY_FEATURE: Final = "genai_cost:cost_usd_by_feature:forecast_month"
DAILY_BURN: Final = "genai_cost:budget_daily_burn:ratio"
DAILY_BURN_BY_FEATURE: Final = "genai_cost:budget_daily_burn_by_feature:ratio"
MONTHLY_BURN: Final = "genai_cost:budget_monthly_burn:ratio"
MONTHLY_BURN_BY_FEATURE: Final = "genai_cost:budget_monthly_burn_by_feature:ratio"
