"""The cost span processor: prices GenAI spans that other instrumentations make.

Our own instrumentation prices its spans itself, at the end of every call (``pricing.apply``), so its
metrics do not depend on the trace sampler. This processor covers the rest: a span from any
instrumentation that follows the GenAI semantic conventions (usage attributes, a model, a provider)
and carries no cost yet gets the cost attributes and is counted in the cost metric.

A span that already carries a cost keeps it, as priced by whoever made it, and is not counted: except a
cost its instrumentation says the provider stated (``gen_ai.usage.cost.amount`` with
``gen_ai.usage.cost.source=provider``, the cost proposal's attributes), which is the bill. That one is
passed through as our own spans pass a stated cost: counted in the cost metric (source ``provider``),
our estimate beside it (``genai_cost.cost.estimate``), the compatibility attributes showing it. Other
tools' own cost attributes (OpenLIT's ``gen_ai.usage.cost``, Logfire's ``operation.cost``, ...) are
their estimates: never taken for a stated cost.

Where the attributes are written: the SDK calls ``SpanProcessor._on_ending`` on every processor
before any ``on_end``, so a cost written there is on the span whatever the order in which the
processors (and their exporters) were added (how, is in ``_otel_compat.write_attributes``). SDKs
without ``_on_ending`` fall back to ``on_end``, and ``install`` then puts this processor first so
exporters added earlier still see the cost.

Spans the sampler dropped never reach a processor: metrics for those exist only for calls our own
instrumentation made.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind

from genai_cost import _otel_compat
from genai_cost import semconv as sc
from genai_cost._internal import log_internal_error
from genai_cost.config import Settings
from genai_cost.metrics import SCOPE_NAME, create_instruments
from genai_cost.pricing import get_price_book
from genai_cost.pricing.apply import (
    put_cost_attributes,
    put_provider_cost_attributes,
    record_cost,
    record_provider_cost,
)
from genai_cost.pricing.compat import Writer, compat_writer
from genai_cost.usage import Cost, Usage, amount

logger = logging.getLogger("genai_cost")

# Operations that are one model call. Agent and workflow spans (invoke_agent, ...) may carry the
# summed usage of the calls below them: pricing those would count the same tokens twice.
MODEL_CALL_OPERATIONS = frozenset(
    {sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_GENERATE_CONTENT, sc.OP_EMBEDDINGS}
)


def _span_attributes(cost: Cost | None, usage: Usage, compat: Writer | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    put_cost_attributes(out, cost, usage, compat)
    return out


class CostSpanProcessor(SpanProcessor):
    """Adds cost attributes to GenAI client spans of other instrumentations and records the cost metric."""

    def __init__(self, meter_provider: MeterProvider | None = None, settings: Settings | None = None) -> None:
        settings = settings if settings is not None else Settings.from_env()
        self._instruments = create_instruments(meter_provider)
        self._metric_keys: tuple[str, ...] = sc.METRIC_ATTRIBUTES
        if settings.metric_user_attributes:
            self._metric_keys = (*sc.METRIC_ATTRIBUTES, sc.USER_ID, sc.SESSION_ID)
        self._compat = compat_writer(settings.compat)
        get_price_book()  # loads the override file now (a malformed one is logged here, once)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def _on_ending(self, span: Span) -> None:
        self._check(span, ending=True)

    def on_end(self, span: ReadableSpan) -> None:
        # Does the work only when _on_ending did not (an SDK without it, or a failed write there):
        # a priced span carries the cost attribute and is skipped.
        self._check(span, ending=False)

    def _check(self, span: ReadableSpan, *, ending: bool) -> None:
        # Runs twice for every span the app makes: a span we priced already (every one of ours that had
        # usage, every one this processor priced) or without attributes is let go after two dict lookups.
        # The key is one only we write (a cost part): another tool's span may carry the cost the
        # provider stated, which is not the end of it (``_pass_through``).
        try:
            attrs = _otel_compat.span_attributes(span)
            if attrs and _PRICED_KEY not in attrs and _UNPRICED_KEY not in attrs:
                self._process(span, attrs, ending=ending)
        except Exception:
            log_internal_error("cost span processor")

    def _process(self, span: ReadableSpan, attrs: Mapping[str, Any], *, ending: bool) -> None:
        if not _wants_price(span, attrs):
            return
        if _COST_KEY in attrs:
            stated = _stated_cost(attrs)
            if stated is not None:
                self._pass_through(span, attrs, stated, ending=ending)
            return  # otherwise priced by whoever made the span: theirs stays, uncounted
        usage = Usage.from_attributes(attrs)
        if usage.empty:
            return
        provider, model, request_model = _models(attrs)
        when = span.start_time / 1e9 if span.start_time else None
        cost, priced_by = get_price_book().price_either(provider, model, request_model, usage, when)
        out = _span_attributes(cost, usage, self._compat)
        if priced_by is not None and priced_by != model:
            out[sc.GENAI_COST_PRICING_MODEL] = priced_by  # the response's model is not in the price data
        written = _otel_compat.write_attributes(span, out)
        if ending and not written:
            return  # on_end tries again and records the metric there
        record_cost(self._instruments, self._metric_attributes(attrs, provider), provider, model, cost)

    def _pass_through(
        self, span: ReadableSpan, attrs: Mapping[str, Any], stated: Cost, *, ending: bool
    ) -> None:
        """A cost the provider stated, on another tool's span: the span keeps it; our estimate and the
        compatibility attributes (showing the stated amount) go beside it. The metric is recorded in
        ``on_end`` only, which runs once whatever ``_on_ending`` did; these spans are rare, so both
        passes simply write."""
        provider, model, request_model = _models(attrs)
        usage = Usage.from_attributes(attrs)
        out: dict[str, Any] = {}
        estimate = None
        if not usage.empty:
            when = span.start_time / 1e9 if span.start_time else None
            estimate, priced_by = get_price_book().price_either(provider, model, request_model, usage, when)
            if priced_by is not None and priced_by != model:
                out[sc.GENAI_COST_PRICING_MODEL] = priced_by
        # The compatibility attributes are USD amounts: a cost stated in another currency is not one.
        compat = self._compat if stated.currency == sc.COST_CURRENCY_USD else None
        put_provider_cost_attributes(out, stated, estimate, usage, compat)
        for key in _STATED_KEYS:  # the stated cost stays as sent
            if key in attrs:
                del out[key]
        _otel_compat.write_attributes(span, out)  # on_end writes the same values again, or what failed
        if not ending:
            record_provider_cost(self._instruments, self._metric_attributes(attrs, provider), stated)

    def _metric_attributes(self, attrs: Mapping[str, Any], provider: str | None) -> dict[str, Any]:
        metric_attributes = {key: attrs[key] for key in self._metric_keys if key in attrs}
        if provider is not None:
            metric_attributes[sc.GEN_AI_PROVIDER_NAME] = provider
        return metric_attributes

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_PRICED_KEY = sc.GENAI_COST_INPUT_AMOUNT  # a cost part: written with every cost we price, by nobody else
_UNPRICED_KEY = sc.GENAI_COST_UNPRICED
_COST_KEY = sc.GEN_AI_USAGE_COST_AMOUNT
_STATED_KEYS = (_COST_KEY, sc.GEN_AI_USAGE_COST_CURRENCY, sc.GEN_AI_USAGE_COST_SOURCE)


def _wants_price(span: ReadableSpan, attrs: Mapping[str, Any]) -> bool:
    """For a span not priced yet (by us or by whoever made it)."""
    scope = span.instrumentation_scope
    if scope is not None and scope.name == SCOPE_NAME:
        return False  # our own spans: the instrumentation priced them (or chose not to)
    operation = attrs.get(sc.GEN_AI_OPERATION_NAME)
    if operation is None:
        return span.kind is SpanKind.CLIENT and (_provider(attrs) is not None)
    return operation in MODEL_CALL_OPERATIONS


def _stated_cost(attrs: Mapping[str, Any]) -> Cost | None:
    """The cost the span says its provider stated (the proposal's ``gen_ai.usage.cost.source=provider``);
    None for any other cost, or an amount that is not a number."""
    if attrs.get(sc.GEN_AI_USAGE_COST_SOURCE) != sc.COST_SOURCE_PROVIDER:
        return None
    total = amount(attrs.get(_COST_KEY))
    if total is None:
        return None
    currency = attrs.get(sc.GEN_AI_USAGE_COST_CURRENCY)
    return Cost(total, currency=str(currency) if currency else sc.COST_CURRENCY_USD, stated=True)


def _models(attrs: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The provider, the model to price (the response's, else the request's) and the request's model."""
    request_model = attrs.get(sc.GEN_AI_REQUEST_MODEL)
    request_model = str(request_model) if request_model else None
    model = attrs.get(sc.GEN_AI_RESPONSE_MODEL)
    return _provider(attrs), str(model) if model else request_model, request_model


def _provider(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get(sc.GEN_AI_PROVIDER_NAME) or attrs.get(sc.GEN_AI_SYSTEM)
    return str(value) if value else None


# --- set-up ------------------------------------------------------------------------------------

_install_lock = threading.Lock()
_installed: weakref.WeakKeyDictionary[Any, CostSpanProcessor] = weakref.WeakKeyDictionary()


def install(
    tracer_provider: Any | None = None,
    meter_provider: MeterProvider | None = None,
    settings: Settings | None = None,
) -> CostSpanProcessor | None:
    """Add one CostSpanProcessor to the (global) SDK TracerProvider; idempotent.

    Returns the processor, or None when there is no SDK TracerProvider to add it to (the API's
    default proxy provider) or cost is switched off (OTEL_INSTRUMENTATION_GENAI_COST_COST=false).
    """
    settings = settings if settings is not None else Settings.from_env()
    if not settings.cost_enabled:
        return None
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    if not hasattr(provider, "add_span_processor"):
        logger.debug("genai-cost: no SDK TracerProvider (got %r); cost span processor not added", provider)
        return None
    with _install_lock:
        existing = _installed.get(provider) or _find(provider)
        if existing is not None:
            return existing
        processor = CostSpanProcessor(meter_provider, settings)
        provider.add_span_processor(processor)
        if not _otel_compat.sdk_has_on_ending():
            _otel_compat.move_first(provider, processor)
        _installed[provider] = processor
        return processor


def _find(provider: Any) -> CostSpanProcessor | None:
    for processor in _otel_compat.span_processors(provider):
        if isinstance(processor, CostSpanProcessor):
            return processor
    return None
