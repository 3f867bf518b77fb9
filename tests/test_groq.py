"""The real groq SDK against the fake provider server, instrumented by genai-cost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import groq
import pytest
from opentelemetry.trace import StatusCode

from genai_cost import feature, providers
from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.fakeprovider import FakeProviderServer
from genai_cost.instrumentation.groq import GroqInstrumentor

API_KEY = "gsk_test_SECRET_KEY_456"
MODEL = "llama-3.3-70b-versatile"
PROMPT = "Ask the candidate one behavioural interview question about teamwork"
MESSAGES = [{"role": "user", "content": PROMPT}]
LONG_MESSAGES = [{"role": "user", "content": PROMPT * 80}]  # long enough for a cache read
SETTINGS = {"cost_enabled": False, "provider_hosts": {"127.0.0.1": "groq"}}


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:  # one per module: stopping a server takes half a second
        yield server


@pytest.fixture
def fake_server(_server: FakeProviderServer) -> FakeProviderServer:
    _server.reset()
    return _server


@pytest.fixture
def instrumented(otel: Any) -> Iterator[Any]:
    instrumentor = GroqInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        settings=Settings(**SETTINGS),
    )
    yield otel
    instrumentor.uninstrument()


@pytest.fixture
def client(fake_server: FakeProviderServer) -> groq.Groq:
    return groq.Groq(api_key=API_KEY, base_url=fake_server.groq_base_url, max_retries=0)


@pytest.fixture
def aclient(fake_server: FakeProviderServer) -> groq.AsyncGroq:
    return groq.AsyncGroq(api_key=API_KEY, base_url=fake_server.groq_base_url, max_retries=0)


def only_span(otel: Any) -> Any:
    spans = otel.finished()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def assert_usage(span: Any, billed: Any) -> None:
    """Every usage field Groq reported, exactly, as int attributes; unreported ones absent (not 0)."""
    assert billed.usage_reported
    expected = billed.normalized()
    attrs = span.attributes
    for key, value in (
        (sc.GEN_AI_USAGE_INPUT_TOKENS, expected.input_tokens),
        (sc.GEN_AI_USAGE_OUTPUT_TOKENS, expected.output_tokens),
        (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, expected.cache_read_tokens or None),
        (sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, expected.reasoning_tokens or None),
    ):
        assert attrs.get(key) == value, key
        assert value is None or type(attrs[key]) is int, key


def stream(client: groq.Groq, messages: Any = MESSAGES) -> Any:
    return client.chat.completions.create(model=MODEL, messages=messages, stream=True)


# --- chat completions ---------------------------------------------------------------------------------
def test_chat_span_attributes_and_metrics(instrumented: Any, client: groq.Groq, fake_server: Any) -> None:
    with feature("interview_loop", user_id="cand-9", session_id="iv-3"):
        result = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, temperature=0.5, max_tokens=64, top_p=0.8, stop=["Q:"], seed=7
        )
    assert type(result) is groq.types.chat.ChatCompletion
    billed = fake_server.ledger[-1]
    span = only_span(instrumented)
    attrs = span.attributes
    assert span.name == f"chat {MODEL}"
    assert span.kind.name == "CLIENT"
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "groq"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == MODEL
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 64 and type(attrs[sc.GEN_AI_REQUEST_MAX_TOKENS]) is int
    assert attrs[sc.GEN_AI_REQUEST_TOP_P] == 0.8
    assert attrs[sc.GEN_AI_REQUEST_SEED] == 7
    assert attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("Q:",)
    assert attrs[sc.GEN_AI_RESPONSE_ID] == result.id == billed.response_id
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == result.model
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == (result.choices[0].finish_reason,)
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1" and type(attrs[sc.SERVER_PORT]) is int
    assert attrs[sc.FEATURE_NAME] == "interview_loop" and attrs[sc.SESSION_ID] == "iv-3"
    assert_usage(span, billed)
    expected = billed.normalized()
    assert (
        instrumented.metric_sum(sc.METRIC_TOKEN_USAGE, {sc.GEN_AI_TOKEN_TYPE: "input"})
        == expected.input_tokens
    )
    assert instrumented.metric_sum(sc.METRIC_TOKEN_USAGE, {sc.GEN_AI_TOKEN_TYPE: "output"}) == (
        expected.output_tokens
    )
    points = instrumented.metric_points(sc.METRIC_TOKEN_USAGE)
    assert {p.attributes[sc.GEN_AI_PROVIDER_NAME] for p in points} == {"groq"}
    assert all(sc.USER_ID not in p.attributes for p in points)


def test_chat_cached_tokens(instrumented: Any, client: groq.Groq, fake_server: Any) -> None:
    client.chat.completions.create(model=MODEL, messages=LONG_MESSAGES)
    billed = fake_server.ledger[-1]
    assert billed.cache_read_tokens > 0
    assert_usage(only_span(instrumented), billed)


async def test_async_chat(instrumented: Any, aclient: groq.AsyncGroq, fake_server: Any) -> None:
    result = await aclient.chat.completions.create(model=MODEL, messages=LONG_MESSAGES)
    span = only_span(instrumented)
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == result.id
    assert_usage(span, fake_server.ledger[-1])


def test_cost(otel: Any, client: groq.Groq, fake_server: Any) -> None:
    # Llama 3.3 70B Versatile on Groq: $0.59 in, $0.79 out per million tokens (bundled snapshot).
    instrumentor = GroqInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        settings=Settings(provider_hosts={"127.0.0.1": "groq"}),
    )
    try:
        list(stream(client))
    finally:
        instrumentor.uninstrument()
    billed = fake_server.ledger[-1]
    attrs = only_span(otel).attributes
    expected = (billed.input_tokens * 0.59 + billed.output_tokens * 0.79) / 1e6
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, rel=1e-9)
    assert otel.metric_sum(sc.METRIC_COST, {sc.GEN_AI_PROVIDER_NAME: "groq"}) == pytest.approx(expected)


# --- streams: usage in x_groq on the last chunk ----------------------------------------------------------
def test_stream_usage_from_x_groq(instrumented: Any, client: groq.Groq, fake_server: Any) -> None:
    chunks = list(stream(client))
    assert all(isinstance(c, groq.types.chat.ChatCompletionChunk) for c in chunks)
    assert chunks[-1].x_groq is not None and chunks[-1].x_groq.usage is not None
    assert all(c.choices for c in chunks)  # nothing hidden from or added to the app's stream
    span = only_span(instrumented)
    assert_usage(span, fake_server.ledger[-1])
    attrs = span.attributes
    assert attrs[sc.GEN_AI_RESPONSE_ID] == chunks[0].id
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == (chunks[-1].choices[0].finish_reason,)
    assert type(attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]) is float
    assert sc.GENAI_COST_USAGE_MISSING not in attrs
    assert "stream_options" not in fake_server.ledger[-1].path  # nothing asked on the app's behalf


def test_stream_context_manager(instrumented: Any, client: groq.Groq, fake_server: Any) -> None:
    with stream(client, messages=LONG_MESSAGES) as chunks:
        assert isinstance(chunks, groq.Stream)
        for _ in chunks:
            pass
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


def test_stream_partial_then_drain(instrumented: Any, client: groq.Groq, fake_server: Any) -> None:
    chunks = stream(client)
    first = next(chunks)
    assert first.choices
    rest = list(chunks)
    assert rest
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


async def test_async_stream(instrumented: Any, aclient: groq.AsyncGroq, fake_server: Any) -> None:
    chunks = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert isinstance(chunks, groq.AsyncStream)
    seen = [c async for c in chunks]
    assert seen[-1].x_groq.usage is not None
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


# --- raw responses ----------------------------------------------------------------------------------------
def test_with_raw_response(instrumented: Any, client: groq.Groq, fake_server: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.http_response.status_code == 200
    assert instrumented.finished() == []
    result = raw.parse()
    assert type(result) is groq.types.chat.ChatCompletion
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


def test_with_raw_response_stream(instrumented: Any, client: groq.Groq, fake_server: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, stream=True)
    for _ in raw.parse():
        pass
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


def test_with_streaming_response(instrumented: Any, client: groq.Groq, fake_server: Any) -> None:
    with client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as resp:
        result = resp.parse()
    assert result.id == fake_server.ledger[-1].response_id
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


async def test_async_with_streaming_response_stream(
    instrumented: Any, aclient: groq.AsyncGroq, fake_server: Any
) -> None:
    async with aclient.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    ) as resp:
        async for _ in await resp.parse():
            pass
    assert_usage(only_span(instrumented), fake_server.ledger[-1])


# --- errors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error_class"), [(429, groq.RateLimitError), (500, groq.InternalServerError)]
)
def test_api_errors(
    instrumented: Any, client: groq.Groq, fake_server: Any, status: int, error_class: type
) -> None:
    fake_server.fail_next(status=status, retry_after=0.01)
    with pytest.raises(error_class) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert type(caught.value) is error_class
    span = only_span(instrumented)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == error_class.__name__
    assert span.attributes.get(sc.GENAI_COST_RATE_LIMITED, False) is (status == 429)
    (point,) = instrumented.metric_points(sc.METRIC_OPERATION_DURATION)
    assert point.attributes[sc.ERROR_TYPE] == error_class.__name__


async def test_async_rate_limit(instrumented: Any, aclient: groq.AsyncGroq, fake_server: Any) -> None:
    fake_server.fail_next(status=429, retry_after=0.01)
    with pytest.raises(groq.RateLimitError):
        await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert only_span(instrumented).attributes[sc.ERROR_TYPE] == "RateLimitError"


# --- audio: billed per second, no token usage (priced in test_units.py) -----------------------------------
def test_transcription_span_has_no_tokens(instrumented: Any, client: groq.Groq) -> None:
    # A json reply has no duration: the span names the operation, has no tokens, says usage is missing.
    client.audio.transcriptions.create(file=("clip.wav", b"RIFF0000WAVE"), model="whisper-large-v3")
    span = only_span(instrumented)
    attrs = span.attributes
    assert span.name == "transcription whisper-large-v3"
    assert attrs[sc.GEN_AI_OPERATION_NAME] == sc.OP_TRANSCRIPTION
    assert attrs[sc.GENAI_COST_USAGE_MISSING] is True
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    assert instrumented.metric_points(sc.METRIC_TOKEN_USAGE) == []


# --- instrumentation lifecycle and hygiene ------------------------------------------------------------------
def test_other_endpoints_are_not_spans(instrumented: Any, client: groq.Groq) -> None:
    with pytest.raises(groq.APIStatusError):
        client.models.list()
    assert instrumented.finished() == []


def test_uninstrument_restores_sdk(otel: Any, client: groq.Groq) -> None:
    base = groq._base_client
    originals = (base.SyncAPIClient.request, base.AsyncAPIClient.request)
    instrumentor = GroqInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider, settings=Settings(**SETTINGS))
    assert base.SyncAPIClient.request is not originals[0]
    instrumentor.uninstrument()
    assert (base.SyncAPIClient.request, base.AsyncAPIClient.request) == originals
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert otel.finished() == []


def test_instrument_twice_one_span(instrumented: Any, client: groq.Groq) -> None:
    GroqInstrumentor().instrument(tracer_provider=instrumented.tracer_provider, settings=Settings(**SETTINGS))
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    only_span(instrumented)


def test_provider_without_override_and_real_hosts(otel: Any, client: groq.Groq) -> None:
    instrumentor = GroqInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider, settings=Settings(cost_enabled=False))
    try:
        list(stream(client))  # x_groq is read even when no provider rule names the host
    finally:
        instrumentor.uninstrument()
    span = only_span(otel)
    assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "groq"
    assert type(span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS]) is int
    assert providers.detect("https://api.groq.com", "x").provider == "groq"
    assert providers.detect(groq.Groq(api_key="k").base_url, "x").provider == "groq"
    assert providers.detect("https://api.groq.com/openai/v1", "openai_compatible").provider == "groq"


def test_no_prompt_completion_or_key_in_telemetry(instrumented: Any, client: groq.Groq) -> None:
    result = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    streamed = "".join(c.choices[0].delta.content or "" for c in stream(client))
    blob = "\n".join(span.to_json() for span in instrumented.finished())
    data = instrumented.metrics.get_metrics_data()
    blob += data.to_json() if data is not None else ""
    assert len(instrumented.finished()) == 2
    for secret in (PROMPT, PROMPT[:20], result.choices[0].message.content, streamed, API_KEY):
        assert secret and secret not in blob
