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
    *,
    request_model: str | None = None,
    provider_cost: float | None = None,
) -> Cost | None:
    """Price one call and record it.

    Records the cost metric (priced) or the unpriced counter plus a once-per-model warning (not
    priced), then adds the span attributes (cost parts, or ``genai_cost.unpriced=True``, and the
    ``compat`` families' attributes) to ``out`` (None for a span that is not recording). Nothing
    happens for empty usage. ``model`` is the response's model; ``request_model`` prices the call when
    the price data does not know it (``genai_cost.pricing.model`` then says so). A ``provider_cost``
    (the cost the response stated) is the call's cost, our price beside it (``put_provider_cost``).
    """
    if usage.empty:
        return None
    cost, priced_by = get_price_book().price_either(provider, model, request_model, usage, when)
    if out is not None and priced_by is not None and priced_by != model:
        out[sc.GENAI_COST_PRICING_MODEL] = priced_by
    if provider_cost is not None:
        return put_provider_cost(out, instruments, metric_attributes, provider_cost, cost, usage, compat)
    record_cost(instruments, metric_attributes, provider, model or request_model, cost)
    if out is not None:
        put_cost_attributes(out, cost, usage, compat)
    return cost


# --- a cost the provider stated ------------------------------------------------------------------
def put_provider_cost(
    out: dict[str, Any] | None,
    instruments: Instruments,
    metric_attributes: Mapping[str, Any],
    amount: float,
    estimate: Cost | None,
    usage: Usage,
    compat: Writer | None = None,
) -> Cost:
    """The provider's own cost of a call, passed through unchanged: in the cost metric
    (``record_provider_cost``) and on the span (``put_provider_cost_attributes``)."""
    cost = Cost(amount, stated=True)
    record_provider_cost(instruments, metric_attributes, cost)
    if out is not None:
        put_provider_cost_attributes(out, cost, estimate, usage, compat)
    return cost


def record_provider_cost(instruments: Instruments, metric_attributes: Mapping[str, Any], cost: Cost) -> None:
    attributes = {**metric_attributes, _CURRENCY: cost.currency, _SOURCE: sc.COST_SOURCE_PROVIDER}
    instruments.cost.record(cost.total, attributes)


def put_provider_cost_attributes(
    out: dict[str, Any], cost: Cost, estimate: Cost | None, usage: Usage, compat: Writer | None = None
) -> None:
    """A stated cost on the span: source ``provider``, our ``estimate`` beside it as
    ``genai_cost.cost.estimate``, the ``compat`` families' attributes showing the stated amount. Its
    parts are not known (the provider states a total), so the part attributes are left out."""
    out[sc.GEN_AI_USAGE_COST_AMOUNT] = cost.total
    out[_CURRENCY] = cost.currency
    out[_SOURCE] = sc.COST_SOURCE_PROVIDER
    if estimate is not None:
        out[sc.GENAI_COST_COST_ESTIMATE] = estimate.total
    if compat is not None:
        _write_compat(compat, out, cost, usage)


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
            _write_compat(compat, out, cost, usage)
    else:
        out[sc.GENAI_COST_UNPRICED] = True
        reason = get_price_book().unpriced_reason
        if reason is not None:
            out[sc.GENAI_COST_UNPRICED_REASON] = reason


def _write_compat(compat: Writer, out: dict[str, Any], cost: Cost, usage: Usage) -> None:
    try:
        compat(out, cost, usage)
    except Exception:  # the cost attributes stay whatever a compatibility writer does
        log_internal_error("compatibility attributes")
