"""The real google-genai SDK against the fake provider server, instrumented by genai-cost."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from google import genai
from google.genai import errors, models, types
from google.oauth2.credentials import Credentials

import genai_cost._internal as internal
from genai_cost import feature, providers
from genai_cost import semconv as sc
from genai_cost.config import PROVIDER_HOSTS, Settings
from genai_cost.instrumentation import gemini_afc
from genai_cost.instrumentation import google_genai as gg
from genai_cost.instrumentation.base import patch_method
from genai_cost.instrumentation.core import make_telemetry
from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor

API_KEY = "AIza-test-SECRET-KEY-123"
PROMPT = "Transcribe the interview recording of the senior backend candidate please"
MODEL = "gemini-2.5-flash"  # a thinking model: the fake server reports thoughts tokens
PLAIN_MODEL = "gemini-2.0-flash"
METHODS = ("generate_content", "generate_content_stream", "count_tokens", "embed_content")


SDK = tuple(int(part) for part in importlib.metadata.version("google-genai").split(".")[:2])
# What older google-genai releases do not surface (the adapter records what the SDK gives it):
SDK_HAS_GEMINI_RESPONSE_ID = SDK >= (1, 29)  # responseId from the Gemini API
SDK_RAISES_STREAM_ERRORS = SDK >= (1, 50)  # an SSE error event raises instead of an empty chunk
SDK_HAS_EMBED_USAGE = SDK >= (1, 64)  # EmbedContentResponse.usage_metadata


def http_options(base_url: str) -> types.HttpOptions:
    # Newer google-genai can retry: one attempt keeps error tests exact (older releases never retry).
    if hasattr(types, "HttpRetryOptions"):
        return types.HttpOptions(base_url=base_url, retry_options=types.HttpRetryOptions(attempts=1))
    return types.HttpOptions(base_url=base_url)


def instrument(otel: Any, **settings: Any) -> GoogleGenAIInstrumentor:
    settings.setdefault("provider_hosts", {"127.0.0.1": "gcp.gemini"})
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        settings=Settings(**settings),
    )
    return instrumentor


@pytest.fixture
def instrumented(otel: Any, fake_server: Any) -> Iterator[Any]:
    instrumentor = instrument(otel, cost_enabled=False)
    yield otel
    instrumentor.uninstrument()


@pytest.fixture
async def client(fake_server: Any) -> AsyncIterator[genai.Client]:
    client = genai.Client(api_key=API_KEY, http_options=http_options(fake_server.gemini_base_url))
    yield client
    # Close the SDK's HTTP clients (google-genai >= 1.39 can), so no connection outlives a test.
    if hasattr(client.aio, "aclose"):
        await client.aio.aclose()
    if hasattr(client, "close"):
        client.close()


def only_span(otel: Any) -> Any:
    spans = otel.finished()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def expected(billed: Any) -> dict[str, int]:
    """The span's usage attributes for one billed Gemini call (see google_genai's docstring)."""
    out = {
        sc.GEN_AI_USAGE_INPUT_TOKENS: billed.input_tokens + billed.tool_use_prompt_tokens,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: billed.output_tokens + billed.reasoning_tokens,
    }
    for key, value in (
        (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, billed.cache_read_tokens),
        (sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, billed.reasoning_tokens),
        (sc.GENAI_COST_TOOL_USE_PROMPT_TOKENS, billed.tool_use_prompt_tokens),
        (sc.GENAI_COST_WEB_SEARCH_CALLS, billed.web_search_calls),  # grounding with Google Search
    ):
        if value:  # the API leaves zero counts out, so do we
            out[key] = value
    return out


def usage_attrs(span: Any) -> dict[str, Any]:
    """The token counts on a span (not its cost)."""
    return {
        k: v
        for k, v in span.attributes.items()
        if k.startswith(("gen_ai.usage.", "genai_cost.usage.")) and not k.startswith("gen_ai.usage.cost.")
    }


def assert_usage(span: Any, billed: Any) -> None:
    attrs = usage_attrs(span)
    assert attrs == expected(billed)
    assert all(type(v) is int for v in attrs.values())


def token_metric(otel: Any, token_type: str) -> float:
    return otel.metric_sum(sc.METRIC_TOKEN_USAGE, {sc.GEN_AI_TOKEN_TYPE: token_type})


FULL_CONFIG = types.GenerateContentConfig(
    temperature=0.4,
    top_p=0.9,
    top_k=20,
    max_output_tokens=400,
    stop_sequences=["END"],
    candidate_count=2,
    seed=7,
    response_mime_type="application/json",
    cached_content="cachedContents/interview-context",
    tools=[types.Tool(google_search=types.GoogleSearch())],
)


# --- non-streaming ------------------------------------------------------------------------------------
def test_generate_content_span_usage_and_metrics(
    instrumented: Any, client: genai.Client, fake_server: Any
) -> None:
    with feature("transcription", user_id="u-9", session_id="s-3", tenant="acme"):
        response = client.models.generate_content(
            model=f"models/{MODEL}", contents=PROMPT, config=FULL_CONFIG
        )
    assert type(response) is types.GenerateContentResponse
    billed = fake_server.ledger[-1]
    # Every usage field is non-zero here, so each one is checked for real.
    assert billed.cache_read_tokens and billed.reasoning_tokens and billed.tool_use_prompt_tokens
    span = only_span(instrumented)
    attrs = span.attributes
    assert span.name == f"generate_content {MODEL}"
    assert span.kind.name == "CLIENT"
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "generate_content"
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "gcp.gemini"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == MODEL  # "models/" stripped
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == response.model_version == MODEL
    assert response.response_id == (billed.response_id if SDK_HAS_GEMINI_RESPONSE_ID else None)
    assert attrs.get(sc.GEN_AI_RESPONSE_ID) == response.response_id
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.4
    assert attrs[sc.GEN_AI_REQUEST_TOP_P] == 0.9
    assert attrs[sc.GEN_AI_REQUEST_TOP_K] == 20
    assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 400 and type(attrs[sc.GEN_AI_REQUEST_MAX_TOKENS]) is int
    assert attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] == 2
    assert attrs[sc.GEN_AI_REQUEST_SEED] == 7 and type(attrs[sc.GEN_AI_REQUEST_SEED]) is int
    assert attrs[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert attrs[sc.SERVER_PORT] == fake_server.port and type(attrs[sc.SERVER_PORT]) is int
    assert (attrs[sc.FEATURE_NAME], attrs[sc.USER_ID], attrs[sc.SESSION_ID], attrs["tenant"]) == (
        "transcription",
        "u-9",
        "s-3",
        "acme",
    )
    assert_usage(span, billed)
    # What the SDK itself reports, for the reader: the prompt count excludes tool-use tokens.
    meta = response.usage_metadata
    assert meta.total_token_count == (
        meta.prompt_token_count
        + meta.candidates_token_count
        + meta.thoughts_token_count
        + meta.tool_use_prompt_token_count
    )
    assert (
        attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] + attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == meta.total_token_count
    )

    assert token_metric(instrumented, "input") == attrs[sc.GEN_AI_USAGE_INPUT_TOKENS]
    assert token_metric(instrumented, "output") == attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS]
    (point,) = instrumented.metric_points(sc.METRIC_OPERATION_DURATION)
    assert point.count == 1
    assert point.attributes[sc.GEN_AI_PROVIDER_NAME] == "gcp.gemini"
    assert point.attributes[sc.GEN_AI_RESPONSE_MODEL] == MODEL
    assert point.attributes[sc.FEATURE_NAME] == "transcription"
    assert sc.USER_ID not in point.attributes
    assert sc.GENAI_COST_USAGE_MISSING not in attrs


async def test_async_generate_content(instrumented: Any, client: genai.Client, fake_server: Any) -> None:
    config = {"temperature": 0.1, "max_output_tokens": 64, "response_mime_type": "text/plain"}
    response = await client.aio.models.generate_content(model=PLAIN_MODEL, contents=PROMPT, config=config)
    assert type(response) is types.GenerateContentResponse
    billed = fake_server.ledger[-1]
    span = only_span(instrumented)
    attrs = span.attributes
    assert span.name == f"generate_content {PLAIN_MODEL}"
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.1
    assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert attrs[sc.GEN_AI_OUTPUT_TYPE] == "text"
    assert sc.GEN_AI_REQUEST_CHOICE_COUNT not in attrs
    assert attrs.get(sc.GEN_AI_RESPONSE_ID) == response.response_id
    assert_usage(span, billed)
    assert billed.reasoning_tokens == 0 and sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS not in attrs
    assert token_metric(instrumented, "input") == billed.input_tokens
    assert token_metric(instrumented, "output") == billed.output_tokens


def test_priced_with_tool_use_tokens_as_input(otel: Any, client: genai.Client, fake_server: Any) -> None:
    from genai_cost.pricing import get_price_book
    from genai_cost.usage import Usage

    instrumentor = instrument(otel, cost_enabled=True)
    try:
        client.models.generate_content(model=MODEL, contents=PROMPT, config=FULL_CONFIG)
    finally:
        instrumentor.uninstrument()
    attrs = only_span(otel).attributes
    usage = Usage.from_attributes(attrs)
    assert usage.tool_use_prompt_tokens and usage.input_tokens == (
        fake_server.ledger[-1].input_tokens + usage.tool_use_prompt_tokens
    )
    cost = get_price_book().price("gcp.gemini", MODEL, usage, time.time())
    assert cost is not None and cost.total > 0
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(cost.total)
    assert attrs[sc.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert otel.metric_sum(sc.METRIC_COST) == pytest.approx(cost.total)


def test_chat_session_goes_through_models(instrumented: Any, client: genai.Client, fake_server: Any) -> None:
    chat = client.chats.create(model=PLAIN_MODEL)
    chat.send_message(PROMPT)
    list(chat.send_message_stream("and the next question"))
    first, second = instrumented.finished()
    assert first.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == fake_server.ledger[0].output_tokens
    assert second.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == fake_server.ledger[1].output_tokens
    assert second.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == fake_server.ledger[1].input_tokens


def get_weather() -> str:
    """The weather where the user is."""
    return "sunny"


def summed(ledger: list[Any]) -> dict[str, int]:
    """The usage attributes of one span over several billed requests."""
    out: dict[str, int] = {}
    for billed in ledger:
        for key, value in expected(billed).items():
            out[key] = out.get(key, 0) + value
    return out


def test_function_calling_bills_every_request(otel: Any, client: genai.Client, fake_server: Any) -> None:
    from genai_cost.pricing import get_price_book
    from genai_cost.usage import Usage

    instrumentor = instrument(otel, cost_enabled=True)
    try:
        response = client.models.generate_content(
            model=MODEL, contents=PROMPT, config=types.GenerateContentConfig(tools=[get_weather])
        )
    finally:
        instrumentor.uninstrument()
    assert type(response) is types.GenerateContentResponse
    assert response.text  # the SDK ran the function and sent its result back: two requests, both billed
    first, last = fake_server.ledger
    span = only_span(otel)
    assert usage_attrs(span) == summed(fake_server.ledger)
    assert otel.metric_sum(sc.METRIC_TOKEN_USAGE, {sc.GEN_AI_TOKEN_TYPE: "input"}) == (
        first.input_tokens + last.input_tokens
    )
    usage = Usage.from_attributes(span.attributes)
    cost = get_price_book().price("gcp.gemini", MODEL, usage, time.time())
    assert cost is not None and span.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(cost.total)
    assert otel.metric_sum(sc.METRIC_COST) == pytest.approx(cost.total)
    assert not gemini_afc._requests  # nothing kept once the call is done


async def test_async_function_calling_bills_every_request(
    instrumented: Any, client: genai.Client, fake_server: Any
) -> None:
    response = await client.aio.models.generate_content(
        model=PLAIN_MODEL, contents=PROMPT, config={"tools": [get_weather]}
    )
    assert type(response) is types.GenerateContentResponse
    assert len(fake_server.ledger) == 2
    assert usage_attrs(only_span(instrumented)) == summed(fake_server.ledger)


def test_stream_function_calling_bills_every_request(
    instrumented: Any, client: genai.Client, fake_server: Any
) -> None:
    chunks = list(
        client.models.generate_content_stream(
            model=PLAIN_MODEL, contents=PROMPT, config=types.GenerateContentConfig(tools=[get_weather])
        )
    )
    assert chunks and all(type(c) is types.GenerateContentResponse for c in chunks)
    assert len(fake_server.ledger) == 2
    if any(c.function_calls for c in chunks):
        assert usage_attrs(only_span(instrumented)) == summed(fake_server.ledger)
    else:  # older SDKs (1.8) keep the first request's chunks from the app: a known limit, see README
        assert_usage(only_span(instrumented), fake_server.ledger[-1])


def test_function_calling_turned_off_is_one_request(
    instrumented: Any, client: genai.Client, fake_server: Any
) -> None:
    response = client.models.generate_content(
        model=PLAIN_MODEL,
        contents=PROMPT,
        config=types.GenerateContentConfig(
            tools=[get_weather],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        ),
    )
    assert response.function_calls  # the app gets the call to run itself
    (billed,) = fake_server.ledger
    assert_usage(only_span(instrumented), billed)


# --- streams ------------------------------------------------------------------------------------------
def test_stream_drained_takes_last_cumulative_usage(
    instrumented: Any, client: genai.Client, fake_server: Any
) -> None:
    stream = client.models.generate_content_stream(model=MODEL, contents=PROMPT, config=FULL_CONFIG)
    assert inspect.isgenerator(stream)  # what the SDK returns without us
    chunks = list(stream)
    assert len(chunks) >= 2 and all(type(c) is types.GenerateContentResponse for c in chunks)
    billed = fake_server.ledger[-1]
    # The chunks really are cumulative: summing them would overcount.
    assert chunks[-1].usage_metadata.candidates_token_count == billed.output_tokens
    assert sum(c.usage_metadata.candidates_token_count for c in chunks) > billed.output_tokens
    span = only_span(instrumented)
    attrs = span.attributes
    assert_usage(span, billed)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs.get(sc.GEN_AI_RESPONSE_ID) == (billed.response_id if SDK_HAS_GEMINI_RESPONSE_ID else None)
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == MODEL
    assert type(attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]) is float
    assert sc.GENAI_COST_STREAM_INCOMPLETE not in attrs
    assert token_metric(instrumented, "output") == billed.output_tokens + billed.reasoning_tokens
    (ttfc,) = instrumented.metric_points(sc.METRIC_TIME_TO_FIRST_CHUNK)
    assert ttfc.count == 1


async def test_async_stream_drained(instrumented: Any, client: genai.Client, fake_server: Any) -> None:
    stream = await client.aio.models.generate_content_stream(model=PLAIN_MODEL, contents=PROMPT)
    assert inspect.isasyncgen(stream)
    chunks = [chunk async for chunk in stream]
    assert len(chunks) > 2
    billed = fake_server.ledger[-1]
    span = only_span(instrumented)
    assert_usage(span, billed)
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert token_metric(instrumented, "input") == billed.input_tokens


def test_stream_state_sums_separate_requests_of_function_calling() -> None:
    """Automatic function calling streams several requests through one call: each counts once."""

    def chunk(response_id: str, prompt: int, out: int, finish: str | None) -> types.GenerateContentResponse:
        return types.GenerateContentResponse(
            response_id=response_id,
            model_version=MODEL,
            candidates=[types.Candidate(finish_reason=finish)],
            usage_metadata=types.GenerateContentResponseUsageMetadata(
                prompt_token_count=prompt, candidates_token_count=out
            ),
        )

    state = gg.ContentStreamState()
    for c in (
        chunk("a", 10, 3, None),
        chunk("a", 10, 6, "STOP"),
        chunk("b", 30, 2, None),
        chunk("b", 30, 5, "STOP"),
    ):
        assert state.process(c) is True
    info = state.result()
    assert info.usage is not None
    assert (info.usage.input_tokens, info.usage.output_tokens) == (40, 11)
    assert info.finish_reasons == ("stop", "stop")
    assert state.complete

    # Without response ids (google-genai < 1.29), a chunk whose candidates have all finished ends a request.
    def bare(prompt: int, out: int, finish: str | None) -> types.GenerateContentResponse:
        return types.GenerateContentResponse(
            candidates=[types.Candidate(finish_reason=finish)],
            usage_metadata=types.GenerateContentResponseUsageMetadata(
                prompt_token_count=prompt, candidates_token_count=out
            ),
        )

    state = gg.ContentStreamState()
    for c in (bare(10, 3, None), bare(10, 6, "STOP"), bare(30, 2, None), bare(30, 5, "STOP")):
        state.process(c)
    usage = state.result().usage
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (40, 11)


# --- count_tokens and embed_content -------------------------------------------------------------------
def test_count_tokens_is_a_pre_estimate_not_billed(otel: Any, client: genai.Client, fake_server: Any) -> None:
    instrumentor = instrument(otel, cost_enabled=True)
    try:
        result = client.models.count_tokens(model=MODEL, contents=PROMPT)
    finally:
        instrumentor.uninstrument()
    assert type(result) is types.CountTokensResponse
    billed = fake_server.ledger[-1]
    assert billed.counted_tokens == result.total_tokens and not billed.usage_reported
    span = only_span(otel)
    attrs = span.attributes
    assert span.name == f"count_tokens {MODEL}"
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "count_tokens"
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == billed.counted_tokens
    assert type(attrs[sc.GEN_AI_USAGE_INPUT_TOKENS]) is int
    assert sc.GEN_AI_USAGE_COST_AMOUNT not in attrs and sc.GENAI_COST_UNPRICED not in attrs
    assert otel.metric_points(sc.METRIC_TOKEN_USAGE) == []
    assert otel.metric_points(sc.METRIC_COST) == []
    assert len(otel.metric_points(sc.METRIC_OPERATION_DURATION)) == 1


async def test_async_count_tokens(instrumented: Any, client: genai.Client, fake_server: Any) -> None:
    result = await client.aio.models.count_tokens(model=PLAIN_MODEL, contents=PROMPT)
    span = only_span(instrumented)
    assert (
        span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS]
        == result.total_tokens
        == fake_server.ledger[-1].counted_tokens
    )
    assert instrumented.metric_points(sc.METRIC_TOKEN_USAGE) == []


def test_embed_content(instrumented: Any, client: genai.Client, fake_server: Any) -> None:
    result = client.models.embed_content(
        model="models/gemini-embedding-001", contents=[PROMPT, "second text to embed"]
    )
    assert type(result) is types.EmbedContentResponse and len(result.embeddings) == 2
    billed = fake_server.ledger[-1]
    assert billed.endpoint == "batchEmbedContents" and billed.input_tokens > 0
    span = only_span(instrumented)
    attrs = span.attributes
    assert span.name == "embeddings gemini-embedding-001"
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    if not SDK_HAS_EMBED_USAGE:  # the SDK drops the usage: no tokens, and the gap is marked
        assert usage_attrs(span) == {sc.GENAI_COST_USAGE_MISSING: True}
        assert instrumented.metric_points(sc.METRIC_TOKEN_USAGE) == []
        return
    assert usage_attrs(span) == {sc.GEN_AI_USAGE_INPUT_TOKENS: billed.input_tokens}
    assert token_metric(instrumented, "input") == billed.input_tokens
    assert token_metric(instrumented, "output") == 0  # no output point at all
    assert all(
        p.attributes[sc.GEN_AI_TOKEN_TYPE] == "input"
        for p in instrumented.metric_points(sc.METRIC_TOKEN_USAGE)
    )


async def test_async_embed_content(instrumented: Any, client: genai.Client, fake_server: Any) -> None:
    await client.aio.models.embed_content(model="gemini-embedding-001", contents=PROMPT)
    span = only_span(instrumented)
    expected_tokens = fake_server.ledger[-1].input_tokens if SDK_HAS_EMBED_USAGE else None
    assert span.attributes.get(sc.GEN_AI_USAGE_INPUT_TOKENS) == expected_tokens


def test_embed_without_usage_records_no_tokens() -> None:
    response = types.EmbedContentResponse(embeddings=[types.ContentEmbedding(values=[0.1, 0.2])])
    info = gg.read_embed_response(response)
    assert info.usage is None and info.attributes == {sc.GENAI_COST_USAGE_MISSING: True}
    vertex = types.EmbedContentResponse(
        embeddings=[
            types.ContentEmbedding(
                values=[0.1], statistics=types.ContentEmbeddingStatistics(token_count=4.0)
            ),
            types.ContentEmbedding(
                values=[0.2], statistics=types.ContentEmbeddingStatistics(token_count=6.0)
            ),
        ]
    )
    usage = gg.read_embed_response(vertex).usage
    assert usage is not None and usage.input_tokens == 10 and type(usage.input_tokens) is int


# --- errors -------------------------------------------------------------------------------------------
def test_rate_limit_429(instrumented: Any, client: genai.Client, fake_server: Any) -> None:
    fake_server.fail_next(status=429, retry_after=0.01)
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=PLAIN_MODEL, contents=PROMPT)
    assert caught.value.code == 429
    span = only_span(instrumented)
    attrs = span.attributes
    # google-genai raises a generic ClientError; the core names a 429 the same for every provider.
    assert attrs[sc.ERROR_TYPE] == sc.RATE_LIMIT_ERROR_TYPE
    assert attrs[sc.GENAI_COST_RATE_LIMITED] is True
    assert span.status.status_code.name == "ERROR"
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    (point,) = instrumented.metric_points(sc.METRIC_OPERATION_DURATION)
    assert point.attributes[sc.ERROR_TYPE] == sc.RATE_LIMIT_ERROR_TYPE
    assert instrumented.metric_points(sc.METRIC_TOKEN_USAGE) == []


async def test_async_server_error_500(instrumented: Any, client: genai.Client, fake_server: Any) -> None:
    fake_server.fail_next(status=500)
    with pytest.raises(errors.ServerError):
        await client.aio.models.generate_content(model=PLAIN_MODEL, contents=PROMPT)
    span = only_span(instrumented)
    assert span.attributes[sc.ERROR_TYPE] == "ServerError"
    assert sc.GENAI_COST_RATE_LIMITED not in span.attributes


async def test_async_stream_429_at_start(instrumented: Any, client: genai.Client, fake_server: Any) -> None:
    fake_server.fail_next(status=429, retry_after=0.01)
    stream = await client.aio.models.generate_content_stream(model=PLAIN_MODEL, contents=PROMPT)
    with pytest.raises(errors.ClientError):
        async for _chunk in stream:
            pass
    span = only_span(instrumented)
    assert span.attributes[sc.ERROR_TYPE] == sc.RATE_LIMIT_ERROR_TYPE
    assert span.attributes[sc.GENAI_COST_RATE_LIMITED] is True


def test_wrapper_bug_never_reaches_the_app(
    instrumented: Any, client: genai.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(internal, "RAISE_INTERNAL_ERRORS", False)

    def broken(*args: Any) -> Any:
        raise RuntimeError("simulated telemetry bug")

    monkeypatch.setattr(gg, "content_usage", broken)
    response = client.models.generate_content(model=PLAIN_MODEL, contents=PROMPT)
    assert response.candidates[0].content.parts[0].text
    chunks = list(client.models.generate_content_stream(model=PLAIN_MODEL, contents=PROMPT))
    assert len(chunks) > 2
    assert len(instrumented.finished()) == 2  # both spans still end


# --- patching -----------------------------------------------------------------------------------------
def test_uninstrument_restores_methods_exactly(otel: Any) -> None:
    before = {
        (cls, name): cls.__dict__[name]
        for cls in (models.Models, models.AsyncModels)
        for name in (*METHODS, gemini_afc.REQUEST_METHOD)
    }
    instrumentor = instrument(otel)
    try:
        for (cls, name), original in before.items():
            assert cls.__dict__[name] is not original
            assert cls.__dict__[name].__wrapped__ is original
    finally:
        instrumentor.uninstrument()
    for (cls, name), original in before.items():
        assert cls.__dict__[name] is original


def test_instrumenting_twice_does_not_double_spans(otel: Any, client: genai.Client) -> None:
    first = instrument(otel, cost_enabled=False)
    second = GoogleGenAIInstrumentor()
    try:
        second.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
        # Even a direct second patch (another path to the same SDK) is refused.
        telemetry = make_telemetry(Settings(), otel.tracer_provider, otel.meter_provider)
        for owner, name, wrapper in second.patches(telemetry, Settings()):
            assert patch_method(owner, name, wrapper) is False
        client.models.generate_content(model=PLAIN_MODEL, contents=PROMPT)
        assert len(otel.finished()) == 1
    finally:
        first.uninstrument()
    assert not hasattr(models.Models.__dict__["generate_content"], "__wrapped__")
    client.models.generate_content(model=PLAIN_MODEL, contents=PROMPT)
    assert len(otel.finished()) == 1  # uninstrumented: no new span


# --- privacy ------------------------------------------------------------------------------------------
async def test_no_prompt_or_api_key_in_telemetry(instrumented: Any, client: genai.Client) -> None:
    client.models.generate_content(model=MODEL, contents=PROMPT, config=FULL_CONFIG)
    list(client.models.generate_content_stream(model=MODEL, contents=PROMPT))
    await client.aio.models.embed_content(model="gemini-embedding-001", contents=PROMPT)
    client.models.count_tokens(model=MODEL, contents=PROMPT)
    spans = instrumented.finished()
    assert len(spans) == 4
    dumped = json.dumps([s.to_json() for s in spans]) + instrumented.metrics.get_metrics_data().to_json()
    for secret in (PROMPT, "Transcribe", API_KEY, "SECRET", "interview-context"):
        assert secret not in dumped


# --- provider detection -------------------------------------------------------------------------------
def test_provider_detection_on_real_hostnames() -> None:
    gemini = providers.detect("https://generativelanguage.googleapis.com/", "gcp.gemini")
    assert (gemini.provider, gemini.address, gemini.port) == (
        "gcp.gemini",
        "generativelanguage.googleapis.com",
        443,
    )
    vertex = providers.detect("https://us-central1-aiplatform.googleapis.com/", "gcp.gemini")
    assert (vertex.provider, vertex.address) == ("gcp.vertex_ai", "us-central1-aiplatform.googleapis.com")
    assert providers.detect("https://aiplatform.googleapis.com/", "gcp.gemini").provider == "gcp.vertex_ai"
    # A host we do not know: the client's own flag decides.
    assert providers.detect("http://llm-proxy.internal:8080", "gcp.vertex_ai").provider == "gcp.vertex_ai"


def test_endpoint_from_real_clients() -> None:
    gemini = genai.Client(api_key=API_KEY)
    found = gg.endpoint(gemini.models, None, {})
    assert (found.provider, found.address, found.port) == (
        "gcp.gemini",
        "generativelanguage.googleapis.com",
        443,
    )
    vertex = genai.Client(
        vertexai=True, project="proj", location="europe-west4", credentials=Credentials("t")
    )
    found = gg.endpoint(vertex.aio.models, None, {})
    assert (found.provider, found.address) == ("gcp.vertex_ai", "europe-west4-aiplatform.googleapis.com")
    # A per-call base URL wins, as in the SDK; then the vertexai flag decides the provider.
    config = types.GenerateContentConfig(http_options=types.HttpOptions(base_url="https://gw.example.com"))
    found = gg.endpoint(vertex.models, config, {})
    assert (found.provider, found.address) == ("gcp.vertex_ai", "gw.example.com")


def test_vertex_ai_calls_end_to_end(otel: Any, fake_server: Any) -> None:
    # No provider_hosts rule: the vertexai flag on the client makes it Vertex AI.
    instrumentor = instrument(otel, cost_enabled=False, provider_hosts={})
    try:
        client = genai.Client(
            vertexai=True,
            project="proj",
            location="us-central1",
            credentials=Credentials("token"),
            http_options=http_options(fake_server.gemini_base_url),
        )
        client.models.generate_content(model="publishers/google/models/gemini-2.5-flash", contents=PROMPT)
        # Vertex text embeddings go to :predict and report a token count per embedding.
        client.models.embed_content(model="text-embedding-005", contents=[PROMPT, "another text"])
    finally:
        instrumentor.uninstrument()
    generate, embed = fake_server.ledger
    assert generate.provider == embed.provider == "vertex_ai"
    assert "/projects/proj/locations/us-central1/" in generate.path and embed.path.endswith(":predict")
    content_span, embed_span = otel.finished()
    assert content_span.attributes[sc.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
    assert content_span.attributes[sc.GEN_AI_REQUEST_MODEL] == "gemini-2.5-flash"
    assert_usage(content_span, generate)
    assert embed_span.attributes[sc.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
    assert usage_attrs(embed_span) == {sc.GEN_AI_USAGE_INPUT_TOKENS: embed.input_tokens}


def test_provider_hosts_env_override(
    otel: Any, client: genai.Client, fake_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROVIDER_HOSTS, f"127.0.0.1:{fake_server.port}=gcp.vertex_ai")
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        settings=Settings.from_env(),
    )
    try:
        client.models.generate_content(model=PLAIN_MODEL, contents=PROMPT)
    finally:
        instrumentor.uninstrument()
    assert only_span(otel).attributes[sc.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"


def test_model_names() -> None:
    assert gg.model_name("models/gemini-2.5-pro") == "gemini-2.5-pro"
    assert gg.model_name("projects/p/locations/l/publishers/google/models/gemini-2.0-flash-001") == (
        "gemini-2.0-flash-001"
    )
    assert gg.model_name("gemini-2.5-flash") == "gemini-2.5-flash"
    assert gg.model_name("tunedModels/123") == "tunedModels/123"
    assert gg.model_name(None) is None


# --- audio input, priced at its own rate -----------------------------------------------------------------
def test_audio_and_video_parts_priced_at_the_audio_rate(
    otel: Any, client: genai.Client, fake_server: Any
) -> None:
    """An interview answer sent as audio plus one as video: Gemini reports AUDIO (the video's sound track
    included) and VIDEO in prompt_tokens_details; the audio part is billed at the audio rate."""
    instrumentor = instrument(otel, cost_enabled=True)
    try:
        client.models.generate_content(
            model=MODEL,
            contents=[
                types.Part.from_bytes(
                    data=b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32), mime_type="audio/wav"
                ),
                types.Part.from_bytes(data=b"\x00\x00\x00\x18ftypmp42" + bytes(32), mime_type="video/mp4"),
                PROMPT,
            ],
        )
    finally:
        instrumentor.uninstrument()
    billed = fake_server.ledger[-1]
    attrs = only_span(otel).attributes
    # rules: an audio part is 258 audio tokens, a video part 226 video + 32 audio (its sound track).
    assert billed.input_audio_tokens == 258 + 32 and billed.input_video_tokens == 226
    assert attrs[sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS] == billed.normalized().input_audio_tokens == 290
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == billed.input_tokens == 2 * 258 + len(PROMPT) // 4
    # Gemini 2.5 Flash list prices, https://ai.google.dev/gemini-api/docs/pricing (paid tier): input
    # $0.30 per 1M text/image/video tokens, $1.00 per 1M audio tokens; output $2.50 per 1M, thinking
    # tokens included.
    text_and_video = billed.input_tokens - 290
    output = billed.output_tokens + billed.reasoning_tokens
    by_hand = (text_and_video * 0.30 + 290 * 1.00 + output * 2.50) / 1_000_000
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(by_hand, rel=1e-9)
    # Audio billed as text would have been cheaper by the rate difference.
    assert by_hand - (billed.input_tokens * 0.30 + output * 2.50) / 1_000_000 == pytest.approx(
        290 * 0.70 / 1e6
    )


def test_content_usage_reads_audio_from_modality_details() -> None:
    """Typed and dict forms; tool-use prompt audio counts too; no AUDIO entry means not reported."""
    typed = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=1000,
        candidates_token_count=10,
        prompt_tokens_details=[
            types.ModalityTokenCount(modality=types.MediaModality.TEXT, token_count=200),
            types.ModalityTokenCount(modality=types.MediaModality.AUDIO, token_count=800),
        ],
        tool_use_prompt_token_count=40,
        tool_use_prompt_tokens_details=[types.ModalityTokenCount(modality="AUDIO", token_count=40)],
    )
    usage = gg.content_usage(typed)
    assert usage is not None and (usage.input_tokens, usage.input_audio_tokens) == (1040, 840)
    as_dict = {
        "prompt_token_count": 30,
        "prompt_tokens_details": [
            {"modality": "AUDIO", "token_count": 25},
            {"modality": "TEXT", "token_count": 5},
        ],
    }
    assert gg.content_usage(as_dict) == gg.Usage(input_tokens=30, output_tokens=0, input_audio_tokens=25)
    text_only = {"prompt_token_count": 30, "prompt_tokens_details": [{"modality": "TEXT", "token_count": 30}]}
    usage = gg.content_usage(text_only)
    assert usage is not None and usage.input_audio_tokens is None
