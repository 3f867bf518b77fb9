"""Priced units beyond tokens: server-tool and built-in tool fees, audio, speech and images.

Each call goes through the real SDK to the fake provider server; the cost on the span, on the cost
metric and in the local store must equal the list price of what the server billed (its ledger),
from list prices written here as numbers with their source. A unit with no known rate marks the
call partial; the override file's rate makes it exact.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def _instrumented(tmp_path: Path, *instrumentors: tuple[Any, Settings | None]) -> Iterator[Run]:
    """Our instrumentation (each instrumentor with its settings) on a real OpenTelemetry SDK, writing
    spans, the cost metric and the store."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    store = LocalStoreSpanExporter(tmp_path / "usage.db")  # OTEL_TRACES_EXPORTER=genai_cost
    tracer_provider.add_span_processor(SimpleSpanProcessor(store))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    for instrumentor, settings in instrumentors:
        options = {} if settings is None else {"settings": settings}
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, **options)
    try:
        yield Run(spans, reader, tmp_path / "usage.db", tracer_provider, meter_provider, store)
    finally:
        for instrumentor, _ in instrumentors:
            instrumentor.uninstrument()
        deferred.finish_all()
        tracer_provider.shutdown()
        meter_provider.shutdown()
        get_price_book().clear_overrides()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    """OpenAI and Anthropic clients of the fake server, instrumented (see ``_instrumented``)."""
    with _instrumented(
        tmp_path,
        (OpenAIInstrumentor(), Settings(provider_hosts={"127.0.0.1": "openai"})),
        (AnthropicInstrumentor(), Settings(provider_hosts={"127.0.0.1": "anthropic"})),
    ) as instrumented:
        yield instrumented


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


# Anthropic's Message Batches price: 50% of standard (claude-sonnet-4-5 $1.50 in / $7.50 out per million,
# https://docs.claude.com/en/docs/build-with-claude/batch-processing#pricing); web fetch has no charge
# beyond its tokens (https://docs.claude.com/en/docs/agents-and-tools/tool-use/web-fetch-tool).
SONNET_4_5_BATCH = {"input": 1.50, "output": 7.50}


