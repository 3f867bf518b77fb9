"""The cost span processor: prices GenAI spans that other instrumentations make.

Our own instrumentation prices its spans itself, at the end of every call (``apply_cost``), so its
metrics do not depend on the trace sampler. This processor covers the rest: a span from any
instrumentation that follows the GenAI semantic conventions (usage attributes, a model, a provider)
and carries no cost yet gets the cost attributes and is counted in ``gen_ai.client.cost``.

Where the attributes are written: the SDK calls ``SpanProcessor._on_ending`` on every processor
before any ``on_end``, so a cost written there is on the span whatever the order in which the
processors (and their exporters) were added. In SDK 1.45 the span is already frozen when
``_on_ending`` runs (open-telemetry/opentelemetry-python#5614), so the attributes are written into
its attribute map under the span's lock; on an SDK whose span is still recording there, the public
``set_attributes`` is used. SDKs without ``_on_ending`` fall back to ``on_end``, and ``install``
then puts this processor first so exporters added earlier still see the cost.

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
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.trace import SpanKind

from genai_cost import config
from genai_cost import semconv as sc
from genai_cost._internal import log_internal_error
from genai_cost.metrics import SCOPE_NAME, Instruments, create_instruments
from genai_cost.pricing import get_price_book
from genai_cost.usage import Cost, Usage

logger = logging.getLogger("genai_cost")

# Operations that are one model call. Agent and workflow spans (invoke_agent, ...) may carry the
# summed usage of the calls below them: pricing those would count the same tokens twice.
MODEL_CALL_OPERATIONS = frozenset(
    {sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_GENERATE_CONTENT, sc.OP_EMBEDDINGS}
)

SDK_HAS_ON_ENDING = hasattr(SynchronousMultiSpanProcessor, "_on_ending")


def apply_cost(
    out: dict[str, Any] | None,
    instruments: Instruments,
    metric_attributes: Mapping[str, Any],
    provider: str | None,
    model: str | None,
    usage: Usage,
    when: float | None = None,
) -> Cost | None:
    """Price one call and record it: the one place that turns usage into cost telemetry.

    Records ``gen_ai.client.cost`` (priced) or the unpriced counter plus a once-per-model warning
    (not priced), then adds the span attributes (cost parts, or ``genai_cost.unpriced=True``) to
    ``out`` (None for a span that is not recording). Nothing happens for empty usage.
    """
    if usage.empty:
        return None
    cost = get_price_book().price(provider, model, usage, when) if model else None
    _record(instruments, metric_attributes, provider, model, cost)
    if out is not None:
        _put_span_attributes(out, cost)
    return cost


def _record(
    instruments: Instruments,
    metric_attributes: Mapping[str, Any],
    provider: str | None,
    model: str | None,
    cost: Cost | None,
) -> None:
    if cost is not None:
        instruments.cost.record(cost.total, metric_attributes)
    else:
        instruments.unpriced.add(1, metric_attributes)
        get_price_book().warn_unpriced(provider, model)


def _put_span_attributes(out: dict[str, Any], cost: Cost | None) -> None:
    """The cost parts, or ``genai_cost.unpriced=True`` when no price is known."""
    if cost is not None:
        cost.put_attributes(out)
    else:
        out[sc.GENAI_COST_UNPRICED] = True


def _span_attributes(cost: Cost | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put_span_attributes(out, cost)
    return out


class CostSpanProcessor(SpanProcessor):
    """Adds cost attributes to GenAI client spans of other instrumentations and records the cost metric."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        self._instruments = create_instruments(meter_provider)
        self._metric_keys: tuple[str, ...] = sc.METRIC_ATTRIBUTES
        if config.env_flag(config.METRIC_USER_ATTRIBUTES, False):
            self._metric_keys = (*sc.METRIC_ATTRIBUTES, sc.USER_ID, sc.SESSION_ID)
        get_price_book()  # a malformed override file fails here, at set-up, not on a call

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def _on_ending(self, span: Span) -> None:
        self._check(span, ending=True)

    def on_end(self, span: ReadableSpan) -> None:
        # Does the work only when _on_ending did not (an SDK without it, or a failed write there):
        # a priced span carries the cost attribute and is skipped.
        self._check(span, ending=False)

    def _check(self, span: ReadableSpan, *, ending: bool) -> None:
        # Runs twice for every span the app makes: a span priced already (every one of ours that had
        # usage) or without attributes is let go after two dict lookups.
        try:
            attrs = _plain(span)
            if attrs and _PRICED_KEY not in attrs and _UNPRICED_KEY not in attrs:
                self._process(span, attrs, ending=ending)
        except Exception:
            log_internal_error("cost span processor")

    def _process(self, span: ReadableSpan, attrs: Mapping[str, Any], *, ending: bool) -> None:
        if not _wants_price(span, attrs):
            return
        usage = _usage(attrs)
        if usage.empty:
            return
        provider = _provider(attrs)
        model = attrs.get(sc.GEN_AI_RESPONSE_MODEL) or attrs.get(sc.GEN_AI_REQUEST_MODEL)
        model = str(model) if model else None
        when = span.start_time / 1e9 if span.start_time else None
        cost = get_price_book().price(provider, model, usage, when) if model else None
        written = _write(span, _span_attributes(cost))
        if ending and not written:
            return  # on_end tries again and records the metric there
        metric_attributes = {key: attrs[key] for key in self._metric_keys if key in attrs}
        if provider is not None:
            metric_attributes[sc.GEN_AI_PROVIDER_NAME] = provider
        _record(self._instruments, metric_attributes, provider, model, cost)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _plain(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes as a plain dict, for fast reads.

    ``span.attributes`` is a mapping proxy over the SDK's BoundedAttributes, whose ``get`` and ``in``
    raise and catch a KeyError for every missing key; this runs for every span the app makes, so the
    SDK's own dict is read directly when it is there.
    """
    try:
        raw = span._attributes._dict  # type: ignore[union-attr]
    except AttributeError:
        raw = None
    if type(raw) is dict:
        return raw
    return dict(span.attributes or {})


_PRICED_KEY = sc.GEN_AI_USAGE_COST_AMOUNT
_UNPRICED_KEY = sc.GENAI_COST_UNPRICED


def _wants_price(span: ReadableSpan, attrs: Mapping[str, Any]) -> bool:
    """For a span not priced yet (by us or by whoever made it)."""
    scope = span.instrumentation_scope
    if scope is not None and scope.name == SCOPE_NAME:
        return False  # our own spans: the instrumentation priced them (or chose not to)
    operation = attrs.get(sc.GEN_AI_OPERATION_NAME)
    if operation is None:
        return span.kind is SpanKind.CLIENT and (_provider(attrs) is not None)
    return operation in MODEL_CALL_OPERATIONS


def _provider(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get(sc.GEN_AI_PROVIDER_NAME) or attrs.get(sc.GEN_AI_SYSTEM)
    return str(value) if value else None


def _usage(attrs: Mapping[str, Any]) -> Usage:
    usage = Usage.from_attributes(attrs)
    # Older instrumentations still use the pre-1.27 names.
    if usage.input_tokens is None:
        usage.input_tokens = _int(attrs.get(sc.GEN_AI_USAGE_PROMPT_TOKENS))
    if usage.output_tokens is None:
        usage.output_tokens = _int(attrs.get(sc.GEN_AI_USAGE_COMPLETION_TOKENS))
    return usage


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _write(span: ReadableSpan, attributes: Mapping[str, Any]) -> bool:
    """Put attributes on a span that is ending or ended; False if this span type does not allow it."""
    if isinstance(span, Span) and span.is_recording():  # an SDK that keeps the span open in _on_ending
        span.set_attributes(attributes)
        return True
    bounded = getattr(span, "_attributes", None)
    if bounded is None or not hasattr(bounded, "_immutable"):
        return False
    lock = getattr(span, "_lock", None) or threading.Lock()
    with lock:
        frozen = bounded._immutable
        bounded._immutable = False
        try:
            set_items = getattr(bounded, "_set_items", None)
            if set_items is not None:  # the SDK's own path for set_attributes: limits, one lock
                set_items(attributes)
            else:
                for key, value in attributes.items():
                    bounded[key] = value
        finally:
            bounded._immutable = frozen
    return True


# --- set-up ------------------------------------------------------------------------------------

_install_lock = threading.Lock()
_installed: weakref.WeakKeyDictionary[Any, CostSpanProcessor] = weakref.WeakKeyDictionary()


def install(
    tracer_provider: Any | None = None, meter_provider: MeterProvider | None = None
) -> CostSpanProcessor | None:
    """Add one CostSpanProcessor to the (global) SDK TracerProvider; idempotent.

    Returns the processor, or None when there is no SDK TracerProvider to add it to (the API's
    default proxy provider) or cost is switched off (OTEL_INSTRUMENTATION_GENAI_COST_COST=false).
    """
    if not config.env_flag(config.COST_ENABLED, True):
        return None
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    if not hasattr(provider, "add_span_processor"):
        logger.debug("genai-cost: no SDK TracerProvider (got %r); cost span processor not added", provider)
        return None
    with _install_lock:
        existing = _installed.get(provider) or _find(provider)
        if existing is not None:
            return existing
        processor = CostSpanProcessor(meter_provider)
        provider.add_span_processor(processor)
        if not SDK_HAS_ON_ENDING:
            _move_first(provider, processor)
        _installed[provider] = processor
        return processor


def _find(provider: Any) -> CostSpanProcessor | None:
    active = getattr(provider, "_active_span_processor", None)
    for processor in getattr(active, "_span_processors", ()):
        if isinstance(processor, CostSpanProcessor):
            return processor
    return None


def _move_first(provider: Any, processor: CostSpanProcessor) -> None:
    # Without _on_ending, the cost is written in on_end: be first so earlier exporters see it.
    active = getattr(provider, "_active_span_processor", None)
    processors = getattr(active, "_span_processors", None)
    if isinstance(processors, tuple) and processor in processors:
        active._span_processors = (processor, *(p for p in processors if p is not processor))  # type: ignore[union-attr]
