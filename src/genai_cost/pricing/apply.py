"""Turning one call's usage into cost telemetry: the price, the cost metric, the span attributes.

Used by our instrumentation at the end of every call (sampled or not, so the cost metric does not
depend on the trace sampler) and by the cost span processor for other instrumentations' spans.
Needs the OpenTelemetry API only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_cost import semconv as sc
from genai_cost._internal import log_internal_error
from genai_cost.metrics import Instruments
from genai_cost.pricing.book import get_price_book
from genai_cost.pricing.compat import Writer
from genai_cost.usage import Cost, Usage


def apply_cost(
    out: dict[str, Any] | None,
    instruments: Instruments,
    metric_attributes: Mapping[str, Any],
    provider: str | None,
    model: str | None,
    usage: Usage,
    when: float | None = None,
    compat: Writer | None = None,
) -> Cost | None:
    """Price one call and record it.

    Records the cost metric (priced) or the unpriced counter plus a once-per-model warning (not
    priced), then adds the span attributes (cost parts, or ``genai_cost.unpriced=True``, and the
    ``compat`` families' attributes) to ``out`` (None for a span that is not recording). Nothing
    happens for empty usage.
    """
    if usage.empty:
        return None
    cost = get_price_book().price(provider, model, usage, when) if model else None
    record_cost(instruments, metric_attributes, provider, model, cost)
    if out is not None:
        put_cost_attributes(out, cost, usage, compat)
    return cost


_CURRENCY = sc.GEN_AI_USAGE_COST_CURRENCY
_SOURCE = sc.GEN_AI_USAGE_COST_SOURCE


def record_cost(
    instruments: Instruments,
    metric_attributes: Mapping[str, Any],
    provider: str | None,
    model: str | None,
    cost: Cost | None,
) -> None:
    if cost is not None:
        # The proposal requires the currency and the source on every point of the cost metric.
        attributes = {**metric_attributes, _CURRENCY: cost.currency, _SOURCE: sc.COST_SOURCE_LOCAL}
        if cost.partial is not None:  # the flag only (not the reason): dashboards count these
            attributes[sc.GENAI_COST_PARTIAL] = True
        instruments.cost.record(cost.total, attributes)
    else:
        instruments.unpriced.add(1, metric_attributes)
        get_price_book().warn_unpriced(provider, model)


def put_cost_attributes(
    out: dict[str, Any], cost: Cost | None, usage: Usage, compat: Writer | None = None
) -> None:
    """The cost parts and the ``compat`` families' attributes, or ``genai_cost.unpriced=True`` (and
    why, when the book says) when no price is known."""
    if cost is not None:
        cost.put_attributes(out)
        version = get_price_book().version
        if version is not None:
            out[sc.GENAI_COST_PRICE_VERSION] = version
        if compat is not None:
            try:
                compat(out, cost, usage)
            except Exception:  # the cost attributes stay whatever a compatibility writer does
                log_internal_error("compatibility attributes")
    else:
        out[sc.GENAI_COST_UNPRICED] = True
        reason = get_price_book().unpriced_reason
        if reason is not None:
            out[sc.GENAI_COST_UNPRICED_REASON] = reason
