"""Compatibility attributes: each family makes its backend show exactly our cost.

A real SDK call (and another instrumentation's span through the cost span processor) is exported as
OTLP, decoded as a backend receives it, and read with that backend's ingestion rules
(tests/backend_rules.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import backend_rules
from genai_cost import config
from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
from genai_cost.processor import CostSpanProcessor

MODEL = "claude-haiku-4-5"
# USD per million tokens, from anthropic.com/pricing: input, cache read, 5-minute cache write, output.
HAIKU_45 = (1.00, 0.10, 1.25, 5.00)
ALL = frozenset(sc.COMPAT_FAMILIES)
COMPAT_KEYS = {
    sc.COMPAT_LANGFUSE: {sc.LANGFUSE_COST_DETAILS, sc.LANGFUSE_USAGE_DETAILS},
    sc.COMPAT_LOGFIRE: {sc.LOGFIRE_OPERATION_COST},
    sc.COMPAT_OPENINFERENCE: {
        sc.OPENINFERENCE_COST_TOTAL,
        sc.OPENINFERENCE_COST_PROMPT,
        sc.OPENINFERENCE_COST_COMPLETION,
        sc.OPENINFERENCE_COST_PROMPT_INPUT,
        sc.OPENINFERENCE_COST_PROMPT_CACHE_READ,
        sc.OPENINFERENCE_COST_PROMPT_CACHE_WRITE,
    },
    sc.COMPAT_OPENLIT: {sc.OPENLIT_USAGE_COST},
}


def otlp_attributes(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes as OTLP carries them to a backend (protobuf AnyValue, decoded)."""
    request = encode_spans([span])
    (otlp_span,) = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    out: dict[str, Any] = {}
    for kv in otlp_span.attributes:
        kind = kv.value.WhichOneof("value")
        if kind == "array_value":
            out[kv.key] = [getattr(v, v.WhichOneof("value")) for v in kv.value.array_value.values]
        else:
            out[kv.key] = getattr(kv.value, kind)
    return out


@pytest.fixture
def call_with(otel: Any, fake_server: Any) -> Iterator[Any]:
    """Make one cached Anthropic call with these compatibility families on; return the span and what
    the provider billed."""
    instrumentor = AnthropicInstrumentor()

    def call(families: frozenset[str]) -> tuple[ReadableSpan, Any]:
        otel.spans.clear()
        instrumentor.instrument(
            tracer_provider=otel.tracer_provider,
            meter_provider=otel.meter_provider,
            settings=Settings(provider_hosts={"127.0.0.1": "anthropic"}, compat=families),
        )
        try:
            client = anthropic.Anthropic(api_key="k", base_url=fake_server.anthropic_base_url, max_retries=0)
            block = {
                "type": "text",
                "text": "Rewrite these bullets " * 200,
                "cache_control": {"type": "ephemeral"},
            }
            client.messages.create(
                model=MODEL, max_tokens=100, messages=[{"role": "user", "content": [block]}]
            )
        finally:
            instrumentor.uninstrument()
        (span,) = otel.finished()
        return span, fake_server.ledger[-1]

    yield call


def hand_price(billed: Any) -> float:
    per_input, per_read, per_write, per_output = HAIKU_45
    return (
        billed.input_tokens * per_input
        + billed.cache_read_tokens * per_read
        + billed.cache_creation_tokens * per_write
        + billed.output_tokens * per_output
    ) / 1e6


def test_every_family_reads_exactly_our_cost(call_with: Any) -> None:
    span, billed = call_with(ALL)
    assert billed.cache_read_tokens > 0 and billed.cache_creation_tokens > 0
    attrs = otlp_attributes(span)
    ours = attrs[sc.GEN_AI_USAGE_COST_AMOUNT]
    assert ours == pytest.approx(hand_price(billed), rel=1e-12)

    observation = backend_rules.langfuse(attrs)
    assert observation.total_cost == ours
    # Usage by Langfuse's own types, adding up to all tokens, and no bogus "cost.amount" type.
    assert observation.usage_details == {
        "input": billed.input_tokens,
        "input_cached_tokens": billed.cache_read_tokens,
        "input_cache_creation": billed.cache_creation_tokens,
        "output": billed.output_tokens,
    }
    assert observation.cost_details["input_cached_tokens"] == attrs[sc.GENAI_COST_CACHE_READ_AMOUNT]
    assert observation.cost_details["input_cache_creation"] == attrs[sc.GENAI_COST_CACHE_WRITE_AMOUNT]

    assert backend_rules.logfire(attrs) == ours
    openinference = backend_rules.openinference(attrs)
    assert openinference.total == ours
    assert openinference.prompt is not None and openinference.completion is not None
    assert openinference.prompt + openinference.completion == pytest.approx(ours, rel=1e-12)
    assert openinference.completion == billed.output_tokens * HAIKU_45[3] / 1e6
    assert backend_rules.openlit(attrs) == ours


