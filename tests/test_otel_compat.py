"""The OpenTelemetry internals genai-cost relies on (_otel_compat), against the installed SDK.

CI runs this with the SDK pinned in tests/requirements.latest.txt; with an SDK whose internals moved,
these fail first and say which access broke, instead of the product silently losing the cost.
"""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_cost import _otel_compat


def test_suppressed_reads_the_suppress_instrumentation_flag() -> None:
    assert _otel_compat.suppressed(otel_context.get_current()) is False
    with suppress_instrumentation():
        assert _otel_compat.suppressed(otel_context.get_current()) is True


def test_span_attributes_and_write_on_an_ending_span() -> None:
    class Writer(SpanProcessor):
        def _on_ending(self, span: object) -> None:  # what the cost processor does
            assert _otel_compat.span_attributes(span) == {"a": 1}
            assert _otel_compat.write_attributes(span, {"cost": 0.5})

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(Writer())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("s", attributes={"a": 1}):
        pass
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes or {}) == {"a": 1, "cost": 0.5}
    assert _otel_compat.sdk_has_on_ending()


def test_processors_are_listed_and_reordered() -> None:
    provider = TracerProvider()
    first, second = SimpleSpanProcessor(InMemorySpanExporter()), SimpleSpanProcessor(InMemorySpanExporter())
    provider.add_span_processor(first)
    provider.add_span_processor(second)
    assert _otel_compat.span_processors(provider) == (first, second)
    assert _otel_compat.move_first(provider, second)
    assert _otel_compat.span_processors(provider) == (second, first)
