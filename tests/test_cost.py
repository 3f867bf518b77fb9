"""Cost on our own spans and metrics, checked against published list prices written here by hand."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from genai_cost import feature
from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation.openai import OpenAIInstrumentor

# USD per million tokens (input, cached input, output), from openai.com/api/pricing.
LIST_PRICES = {
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4o": (2.50, 1.25, 10.00),
}


def list_price(model: str, input_tokens: int, cached: int, output: int) -> float:
    base = model.split("-2024")[0]
    per_input, per_cached, per_output = LIST_PRICES[base]
    return ((input_tokens - cached) * per_input + cached * per_cached + output * per_output) / 1e6


def _instrument(tracer_provider: Any, meter_provider: Any) -> OpenAIInstrumentor:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        settings=Settings(provider_hosts={"127.0.0.1": "openai"}),
    )
    return instrumentor


def test_span_cost_matches_list_price(otel: Any, fake_server: Any) -> None:
    instrumentor = _instrument(otel.tracer_provider, otel.meter_provider)
    try:
        client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x " * 3000}])
    finally:
        instrumentor.uninstrument()
    billed = fake_server.ledger[-1]
    assert billed.cache_read_tokens > 0
    expected = list_price("gpt-4o", billed.input_tokens, billed.cache_read_tokens, billed.output_tokens)
    (span,) = otel.finished()
    attrs = span.attributes
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, rel=1e-9)
    assert type(attrs[sc.GEN_AI_USAGE_COST_AMOUNT]) is float
    assert attrs[sc.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert attrs[sc.GEN_AI_USAGE_COST_SOURCE] == "local"
    parts = (
        attrs[sc.GENAI_COST_INPUT_AMOUNT]
        + attrs[sc.GENAI_COST_CACHE_READ_AMOUNT]
        + attrs[sc.GENAI_COST_OUTPUT_AMOUNT]
    )
    assert parts == pytest.approx(expected, rel=1e-9)
    assert otel.metric_sum(sc.METRIC_COST) == pytest.approx(expected, rel=1e-9)


def test_cost_metric_is_shaped_as_the_proposal_says(otel: Any, fake_server: Any) -> None:
    # semantic-conventions-genai PR #443 (head 80325bb), model/gen-ai/metrics.yaml: a histogram named
    # gen_ai.client.operation.cost, unit {cost}, with the currency and the source required on it.
    instrumentor = _instrument(otel.tracer_provider, otel.meter_provider)
    try:
        client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        fake_server.fail_next(status=404)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    finally:
        instrumentor.uninstrument()
    metrics = [
        metric
        for rm in otel.metrics.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "gen_ai.client.operation.cost"
    ]
    (metric,) = metrics
    assert metric.unit == "{cost}"
    assert type(metric.data).__name__ == "Histogram"
    (point,) = metric.data.data_points
    (billed,) = [b for b in fake_server.ledger if b.output_tokens]
    assert point.sum == pytest.approx(
        list_price("gpt-4o-mini", billed.input_tokens, billed.cache_read_tokens, billed.output_tokens)
    )
    assert point.attributes["gen_ai.usage.cost.currency"] == "USD"
    assert point.attributes["gen_ai.usage.cost.source"] == "local"
    assert point.attributes["gen_ai.operation.name"] == "chat"
    assert point.attributes["gen_ai.provider.name"] == "openai"
    # Not on the other metrics: the duration of both calls has no currency.
    durations = otel.metric_points(sc.METRIC_OPERATION_DURATION)
    assert sum(p.count for p in durations) == 2
    assert all(sc.GEN_AI_USAGE_COST_CURRENCY not in p.attributes for p in durations)


def test_unpriced_model_keeps_tokens_and_is_counted(otel: Any, fake_server: Any) -> None:
    instrumentor = _instrument(otel.tracer_provider, otel.meter_provider)
    try:
        client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
        for _ in range(3):
            client.chat.completions.create(
                model="my-private-finetune-xyz", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        instrumentor.uninstrument()
    spans = otel.finished()
    assert all(s.attributes[sc.GENAI_COST_UNPRICED] is True for s in spans)
    assert all(sc.GEN_AI_USAGE_COST_AMOUNT not in s.attributes for s in spans)
    assert all(s.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0 for s in spans)
    assert otel.metric_sum(sc.METRIC_UNPRICED) == 3
    assert otel.metric_points(sc.METRIC_COST) == []


def test_metrics_exact_under_1_percent_trace_sampling(fake_server: Any) -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=TraceIdRatioBased(0.01))
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = _instrument(tracer_provider, meter_provider)
    client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
    try:
        for i in range(200):
            model = "gpt-4o" if i % 3 == 0 else "gpt-4o-mini"
            prompt = "long context " * (400 if i % 4 == 0 else 3) + str(i)  # some calls read the cache
            with feature("sampled", user_id=f"u{i % 7}"):
                if i % 5 == 0:
                    list(
                        client.chat.completions.create(
                            model=model, messages=[{"role": "user", "content": prompt}], stream=True
                        )
                    )
                else:
                    client.chat.completions.create(
                        model=model, messages=[{"role": "user", "content": prompt}]
                    )
    finally:
        instrumentor.uninstrument()
    assert len(spans.get_finished_spans()) < 20  # most calls were sampled out...
    billed = [c for c in fake_server.ledger if c.usage_reported]
    assert len(billed) == 200
    expected_cost = sum(
        list_price(c.model, c.input_tokens, c.cache_read_tokens, c.output_tokens) for c in billed
    )
    data = reader.get_metrics_data()
    sums: dict[str, float] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    key = metric.name + ":" + str(point.attributes.get(sc.GEN_AI_TOKEN_TYPE, ""))
                    sums[key] = sums.get(key, 0) + (point.sum if hasattr(point, "sum") else point.value)
    # ...yet the metrics count every call exactly.
    assert sums[f"{sc.METRIC_TOKEN_USAGE}:input"] == sum(c.input_tokens for c in billed)
    assert sums[f"{sc.METRIC_TOKEN_USAGE}:output"] == sum(c.output_tokens for c in billed)
    assert sums[f"{sc.METRIC_COST}:"] == pytest.approx(expected_cost, rel=1e-9)
    tracer_provider.shutdown()
    meter_provider.shutdown()
