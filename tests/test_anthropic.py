"""The real anthropic SDK against the fake provider server, instrumented by genai-cost."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic.lib.streaming import AsyncMessageStream, MessageStream
from opentelemetry.trace import StatusCode

from genai_cost import feature, providers
from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.fakeprovider import FakeProviderServer
from genai_cost.instrumentation.anthropic import AnthropicInstrumentor, messages_usage

API_KEY = "sk-ant-test-SECRET-KEY-789"
MODEL = "claude-haiku-4-5"
PROMPT = "Rewrite these resume bullets for a senior data engineer role please"
MESSAGES = [{"role": "user", "content": PROMPT}]
SDK_SCOPE = "com.anthropic.sdk.python"
SETTINGS = {"cost_enabled": False, "provider_hosts": {"127.0.0.1": "anthropic"}}
# anthropic 2.x traces itself; the oldest supported releases (tests/requirements.oldest.txt) do not.
SDK_TRACING = "open_telemetry" in inspect.signature(anthropic.Anthropic.__init__).parameters
needs_sdk_tracing = pytest.mark.skipif(not SDK_TRACING, reason="this anthropic release has no own tracing")
TRACING_MODES = [True, False] if SDK_TRACING else [False]
TRACING_IDS = ["sdk_tracing_on", "sdk_tracing_off"][: len(TRACING_MODES)]


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:  # one per module: stopping a server takes half a second
        yield server


@pytest.fixture
def fake_server(_server: FakeProviderServer) -> Iterator[FakeProviderServer]:
    _server.reset()
    yield _server
    _server.chunk_delay = 0.0


@pytest.fixture
def instrumented(otel: Any) -> Iterator[Any]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        settings=Settings(**SETTINGS),
    )
    yield otel
    instrumentor.uninstrument()


def _tracing(otel: Any, sdk_tracing: bool) -> dict[str, Any]:
    """Client kwargs: the SDK's own tracing on (through our tracer provider) or off."""
    if not SDK_TRACING:
        return {}
    return {"open_telemetry": {"tracer_provider": otel.tracer_provider} if sdk_tracing else False}


@pytest.fixture(params=TRACING_MODES, ids=TRACING_IDS)
def client(request: Any, otel: Any, fake_server: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=API_KEY,
        base_url=fake_server.anthropic_base_url,
        max_retries=0,
        **_tracing(otel, request.param),
    )


@pytest.fixture(params=TRACING_MODES, ids=TRACING_IDS)
def aclient(request: Any, otel: Any, fake_server: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=API_KEY,
        base_url=fake_server.anthropic_base_url,
        max_retries=0,
        **_tracing(otel, request.param),
    )


def only_span(otel: Any) -> Any:
    """Exactly one finished span, and it is ours (never the SDK's second GenAI span)."""
    spans = otel.finished()
    assert [s.instrumentation_scope.name for s in spans] == ["genai_cost"], [s.name for s in spans]
    return spans[0]


def assert_usage(span: Any, billed: Any) -> None:
    """Every usage field the server reported, exactly, as int attributes (none invented)."""
    expected = billed.normalized()
    assert billed.usage_reported
    attrs = span.attributes
    for key, value in (
        (sc.GEN_AI_USAGE_INPUT_TOKENS, expected.input_tokens),
        (sc.GEN_AI_USAGE_OUTPUT_TOKENS, expected.output_tokens),
        (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, expected.cache_read_tokens),
        (sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, expected.cache_creation_tokens),
    ):
        assert attrs[key] == value, key
        assert type(attrs[key]) is int, key
    assert sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS not in attrs  # not reported: absent, not 0


def assert_partial_usage(span: Any, server: Any) -> None:
    """A stream left before message_delta: message_start's input counts, no output count at all.

    The server may record the hang-up as unbilled, so the expectation comes from its usage rules.
    """
    body = {"model": MODEL, "max_tokens": 100, "messages": MESSAGES}
    tokens = server.expected_usage("anthropic", "messages", body)
    expected = tokens.input_tokens + tokens.cache_read_tokens + tokens.cache_creation_tokens
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == expected
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes  # never message_start's provisional count