@pytest.mark.parametrize("family", sc.COMPAT_FAMILIES)
def test_one_switch_per_family(call_with: Any, family: str) -> None:
    span, _ = call_with(frozenset({family}))
    attrs = otlp_attributes(span)
    for other, keys in COMPAT_KEYS.items():
        present = keys & set(attrs)
        assert present == (keys if other == family else set()), other


def test_off_by_default_and_what_langfuse_does_without_it(call_with: Any) -> None:
    span, _ = call_with(frozenset())
    attrs = otlp_attributes(span)
    assert not set().union(*COMPAT_KEYS.values()) & set(attrs)
    # What the issue is about: Langfuse sees no cost of ours, and our amount as a usage type.
    observation = backend_rules.langfuse(attrs)
    assert observation.total_cost is None
    assert observation.usage_details["cost.amount"] == attrs[sc.GEN_AI_USAGE_COST_AMOUNT]
    assert backend_rules.logfire(attrs) is None
    assert backend_rules.openinference(attrs).total is None
    assert backend_rules.openlit(attrs) == 0.0


def test_processor_path_writes_the_same_families(otel: Any) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(CostSpanProcessor(otel.meter_provider, Settings(compat=ALL)))
    provider.add_span_processor(SimpleSpanProcessor(spans))
    attributes = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 10_000,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4_000,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 500,
    }
    with provider.get_tracer("another.instrumentation").start_as_current_span(
        "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attributes
    ):
        pass
    (span,) = spans.get_finished_spans()
    attrs = otlp_attributes(span)
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output.
    expected = (6_000 * 0.15 + 4_000 * 0.075 + 500 * 0.60) / 1e6
    ours = attrs[sc.GEN_AI_USAGE_COST_AMOUNT]
    assert ours == pytest.approx(expected, rel=1e-12)
    assert backend_rules.langfuse(attrs).total_cost == ours
    assert backend_rules.langfuse(attrs).usage_details == {
        "input": 6_000,
        "input_cached_tokens": 4_000,
        "output": 500,
    }
    assert backend_rules.logfire(attrs) == ours
    assert backend_rules.openinference(attrs).total == ours
    assert backend_rules.openlit(attrs) == ours


def test_no_cost_no_compat_attributes(otel: Any) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(CostSpanProcessor(otel.meter_provider, Settings(compat=ALL)))
    provider.add_span_processor(SimpleSpanProcessor(spans))
    attributes = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "my-unpriced-finetune",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 10,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
    }
    with provider.get_tracer("another.instrumentation").start_as_current_span(
        "chat x", attributes=attributes
    ):
        pass
    (span,) = spans.get_finished_spans()
    assert span.attributes[sc.GENAI_COST_UNPRICED] is True
    assert not set().union(*COMPAT_KEYS.values()) & set(span.attributes)


def test_compat_attributes_are_not_app_tags_in_the_store(call_with: Any) -> None:
    from genai_cost.store.exporter import span_to_row

    span, _ = call_with(ALL)
    assert COMPAT_KEYS[sc.COMPAT_LOGFIRE] <= set(span.attributes)
    row = span_to_row(span)
    assert row is not None and row.tags is None
    assert set().union(*COMPAT_KEYS.values()) == set(sc.COMPAT_ATTRIBUTES)


def test_compat_setting_from_env_and_unknown_family_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    env = {config.COMPAT: " Langfuse, openlit,phoenixx,, "}
    with caplog.at_level(logging.WARNING, logger="genai_cost"):
        first = Settings.from_env(env)
        second = Settings.from_env(env)
    assert first.compat == second.compat == frozenset({"langfuse", "openlit"})
    warnings = [r.getMessage() for r in caplog.records if "phoenixx" in r.getMessage()]
    assert len(warnings) == 1
    assert config.COMPAT in warnings[0]
    assert Settings.from_env({}).compat == frozenset()


def test_langfuse_json_holds_numbers_only() -> None:
    # No prompt text can reach these attributes: they are built from counts and amounts alone.
    from genai_cost.pricing.compat import compat_writer
    from genai_cost.usage import Cost, Usage

    out: dict[str, Any] = {}
    writer = compat_writer(frozenset({sc.COMPAT_LANGFUSE}))
    assert writer is not None
    writer(out, Cost(total=0.5, input=0.2, output=0.3), Usage(input_tokens=7, output_tokens=3))
    for key in (sc.LANGFUSE_COST_DETAILS, sc.LANGFUSE_USAGE_DETAILS):
        values = json.loads(out[key]).values()
        assert all(type(v) in (int, float) for v in values)
    assert compat_writer(frozenset()) is None


