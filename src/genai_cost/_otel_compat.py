"""Every use of OpenTelemetry internals, in one place, each with a public-API fallback.

genai-cost needs a few things the public API does not offer: a fast read of a span's attributes,
writing the cost onto a span that is ending, finding and ordering span processors, and reading the
suppress-instrumentation flag from a context already in hand. They are kept here so a new SDK release
breaks one small module (tests/test_otel_compat.py runs against every supported SDK), not the product.
The SDK is imported lazily: the instrumentation itself needs only the API.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv.attributes.service_attributes import SERVICE_NAME

try:  # the keys behind is_instrumentation_enabled(), read from a context we already hold
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN

    def suppressed(ctx: otel_context.Context) -> bool:
        """True when instrumentation is suppressed in ``ctx`` (OTel's suppress_instrumentation)."""
        return bool(ctx.get(_SUPPRESS_INSTRUMENTATION_KEY) or ctx.get(_SUPPRESS_INSTRUMENTATION_KEY_PLAIN))

except ImportError:  # pragma: no cover - an OpenTelemetry that moved them

    def suppressed(ctx: otel_context.Context) -> bool:
        return not is_instrumentation_enabled()


@functools.cache
def sdk_has_on_ending() -> bool:
    """SDK >= 1.38 calls ``SpanProcessor._on_ending`` before any ``on_end``."""
    from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor

    return hasattr(SynchronousMultiSpanProcessor, "_on_ending")


def span_attributes(span: Any) -> Mapping[str, Any]:
    """A span's attributes as a plain dict, for fast reads.

    ``span.attributes`` is a mapping proxy over the SDK's BoundedAttributes, whose ``get`` and ``in``
    raise and catch a KeyError for every missing key; this runs for every span the app makes.
    """
    try:
        raw = span._attributes._dict
    except AttributeError:
        raw = None
    if type(raw) is dict:
        return raw
    return dict(span.attributes or {})


def write_attributes(span: Any, attributes: Mapping[str, Any]) -> bool:
    """Put attributes on a span that is ending or ended; False if this span type does not allow it.

    In SDK 1.45 a span is already frozen when ``_on_ending`` runs (open-telemetry/opentelemetry-python
    #5614): the attributes go into its attribute map under the span's lock, through the SDK's own
    limits (``_set_items``) where it has them.
    """
    from opentelemetry.sdk.trace import Span

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
            if set_items is not None:
                set_items(attributes)
            else:
                for key, value in attributes.items():
                    bounded[key] = value
        finally:
            bounded._immutable = frozen
    return True


def span_processors(tracer_provider: Any) -> tuple[Any, ...]:
    """The processors added to an SDK TracerProvider, in order (empty if unknown)."""
    active = getattr(tracer_provider, "_active_span_processor", None)
    processors = getattr(active, "_span_processors", ())
    return processors if isinstance(processors, tuple) else ()


def move_first(tracer_provider: Any, processor: Any) -> bool:
    """Make ``processor`` the first of the provider's processors (its on_end runs before the others')."""
    active = getattr(tracer_provider, "_active_span_processor", None)
    processors = span_processors(tracer_provider)
    if processor not in processors:
        return False
    active._span_processors = (processor, *(p for p in processors if p is not processor))  # type: ignore[union-attr]
    return True


def service_name() -> str | None:
    """``service.name`` of the global SDK tracer provider's resource, else of the environment's
    (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), as the SDK would build it."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource

    resource = getattr(trace.get_tracer_provider(), "resource", None)
    if not isinstance(resource, Resource):
        resource = Resource.create()
    value = resource.attributes.get(SERVICE_NAME)
    return None if value is None else str(value)


def tracer_service_name(tracer: Any) -> str | None:
    """``service.name`` of an SDK tracer's resource; None for a tracer that has none (a proxy made
    before the app set its tracer provider)."""
    resource = getattr(tracer, "resource", None)
    value = getattr(resource, "attributes", {}).get(SERVICE_NAME)
    return None if value is None else str(value)