def assert_split(span: Any, billed: Any) -> None:
    attrs = span.attributes
    assert attrs[sc.GENAI_COST_CACHE_CREATION_5M_TOKENS] == billed.cache_creation_5m_tokens
    assert attrs[sc.GENAI_COST_CACHE_CREATION_1H_TOKENS] == billed.cache_creation_1h_tokens


def cached_messages(ttl: str | None = None) -> list[dict[str, Any]]:
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl:
        control["ttl"] = ttl
    block = {"type": "text", "text": PROMPT * 20, "cache_control": control}
    return [{"role": "user", "content": [block]}]


# --- messages.create ----------------------------------------------------------------------------------
def test_create_span_attributes_and_metrics(
    instrumented: Any, client: anthropic.Anthropic, fake_server: Any
) -> None:
    with feature("resume_writer", user_id="u-1", session_id="s-1"):
        message = client.messages.create(
            model=MODEL,
            max_tokens=200,
            messages=cached_messages(),
            stop_sequences=["END"],
            # anthropic 2.x dropped the sampling parameters from its signature: apps send them this way
            extra_body={"temperature": 0.3, "top_p": 0.9, "top_k": 40},
        )
    assert type(message) is anthropic.types.Message
    billed = fake_server.ledger[-1]
    assert billed.cache_read_tokens > 0 and billed.cache_creation_5m_tokens > 0
    span = only_span(instrumented)
    attrs = span.attributes
    assert span.name == f"chat {MODEL}"
    assert span.kind.name == "CLIENT"
    assert span.status.status_code is StatusCode.UNSET
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == MODEL
    assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 200 and type(attrs[sc.GEN_AI_REQUEST_MAX_TOKENS]) is int
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.3
    assert attrs[sc.GEN_AI_REQUEST_TOP_P] == 0.9
    assert attrs[sc.GEN_AI_REQUEST_TOP_K] == 40 and type(attrs[sc.GEN_AI_REQUEST_TOP_K]) is int
    assert attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert attrs[sc.GEN_AI_RESPONSE_ID] == message.id == billed.response_id
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == MODEL
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == (message.stop_reason,)
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1" and type(attrs[sc.SERVER_PORT]) is int
    assert attrs[sc.FEATURE_NAME] == "resume_writer" and attrs[sc.USER_ID] == "u-1"
    assert_usage(span, billed)
    assert_split(span, billed)
    # semconv input = uncached + cache reads + cache writes
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == (
        message.usage.input_tokens
        + message.usage.cache_read_input_tokens
        + message.usage.cache_creation_input_tokens
    )
    expected = billed.normalized()
    assert (
        instrumented.metric_sum(sc.METRIC_TOKEN_USAGE, {sc.GEN_AI_TOKEN_TYPE: "input"})
        == expected.input_tokens
    )
    assert instrumented.metric_sum(sc.METRIC_TOKEN_USAGE, {sc.GEN_AI_TOKEN_TYPE: "output"}) == (
        expected.output_tokens
    )
    points = instrumented.metric_points(sc.METRIC_TOKEN_USAGE)
    assert all(p.attributes[sc.FEATURE_NAME] == "resume_writer" for p in points)
    assert all(sc.USER_ID not in p.attributes for p in points)  # high cardinality: spans only by default
    assert len(instrumented.metric_points(sc.METRIC_OPERATION_DURATION)) == 1


def test_create_one_hour_cache_writes(
    instrumented: Any, client: anthropic.Anthropic, fake_server: Any
) -> None:
    client.messages.create(model=MODEL, max_tokens=100, messages=cached_messages("1h"))
    billed = fake_server.ledger[-1]
    assert billed.cache_creation_1h_tokens > 0 and billed.cache_creation_5m_tokens == 0
    span = only_span(instrumented)
    assert_usage(span, billed)
    assert_split(span, billed)


