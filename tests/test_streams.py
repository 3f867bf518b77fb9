"""The stream path shared by every provider: tail mode, drops, reference cycles (real SDKs, fake server)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import anthropic
import openai
import pydantic
import pytest
from opentelemetry import context as otel_context

from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation import streams
from genai_cost.instrumentation.anthropic import AnthropicInstrumentor, MessagesStreamState
from genai_cost.instrumentation.contract import NO_REWRITE, Request, ResponseInfo, Rewrite
from genai_cost.instrumentation.core import make_telemetry
from genai_cost.instrumentation.fields import as_int, as_str_tuple, choice_count, fields_of, get, read_params
from genai_cost.instrumentation.openai import ChatStreamState, OpenAIInstrumentor

MESSAGES = [{"role": "user", "content": "Write a long answer about rate limiters please"}]
HOSTS = {"127.0.0.1/v1": "openai", "127.0.0.1": "anthropic"}


@pytest.fixture
def instrumented(otel: Any) -> Iterator[Any]:
    settings = Settings(cost_enabled=False, provider_hosts=HOSTS)
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(
            tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=settings
        )
    yield otel
    for instrumentor in instrumentors:
        instrumentor.uninstrument()


@pytest.fixture
def oai(fake_server: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=fake_server.openai_base_url, max_retries=0)


@pytest.fixture
def claude(fake_server: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", base_url=fake_server.anthropic_base_url, max_retries=0)


def _openai_stream(client: openai.OpenAI, max_tokens: int, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, max_tokens=max_tokens, **kwargs
    )


def _anthropic_stream(client: anthropic.Anthropic, max_tokens: int) -> Any:
    return client.messages.create(
        model="claude-haiku-4-5", messages=MESSAGES, max_tokens=max_tokens, stream=True
    )


def _only_span(otel: Any) -> Any:
    spans = otel.finished()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


# --- tail mode: after the first chunk, only the last few are read, and nothing is lost ----------------------
@pytest.mark.parametrize("usage_by", ["app", "genai-cost"])
def test_long_openai_stream_exact_usage_and_finish(
    instrumented: Any, oai: openai.OpenAI, fake_server: Any, usage_by: str
) -> None:
    extra = {"stream_options": {"include_usage": True}} if usage_by == "app" else {}
    chunks = list(_openai_stream(oai, 600, **extra))
    assert len(chunks) > 3 * streams.TAIL_CHUNKS  # far more than the tail kept
    billed = fake_server.ledger[-1].normalized()
    attrs = _only_span(instrumented).attributes
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == billed.input_tokens
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == billed.output_tokens
    reasons = tuple(c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == reasons == ("stop",)
    assert attrs[sc.GEN_AI_RESPONSE_ID] == chunks[0].id
    # The usage chunk reaches the app only when the app asked for it.
    assert (chunks[-1].choices == []) is (usage_by == "app")


def test_long_anthropic_stream_exact_usage_and_stop_reason(
    instrumented: Any, claude: anthropic.Anthropic, fake_server: Any
) -> None:
    events = list(_anthropic_stream(claude, 600))
    assert len(events) > 3 * streams.TAIL_CHUNKS
    billed = fake_server.ledger[-1].normalized()
    attrs = _only_span(instrumented).attributes
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == billed.input_tokens
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == billed.output_tokens
    reasons = tuple(e.delta.stop_reason for e in events if e.type == "message_delta")
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == reasons == ("end_turn",)
    assert attrs[sc.GEN_AI_RESPONSE_ID] == events[0].message.id


def test_long_stream_broken_off_keeps_provisional_counts_out(
    instrumented: Any, claude: anthropic.Anthropic
) -> None:
    stream = _anthropic_stream(claude, 600)
    for index, _ in enumerate(stream):
        if index == 3 * streams.TAIL_CHUNKS:
            break
    stream.close()
    attrs = _only_span(instrumented).attributes
    assert attrs[sc.GENAI_COST_STREAM_INCOMPLETE] is True
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0  # from message_start
    assert (
        sc.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs
    )  # no message_delta yet: unknown, never the provisional 1


def _request(**attributes: Any) -> Request:
    return Request(operation="chat", provider="openai", model="gpt-4o", attributes=attributes)


def test_states_declare_the_chunks_they_need() -> None:
    chunk = openai.types.chat.ChatCompletionChunk.model_validate(
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": []}
    )
    plain = ChatStreamState(_request(), NO_REWRITE)
    assert plain.every_chunk is False and plain.started is False
    plain.process(chunk)
    assert plain.started  # ids read: the rest can pass by
    several = ChatStreamState(_request(**{sc.GEN_AI_REQUEST_CHOICE_COUNT: 2}), NO_REWRITE)
    assert several.every_chunk is True  # each choice may finish anywhere
    hiding = ChatStreamState(_request(), Rewrite(hide_usage_chunk=True))
    assert hiding.every_chunk is True  # every chunk's null usage is unset, and the usage chunk hidden
    anthropic_state = MessagesStreamState(_request(), NO_REWRITE)
    assert anthropic_state.every_chunk is False and anthropic_state.started is False  # until message_start


# --- ending the span when the app lets go (the whole matrix is in test_stream_contract.py) ---------------
def test_close_called_on_a_temporary_stream(instrumented: Any, oai: openai.OpenAI) -> None:
    _openai_stream(oai, 20).close()  # nothing else holds the stream while its close() runs
    assert _only_span(instrumented).attributes[sc.GENAI_COST_STREAM_INCOMPLETE] is True


# --- no reference cycles: a finished stream is freed at once, as without instrumentation ---------------------
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_drained_stream_leaves_no_more_garbage_than_the_sdk_alone(
    otel: Any, oai: openai.OpenAI, claude: anthropic.Anthropic, provider: str
) -> None:
    def one_stream() -> tuple[bool, int]:
        """Drain and close a stream with the collector off: (freed at once?, cyclic objects left)."""
        gc.collect()
        gc.disable()
        try:
            stream = _openai_stream(oai, 20) if provider == "openai" else _anthropic_stream(claude, 20)
            with stream:
                for _ in stream:
                    pass
            ref = weakref.ref(stream)
            del stream
            return ref() is None, gc.collect()
        finally:
            gc.enable()

    sdk_alone = one_stream()
    settings = Settings(cost_enabled=False, provider_hosts=HOSTS)
    instrumentor = OpenAIInstrumentor() if provider == "openai" else AnthropicInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=settings
    )
    try:
        instrumented = one_stream()
    finally:
        instrumentor.uninstrument()
    assert len(otel.finished()) == 1
    # Older SDKs leave cycles of their own; ours must add none (they added ~70 objects per stream).
    assert instrumented == sdk_alone


# --- reading SDK models -------------------------------------------------------------------------------------
class _Strict(pydantic.BaseModel):
    tokens: int = 0

    @property
    def doubled(self) -> int:
        return self.tokens * 2


class _Loose(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    tokens: int = 0


class _Slotted:
    __slots__ = ("tokens",)

    def __init__(self) -> None:
        self.tokens = 5


def test_fields_reads_models_dicts_extras_properties_and_slots() -> None:
    loose = _Loose.model_validate({"tokens": 3, "iterations": [1]})  # a field newer than the SDK
    assert get(loose, "tokens") == 3 and get(loose, "iterations") == [1] and get(loose, "missing") is None
    assert fields_of(loose).get("iterations") == [1]
    strict = _Strict(tokens=4)
    assert get(strict, "doubled") == 8 and get(strict, "missing") is None
    assert get({"tokens": 1}, "tokens") == 1 and get(None, "tokens") is None
    assert get(_Slotted(), "tokens") == 5 and fields_of(_Slotted()).get("tokens") == 5
    assert fields_of(None).get("tokens") is None


def test_read_params_takes_only_set_parameters_it_can_record() -> None:
    table = {
        "max_tokens": ("max", as_int),
        "stop": ("stop", as_str_tuple),
        "n": ("n", choice_count),
    }
    body = {"model": "m", "max_tokens": 5, "stop": ["a", 1], "n": 1, "messages": []}
    assert read_params(body, table) == {"max": 5}  # a mixed stop list and n=1 are left out
    assert read_params({"max_tokens": None, "stop": ("x",), "n": 3}, table) == {"stop": ("x",), "n": 3}
    assert read_params({"max_tokens": True}, table) == {}  # a bool is not a token count

    class Body(Mapping[str, Any]):  # a Mapping that is not a dict, as an SDK may pass
        def __init__(self, data: dict[str, Any]) -> None:
            self._data = data

        def __getitem__(self, key: str) -> Any:
            return self._data[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self._data)

        def __len__(self) -> int:
            return len(self._data)

    assert read_params(Body({"max_tokens": 7, "other": 1}), table) == {"max": 7}


def test_tail_is_read_at_the_end_in_order(otel: Any) -> None:
    class Last:
        every_chunk = False
        started = True
        complete = True

        def __init__(self) -> None:
            self.seen: list[int] = []

        def process(self, chunk: int) -> bool:
            self.seen.append(chunk)
            return True

        def result(self) -> ResponseInfo:
            return ResponseInfo()

    telemetry = make_telemetry(Settings(cost_enabled=False), otel.tracer_provider, otel.meter_provider)
    invocation = telemetry.start(_request(), NO_REWRITE, otel_context.get_current())
    state = Last()
    chunks = list(streams.iterate(iter(range(100)), streams.StreamWatch(invocation, state)))
    assert chunks == list(range(100))  # every chunk reaches the app
    assert state.seen == [0, *range(100 - streams.TAIL_CHUNKS, 100)]  # the first, then the tail
    assert invocation.done


def test_drop_watch_registry_does_not_grow(instrumented: Any, claude: anthropic.Anthropic) -> None:
    gc.collect()
    before = len(streams._watched)
    for _ in range(30):
        for _ in _anthropic_stream(claude, 10):
            pass
    gc.collect()
    assert len(streams._watched) == before
    assert len(instrumented.finished()) == 30
