"""Shared fixtures: a real OpenTelemetry SDK with in-memory exporters, and the fake provider server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import genai_cost._internal as internal
from genai_cost import config
from genai_cost.instrumentation import deferred


@pytest.fixture(autouse=True)
def _raise_internal_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    # A telemetry bug must fail a test, not hide in a log line (tests that simulate one turn it off).
    monkeypatch.setattr(internal, "RAISE_INTERNAL_ERRORS", True)
    monkeypatch.setattr(config, "_warned", set())  # each test sees its own once-only warnings


@dataclass
class Otel:
    tracer_provider: TracerProvider
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    meter_provider: MeterProvider

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def metric_points(self, name: str) -> list[Any]:
        """All data points of one metric name (empty list if it was never recorded)."""
        data = self.metrics.get_metrics_data()
        points: list[Any] = []
        if data is None:
            return points
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points

    def metric_sum(self, name: str, attrs: dict[str, Any] | None = None) -> float:
        """Sum of a histogram/counter over the points whose attributes include ``attrs``."""
        total = 0.0
        for point in self.metric_points(name):
            if all(point.attributes.get(k) == v for k, v in (attrs or {}).items()):
                total += point.sum if hasattr(point, "sum") else point.value
        return total


@pytest.fixture
def otel() -> Iterator[Otel]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(tracer_provider, spans, reader, meter_provider)
    # Streams a test dropped are finished on genai-cost's worker: finish them now, while this test's
    # providers are still up (as the exit hook does before the SDK shuts down).
    deferred.finish_all()
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def fake_server() -> Iterator[Any]:
    from genai_cost.fakeprovider import FakeProviderServer

    with FakeProviderServer() as server:
        yield server