@pytest.mark.skipif(not hasattr(anthropic.resources.Messages, "parse"), reason="no messages.parse here")
def test_parse(instrumented: Any, client: anthropic.Anthropic, fake_server: Any) -> None:
    parsed = client.messages.parse(model=MODEL, max_tokens=100, messages=MESSAGES)
    assert isinstance(parsed, anthropic.types.ParsedMessage)
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


def test_beta_messages(instrumented: Any, client: anthropic.Anthropic, fake_server: Any) -> None:
    client.beta.messages.create(model=MODEL, max_tokens=100, messages=cached_messages())
    billed = fake_server.ledger[-1]
    assert "beta=true" in billed.path or billed.endpoint == "messages"
    span = only_span(instrumented)
    assert span.attributes[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert_usage(span, billed)
    assert_split(span, billed)


async def test_async_create(instrumented: Any, aclient: anthropic.AsyncAnthropic, fake_server: Any) -> None:
    message = await aclient.messages.create(model=MODEL, max_tokens=100, messages=cached_messages())
    assert type(message) is anthropic.types.Message
    span = only_span(instrumented)
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == message.id
    assert_usage(span, fake_server.ledger[-1])
    assert_split(span, fake_server.ledger[-1])


# --- cost: every part at its own rate, cache writes by TTL ------------------------------------------------
# Claude Haiku 4.5 list prices, USD per million tokens (the bundled genai-prices snapshot).
HAIKU = {"input": 1.0, "output": 5.0, "cache_read": 0.10, "write_5m": 1.25, "write_1h": 2.0}


@pytest.mark.parametrize("ttl", ["5m", "1h"])
def test_cost_prices_cache_writes_by_ttl(otel: Any, fake_server: Any, ttl: str) -> None:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        settings=Settings(provider_hosts={"127.0.0.1": "anthropic"}),
    )
    try:
        plain = anthropic.Anthropic(api_key=API_KEY, base_url=fake_server.anthropic_base_url, max_retries=0)
        plain.messages.create(model=MODEL, max_tokens=100, messages=cached_messages(ttl))
        plain.messages.count_tokens(model=MODEL, messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
    billed = fake_server.ledger[0]
    chat, count = otel.finished()
    attrs = chat.attributes
    write_rate = HAIKU["write_1h"] if ttl == "1h" else HAIKU["write_5m"]
    parts = {
        sc.GENAI_COST_INPUT_AMOUNT: billed.input_tokens * HAIKU["input"] / 1e6,
        sc.GENAI_COST_OUTPUT_AMOUNT: billed.output_tokens * HAIKU["output"] / 1e6,
        sc.GENAI_COST_CACHE_READ_AMOUNT: billed.cache_read_tokens * HAIKU["cache_read"] / 1e6,
        sc.GENAI_COST_CACHE_WRITE_AMOUNT: billed.cache_creation_tokens * write_rate / 1e6,
    }
    for key, value in parts.items():
        assert attrs[key] == pytest.approx(value, rel=1e-9), key
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(sum(parts.values()), rel=1e-9)
    assert type(attrs[sc.GEN_AI_USAGE_COST_AMOUNT]) is float
    assert attrs[sc.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    # count_tokens is free: no cost on its span, nothing in the cost or token metrics
    assert sc.GEN_AI_USAGE_COST_AMOUNT not in count.attributes
    assert otel.metric_sum(sc.METRIC_COST) == pytest.approx(attrs[sc.GEN_AI_USAGE_COST_AMOUNT])
    assert len(otel.metric_points(sc.METRIC_COST)) == 1
    assert otel.metric_sum(sc.METRIC_TOKEN_USAGE, {sc.GEN_AI_OPERATION_NAME: "count_tokens"}) == 0


def test_compaction_iterations_are_billed_on_top() -> None:
    # The fake server sends no compaction; the SDK's own model says their tokens sit outside the
    # top-level fields, so they are added (other iteration types are already inside them).
    usage = anthropic.types.beta.BetaUsage.model_validate(
        {
            "input_tokens": 100,
            "output_tokens": 40,
            "cache_read_input_tokens": 10,
            "cache_creation_input_tokens": 0,
            "iterations": [
                {
                    "type": "compaction",
                    "input_tokens": 5000,
                    "output_tokens": 700,
                    "cache_read_input_tokens": 2000,
                    "cache_creation_input_tokens": 300,
                    "cache_creation": {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 0},
                },
                {
                    "type": "message",
                    "input_tokens": 100,
                    "output_tokens": 40,
                    "cache_read_input_tokens": 10,
                    "cache_creation_input_tokens": 0,
                },
            ],
        }
    )
    got = messages_usage(usage)
    assert got is not None
    assert (got.input_tokens, got.output_tokens) == (100 + 10 + 5000 + 2000 + 300, 740)
    assert (got.cache_read_tokens, got.cache_creation_tokens, got.cache_creation_5m_tokens) == (
        2010,
        300,
        300,
    )


# --- count_tokens: shown as a pre-estimate, never billed -------------------------------------------------
def test_count_tokens_is_not_billed(instrumented: Any, client: anthropic.Anthropic, fake_server: Any) -> None:
    counted = client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    billed = fake_server.ledger[-1]
    assert counted.input_tokens == billed.counted_tokens and not billed.usage_reported
    span = only_span(instrumented)
    attrs = span.attributes
    assert span.name == f"count_tokens {MODEL}"
    assert attrs[sc.GEN_AI_OPERATION_NAME] == sc.OP_COUNT_TOKENS
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == counted.input_tokens
    assert type(attrs[sc.GEN_AI_USAGE_INPUT_TOKENS]) is int
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs
    assert sc.GEN_AI_USAGE_COST_AMOUNT not in attrs
    assert instrumented.metric_points(sc.METRIC_TOKEN_USAGE) == []  # not recorded as usage
    assert instrumented.metric_points(sc.METRIC_COST) == []
    assert len(instrumented.metric_points(sc.METRIC_OPERATION_DURATION)) == 1


async def test_async_and_beta_count_tokens(
    instrumented: Any, aclient: anthropic.AsyncAnthropic, fake_server: Any
) -> None:
    first = await aclient.messages.count_tokens(model=MODEL, messages=MESSAGES)
    second = await aclient.beta.messages.count_tokens(model=MODEL, messages=cached_messages())
    spans = instrumented.finished()
    assert [s.attributes[sc.GEN_AI_OPERATION_NAME] for s in spans] == ["count_tokens", "count_tokens"]
    assert [s.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] for s in spans] == [
        first.input_tokens,
        second.input_tokens,
    ]
    assert instrumented.metric_points(sc.METRIC_TOKEN_USAGE) == []


# --- streams: raw events -----------------------------------------------------------------------------
def test_stream_takes_final_cumulative_counts(
    instrumented: Any, client: anthropic.Anthropic, fake_server: Any
) -> None:
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=cached_messages(), stream=True)
    assert isinstance(stream, anthropic.Stream)
    events = [event.type for event in stream]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    billed = fake_server.ledger[-1]
    span = only_span(instrumented)
    assert_usage(span, billed)  # message_delta's output, not message_start's provisional 1 nor a sum
    assert_split(span, billed)
    attrs = span.attributes
    assert attrs[sc.GEN_AI_RESPONSE_ID] == billed.response_id
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",) or attrs[
        sc.GEN_AI_RESPONSE_FINISH_REASONS
    ] == ("max_tokens",)
    assert type(attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]) is float
    assert sc.GENAI_COST_STREAM_INCOMPLETE not in attrs
    assert len(instrumented.metric_points(sc.METRIC_TIME_TO_FIRST_CHUNK)) == 1


