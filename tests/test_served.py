"""Priced as served: service tiers, batch, Anthropic fast mode and inference_geo, read from the response.

Real SDKs against the fake server, which answers with the tier the request asked for and bills it in
its ledger. Expected costs are list prices written here, with their source; span, cost metric and the
local store must agree with them to 1e-9 USD.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from genai_cost import config
from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation import deferred
from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor
from genai_cost.instrumentation.openai import OpenAIInstrumentor
from genai_cost.pricing import book as book_module
from genai_cost.pricing.book import PriceBook
from genai_cost.pricing.overrides import PriceOverrideError
from genai_cost.processor import CostSpanProcessor
from genai_cost.store import reprice
from genai_cost.store.db import UsageRow, UsageStore
from genai_cost.store.exporter import LocalStoreSpanExporter
from genai_cost.usage import Usage

M = 1_000_000
# USD per million tokens (input, cached input, output), from genai-prices 0.2.3's bundled data
# (genai_prices/data.json), each model's price_variants as a person reads them there, and the
# providers' own pages they come from:
# - openai gpt-5-mini, service_tier=flex from 2026-10-12 (openai.com/api/pricing, Flex):
GPT_5_MINI_FLEX = (0.125, 0.0125, 1.00)
# - openai gpt-4o-mini, service_tier=priority from 2026-10-12 (openai.com/api/pricing, Priority):
GPT_4O_MINI_PRIORITY = (0.25, 0.125, 1.00)
# - openai gpt-4o-mini standard (openai.com/api/pricing): no flex variant in the data
GPT_4O_MINI = (0.15, 0.075, 0.60)
# - anthropic claude-haiku-4-5 standard, and processing=batch from 2026-10-14 (50% off,
#   docs.claude.com/en/docs/about-claude/pricing, Batch processing):
HAIKU_4_5 = (1.00, 0.10, 5.00)
HAIKU_4_5_BATCH = (0.50, 0.05, 2.50)
# - anthropic claude-opus-4-8, speed=fast (fast mode, 2x):
OPUS_4_8_FAST = (10.00, 1.00, 50.00)
# - google gemini-3.8-flash-tts, service_tier=flex: $0.25/$4.50 from 2026-10-15, $0.50/$9.00 from
#   2027-01-01; service_tier=priority: $0.90/$16.20, then $1.80/$32.40 (ai.google.dev/pricing).
GEMINI_TTS_FLEX = (
    (datetime(2026, 10, 15, tzinfo=UTC), (0.25, 0.0, 4.50)),
    (datetime(2027, 1, 1, tzinfo=UTC), (0.50, 0.0, 9.00)),
)
GEMINI_TTS_PRIORITY = ((datetime(2026, 10, 15, tzinfo=UTC), (0.90, 0.0, 16.20)), (datetime(2027, 1, 1, tzinfo=UTC), (1.80, 0.0, 32.40)))  # fmt: skip


def in_force(schedule: tuple[tuple[datetime, tuple[float, float, float]], ...]) -> tuple[float, float, float]:
    """The list price in force now (these calls are made now)."""
    now = datetime.now(UTC)
    prices = schedule[0][1]
    for start, later in schedule:
        if now >= start:
            prices = later
    return prices


def list_price(prices: tuple[float, float, float], billed: Usage) -> float:
    per_input, per_cached, per_output = prices
    cached = billed.cache_read_tokens or 0
    inp = billed.input_tokens or 0
    return ((inp - cached) * per_input + cached * per_cached + (billed.output_tokens or 0) * per_output) / M


@dataclass
class Rig:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    store: LocalStoreSpanExporter
    store_path: Path
    fake: Any

    def cost_metric(self) -> float:
        data = self.metrics.get_metrics_data()
        total = 0.0
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == sc.METRIC_COST:
                        total += sum(point.sum for point in metric.data.data_points)
        return total

    def by_response(self) -> dict[str, ReadableSpan]:
        spans = self.spans.get_finished_spans()
        return {str(s.attributes[sc.GEN_AI_RESPONSE_ID]): s for s in spans if s.attributes}

    def rows(self) -> dict[str | None, UsageRow]:
        with UsageStore.open(self.store_path, create=False) as store:
            return {row.response_id: row for row in store.rows()}


@pytest.fixture
def rig(tmp_path: Path, fake_server: Any) -> Iterator[Rig]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    store = LocalStoreSpanExporter(tmp_path / "usage.db")
    tracer_provider.add_span_processor(SimpleSpanProcessor(store))
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])
    instrumentors = [
        (OpenAIInstrumentor(), Settings(provider_hosts={"127.0.0.1": "openai"})),
        (AnthropicInstrumentor(), Settings()),
        (GoogleGenAIInstrumentor(), Settings(provider_hosts={})),  # the vertexai flag says Vertex AI
    ]
    for instrumentor, settings in instrumentors:
        instrumentor.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, settings=settings
        )
    rig = Rig(spans, metrics, store, tmp_path / "usage.db", fake_server)
    try:
        yield rig
    finally:
        for instrumentor, _ in instrumentors:
            instrumentor.uninstrument()
        deferred.finish_all()
        tracer_provider.shutdown()
        meter_provider.shutdown()


def check(rig: Rig, expected: dict[str, tuple[float, dict[str, str]]]) -> None:
    """Each call (by response id): its span's cost, its store row's cost and served dimensions; and the
    cost metric's sum over all of them."""
    assert rig.store.force_flush()
    spans = rig.by_response()
    rows = rig.rows()
    assert set(spans) == set(expected) == set(rows)
    for response_id, (cost, served) in expected.items():
        attrs = spans[response_id].attributes or {}
        assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(cost, abs=1e-9, rel=1e-9), served
        assert rows[response_id].cost == pytest.approx(cost, abs=1e-9, rel=1e-9)
        for name, value in served.items():
            assert attrs[f"genai_cost.pricing.{name}"] == value
            assert getattr(rows[response_id].usage, name) == value
        assert rows[response_id].tags is None  # openai.response.service_tier is not an app tag
    assert rig.cost_metric() == pytest.approx(sum(c for c, _ in expected.values()), abs=1e-9, rel=1e-9)