def test_web_fetch_stays_free_on_a_batch_result(run: Run, fake_server: Any) -> None:
    # The per-use rates genai-prices lacks (web fetch: 0) hold at batch prices too, not only standard.
    _claude(fake_server).messages.create(
        model="claude-sonnet-4-5",
        max_tokens=200,
        messages=[{"role": "user", "content": "read https://example.com for me " * 20}],
        tools=[{"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 2}],  # type: ignore[list-item]
        extra_body={"service_tier": "batch"},
    )
    (billed,) = fake_server.ledger
    assert billed.web_fetch_calls == 2 and billed.processing == "batch"
    tokens = (
        billed.input_tokens * SONNET_4_5_BATCH["input"] + billed.output_tokens * SONNET_4_5_BATCH["output"]
    ) / 1e6
    attrs = _assert_priced(run, tokens, 0.0)
    assert attrs[sc.GENAI_COST_WEB_FETCH_CALLS] == 2
    assert sc.GENAI_COST_PARTIAL not in attrs


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
    assert _report(run.db).count("1 call used a billed unit with no known rate") == 1

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


# --- audio: transcription and translation ----------------------------------------------------------------

# whisper-1: $0.006 per minute (https://openai.com/api/pricing, "Transcription and speech generation").
WHISPER_PER_SECOND = 0.006 / 60
# gpt-4o-transcribe, USD per million tokens: text input $2.50, audio input $6.00, output $10.00 (same page).
GPT_4O_TRANSCRIBE = {"text": 2.50, "audio": 6.00, "output": 10.00}
# Groq whisper-large-v3: $0.111 per hour of audio, at least 10 seconds per request
# (https://groq.com/pricing, "Speech to text").
GROQ_WHISPER_PER_SECOND = 0.111 / 3600
AUDIO = ("talk.mp3", b"\0" * 7_250, "audio/mpeg")  # the fake server hears 7.25 s (1,000 bytes a second)


@pytest.mark.parametrize("response_format", ["json", "verbose_json"])
def test_whisper_transcription_is_priced_per_second(run: Run, fake_server: Any, response_format: str) -> None:
    _oai(fake_server).audio.transcriptions.create(
        model="whisper-1", file=AUDIO, response_format=response_format
    )
    (billed,) = fake_server.ledger
    assert billed.audio_seconds == 8.0  # whole seconds, as billed
    expected = billed.audio_seconds * WHISPER_PER_SECOND
    attrs = _assert_priced(run, expected, expected)
    assert attrs[sc.GENAI_COST_AUDIO_SECONDS] == 8.0
    assert attrs[sc.GEN_AI_OPERATION_NAME] == sc.OP_TRANSCRIPTION
    (row,) = run.rows()
    assert row.usage.audio_seconds == 8.0


def test_whisper_translation_verbose_json_is_priced(run: Run, fake_server: Any) -> None:
    _oai(fake_server).audio.translations.create(model="whisper-1", file=AUDIO, response_format="verbose_json")
    (billed,) = fake_server.ledger
    expected = billed.audio_seconds * WHISPER_PER_SECOND
    _assert_priced(run, expected, expected)


def test_a_reply_without_the_audio_length_is_marked_not_zero(run: Run, fake_server: Any) -> None:
    # A plain-text reply says nothing of the audio's length: no cost, and the span says usage is missing.
    text = _oai(fake_server).audio.transcriptions.create(
        model="whisper-1", file=AUDIO, response_format="text"
    )
    assert isinstance(text, str)
    (span,) = run.spans.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs[sc.GENAI_COST_USAGE_MISSING] is True
    assert sc.GEN_AI_USAGE_COST_AMOUNT not in attrs
    (row,) = run.rows()
    assert row.usage_missing and row.cost is None


def test_gpt_4o_transcribe_is_priced_by_tokens(run: Run, fake_server: Any) -> None:
    _oai(fake_server).audio.transcriptions.create(model="gpt-4o-transcribe", file=AUDIO)
    (billed,) = fake_server.ledger
    assert billed.input_audio_tokens > 0
    text = billed.input_tokens - billed.input_audio_tokens
    expected = (
        text * GPT_4O_TRANSCRIBE["text"]
        + billed.input_audio_tokens * GPT_4O_TRANSCRIBE["audio"]
        + billed.output_tokens * GPT_4O_TRANSCRIBE["output"]
    ) / 1e6
    _assert_priced(run, expected, 0.0)


@pytest.mark.parametrize("sdk", ["groq", "openai"])
@pytest.mark.parametrize("size", [7_250, 3_000], ids=["7.25s", "3s-billed-as-10s"])
def test_groq_whisper_is_priced_per_hour_with_a_10_second_minimum(
    tmp_path: Path, fake_server: Any, sdk: str, size: int
) -> None:
    import groq
    import openai

    from genai_cost.instrumentation.groq import GroqInstrumentor

    instrumentor: Any = GroqInstrumentor() if sdk == "groq" else OpenAIInstrumentor()
    with _instrumented(tmp_path, (instrumentor, None)) as run:
        client: Any
        if sdk == "groq":
            client = groq.Groq(api_key="k", base_url=fake_server.groq_base_url, max_retries=0)
        else:  # the OpenAI SDK at Groq's URL (the fake server's Groq address)
            client = openai.OpenAI(api_key="k", base_url=fake_server.groq_openai_base_url, max_retries=0)
        client.audio.transcriptions.create(
            model="whisper-large-v3",
            file=("a.mp3", b"\0" * size, "audio/mpeg"),
            response_format="verbose_json",
        )
        (billed,) = fake_server.ledger
        expected = max(billed.audio_seconds, 10.0) * GROQ_WHISPER_PER_SECOND
        (span,) = run.spans.get_finished_spans()
        attrs = dict(span.attributes or {})
        assert attrs[sc.GEN_AI_PROVIDER_NAME] == "groq"
        assert attrs[sc.GENAI_COST_AUDIO_SECONDS] == billed.audio_seconds
        assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, abs=TOLERANCE)
        assert run.cost_metric_sum() == pytest.approx(expected, abs=TOLERANCE)


# --- speech and images -------------------------------------------------------------------------------------

# tts-1: $15.00 per million characters (https://openai.com/api/pricing, "Transcription and speech generation").
TTS_1_PER_CHARACTER = 15.00 / 1e6
# gpt-image-1, USD per million tokens: text input $5.00, image output $40.00 (https://openai.com/api/pricing).
GPT_IMAGE_1 = {"input": 5.00, "output": 40.00}
# DALL-E, USD per image by model, size and quality (https://openai.com/api/pricing, "Image generation":
# DALL·E 3 standard 1024x1024 $0.040, 1024x1792/1792x1024 $0.080; HD 1024x1024 $0.080, 1024x1792/1792x1024
# $0.120; DALL·E 2 256x256 $0.016, 512x512 $0.018, 1024x1024 $0.020).
DALL_E = {
    ("dall-e-3", "1024x1024/standard"): 0.040,
    ("dall-e-3", "1792x1024/standard"): 0.080,
    ("dall-e-3", "1024x1792/hd"): 0.120,
    ("dall-e-3", "1792x1024/hd"): 0.120,
    ("dall-e-2", "512x512/standard"): 0.018,
}


def test_speech_is_priced_per_character(run: Run, fake_server: Any) -> None:
    text = "Hello from the genai-cost test suite. " * 5
    audio = _oai(fake_server).audio.speech.create(model="tts-1", voice="alloy", input=text)
    assert audio.content.startswith(b"ID3")
    (billed,) = fake_server.ledger
    assert billed.input_characters == len(text)
    expected = len(text) * TTS_1_PER_CHARACTER
    attrs = _assert_priced(run, expected, expected)
    assert attrs[sc.GENAI_COST_INPUT_CHARACTERS] == len(text)
    assert attrs[sc.GEN_AI_OPERATION_NAME] == sc.OP_SPEECH


def test_gpt_image_1_is_priced_by_tokens(run: Run, fake_server: Any) -> None:
    _oai(fake_server).images.generate(model="gpt-image-1", prompt="a lighthouse at dusk", n=2)
    (billed,) = fake_server.ledger
    expected = (
        billed.input_tokens * GPT_IMAGE_1["input"] + billed.output_tokens * GPT_IMAGE_1["output"]
    ) / 1e6
    _assert_priced(run, expected, 0.0)


def _images(fake_server: Any, raw: bool = False, **request: Any) -> None:
    images = _oai(fake_server).images
    if raw:  # the raw reply, parsed later: the count is read then, the size and quality kept
        images.with_raw_response.generate(prompt="a lighthouse at dusk", **request).parse()
    else:
        images.generate(prompt="a lighthouse at dusk", **request)


@pytest.mark.parametrize("raw", [False, True])
def test_dall_e_3_hd_is_priced_per_image_by_size_and_quality(run: Run, fake_server: Any, raw: bool) -> None:
    _images(fake_server, raw, model="dall-e-3", size="1792x1024", quality="hd", n=1)
    (billed,) = fake_server.ledger
    assert (billed.images, billed.image_option) == (1, "1792x1024/hd")
    attrs = _assert_priced(run, 0.120, 0.120)
    assert attrs[sc.GENAI_COST_PRICING_IMAGE_OPTION] == "1792x1024/hd"
    assert attrs[sc.GENAI_COST_IMAGES] == 1
    assert sc.GENAI_COST_PARTIAL not in attrs
    (row,) = run.rows()
    assert (row.usage.images, row.usage.image_option) == (1, "1792x1024/hd")


def test_dall_e_3_defaults_to_standard_1024(run: Run, fake_server: Any) -> None:
    _images(fake_server, model="dall-e-3")
    (billed,) = fake_server.ledger
    expected = billed.images * DALL_E[("dall-e-3", billed.image_option)]
    assert expected == pytest.approx(0.040, abs=TOLERANCE)
    attrs = _assert_priced(run, expected, expected)
    assert attrs[sc.GENAI_COST_PRICING_IMAGE_OPTION] == "1024x1024/standard"


def test_dall_e_2_is_priced_per_image_of_its_size(run: Run, fake_server: Any) -> None:
    _images(fake_server, model="dall-e-2", size="512x512", n=3)
    (billed,) = fake_server.ledger
    assert billed.images == 3
    expected = billed.images * DALL_E[("dall-e-2", billed.image_option)]
    assert expected == pytest.approx(3 * 0.018, abs=TOLERANCE)
    _assert_priced(run, expected, expected)


def test_gpt_image_1_states_no_image_option(run: Run, fake_server: Any) -> None:
    # Billed by tokens: its size and quality are in the tokens, nothing per image.
    _images(fake_server, model="gpt-image-1", size="1024x1024", quality="high")
    (span,) = run.spans.get_finished_spans()
    assert sc.GENAI_COST_PRICING_IMAGE_OPTION not in (span.attributes or {})


def test_an_override_prices_one_size_and_the_list_prices_the_rest(
    run: Run, fake_server: Any, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text('models:\n  - model: dall-e-3\n    image:\n      "1024x1792/hd": 0.10\n')
    get_price_book().load_overrides(prices)
    _images(fake_server, model="dall-e-3", size="1024x1792", quality="hd", n=1)
    _images(fake_server, model="dall-e-3", size="1792x1024", quality="standard", n=1)
    overridden, listed = run.rows()
    assert overridden.cost == pytest.approx(0.10, abs=TOLERANCE)
    assert listed.cost == pytest.approx(DALL_E[("dall-e-3", "1792x1024/standard")], abs=TOLERANCE)
    assert run.cost_metric_sum() == pytest.approx(0.10 + 0.080, abs=TOLERANCE)


def test_an_override_rate_for_any_size_replaces_the_list_prices(
    run: Run, fake_server: Any, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  - model: dall-e-3\n    image: 0.05\n")
    get_price_book().load_overrides(prices)
    _images(fake_server, model="dall-e-3", size="1792x1024", quality="hd", n=1)
    _assert_priced(run, 0.05, 0.05)


def test_a_size_without_a_rate_is_marked_partial_not_zero(run: Run, fake_server: Any) -> None:
    # DALL-E 3 has no 512x512 price: the call is counted, its cost marked partial, naming the size.
    _images(fake_server, model="dall-e-3", size="512x512", n=1)
    (span,) = run.spans.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs[sc.GENAI_COST_PARTIAL] is True
    assert "images 512x512/standard" in attrs[sc.GENAI_COST_PARTIAL_REASON]
    assert attrs[sc.GENAI_COST_IMAGES] == 1
    (row,) = run.rows()
    assert row.partial and "512x512/standard" in (row.partial_reason or "")


def test_reprice_keeps_image_calls_exact(run: Run, fake_server: Any, tmp_path: Path) -> None:
    from genai_cost.pricing.book import PriceBook
    from genai_cost.store import reprice

    _images(fake_server, model="dall-e-3", size="1792x1024", quality="hd", n=1)
    _images(fake_server, model="dall-e-2", size="512x512", n=3)
    run.rows()
    with UsageStore.open(run.db) as store:
        assert reprice.plan(store, PriceBook()).changed == 0  # the stored size and quality price the same
        prices = tmp_path / "prices.yaml"
        prices.write_text('models:\n  - model: dall-e-3\n    image: {"1792x1024/hd": 0.11}\n')
        plan = reprice.plan(store, PriceBook(prices))
        assert plan.changed == 1  # only the DALL-E 3 call has a new rate
        reprice.apply(store, plan)
        hd, small = store.rows()
        (total,) = store.report("total")
    assert hd.cost == pytest.approx(0.11, abs=TOLERANCE)
    assert small.cost == pytest.approx(3 * DALL_E[("dall-e-2", "512x512/standard")], abs=TOLERANCE)
    assert total.cost == pytest.approx(0.11 + 3 * 0.018, abs=TOLERANCE)


# --- the override file's per-use rates, and re-pricing the store -------------------------------------------


def test_an_override_rate_per_minute_replaces_the_list_rate(
    run: Run, fake_server: Any, tmp_path: Path
) -> None:
    # A negotiated whisper-1 rate of $0.005 per minute, as a user would write it.
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  - model: whisper-1\n    audio_minute: 0.005\n")
    get_price_book().load_overrides(prices)
    _oai(fake_server).audio.transcriptions.create(model="whisper-1", file=AUDIO)
    (billed,) = fake_server.ledger
    expected = billed.audio_seconds * 0.005 / 60
    _assert_priced(run, expected, expected)


def test_reprice_makes_a_partial_call_exact_with_the_new_rate(
    run: Run, fake_server: Any, tmp_path: Path
) -> None:
    from genai_cost.pricing.book import PriceBook
    from genai_cost.store import reprice

    client = _oai(fake_server)
    client.responses.create(
        model="gpt-4o", input="plot it", tools=[{"type": "code_interpreter", "container": {"type": "auto"}}]
    )
    _oai(fake_server).audio.speech.create(model="tts-1", voice="alloy", input="a short line")
    code_call, speech_call = fake_server.ledger
    tokens = _gpt_4o_tokens(code_call)
    speech = speech_call.input_characters * TTS_1_PER_CHARACTER
    rows = run.rows()
    assert [row.partial for row in rows] == [True, False]
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  - model: gpt-4o\n    code_execution: 0.03\n")
    with UsageStore.open(run.db) as store:
        plan = reprice.plan(store, PriceBook(prices))
        assert plan.changed == 1  # the speech call was exact already
        reprice.apply(store, plan)
        code_row, speech_row = store.rows()
        (total,) = store.report("total")
    assert code_row.cost == pytest.approx(tokens + 0.03, abs=TOLERANCE)
    assert code_row.cost_tools == pytest.approx(0.03, abs=TOLERANCE)
    assert not code_row.partial and code_row.partial_reason is None
    assert speech_row.cost == pytest.approx(speech, abs=TOLERANCE)
    assert total.partial == 0
    assert total.cost == pytest.approx(tokens + 0.03 + speech, abs=TOLERANCE)


def _report(db: Path) -> str:
    import io

    from genai_cost.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", "-d", str(db)]) == 0
    return out.getvalue()


# --- async clients: the same readers -------------------------------------------------------------------------


def test_async_clients_are_priced_the_same(run: Run, fake_server: Any) -> None:
    import asyncio

    import openai

    async def calls() -> None:
        claude = anthropic.AsyncAnthropic(api_key="k", base_url=fake_server.anthropic_base_url, max_retries=0)
        stream = await claude.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "search it"}],
            tools=[WEB_SEARCH_TOOL],  # type: ignore[list-item]
            stream=True,
        )
        async for _event in stream:
            pass
        oai = openai.AsyncOpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
        await oai.audio.transcriptions.create(model="whisper-1", file=AUDIO, response_format="verbose_json")

    asyncio.run(calls())
    claude_call, whisper_call = fake_server.ledger
    searches = claude_call.web_search_calls * ANTHROPIC_WEB_SEARCH
    claude_cost = (
        claude_call.input_tokens * SONNET_4_5["input"] + claude_call.output_tokens * SONNET_4_5["output"]
    ) / 1e6 + searches
    whisper_cost = whisper_call.audio_seconds * WHISPER_PER_SECOND
    costs = sorted(span.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] for span in run.spans.get_finished_spans())  # type: ignore[index]
    assert costs == pytest.approx(sorted([claude_cost, whisper_cost]), abs=TOLERANCE)
    assert run.cost_metric_sum() == pytest.approx(claude_cost + whisper_cost, abs=TOLERANCE)
    assert sum(row.cost or 0.0 for row in run.rows()) == pytest.approx(
        claude_cost + whisper_cost, abs=TOLERANCE
    )