def test_stream_context_manager(instrumented: Any, client: anthropic.Anthropic, fake_server: Any) -> None:
    with client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stream=True) as stream:
        for _ in stream:
            pass
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


async def test_async_stream(instrumented: Any, aclient: anthropic.AsyncAnthropic, fake_server: Any) -> None:
    stream = await aclient.messages.create(
        model=MODEL, max_tokens=100, messages=cached_messages(), stream=True
    )
    assert isinstance(stream, anthropic.AsyncStream)
    async for _ in stream:
        pass
    span = only_span(instrumented)
    assert_usage(span, fake_server.ledger[-1])
    assert_split(span, fake_server.ledger[-1])


# --- streams: the messages.stream(...) manager -------------------------------------------------------------
def test_stream_manager_text_stream_and_final_message(
    instrumented: Any, client: anthropic.Anthropic, fake_server: Any
) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, messages=cached_messages()) as stream:
        assert isinstance(stream, MessageStream)
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.usage.output_tokens == fake_server.ledger[-1].output_tokens
    span = only_span(instrumented)
    assert_usage(span, fake_server.ledger[-1])
    assert_split(span, fake_server.ledger[-1])
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == final.id


def test_stream_manager_get_final_message_only(
    instrumented: Any, client: anthropic.Anthropic, fake_server: Any
) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert isinstance(final, anthropic.types.Message)
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


