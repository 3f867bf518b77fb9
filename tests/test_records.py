"""Every call reaches the record sinks, whatever the trace sampler keeps (real SDK, fake server)."""

from __future__ import annotations

from typing import Any

import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from genai_cost import feature, records
from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation import deferred
from genai_cost.instrumentation.openai import OpenAIInstrumentor


class ListSink:
    def __init__(self) -> None:
        self.calls: list[records.CallRecord] = []

    def add(self, record: records.CallRecord) -> None:
        self.calls.append(record)


def test_unsampled_calls_reach_the_sinks(fake_server: Any) -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)  # the trace keeps nothing
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    sink = ListSink()
    records.add_sink(sink)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        settings=Settings(provider_hosts={"127.0.0.1/v1": "openai"}),
    )
    try:
        client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
        with feature("search", user_id="u1"):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            for _ in client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            ):
                break
        del _
        deferred.finish_all()
    finally:
        instrumentor.uninstrument()
        records.remove_sink(sink)
    assert spans.get_finished_spans() == ()  # nothing sampled
    assert len(sink.calls) == 2 == len(fake_server.ledger)
    first = sink.calls[0]
    billed = fake_server.ledger[0].normalized()
    assert first.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == billed.input_tokens
    assert first.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] > 0
    assert first.attributes[sc.FEATURE_NAME] == "search" and first.attributes[sc.USER_ID] == "u1"
    assert first.sampled is False and first.trace_id != 0 and first.end_ns > first.start_ns
    assert sink.calls[1].attributes[sc.GENAI_COST_STREAM_INCOMPLETE] is True