def _billed(rig: Rig) -> dict[str, Any]:
    return {call.response_id: call for call in rig.fake.ledger}


PROMPT = [{"role": "user", "content": "what does the tier cost?"}]


def test_openai_flex_and_priority_are_priced_at_the_tier_served(rig: Rig, tmp_path: Path) -> None:
    client = openai.OpenAI(api_key="k", base_url=rig.fake.openai_base_url, max_retries=0)
    client.chat.completions.create(model="gpt-5-mini", messages=PROMPT, extra_body={"service_tier": "flex"})
    for _ in client.chat.completions.create(
        model="gpt-5-mini", messages=PROMPT, extra_body={"service_tier": "flex"}, stream=True
    ):
        pass
    client.chat.completions.create(
        model="gpt-4o-mini", messages=PROMPT, extra_body={"service_tier": "priority"}
    )
    client.responses.create(
        model="gpt-4o-mini", input="what does the tier cost?", extra_body={"service_tier": "priority"}
    )
    with client.responses.create(
        model="gpt-5-mini", input="and streamed?", extra_body={"service_tier": "flex"}, stream=True
    ) as events:
        for _ in events:
            pass
    calls = _billed(rig)
    assert [c.service_tier for c in rig.fake.ledger] == ["flex", "flex", "priority", "priority", "flex"]
    expected = {}
    for response_id, call in calls.items():
        prices = GPT_5_MINI_FLEX if call.service_tier == "flex" else GPT_4O_MINI_PRIORITY
        expected[response_id] = (list_price(prices, call.normalized()), {"service_tier": call.service_tier})
    spans = rig.by_response()
    for span in spans.values():
        attrs = span.attributes or {}
        assert attrs[sc.OPENAI_RESPONSE_SERVICE_TIER] == attrs[sc.GENAI_COST_PRICING_SERVICE_TIER]
        assert sc.GENAI_COST_PARTIAL not in attrs
    check(rig, expected)
    # Re-pricing the store prices each call at its stored tier: nothing changes (at the standard
    # rates every call would).
    with UsageStore.open(rig.store_path, create=False) as store:
        repricing = reprice.plan(store, PriceBook())
    assert [g.changed for g in repricing.groups] == [0] * len(repricing.groups) and repricing.groups
    assert repricing.after == pytest.approx(sum(c for c, _ in expected.values()), abs=1e-12)


