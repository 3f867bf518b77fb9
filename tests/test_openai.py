"""The real openai SDK against the fake provider server, instrumented by genai-cost."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from genai_cost import feature
from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation import deferred
from genai_cost.instrumentation.openai import OpenAIInstrumentor
from genai_cost.usage import Usage

API_KEY = "sk-test-SECRET-KEY-123"
PROMPT = "Summarise the candidate's resume in three bullet points please"
MESSAGES = [{"role": "user", "content": PROMPT}]


@pytest.fixture
def instrumented(otel: Any, fake_server: Any) -> Iterator[Any]:
    settings = Settings(
        cost_enabled=False, provider_hosts={"127.0.0.1/v1": "openai", "127.0.0.1/groq": "groq"}
    )
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=settings
    )
    yield otel
    instrumentor.uninstrument()


@pytest.fixture
def client(fake_server: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key=API_KEY, base_url=fake_server.openai_base_url, max_retries=0)


@pytest.fixture
def aclient(fake_server: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=API_KEY, base_url=fake_server.openai_base_url, max_retries=0)


def only_span(otel: Any) -> Any:
    spans = otel.finished()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def assert_usage(span: Any, expected: Usage) -> None:
    attrs = span.attributes
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == expected.input_tokens
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == expected.output_tokens
    assert type(attrs[sc.GEN_AI_USAGE_INPUT_TOKENS]) is int
    assert type(attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) is int


# --- non-streaming ------------------------------------------------------------------------------------
def test_chat_completion_span_and_metrics(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    with feature("resume_analysis", user_id="u-42", session_id="s-7", tenant="acme"):
        result = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.7, max_tokens=50, top_p=0.9, stop=["END"]
        )
    assert type(result) is openai.types.chat.ChatCompletion
    billed = fake_server.ledger[-1]
    span = only_span(instrumented)
    attrs = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert span.kind.name == "CLIENT"
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == billed.model or attrs[sc.GEN_AI_RESPONSE_MODEL].startswith(
        "gpt-4o-mini"
    )
    assert attrs[sc.GEN_AI_RESPONSE_ID] == billed.response_id == result.id
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.7
    assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert attrs[sc.GEN_AI_REQUEST_TOP_P] == 0.9
    assert attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == (result.choices[0].finish_reason,)
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert type(attrs[sc.SERVER_PORT]) is int
    assert attrs[sc.FEATURE_NAME] == "resume_analysis"
    assert attrs[sc.USER_ID] == "u-42"
    assert attrs[sc.SESSION_ID] == "s-7"
    assert attrs["tenant"] == "acme"
    assert_usage(span, billed.normalized())
    assert result.usage.prompt_tokens == billed.input_tokens

    tokens_in = instrumented.metric_sum(sc.METRIC_TOKEN_USAGE, {sc.GEN_AI_TOKEN_TYPE: "input"})
    tokens_out = instrumented.metric_sum(sc.METRIC_TOKEN_USAGE, {sc.GEN_AI_TOKEN_TYPE: "output"})
    assert (tokens_in, tokens_out) == (billed.input_tokens, billed.output_tokens)
    (point,) = instrumented.metric_points(sc.METRIC_OPERATION_DURATION)
    assert point.count == 1
    assert point.attributes[sc.FEATURE_NAME] == "resume_analysis"
    # user.id/session.id stay off metrics unless the user opts in (cardinality).
    assert sc.USER_ID not in point.attributes and sc.SESSION_ID not in point.attributes
    assert list(point.explicit_bounds) == list(sc.DURATION_BUCKETS)
    (token_point, _) = instrumented.metric_points(sc.METRIC_TOKEN_USAGE)
    assert list(token_point.explicit_bounds) == [float(b) for b in sc.TOKEN_BUCKETS]


def test_cached_and_reasoning_tokens(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    long_prompt = "word " * 1000  # >= 4096 chars: the fake server reports half the input as cached
    client.chat.completions.create(model="o3-mini", messages=[{"role": "user", "content": long_prompt}])
    billed = fake_server.ledger[-1]
    assert billed.cache_read_tokens > 0 and billed.reasoning_tokens > 0
    attrs = only_span(instrumented).attributes
    assert attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == billed.cache_read_tokens
    assert attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == billed.reasoning_tokens
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == billed.input_tokens  # cached is inside prompt_tokens


def test_user_attributes_on_metrics_when_opted_in(otel: Any, fake_server: Any, client: openai.OpenAI) -> None:
    instrumentor = OpenAIInstrumentor()
    settings = Settings(
        cost_enabled=False, metric_user_attributes=True, provider_hosts={"127.0.0.1": "openai"}
    )
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=settings
    )
    try:
        with feature("chat", user_id="u1", session_id="s1"):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
    (point,) = otel.metric_points(sc.METRIC_OPERATION_DURATION)
    assert point.attributes[sc.USER_ID] == "u1" and point.attributes[sc.SESSION_ID] == "s1"


def _chat_helpers(client: openai.OpenAI) -> Any:
    # parse()/stream() moved from client.beta.chat.completions to client.chat.completions in openai 1.9x.
    chat = client.chat.completions
    return chat if hasattr(chat, "parse") else client.beta.chat.completions


def test_parse(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    result = _chat_helpers(client).parse(model="gpt-4o", messages=MESSAGES)
    assert result.choices[0].message.parsed is None
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


def test_completions(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=20)
    span = only_span(instrumented)
    assert span.attributes[sc.GEN_AI_OPERATION_NAME] == "text_completion"
    assert span.attributes[sc.GEN_AI_REQUEST_MAX_TOKENS] == 20
    assert_usage(span, fake_server.ledger[-1].normalized())


def test_embeddings_base64_default(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["one text", "another"])
    assert len(result.data) == 2 and isinstance(result.data[0].embedding, list)
    span = only_span(instrumented)
    attrs = span.attributes
    assert span.name == "embeddings text-embedding-3-small"
    assert attrs[sc.GEN_AI_REQUEST_ENCODING_FORMATS] == ("base64",)
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == fake_server.ledger[-1].input_tokens
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs


def test_responses_create(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    result = client.responses.create(model="gpt-4.1", input=PROMPT, max_output_tokens=40)
    billed = fake_server.ledger[-1]
    span = only_span(instrumented)
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == result.id == billed.response_id
    assert span.attributes[sc.GEN_AI_REQUEST_MAX_TOKENS] == 40
    assert_usage(span, billed.normalized())


def test_responses_stream(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    events = [e.type for e in client.responses.create(model="gpt-4.1", input=PROMPT, stream=True)]
    assert events[-1] == "response.completed"
    span = only_span(instrumented)
    assert_usage(span, fake_server.ledger[-1].normalized())
    assert span.attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_responses_stream_helper(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    with client.responses.stream(model="gpt-4.1", input=PROMPT) as stream:
        final = stream.get_final_response()
    assert final.usage is not None
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


# --- streaming ----------------------------------------------------------------------------------------
def _stream(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, **kwargs)


def test_stream_with_app_usage(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    chunks = list(_stream(client, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # the app asked: it gets it
    span = only_span(instrumented)
    assert_usage(span, fake_server.ledger[-1].normalized())
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",) or span.attributes[
        sc.GEN_AI_RESPONSE_FINISH_REASONS
    ] == ("length",)
    assert len(instrumented.metric_points(sc.METRIC_TIME_TO_FIRST_CHUNK)) == 1


def test_stream_usage_asked_on_apps_behalf_is_invisible(
    otel: Any, fake_server: Any, client: openai.OpenAI
) -> None:
    # The app's view without instrumentation...
    plain = list(_stream(client))
    # ...and with it: same number of chunks, every chunk has choices, no usage field set.
    instrumentor = OpenAIInstrumentor()
    settings = Settings(cost_enabled=False, provider_hosts={"127.0.0.1": "openai"})
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=settings
    )
    try:
        seen = list(_stream(client))
    finally:
        instrumentor.uninstrument()
    assert len(seen) == len(plain)
    for chunk in seen:
        assert chunk.choices[0] is not None  # an app indexing choices[0] on every chunk keeps working
        assert chunk.usage is None
        assert "usage" not in chunk.model_fields_set
        assert chunk.to_json() == chunk.model_copy().to_json()
    assert [c.choices[0].delta.content for c in seen] == [c.choices[0].delta.content for c in plain]
    billed = fake_server.ledger[-1]
    assert billed.usage_reported
    assert_usage(only_span(otel), billed.normalized())


def test_stream_without_usage_is_marked_not_zero(otel: Any, fake_server: Any, client: openai.OpenAI) -> None:
    instrumentor = OpenAIInstrumentor()
    settings = Settings(cost_enabled=False, stream_usage=False, provider_hosts={"127.0.0.1": "openai"})
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=settings
    )
    try:
        list(_stream(client))
    finally:
        instrumentor.uninstrument()
    attrs = only_span(otel).attributes
    assert attrs[sc.GENAI_COST_USAGE_MISSING] is True
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs and sc.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs
    assert otel.metric_points(sc.METRIC_TOKEN_USAGE) == []
    assert not fake_server.ledger[-1].usage_reported


def test_stream_next_partial_then_drain(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    stream = _stream(client)
    first = next(stream)
    rest = list(stream)
    assert first.choices and rest
    span = only_span(instrumented)
    assert sc.GENAI_COST_STREAM_INCOMPLETE not in span.attributes
    assert_usage(span, fake_server.ledger[-1].normalized())


def test_stream_context_manager(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    with _stream(client) as stream:
        count = sum(1 for _ in stream)
    assert count > 1
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


def test_stream_helper(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    with _chat_helpers(client).stream(model="gpt-4o", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


# --- raw and streaming responses ----------------------------------------------------------------------------
def test_with_raw_response(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.headers.get("x-request-id")
    completion = raw.parse()
    assert raw.parse() is completion
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


def test_with_raw_response_unparsed_ends_span(instrumented: Any, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.status_code == 200
    del raw
    gc.collect()
    deferred.flush()  # a dropped call is finished on genai-cost's worker
    assert only_span(instrumented).attributes[sc.GENAI_COST_USAGE_MISSING] is True


def test_with_raw_response_streaming(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    stream = raw.parse()
    assert isinstance(stream, openai.Stream)
    del raw
    gc.collect()
    deferred.flush()  # a dropped call is finished on genai-cost's worker
    assert instrumented.finished() == []  # the stream, not the dropped raw response, ends the span
    assert len(list(stream)) > 1
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


def test_with_streaming_response(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES
    ) as response:
        completion = response.parse()
    assert completion.usage is not None
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


def test_with_streaming_response_stream(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as response:
        chunks = list(response.parse())
    assert chunks
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


def test_raw_sse_reader_sees_the_stream_it_asked_for(instrumented: Any, client: openai.OpenAI) -> None:
    # An app reading the raw SSE lines itself gets exactly what it asked for: genai-cost adds no
    # stream_options (it could not hide the extra usage chunk there); the span says usage is missing.
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    ) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    assert events and all(event["choices"] for event in events)  # no usage-only chunk
    assert all("usage" not in event or event["usage"] is not None for event in events)
    del response
    gc.collect()
    assert deferred.flush()  # dropped unparsed: finished on genai-cost's worker
    attrs = only_span(instrumented).attributes
    assert attrs[sc.GENAI_COST_USAGE_MISSING] is True


def test_stream_usage_asked_through_extra_body_reaches_the_app(
    instrumented: Any, client: openai.OpenAI, fake_server: Any
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            stream=True,
            extra_body={"stream_options": {"include_usage": True}},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].choices == []  # the app's own usage chunk
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


# --- errors -----------------------------------------------------------------------------------------------
def test_rate_limit_error(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    fake_server.fail_next(status=429, retry_after=0)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    span = only_span(instrumented)
    assert span.status.status_code.name == "ERROR"
    assert span.attributes[sc.ERROR_TYPE] == "RateLimitError"
    assert span.attributes[sc.GENAI_COST_RATE_LIMITED] is True
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    (point,) = instrumented.metric_points(sc.METRIC_OPERATION_DURATION)
    assert point.attributes[sc.ERROR_TYPE] == "RateLimitError"


def test_server_error(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    fake_server.fail_next(status=500)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert only_span(instrumented).attributes[sc.ERROR_TYPE] == "InternalServerError"


def test_retried_429_then_success_is_one_span(instrumented: Any, fake_server: Any) -> None:
    client = openai.OpenAI(api_key=API_KEY, base_url=fake_server.openai_base_url, max_retries=2)
    fake_server.fail_next(status=429, retry_after=0)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    span = only_span(instrumented)
    assert sc.ERROR_TYPE not in span.attributes
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == fake_server.ledger[-1].input_tokens


def test_not_found(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    fake_server.fail_next(status=404)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert only_span(instrumented).attributes[sc.ERROR_TYPE] == "NotFoundError"


def test_other_endpoints_are_not_spans(instrumented: Any, client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.post("/nothing-here", cast_to=object, body={})
    assert instrumented.finished() == []


# --- async --------------------------------------------------------------------------------------------------
async def test_async_chat(instrumented: Any, aclient: openai.AsyncOpenAI, fake_server: Any) -> None:
    with feature("async_feature"):
        result = await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert result.usage is not None
    span = only_span(instrumented)
    assert span.attributes[sc.FEATURE_NAME] == "async_feature"
    assert_usage(span, fake_server.ledger[-1].normalized())


async def test_async_stream(instrumented: Any, aclient: openai.AsyncOpenAI, fake_server: Any) -> None:
    stream = await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.AsyncStream)
    async with stream:
        chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


async def test_async_raw_response(instrumented: Any, aclient: openai.AsyncOpenAI, fake_server: Any) -> None:
    raw = await aclient.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    completion = raw.parse()  # the legacy raw response parses synchronously even on the async client
    assert completion.usage is not None
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


async def test_async_streaming_response(
    instrumented: Any, aclient: openai.AsyncOpenAI, fake_server: Any
) -> None:
    async with aclient.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES
    ) as resp:
        completion = await resp.parse()
    assert completion.usage is not None
    assert_usage(only_span(instrumented), fake_server.ledger[-1].normalized())


async def test_async_rate_limit(instrumented: Any, aclient: openai.AsyncOpenAI, fake_server: Any) -> None:
    fake_server.fail_next(status=429, retry_after=0)
    with pytest.raises(openai.RateLimitError):
        await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert only_span(instrumented).attributes[sc.ERROR_TYPE] == "RateLimitError"


# --- lifecycle and safety --------------------------------------------------------------------------------------
def test_uninstrument_restores_sdk(otel: Any, client: openai.OpenAI) -> None:
    from openai._base_client import AsyncAPIClient, SyncAPIClient

    before = (SyncAPIClient.request, AsyncAPIClient.request)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    assert SyncAPIClient.request is not before[0]
    instrumentor.uninstrument()
    assert (SyncAPIClient.request, AsyncAPIClient.request) == before
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert otel.finished() == []


def test_instrument_twice_one_span(instrumented: Any, client: openai.OpenAI) -> None:
    OpenAIInstrumentor().instrument(tracer_provider=instrumented.tracer_provider)  # already on: a no-op
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(instrumented.finished()) == 1


def test_internal_bug_never_reaches_app(
    instrumented: Any, client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import genai_cost._internal as internal
    from genai_cost.instrumentation import openai as adapter

    monkeypatch.setattr(internal, "RAISE_INTERNAL_ERRORS", False)

    def broken(_: Any) -> Any:
        raise RuntimeError("simulated bug in our response reader")

    monkeypatch.setattr(adapter, "chat_usage", broken)  # used by the response and the stream readers
    result = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert result.choices[0].message.content
    stream_chunks = list(_stream(client))
    assert stream_chunks
    assert len(instrumented.finished()) == 2  # spans still end


def test_no_prompt_or_key_in_telemetry(instrumented: Any, client: openai.OpenAI) -> None:
    result = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    list(_stream(client))
    client.responses.create(model="gpt-4.1", input=PROMPT)
    completion_text = result.choices[0].message.content
    dumped = repr([(s.name, dict(s.attributes), s.events) for s in instrumented.finished()])
    dumped += repr(instrumented.metrics.get_metrics_data())
    assert PROMPT not in dumped and "resume" not in dumped
    assert API_KEY not in dumped and "SECRET" not in dumped
    assert completion_text not in dumped


def test_stream_estimate_when_opted_in(otel: Any, fake_server: Any, client: openai.OpenAI) -> None:
    instrumentor = OpenAIInstrumentor()
    settings = Settings(
        cost_enabled=False, stream_usage=False, estimate_usage=True, provider_hosts={"127.0.0.1": "openai"}
    )
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=settings
    )
    try:
        text = "".join(c.choices[0].delta.content or "" for c in _stream(client) if c.choices)
    finally:
        instrumentor.uninstrument()
    attrs = only_span(otel).attributes
    assert attrs[sc.GENAI_COST_USAGE_ESTIMATED] is True
    assert sc.GENAI_COST_USAGE_MISSING not in attrs
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == -(-len(PROMPT) // 4)
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == -(-len(text) // 4)


# --- audio input, priced at its own rate -----------------------------------------------------------------
def test_chat_audio_input_priced_at_the_audio_rate(
    otel: Any, fake_server: Any, client: openai.OpenAI
) -> None:
    """gpt-audio with an input_audio part: prompt_tokens_details.audio_tokens is priced at the audio rate,
    in the stream as in the plain response."""
    instrumentor = OpenAIInstrumentor()
    settings = Settings(cost_enabled=True, provider_hosts={"127.0.0.1": "openai"})
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=settings
    )
    audio_part = {"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZFZm10IA==", "format": "wav"}}
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": PROMPT}, audio_part]}]
    try:
        client.chat.completions.create(model="gpt-audio", messages=messages)
        stream = client.chat.completions.create(
            model="gpt-audio",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass
    finally:
        instrumentor.uninstrument()
    spans = otel.finished()
    assert len(spans) == 2
    for span, billed in zip(spans, fake_server.ledger, strict=True):
        attrs = span.attributes
        assert billed.input_audio_tokens == 258  # rules: one audio part
        assert attrs[sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS] == billed.normalized().input_audio_tokens == 258
        assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == billed.input_tokens == 258 + len(PROMPT) // 4
        # gpt-audio list prices, https://platform.openai.com/docs/pricing (per 1M tokens): text input
        # $2.50, audio input $32.00, text output $10.00.
        by_hand = (
            (billed.input_tokens - 258) * 2.50 + 258 * 32.00 + billed.output_tokens * 10.00
        ) / 1_000_000
        assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(by_hand, rel=1e-9)


def test_text_only_chat_reports_no_audio(instrumented: Any, client: openai.OpenAI, fake_server: Any) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    # Every chat response carries audio_tokens: 0; that is no audio, not an attribute.
    assert sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS not in only_span(instrumented).attributes
    assert fake_server.ledger[-1].normalized().input_audio_tokens is None
