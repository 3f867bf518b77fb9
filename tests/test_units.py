"""Priced units beyond tokens: server-tool and built-in tool fees, audio, speech and images.

Each call goes through the real SDK to the fake provider server; the cost on the span, on the cost
metric and in the local store must equal the list price of what the server billed (its ledger),
from list prices written here as numbers with their source. A unit with no known rate marks the
call partial; the override file's rate makes it exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation import deferred
from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
from genai_cost.instrumentation.openai import OpenAIInstrumentor
from genai_cost.pricing.book import get_price_book
from genai_cost.store.db import UsageRow, UsageStore
from genai_cost.store.exporter import LocalStoreSpanExporter

TOLERANCE = 1e-9  # USD

# Claude Sonnet 4.5, USD per million tokens, and web search: $10 per 1,000 searches
# (https://docs.claude.com/en/docs/about-claude/pricing, "Web search tool").
SONNET_4_5 = {"input": 3.00, "output": 15.00}
ANTHROPIC_WEB_SEARCH = 10.00 / 1000


@dataclass
class Run:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    db: Path
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    store: LocalStoreSpanExporter

    def cost_metric_sum(self, **attributes: Any) -> float:
        total = 0.0
        data = self.metrics.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == sc.METRIC_COST:
                        for point in metric.data.data_points:
                            if all(point.attributes.get(k) == v for k, v in attributes.items()):
                                total += point.sum
        return total

    def rows(self) -> list[UsageRow]:
        assert self.store.force_flush()
        with UsageStore.open(self.db, create=False) as store:
            return store.rows()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    """Our instrumentation on a real OpenTelemetry SDK, writing spans, the cost metric and the store."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    store = LocalStoreSpanExporter(tmp_path / "usage.db")  # OTEL_TRACES_EXPORTER=genai_cost
    tracer_provider.add_span_processor(SimpleSpanProcessor(store))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    for instrumentor, provider in zip(instrumentors, ("openai", "anthropic"), strict=True):
        settings = Settings(provider_hosts={"127.0.0.1": provider})
        instrumentor.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, settings=settings
        )
    try:
        yield Run(spans, reader, tmp_path / "usage.db", tracer_provider, meter_provider, store)
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
        deferred.finish_all()
        tracer_provider.shutdown()
        meter_provider.shutdown()
        get_price_book().clear_overrides()


def _assert_priced(run: Run, expected: float, tools: float) -> dict[str, Any]:
    """The one call's span, cost metric and store row all say ``expected`` (``tools`` of it per use)."""
    (span,) = run.spans.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, abs=TOLERANCE)
    assert attrs.get(sc.GENAI_COST_TOOLS_AMOUNT, 0.0) == pytest.approx(tools, abs=TOLERANCE)
    parts = sum(
        attrs.get(key, 0.0)
        for key in (
            sc.GENAI_COST_INPUT_AMOUNT,
            sc.GENAI_COST_OUTPUT_AMOUNT,
            sc.GENAI_COST_CACHE_READ_AMOUNT,
            sc.GENAI_COST_CACHE_WRITE_AMOUNT,
            sc.GENAI_COST_TOOLS_AMOUNT,
        )
    )
    assert parts == pytest.approx(expected, abs=TOLERANCE)  # the parts add up to the total
    assert run.cost_metric_sum() == pytest.approx(expected, abs=TOLERANCE)
    (row,) = run.rows()
    assert row.cost == pytest.approx(expected, abs=TOLERANCE)
    assert (row.cost_tools or 0.0) == pytest.approx(tools, abs=TOLERANCE)
    return attrs


# --- Anthropic server tools ---------------------------------------------------------------------------


def _claude(fake_server: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=fake_server.anthropic_base_url, max_retries=0)


WEB_SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_anthropic_web_search_is_charged_per_search(run: Run, fake_server: Any, stream: bool) -> None:
    client = _claude(fake_server)
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "news about the genai-cost project " * 20}],
        "tools": [WEB_SEARCH_TOOL],
    }
    if stream:
        with client.messages.stream(**request) as events:
            events.get_final_message()
    else:
        client.messages.create(**request)
    (billed,) = fake_server.ledger
    assert billed.web_search_calls == 3
    tokens = (billed.input_tokens * SONNET_4_5["input"] + billed.output_tokens * SONNET_4_5["output"]) / 1e6
    searches = billed.web_search_calls * ANTHROPIC_WEB_SEARCH
    attrs = _assert_priced(run, tokens + searches, searches)
    assert attrs[sc.GENAI_COST_WEB_SEARCH_CALLS] == 3
    assert sc.GENAI_COST_PARTIAL not in attrs
    (row,) = run.rows()
    assert row.usage.web_search_calls == 3 and not row.partial