# --- Gemini: grounding with Google Search ------------------------------------------------------------------

# USD per million tokens (input, output with thinking) and grounding with Google Search, from
# https://ai.google.dev/gemini-api/docs/pricing (paid tier, free allowances aside): Gemini 2.5 Flash
# $0.30 / $2.50, $35 per 1,000 grounded prompts; Gemini 3 Pro preview (prompts <= 200k tokens)
# $2.00 / $12.00, $14 per 1,000 search queries.
GEMINI = {
    "gemini-2.5-flash": (0.30, 2.50, 35.00 / 1000),
    "gemini-3-pro-preview": (2.00, 12.00, 14.00 / 1000),
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", list(GEMINI))
def test_gemini_grounding_is_charged_as_google_bills_it(
    tmp_path: Path, fake_server: Any, model: str, stream: bool
) -> None:
    from google import genai
    from google.genai import types

    from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor

    gemini = (GoogleGenAIInstrumentor(), Settings(provider_hosts={"127.0.0.1": "gcp.gemini"}))
    with _instrumented(tmp_path, gemini) as run:
        client = genai.Client(
            api_key="k", http_options=types.HttpOptions(base_url=fake_server.gemini_base_url)
        )
        config = types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())])
        if stream:
            for _chunk in client.models.generate_content_stream(
                model=model, contents="latest news", config=config
            ):
                pass
        else:
            client.models.generate_content(model=model, contents="latest news", config=config)
        (billed,) = fake_server.ledger
        per_input, per_output, per_search = GEMINI[model]
        usage = billed.normalized()
        assert billed.web_search_calls == (2 if model.startswith("gemini-3") else 1)  # queries vs prompts
        searches = billed.web_search_calls * per_search
        expected = (usage.input_tokens * per_input + usage.output_tokens * per_output) / 1e6 + searches  # type: ignore[operator]
        (span,) = run.spans.get_finished_spans()
        attrs = dict(span.attributes or {})
        assert attrs[sc.GENAI_COST_WEB_SEARCH_CALLS] == billed.web_search_calls
        assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, abs=TOLERANCE)
        assert attrs[sc.GENAI_COST_TOOLS_AMOUNT] == pytest.approx(searches, abs=TOLERANCE)
        assert run.cost_metric_sum() == pytest.approx(expected, abs=TOLERANCE)


def test_speech_streamed_to_a_file_is_priced_without_a_parse(
    run: Run, fake_server: Any, tmp_path: Path
) -> None:
    # The usual way to save speech: the body goes to a file, the app never parses the raw response.
    text = "Saved straight to a file."
    client = _oai(fake_server)
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=text
    ) as response:
        response.stream_to_file(tmp_path / "speech.mp3")
    assert (tmp_path / "speech.mp3").read_bytes().startswith(b"ID3")
    (billed,) = fake_server.ledger
    expected = billed.input_characters * TTS_1_PER_CHARACTER
    _assert_priced(run, expected, expected)