def test_stream_manager_until_done(instrumented: Any, client: anthropic.Anthropic, fake_server: Any) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        stream.until_done()
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


def test_stream_manager_leaving_with_early(
    instrumented: Any, client: anthropic.Anthropic, fake_server: Any
) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        for _ in stream.text_stream:
            break
    span = only_span(instrumented)
    assert span.end_time is not None
    assert span.attributes[sc.GENAI_COST_STREAM_INCOMPLETE] is True
    assert_partial_usage(span, fake_server)


def test_beta_stream_manager(instrumented: Any, client: anthropic.Anthropic, fake_server: Any) -> None:
    with client.beta.messages.stream(model=MODEL, max_tokens=100, messages=cached_messages()) as stream:
        stream.get_final_message()
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


async def test_async_stream_manager(
    instrumented: Any, aclient: anthropic.AsyncAnthropic, fake_server: Any
) -> None:
    async with aclient.messages.stream(model=MODEL, max_tokens=100, messages=cached_messages()) as stream:
        assert isinstance(stream, AsyncMessageStream)
        chunks = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert chunks and final.usage.output_tokens == fake_server.ledger[-1].output_tokens
    span = only_span(instrumented)
    assert_usage(span, fake_server.ledger[-1])
    assert_split(span, fake_server.ledger[-1])


async def test_async_stream_manager_leaving_early(
    instrumented: Any, aclient: anthropic.AsyncAnthropic, fake_server: Any
) -> None:
    async with aclient.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        async for _ in stream.text_stream:
            break
    span = only_span(instrumented)
    assert span.attributes[sc.GENAI_COST_STREAM_INCOMPLETE] is True
    assert_partial_usage(span, fake_server)


# --- raw responses ------------------------------------------------------------------------------------------
def test_with_raw_response(instrumented: Any, client: anthropic.Anthropic, fake_server: Any) -> None:
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    assert raw.headers.get("request-id")
    assert instrumented.finished() == []  # no usage read before the app parses: no side effect
    message = raw.parse()
    assert type(message) is anthropic.types.Message
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


def test_with_raw_response_stream(instrumented: Any, client: anthropic.Anthropic, fake_server: Any) -> None:
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=100, messages=MESSAGES, stream=True
    )
    stream = raw.parse()
    assert isinstance(stream, anthropic.Stream)
    for _ in stream:
        pass
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


def test_with_streaming_response(instrumented: Any, client: anthropic.Anthropic, fake_server: Any) -> None:
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=100, messages=MESSAGES
    ) as resp:
        message = resp.parse()
    assert message.id == fake_server.ledger[-1].response_id
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


