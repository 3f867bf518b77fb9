"""Providers behind an OpenAI-compatible URL, the request model as a fallback, a provider-stated cost and
Azure's stream usage by api-version: the real openai SDK against the fake server, no settings.

Expected costs come from the fake server's ledger (the tokens it billed, the cost it stated) and from list
prices written here with their source; span, cost metric and usage store must agree to 1e-9 USD.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.trace import SpanKind

import genai_cost
from conftest import Otel
from genai_cost import semconv as sc
from genai_cost.budget import setup as budget_setup
from genai_cost.budget import state as budget_state
from genai_cost.budget.ledger import Claim
from genai_cost.fakeprovider.ledger import BilledCall
from genai_cost.instrumentation.openai import OpenAIInstrumentor
from genai_cost.pricing.book import PriceBook
from genai_cost.processor import CostSpanProcessor
from genai_cost.store import reprice
from genai_cost.store.db import UsageRow, UsageStore
from genai_cost.store.targets import SqliteTarget
from genai_cost.store.writer import StoreWriter

M = 1_000_000
USD = 1e-9  # span, metric and store agree to this many dollars


def deepseek_chat(start_ns: int) -> tuple[float, float, float]:
    """deepseek-chat, USD per million tokens (input cache miss, input cache hit, output), from
    api-docs.deepseek.com/quick_start/pricing: standard from 00:30 to 16:30 UTC, half price otherwise."""
    moment = datetime.fromtimestamp(start_ns / 1e9, UTC)
    minutes = moment.hour * 60 + moment.minute
    if 30 <= minutes < 16 * 60 + 30:
        return 0.27, 0.07, 1.10
    return 0.135, 0.035, 0.55


# USD per million tokens (input, cached input, output).
# Together: meta-llama/Llama-3.3-70B-Instruct-Turbo, together.ai/pricing ($0.88 in and out).
TOGETHER_LLAMA_70B = (0.88, 0.88, 0.88)
# Fireworks: models up to 16B parameters, fireworks.ai/pricing ($0.20 in and out).
FIREWORKS_LLAMA_8B = (0.20, 0.20, 0.20)
# OpenAI davinci-002 (legacy base model), openai.com/api/pricing: $2.00 in and out.
DAVINCI_002 = (2.00, 2.00, 2.00)
# Azure OpenAI gpt-4o-mini 2024-07-18 (global deployment), azure.microsoft.com/pricing/details/
# cognitive-services/openai-service: $0.15 input, $0.075 cached input, $0.60 output.
AZURE_GPT_4O_MINI = (0.15, 0.075, 0.60)
# xAI grok-3-mini, docs.x.ai/docs/models: $0.30 input, $0.075 cached input, $0.50 output.
XAI_GROK_3_MINI = (0.30, 0.075, 0.50)
# Google gemini-2.5-flash (what OpenRouter passes through), ai.google.dev/gemini-api/docs/pricing:
# $0.30 input, $0.03 context-cache read, $2.50 output.
GEMINI_25_FLASH = (0.30, 0.03, 2.50)


def list_price(rates: tuple[float, float, float], billed: BilledCall) -> float:
    per_input, per_cached, per_output = rates
    uncached = billed.input_tokens - billed.cache_read_tokens
    return (
        uncached * per_input + billed.cache_read_tokens * per_cached + billed.output_tokens * per_output
    ) / M


class Harness:
    """Our instrumentation with no settings, and a usage store that every call is written to."""

    def __init__(self, otel: Otel, path: Path) -> None:
        self.otel = otel
        self.path = path
        self.writer = StoreWriter(SqliteTarget(str(path)), limit=1000, interval_s=0.01)

    def rows(self) -> list[UsageRow]:
        self.writer.flush()
        with UsageStore.open(self.path, create=False) as store:
            return store.rows()

    def agree(self, expected: float, *, source: str = sc.COST_SOURCE_LOCAL) -> list[Any]:
        """Every span's cost, the cost metric and the store's cost equal ``expected`` in total; the
        spans (one per call) are returned."""
        spans = self.otel.finished()
        priced = [s for s in spans if sc.GEN_AI_USAGE_COST_AMOUNT in s.attributes]
        assert priced, "no span was priced"
        assert all(s.attributes[sc.GEN_AI_USAGE_COST_SOURCE] == source for s in priced)
        span_total = sum(s.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] for s in priced)
        assert span_total == pytest.approx(expected, abs=USD, rel=1e-9)
        metric = self.otel.metric_sum(sc.METRIC_COST, {sc.GEN_AI_USAGE_COST_SOURCE: source})
        assert metric == pytest.approx(expected, abs=USD, rel=1e-9)
        assert self.otel.metric_sum(sc.METRIC_COST) == pytest.approx(metric, abs=USD)
        rows = self.rows()
        assert len(rows) == len(spans)
        assert sum(r.cost or 0.0 for r in rows) == pytest.approx(expected, abs=USD, rel=1e-9)
        assert {r.cost_source for r in rows if r.cost is not None} == {source}
        return spans


@pytest.fixture
def harness(otel: Otel, tmp_path: Path) -> Iterator[Harness]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    harness = Harness(otel, tmp_path / "usage.db")
    harness.writer.start()
    try:
        yield harness
    finally:
        instrumentor.uninstrument()
        harness.writer.close()


LONG = "cache me " * 600  # >= 4096 characters: the fake reports half the prompt as cached


def chat(client: openai.OpenAI, model: str, prompt: str = "hi", **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], **kwargs
    )


# --- DeepSeek, Together, Fireworks: recognised from the base URL, priced at their own list prices ---------
def test_deepseek_through_the_openai_sdk(harness: Harness, fake_server: Any) -> None:
    client = openai.OpenAI(api_key="k", base_url=fake_server.compatible_base_url("deepseek"), max_retries=0)
    chat(client, "deepseek-chat", LONG)
    # DeepSeek accepts stream_options: genai-cost asks for the usage and hides its extra chunk.
    chunks = list(chat(client, "deepseek-chat", stream=True))
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)
    calls = fake_server.ledger
    assert calls[1].stream and calls[1].usage_reported
    assert [c.provider for c in calls] == ["deepseek", "deepseek"] and calls[0].cache_read_tokens > 0
    spans = harness.otel.finished()
    expected = sum(list_price(deepseek_chat(s.start_time), c) for s, c in zip(spans, calls, strict=True))
    harness.agree(expected)
    for span in spans:
        assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "deepseek"  # the semconv value
        assert span.attributes[sc.SERVER_ADDRESS] == "127.0.0.1"


@pytest.mark.parametrize(
    ("provider", "model", "rates"),
    [
        ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", TOGETHER_LLAMA_70B),
        ("fireworks", "accounts/fireworks/models/llama-v3p1-8b-instruct", FIREWORKS_LLAMA_8B),
    ],
)
def test_resellers_are_priced_from_their_own_lists(
    harness: Harness, fake_server: Any, provider: str, model: str, rates: tuple[float, float, float]
) -> None:
    client = openai.OpenAI(api_key="k", base_url=fake_server.compatible_base_url(provider), max_retries=0)
    chat(client, model, "a question")
    chat(client, model, LONG)
    harness.agree(sum(list_price(rates, c) for c in fake_server.ledger))
    # Not an OpenAI-compatible guess: the provider is named (genai-prices' id, no semconv value exists).
    assert {s.attributes[sc.GEN_AI_PROVIDER_NAME] for s in harness.otel.finished()} == {provider}


def test_xai_streams_are_asked_for_usage_and_priced(harness: Harness, fake_server: Any) -> None:
    client = openai.OpenAI(api_key="k", base_url=fake_server.compatible_base_url("x-ai"), max_retries=0)
    chat(client, "grok-3-mini", LONG)
    chunks = list(chat(client, "grok-3-mini", stream=True))  # the app asks for no usage
    assert chunks and all(c.usage is None for c in chunks)  # the chunk we asked for stays hidden
    calls = fake_server.ledger
    assert [(c.provider, c.stream, c.usage_reported) for c in calls] == [
        ("x-ai", False, True),
        ("x-ai", True, True),
    ]
    spans = harness.agree(sum(list_price(XAI_GROK_3_MINI, c) for c in calls))
    assert {s.attributes[sc.GEN_AI_PROVIDER_NAME] for s in spans} == {"x_ai"}  # the semconv value


# --- OpenRouter: its stated cost is the cost, our estimate beside it --------------------------------------
def test_openrouter_stated_cost_wins(harness: Harness, fake_server: Any) -> None:
    client = openai.OpenAI(api_key="k", base_url=fake_server.compatible_base_url("openrouter"), max_retries=0)
    chat(client, "google/gemini-2.5-flash", LONG)
    chunks = list(chat(client, "google/gemini-2.5-flash", "short", stream=True))
    assert chunks[-1].usage is not None  # OpenRouter's own usage chunk reaches the app, as sent
    calls = fake_server.ledger
    assert all(c.provider_cost is not None for c in calls)
    spans = harness.agree(sum(c.provider_cost or 0.0 for c in calls), source=sc.COST_SOURCE_PROVIDER)
    for span, billed in zip(spans, calls, strict=True):
        attrs = span.attributes
        assert attrs[sc.GEN_AI_PROVIDER_NAME] == "openrouter"
        assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == billed.provider_cost  # passed through unchanged
        assert attrs[sc.GENAI_COST_COST_ESTIMATE] == pytest.approx(
            list_price(GEMINI_25_FLASH, billed), rel=1e-9
        )
        assert sc.GENAI_COST_INPUT_AMOUNT not in attrs  # the provider states a total, not parts
    # The long prompt's cache reads: the fake OpenRouter billed them at its own rate, not Google's.
    assert spans[0].attributes[sc.GENAI_COST_COST_ESTIMATE] < spans[0].attributes[sc.GEN_AI_USAGE_COST_AMOUNT]
    # `genai-cost reprice` leaves a provider-stated cost alone.
    with UsageStore.open(harness.path, create=False) as store:
        assert reprice.plan(store, PriceBook()).calls == 0


def test_perplexity_states_its_cost_as_a_breakdown(harness: Harness, fake_server: Any) -> None:
    client = openai.OpenAI(api_key="k", base_url=fake_server.compatible_base_url("perplexity"), max_retries=0)
    chat(client, "sonar", "What is new today?")
    list(chat(client, "sonar", "And yesterday?", stream=True))
    calls = fake_server.ledger
    spans = harness.agree(sum(c.provider_cost or 0.0 for c in calls), source=sc.COST_SOURCE_PROVIDER)
    for span, billed in zip(spans, calls, strict=True):
        assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "perplexity"  # the semconv value
        # The request fee at the low search context size, docs.perplexity.ai/guides/pricing: $5 per
        # thousand requests, sonar's tokens $1 per million in and out.
        assert billed.provider_cost == pytest.approx(
            (billed.input_tokens + billed.output_tokens) / M + 5 / 1000, rel=1e-12
        )
        # Our estimate takes the one fee the price data has for sonar, the high search context size's
        # $12 per thousand requests (docs.perplexity.ai/guides/pricing): only the provider knows the
        # size a call used, so its stated cost is the bill.
        assert span.attributes[sc.GENAI_COST_COST_ESTIMATE] == pytest.approx(
            (billed.input_tokens + billed.output_tokens) / M + 12 / 1000, rel=1e-12
        )


def test_a_budget_is_charged_the_stated_cost(harness: Harness, fake_server: Any, tmp_path: Path) -> None:
    genai_cost.configure_budgets([{"name": "all", "limit_usd": 10}], ledger=tmp_path / "budget.db")
    try:
        client = openai.OpenAI(
            api_key="k", base_url=fake_server.compatible_base_url("openrouter"), max_retries=0
        )
        chat(client, "google/gemini-2.5-flash", LONG)
        guard = budget_state.guard
        assert guard is not None
        (budget,) = guard.budgets
        now = time.time()
        claim = Claim("all", "", 0, budget.window.since(now), budget.limit, 0.0, True)
        (level,) = guard.ledger.levels([claim], now)
    finally:
        budget_setup.clear()
    (billed,) = fake_server.ledger
    assert level.spent == pytest.approx(billed.provider_cost, abs=USD, rel=1e-9)
    assert level.reserved == 0.0


def test_openrouter_model_without_a_list_price_still_has_its_cost(harness: Harness, fake_server: Any) -> None:
    client = openai.OpenAI(api_key="k", base_url=fake_server.compatible_base_url("openrouter"), max_retries=0)
    chat(client, "acme/brand-new-model", "hello")
    (billed,) = fake_server.ledger
    (span,) = harness.agree(billed.provider_cost or 0.0, source=sc.COST_SOURCE_PROVIDER)
    assert sc.GENAI_COST_COST_ESTIMATE not in span.attributes
    assert sc.GENAI_COST_UNPRICED not in span.attributes
    assert harness.otel.metric_points(sc.METRIC_UNPRICED) == []


# OpenAI gpt-4o-mini, openai.com/api/pricing: $0.15 input, $0.075 cached input, $0.60 output.
GPT_4O_MINI = (0.15, 0.075, 0.60)


def test_gateway_cost_header_wins(harness: Harness, fake_server: Any) -> None:
    # LiteLLM's proxy states what it charged in x-litellm-response-cost, JSON and stream alike.
    client = openai.OpenAI(api_key="k", base_url=fake_server.compatible_base_url("litellm"), max_retries=0)
    chat(client, "gpt-4o-mini", LONG)
    list(chat(client, "gpt-4o-mini", stream=True, stream_options={"include_usage": True}))
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "raw"}]
    )
    assert raw.headers["x-litellm-response-cost"]
    raw.parse()
    calls = fake_server.ledger
    assert len(calls) == 3 and all(c.provider_cost is not None for c in calls)
    spans = harness.agree(sum(c.provider_cost or 0.0 for c in calls), source=sc.COST_SOURCE_PROVIDER)
    for span, billed in zip(spans, calls, strict=True):
        assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "litellm"
        assert span.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] == billed.provider_cost
        assert span.attributes[sc.GENAI_COST_COST_ESTIMATE] == pytest.approx(list_price(GPT_4O_MINI, billed))
        assert span.attributes[sc.GENAI_COST_COST_ESTIMATE] != billed.provider_cost


def test_async_client_reads_stated_costs_too(harness: Harness, fake_server: Any) -> None:
    async def calls() -> None:
        for provider in ("openrouter", "litellm"):
            client = openai.AsyncOpenAI(
                api_key="k", base_url=fake_server.compatible_base_url(provider), max_retries=0
            )
            await client.chat.completions.create(
                model="google/gemini-2.5-flash", messages=[{"role": "user", "content": LONG}]
            )
            stream = await client.chat.completions.create(
                model="google/gemini-2.5-flash",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async for _ in stream:
                pass

    asyncio.run(calls())
    calls_billed = fake_server.ledger
    assert [c.provider for c in calls_billed] == ["openrouter"] * 2 + ["litellm"] * 2
    spans = harness.agree(sum(c.provider_cost or 0.0 for c in calls_billed), source=sc.COST_SOURCE_PROVIDER)
    assert [s.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] for s in spans] == [
        c.provider_cost for c in calls_billed
    ]


# --- the request's model when the response names one the price data does not know -------------------------
def test_response_model_unknown_prices_by_request_model(harness: Harness, fake_server: Any) -> None:
    client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
    client.completions.create(model="davinci-002", prompt="Once upon a time")
    (billed,) = fake_server.ledger
    (span,) = harness.agree(list_price(DAVINCI_002, billed))
    assert span.attributes[sc.GEN_AI_RESPONSE_MODEL] == "davinci:2023-07-21-v2"  # as answered
    assert span.attributes[sc.GENAI_COST_PRICING_MODEL] == "davinci-002"
    (row,) = harness.rows()
    assert row.response_model == "davinci:2023-07-21-v2"
    with UsageStore.open(harness.path, create=False) as store:  # reprice falls back the same way
        (group,) = reprice.plan(store, PriceBook()).groups
    assert (group.no_price, group.changed) == (0, 0)


def test_processor_prices_other_spans_by_their_request_model(otel: Otel) -> None:
    otel.tracer_provider.add_span_processor(CostSpanProcessor(otel.meter_provider))
    tracer = otel.tracer_provider.get_tracer("another.instrumentation")
    with tracer.start_as_current_span("text_completion davinci-002", kind=SpanKind.CLIENT) as span:
        span.set_attributes(
            {
                sc.GEN_AI_OPERATION_NAME: sc.OP_TEXT_COMPLETION,
                sc.GEN_AI_PROVIDER_NAME: "openai",
                sc.GEN_AI_REQUEST_MODEL: "davinci-002",
                sc.GEN_AI_RESPONSE_MODEL: "davinci:2023-07-21-v2",
                sc.GEN_AI_USAGE_INPUT_TOKENS: 1_000,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: 500,
            }
        )
    (finished,) = otel.finished()
    expected = (1_000 * 2.00 + 500 * 2.00) / M  # davinci-002, openai.com/api/pricing
    assert finished.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, rel=1e-12)
    assert finished.attributes[sc.GENAI_COST_PRICING_MODEL] == "davinci-002"
    assert otel.metric_sum(sc.METRIC_COST) == pytest.approx(expected, rel=1e-12)


# --- Azure OpenAI: stream usage asked for only where the api-version accepts it ----------------------------
def azure(fake_server: Any, version: str) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        api_key="k", azure_endpoint=fake_server.azure_endpoint, api_version=version, max_retries=0
    )


def test_azure_old_api_version_streams_unchanged(harness: Harness, fake_server: Any) -> None:
    client = azure(fake_server, "2024-02-01")
    chunks = list(chat(client, "gpt-4o-mini", stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)  # the stream worked
    chat(client, "gpt-4o-mini", LONG)
    stream_call, json_call = fake_server.ledger
    assert stream_call.status == 200 and not stream_call.usage_reported  # sent without stream_options
    spans = harness.agree(list_price(AZURE_GPT_4O_MINI, json_call))
    attrs = spans[0].attributes
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert attrs[sc.GENAI_COST_USAGE_MISSING] is True
    assert "2024-02-01" in attrs[sc.GENAI_COST_USAGE_MISSING_REASON]
    assert sc.GENAI_COST_USAGE_MISSING_REASON not in spans[1].attributes
    # The app asking for stream_options itself gets Azure's own answer, unchanged.
    with pytest.raises(
        openai.BadRequestError, match="Unrecognized request argument supplied: stream_options"
    ):
        chat(client, "gpt-4o-mini", stream=True, stream_options={"include_usage": True})


@pytest.mark.parametrize("version", ["2024-10-21", "2024-09-01-preview", "2025-04-01-preview"])
def test_azure_new_api_version_asks_for_stream_usage(
    harness: Harness, fake_server: Any, version: str
) -> None:
    chunks = list(chat(azure(fake_server, version), "gpt-4o-mini", LONG, stream=True))
    assert all(c.usage is None for c in chunks)  # the usage chunk we asked for is not the app's
    (billed,) = fake_server.ledger
    assert billed.usage_reported and billed.cache_read_tokens > 0
    (span,) = harness.agree(list_price(AZURE_GPT_4O_MINI, billed))
    assert span.attributes[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert sc.GENAI_COST_USAGE_MISSING not in span.attributes