def test_anthropic_batch_and_fast_mode(rig: Rig) -> None:
    client = anthropic.Anthropic(api_key="k", base_url=rig.fake.anthropic_base_url, max_retries=0)
    # A Message Batches result states usage.service_tier "batch"; the fake answers it for a Messages
    # request that names it, so the SDK's own Message type carries it to the instrumentation.
    client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=64,
        messages=PROMPT,
        extra_body={"service_tier": "batch"},  # type: ignore[arg-type]
    )
    with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=64,
        messages=PROMPT,
        extra_body={"service_tier": "batch"},  # type: ignore[arg-type]
    ) as stream:
        stream.get_final_message()
    client.messages.create(
        model="claude-opus-4-8",
        max_tokens=64,
        messages=PROMPT,
        extra_body={"speed": "fast"},  # type: ignore[arg-type]
    )
    expected = {}
    for response_id, call in _billed(rig).items():
        if call.speed == "fast":
            expected[response_id] = (
                list_price(OPUS_4_8_FAST, call.normalized()),
                {"speed": "fast", "service_tier": "standard"},
            )
        else:
            assert (call.service_tier, call.processing) == ("batch", "batch")
            expected[response_id] = (
                list_price(HAIKU_4_5_BATCH, call.normalized()),
                {"service_tier": "batch", "processing": "batch"},
            )
    check(rig, expected)


def test_a_tier_without_a_rate_is_priced_standard_and_marked_partial(rig: Rig) -> None:
    oai = openai.OpenAI(api_key="k", base_url=rig.fake.openai_base_url, max_retries=0)
    claude = anthropic.Anthropic(api_key="k", base_url=rig.fake.anthropic_base_url, max_retries=0)
    oai.chat.completions.create(model="gpt-4o-mini", messages=PROMPT, extra_body={"service_tier": "turbo-x"})  # type: ignore[arg-type]
    oai.chat.completions.create(model="gpt-4o-mini", messages=PROMPT, extra_body={"service_tier": "flex"})
    claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=64,
        messages=PROMPT,  # type: ignore[arg-type]
        extra_body={"service_tier": "priority", "inference_geo": "us"},
    )
    expected = {}
    reasons = {}
    for response_id, call in _billed(rig).items():
        if call.provider == "openai":
            expected[response_id] = (
                list_price(GPT_4O_MINI, call.normalized()),
                {"service_tier": call.service_tier},
            )
            reasons[response_id] = f"no rate for service_tier={call.service_tier}: standard price"
        else:
            served = {"service_tier": "priority", "inference_geo": "us"}
            expected[response_id] = (list_price(HAIKU_4_5, call.normalized()), served)
            reasons[response_id] = "no rate for service_tier=priority, inference_geo=us: standard price"
    check(rig, expected)
    for response_id, span in rig.by_response().items():
        attrs = span.attributes or {}
        assert attrs[sc.GENAI_COST_PARTIAL] is True
        assert attrs[sc.GENAI_COST_PARTIAL_REASON] == reasons[response_id]
    assert {row.service_tier for row in rig.rows().values()} == {"turbo-x", "flex", "priority"}
    with UsageStore.open(rig.store_path, create=False) as store:
        groups = {row.key: (row.requests, row.cost) for row in store.report("pricing")}
    assert set(groups) == {
        "service_tier=turbo-x",
        "service_tier=flex",
        "service_tier=priority inference_geo=us",
    }
    assert sum(cost or 0 for _, cost in groups.values()) == pytest.approx(
        sum(c for c, _ in expected.values()), abs=1e-12
    )


# google-genai releases before service_tier in GenerateContentConfig cannot ask for a tier at all.
@pytest.mark.skipif(
    "service_tier" not in types.GenerateContentConfig.model_fields,
    reason="this google-genai has no service_tier",
)
def test_vertex_flex_and_priority_from_the_traffic_type(rig: Rig) -> None:
    client = genai.Client(
        vertexai=True,
        project="proj",
        location="us-central1",
        credentials=Credentials("token"),
        http_options=types.HttpOptions(base_url=rig.fake.gemini_base_url),
    )
    for tier in ("flex", "priority"):
        client.models.generate_content(
            model="gemini-3.8-flash-tts",
            contents="say the tier",
            config=types.GenerateContentConfig(service_tier=tier),  # type: ignore[arg-type]
        )
    expected = {}
    for response_id, call in _billed(rig).items():
        schedule = GEMINI_TTS_FLEX if call.service_tier == "on_demand_flex" else GEMINI_TTS_PRIORITY
        expected[response_id] = (
            list_price(in_force(schedule), call.normalized()),
            {"service_tier": call.service_tier},
        )
    assert {c.service_tier for c in rig.fake.ledger} == {"on_demand_flex", "on_demand_priority"}
    check(rig, expected)