async def test_async_with_streaming_response_stream(
    instrumented: Any, aclient: anthropic.AsyncAnthropic, fake_server: Any
) -> None:
    async with aclient.messages.with_streaming_response.create(
        model=MODEL, max_tokens=100, messages=MESSAGES, stream=True
    ) as resp:
        stream = await resp.parse()
        async for _ in stream:
            pass
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


# --- errors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error_name"),
    [(429, "RateLimitError"), (500, "InternalServerError"), (529, "OverloadedError")],
)
def test_api_errors(
    instrumented: Any, client: anthropic.Anthropic, fake_server: Any, status: int, error_name: str
) -> None:
    fake_server.fail_next(status=status, retry_after=0.01)
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    assert type(caught.value).__name__ == error_name  # the SDK's own exception, unchanged
    assert caught.value.status_code == status
    span = only_span(instrumented)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == error_name
    assert span.attributes.get(sc.GENAI_COST_RATE_LIMITED, False) is (status == 429)
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    (point,) = instrumented.metric_points(sc.METRIC_OPERATION_DURATION)
    assert point.attributes[sc.ERROR_TYPE] == error_name
    assert instrumented.metric_points(sc.METRIC_TOKEN_USAGE) == []


async def test_async_overloaded(
    instrumented: Any, aclient: anthropic.AsyncAnthropic, fake_server: Any
) -> None:
    fake_server.fail_next(status=529)
    with pytest.raises(anthropic.APIStatusError) as caught:
        await aclient.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stream=True)
    assert caught.value.status_code == 529
    # OverloadedError on anthropic 2.x; older releases raise InternalServerError here
    assert only_span(instrumented).attributes[sc.ERROR_TYPE] == type(caught.value).__name__


def test_retried_429_then_success_is_one_span(instrumented: Any, fake_server: Any) -> None:
    retrying = anthropic.Anthropic(api_key=API_KEY, base_url=fake_server.anthropic_base_url, max_retries=2)
    fake_server.fail_next(status=429, retry_after=0.01)
    retrying.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    span = only_span(instrumented)
    assert sc.ERROR_TYPE not in span.attributes
    assert_usage(span, fake_server.ledger[-1])


# --- the SDK's own tracing ------------------------------------------------------------------------------
@needs_sdk_tracing
def test_sdk_tracing_alone_makes_its_span(otel: Any, fake_server: Any) -> None:
    # Without genai-cost the SDK's span exists (so the "one span" tests above do exercise it).
    traced = anthropic.Anthropic(
        api_key=API_KEY, base_url=fake_server.anthropic_base_url, **_tracing(otel, True)
    )
    traced.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    assert [s.instrumentation_scope.name for s in otel.finished()] == [SDK_SCOPE]


@needs_sdk_tracing
def test_sdk_keeps_its_spans_for_calls_we_do_not_trace(otel: Any, fake_server: Any) -> None:
    traced = anthropic.Anthropic(
        api_key=API_KEY,
        base_url=fake_server.anthropic_base_url,
        **_tracing(otel, True),
        max_retries=0,
    )
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider, settings=Settings(**SETTINGS))
    try:
        with pytest.raises(anthropic.APIStatusError):
            traced.models.list()
        traced.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
    traced.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    scopes = [s.instrumentation_scope.name for s in otel.finished()]
    assert scopes == [SDK_SCOPE, "genai_cost", SDK_SCOPE]


@needs_sdk_tracing
def test_request_carries_our_trace_context_when_the_client_propagates(
    instrumented: Any, client: anthropic.Anthropic
) -> None:
    # The SDK would have sent its own span's context; with its span off, ours goes instead.
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    raw.parse()
    context = only_span(instrumented).get_span_context()
    sent = raw.http_request.headers.get("traceparent")
    if client.open_telemetry["traces"]["enabled"]:
        assert sent == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    else:
        assert sent is None  # the app turned the SDK's telemetry off: nothing is added