def test_the_issue_example_is_billed_exactly() -> None:
    # Issue 15: claude-sonnet-4 (same list prices as 4.5), 8,984 in / 520 out, 1 search: billed $0.044752 (was reported $0.034752).
    from genai_cost.pricing.book import PriceBook
    from genai_cost.usage import Usage

    cost = PriceBook().price(
        "anthropic",
        "claude-sonnet-4-20250514",
        Usage(input_tokens=8984, output_tokens=520, web_search_calls=1),
    )
    assert cost is not None
    assert cost.total == pytest.approx(0.044752, abs=TOLERANCE)
    assert cost.tools == pytest.approx(0.01, abs=TOLERANCE)


# --- OpenAI Responses built-in tools --------------------------------------------------------------------

# gpt-4o, USD per million tokens (input, cached input, output), and the tool fees: web search $10 per
# 1,000 calls, file search $2.50 per 1,000 calls (https://openai.com/api/pricing, "Built-in tools").
GPT_4O = {"input": 2.50, "cached": 1.25, "output": 10.00}
OPENAI_WEB_SEARCH = 10.00 / 1000
OPENAI_FILE_SEARCH = 2.50 / 1000


def _oai(fake_server: Any) -> Any:
    import openai

    return openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)


def _gpt_4o_tokens(billed: Any) -> float:
    uncached = billed.input_tokens - billed.cache_read_tokens
    return (
        uncached * GPT_4O["input"]
        + billed.cache_read_tokens * GPT_4O["cached"]
        + billed.output_tokens * GPT_4O["output"]
    ) / 1e6


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_responses_web_and_file_search_are_charged_per_call(run: Run, fake_server: Any, stream: bool) -> None:
    client = _oai(fake_server)
    request: dict[str, Any] = {
        "model": "gpt-4o",
        "input": "what changed in genai-cost this week?",
        "tools": [{"type": "web_search_preview"}, {"type": "file_search", "vector_store_ids": ["vs_1"]}],
    }
    if stream:
        with client.responses.stream(**request) as events:
            final = events.get_final_response()
        assert [item.type for item in final.output][:2] == ["web_search_call", "file_search_call"]
    else:
        response = client.responses.create(**request)
        assert [item.type for item in response.output][:2] == ["web_search_call", "file_search_call"]
    (billed,) = fake_server.ledger
    assert (billed.web_search_calls, billed.file_search_calls) == (1, 1)
    tools = billed.web_search_calls * OPENAI_WEB_SEARCH + billed.file_search_calls * OPENAI_FILE_SEARCH
    attrs = _assert_priced(run, _gpt_4o_tokens(billed) + tools, tools)
    assert attrs[sc.GENAI_COST_WEB_SEARCH_CALLS] == 1
    assert attrs[sc.GENAI_COST_FILE_SEARCH_CALLS] == 1
    assert sc.GENAI_COST_PARTIAL not in attrs


def test_a_unit_without_a_rate_marks_the_call_partial(run: Run, fake_server: Any, tmp_path: Path) -> None:
    # Code interpreter is billed per container ($0.03, https://openai.com/api/pricing), which the response
    # does not show and genai-prices 0.2.3 has no rate for: priced for the rest, marked, never silently short.
    client = _oai(fake_server)
    client.responses.create(
        model="gpt-4o", input="plot it", tools=[{"type": "code_interpreter", "container": {"type": "auto"}}]
    )
    (billed,) = fake_server.ledger
    assert billed.code_execution_calls == 1
    attrs = _assert_priced(run, _gpt_4o_tokens(billed), 0.0)
    assert attrs[sc.GENAI_COST_PARTIAL] is True
    assert attrs[sc.GENAI_COST_PARTIAL_REASON] == "code_execution_calls"
    assert attrs[sc.GENAI_COST_CODE_EXECUTION_CALLS] == 1
    assert run.cost_metric_sum(**{sc.GENAI_COST_PARTIAL: True}) == pytest.approx(
        _gpt_4o_tokens(billed), abs=TOLERANCE
    )
    (row,) = run.rows()
    assert row.partial and row.partial_reason == "code_execution_calls"
    with UsageStore.open(run.db, create=False) as store:
        (total,) = store.report("total")
    assert total.partial == 1

    # The override file's rate (one container per call, $0.03) makes it exact.
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  - model: gpt-4o\n    provider: openai\n    code_execution: 0.03\n")
    get_price_book().load_overrides(prices)
    run.spans.clear()
    client.responses.create(
        model="gpt-4o", input="plot it", tools=[{"type": "code_interpreter", "container": {"type": "auto"}}]
    )
    (span,) = run.spans.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(
        _gpt_4o_tokens(fake_server.ledger[-1]) + 0.03, abs=TOLERANCE
    )
    assert attrs[sc.GENAI_COST_TOOLS_AMOUNT] == pytest.approx(0.03, abs=TOLERANCE)
    assert sc.GENAI_COST_PARTIAL not in attrs