# --- a cost the provider stated: every family shows the bill, and no part is made up --------------------
def assert_backends_show_the_stated_cost(attrs: dict[str, Any], stated: float) -> None:
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == stated
    observation = backend_rules.langfuse(attrs)
    assert observation.total_cost == stated
    assert observation.cost_details == {"total": stated}  # Langfuse's total only: no zero input/output
    assert "cost.amount" not in observation.usage_details  # usage_details still given
    assert backend_rules.logfire(attrs) == stated
    assert backend_rules.openinference(attrs) == backend_rules.OpenInferenceCost(stated, None, None)
    assert not COMPAT_KEYS[sc.COMPAT_OPENINFERENCE] - {sc.OPENINFERENCE_COST_TOTAL} & set(attrs)
    assert backend_rules.openlit(attrs) == stated


def test_openrouter_stated_cost_is_what_every_family_shows(otel: Any, fake_server: Any) -> None:
    import openai

    from genai_cost.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        settings=Settings(compat=ALL),
    )
    try:
        client = openai.OpenAI(
            api_key="k", base_url=fake_server.compatible_base_url("openrouter"), max_retries=0
        )
        messages = [{"role": "user", "content": "cache me " * 600}]  # the fake reports cached reads
        client.chat.completions.create(model="google/gemini-2.5-flash", messages=messages)  # type: ignore[arg-type]
        stream = client.chat.completions.create(
            model="google/gemini-2.5-flash",
            messages=[{"role": "user", "content": "short"}],
            stream=True,
        )
        for _ in stream:
            pass
    finally:
        instrumentor.uninstrument()
    billed = fake_server.ledger
    spans = otel.finished()
    assert len(spans) == len(billed) == 2
    assert billed[0].cache_read_tokens > 0
    for span, call in zip(spans, billed, strict=True):
        assert call.provider_cost is not None
        assert_backends_show_the_stated_cost(otlp_attributes(span), call.provider_cost)
    stated_total = sum(call.provider_cost or 0.0 for call in billed)
    assert otel.metric_sum(sc.METRIC_COST, {sc.GEN_AI_USAGE_COST_SOURCE: "provider"}) == pytest.approx(
        stated_total, abs=1e-9
    )


def test_processor_stated_cost_is_what_every_family_shows(otel: Any) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(CostSpanProcessor(otel.meter_provider, Settings(compat=ALL)))
    provider.add_span_processor(SimpleSpanProcessor(spans))
    stated = 0.004_2  # what the gateway's instrumentation says the provider billed
    attributes = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 10_000,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4_000,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 500,
        sc.GEN_AI_USAGE_COST_AMOUNT: stated,
        sc.GEN_AI_USAGE_COST_CURRENCY: "USD",
        sc.GEN_AI_USAGE_COST_SOURCE: "provider",
    }
    with provider.get_tracer("another.gateway.instrumentation").start_as_current_span(
        "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attributes
    ):
        pass
    (span,) = spans.get_finished_spans()
    attrs = otlp_attributes(span)
    assert_backends_show_the_stated_cost(attrs, stated)
    assert backend_rules.langfuse(attrs).usage_details == {
        "input": 6_000,
        "input_cached_tokens": 4_000,
        "output": 500,
    }
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output: beside it, not instead of it.
    assert attrs[sc.GENAI_COST_COST_ESTIMATE] == pytest.approx(
        (6_000 * 0.15 + 4_000 * 0.075 + 500 * 0.60) / 1e6
    )
    assert otel.metric_sum(sc.METRIC_COST, {sc.GEN_AI_USAGE_COST_SOURCE: "provider"}) == pytest.approx(
        stated, abs=1e-9
    )


def test_processor_stated_cost_in_another_currency_gets_no_usd_attributes(otel: Any) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(CostSpanProcessor(otel.meter_provider, Settings(compat=ALL)))
    provider.add_span_processor(SimpleSpanProcessor(spans))
    attributes = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 1_000,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 200,
        sc.GEN_AI_USAGE_COST_AMOUNT: 0.03,
        sc.GEN_AI_USAGE_COST_CURRENCY: "EUR",
        sc.GEN_AI_USAGE_COST_SOURCE: "provider",
    }
    with provider.get_tracer("another.gateway.instrumentation").start_as_current_span(
        "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attributes
    ):
        pass
    (span,) = spans.get_finished_spans()
    assert not set().union(*COMPAT_KEYS.values()) & set(span.attributes)
    (point,) = otel.metric_points(sc.METRIC_COST)
    assert (point.sum, point.attributes[sc.GEN_AI_USAGE_COST_CURRENCY]) == (0.03, "EUR")