@needs_sdk_tracing
def test_no_trace_context_when_propagation_is_off(instrumented: Any, fake_server: Any) -> None:
    quiet = anthropic.Anthropic(
        api_key=API_KEY,
        base_url=fake_server.anthropic_base_url,
        open_telemetry={"tracer_provider": instrumented.tracer_provider, "propagation": False},
    )
    raw = quiet.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    raw.parse()
    only_span(instrumented)
    assert raw.http_request.headers.get("traceparent") is None


# --- instrumentation lifecycle and hygiene --------------------------------------------------------------
def test_uninstrument_restores_sdk(otel: Any, fake_server: Any) -> None:
    base = anthropic._base_client
    originals = (base.SyncAPIClient.request, base.AsyncAPIClient.request)
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider, settings=Settings(**SETTINGS))
    assert base.SyncAPIClient.request is not originals[0]
    instrumentor.uninstrument()
    assert (base.SyncAPIClient.request, base.AsyncAPIClient.request) == originals
    plain = anthropic.Anthropic(
        api_key=API_KEY, base_url=fake_server.anthropic_base_url, **_tracing(None, False)
    )
    plain.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    assert otel.finished() == []


def test_instrument_twice_one_span(instrumented: Any, client: anthropic.Anthropic) -> None:
    AnthropicInstrumentor().instrument(
        tracer_provider=instrumented.tracer_provider, settings=Settings(**SETTINGS)
    )
    client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    only_span(instrumented)


def test_provider_without_override_and_real_hosts(otel: Any, fake_server: Any) -> None:
    # The anthropic SDK on an unknown host is still Anthropic; real hostnames map by the built-in table.
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider, settings=Settings(cost_enabled=False))
    try:
        plain = anthropic.Anthropic(
            api_key=API_KEY, base_url=fake_server.anthropic_base_url, **_tracing(None, False)
        )
        plain.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
    assert only_span(otel).attributes[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert providers.detect("https://api.anthropic.com", "x").provider == "anthropic"
    assert providers.detect(anthropic.Anthropic(api_key="k").base_url, "x").provider == "anthropic"


def test_provider_hosts_from_env(otel: Any, fake_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OTEL_INSTRUMENTATION_GENAI_COST_PROVIDER_HOSTS", f"127.0.0.1:{fake_server.port}=my-claude"
    )
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_COST_COST", "false")
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider)
    try:
        plain = anthropic.Anthropic(
            api_key=API_KEY, base_url=fake_server.anthropic_base_url, **_tracing(None, False)
        )
        plain.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
    assert only_span(otel).attributes[sc.GEN_AI_PROVIDER_NAME] == "my-claude"


def test_internal_bug_never_reaches_app(
    instrumented: Any, client: anthropic.Anthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    import genai_cost._internal as internal
    from genai_cost.instrumentation import anthropic as adapter

    monkeypatch.setattr(internal, "RAISE_INTERNAL_ERRORS", False)

    def broken(self: Any, event: Any) -> bool:
        raise RuntimeError("simulated telemetry bug")

    monkeypatch.setattr(adapter.MessagesStreamState, "process", broken)
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert final.content and final.usage.output_tokens > 0  # the app's stream is intact
    span = only_span(instrumented)
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes


def test_no_prompt_completion_or_key_in_telemetry(
    instrumented: Any, client: anthropic.Anthropic, fake_server: Any
) -> None:
    message = client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        streamed = stream.get_final_text()
    client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    completion = message.content[0].text
    dumped = [span.to_json() for span in instrumented.finished()]
    data = instrumented.metrics.get_metrics_data()
    dumped.append(data.to_json() if data is not None else "")
    blob = "\n".join(dumped)
    assert len(instrumented.finished()) == 3
    for secret in (PROMPT, PROMPT[:20], completion, streamed, API_KEY):
        assert secret not in blob