def test_variants_follow_their_start_dates() -> None:
    # genai-prices gemini-3.8-flash-tts (see above): flex from 2026-10-15, new flex and standard
    # prices from 2027-01-01; before any flex price the standard one ($0.50/$9.00).
    book = PriceBook()
    usage = Usage(input_tokens=M, output_tokens=M, service_tier="flex")
    at = {
        day: datetime(*day, 12, tzinfo=UTC).timestamp() for day in ((2026, 9, 1), (2026, 11, 1), (2027, 2, 1))
    }
    costs = {day: book.price("google", "gemini-3.8-flash-tts", usage, when) for day, when in at.items()}
    assert {day: c.total for day, c in costs.items() if c} == pytest.approx(
        {(2026, 9, 1): 0.50 + 9.00, (2026, 11, 1): 0.25 + 4.50, (2027, 2, 1): 0.50 + 9.00}, abs=1e-12
    )
    standard = book.price(
        "google", "gemini-3.8-flash-tts", Usage(input_tokens=M, output_tokens=M), at[(2027, 2, 1)]
    )
    assert standard is not None and standard.total == pytest.approx(1.00 + 18.00, abs=1e-12)
    assert all(c is not None and c.partial is None for c in costs.values())


def test_other_instrumentations_tier_is_read_from_the_semconv_attribute() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    metrics = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[metrics])
    provider.add_span_processor(CostSpanProcessor(meters))
    provider.add_span_processor(SimpleSpanProcessor(spans))
    with provider.get_tracer("another.instrumentation").start_as_current_span(
        "chat gpt-4o-mini", kind=SpanKind.CLIENT
    ) as span:
        span.set_attributes(
            {
                sc.GEN_AI_OPERATION_NAME: "chat",
                sc.GEN_AI_PROVIDER_NAME: "openai",
                sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                sc.GEN_AI_USAGE_INPUT_TOKENS: 1_000,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: 200,
                sc.OPENAI_RESPONSE_SERVICE_TIER: "priority",
            }
        )
    (finished,) = spans.get_finished_spans()
    # gpt-4o-mini priority: $0.25 input, $1.00 output per million (see GPT_4O_MINI_PRIORITY).
    assert (finished.attributes or {})[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(
        (1_000 * 0.25 + 200 * 1.00) / M, rel=1e-12
    )
    meters.shutdown()
    provider.shutdown()


def test_adding_usages_keeps_the_served_dimensions() -> None:
    # Gemini's automatic function calling sums the requests of one call.
    first = Usage(input_tokens=10, output_tokens=2, service_tier="on_demand_flex")
    second = Usage(input_tokens=5, output_tokens=1)
    assert (first + second).service_tier == (second + first).service_tier == "on_demand_flex"
    assert (first + second).input_tokens == 15
    assert Usage(speed="fast").served_label() == "speed=fast" and Usage().served_label() == ""


def test_an_uplift_in_the_override_file_prices_a_dimension_the_data_lacks(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anthropic prices US-only inference (inference_geo "us") at 1.1x on its newer models
    # (docs.claude.com/en/docs/about-claude/pricing, data residency); genai-prices 0.2.3 has no such
    # variant, so the user states it. Priority has no rate and no uplift: still partial.
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "uplifts:\n  - {provider: anthropic, model: 'claude-*', inference_geo: US, factor: 1.1}\n"
    )
    monkeypatch.setattr(book_module, "_book", None)
    monkeypatch.setenv(config.PRICES_FILE, str(prices))
    claude = anthropic.Anthropic(api_key="k", base_url=rig.fake.anthropic_base_url, max_retries=0)
    claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=64,
        messages=PROMPT,
        extra_body={"inference_geo": "us"},  # type: ignore[arg-type]
    )
    claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=64,
        messages=PROMPT,  # type: ignore[arg-type]
        extra_body={"inference_geo": "us", "service_tier": "priority"},
    )
    expected = {}
    for response_id, call in _billed(rig).items():
        served = {"inference_geo": "us", "service_tier": call.service_tier}
        expected[response_id] = (1.1 * list_price(HAIKU_4_5, call.normalized()), served)
    check(rig, expected)
    partial = {
        (span.attributes or {}).get(sc.GENAI_COST_PARTIAL_REASON) for span in rig.by_response().values()
    }
    assert partial == {None, "no rate for service_tier=priority: standard price"}
    monkeypatch.setattr(book_module, "_book", None)


def test_an_uplift_names_one_dimension(tmp_path: Path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text("uplifts:\n  - {model: x, speed: fast, inference_geo: us, factor: 2}\n")
    with pytest.raises(PriceOverrideError, match=r"both\.yaml:2: uplifts\[0\]: give one of service_tier"):
        PriceBook(both)
    missing = tmp_path / "missing.yaml"
    missing.write_text("uplifts:\n  - {inference_geo: us}\n")
    with pytest.raises(PriceOverrideError, match=r"uplifts\[0\]\.factor: required key is missing"):
        PriceBook(missing)
