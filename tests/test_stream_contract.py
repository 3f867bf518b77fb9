"""The stream contract, the same for every provider: one span per stream, however the stream ends.

{openai chat, openai responses, anthropic, groq, google} x {sync, async} x {drained, break + close,
break + drop, dropped unread, SDK error mid-stream, exception inside ``with``, task cancellation,
raw response + parse}, on the real SDKs against the fake provider server. Each case checks: exactly
one span; its status and ``error.type``; whether it is marked incomplete (decided by the data: what
the provider finished); its usage against the fake server's ledger; that a drop ends the span at
the time the app last used the stream, not when it was collected; and no "Failed to detach context".
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import groq
import openai
import pytest
from google import genai
from google.genai import types

from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation import deferred
from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor
from genai_cost.instrumentation.groq import GroqInstrumentor
from genai_cost.instrumentation.openai import OpenAIInstrumentor

PROMPT = "Write a long answer about rate limiters please"
MESSAGES = [{"role": "user", "content": PROMPT}]
MAX_TOKENS = 60  # long enough for many chunks; a partial read stops well before the end
HOSTS = {"127.0.0.1/v1": "openai"}


@dataclass
class Clients:
    server: Any
    openai: openai.OpenAI
    aopenai: openai.AsyncOpenAI
    anthropic: anthropic.Anthropic
    aanthropic: anthropic.AsyncAnthropic
    groq: groq.Groq
    agroq: groq.AsyncGroq
    google: genai.Client


def _clients(server: Any) -> Clients:
    options: dict[str, Any] = {"api_key": "sk-test", "max_retries": 0}
    http = types.HttpOptions(base_url=server.gemini_base_url)
    if hasattr(types, "HttpRetryOptions"):
        http = types.HttpOptions(
            base_url=server.gemini_base_url, retry_options=types.HttpRetryOptions(attempts=1)
        )
    return Clients(
        server,
        openai.OpenAI(base_url=server.openai_base_url, **options),
        openai.AsyncOpenAI(base_url=server.openai_base_url, **options),
        anthropic.Anthropic(base_url=server.anthropic_base_url, **options),
        anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, **options),
        groq.Groq(base_url=server.groq_base_url, **options),
        groq.AsyncGroq(base_url=server.groq_base_url, **options),
        genai.Client(api_key="AIza-test", http_options=http),
    )


# --- the providers: how to open a stream (sync or async; raw: with_raw_response, then parse) -----------
def _openai_chat(c: Clients, is_async: bool, raw: bool) -> Any:
    client = c.aopenai if is_async else c.openai
    create = client.chat.completions.with_raw_response.create if raw else client.chat.completions.create
    extra = {"stream_options": {"include_usage": True}} if raw else {}  # raw: the app asks itself
    return create(model="gpt-4o-mini", messages=MESSAGES, stream=True, max_tokens=MAX_TOKENS, **extra)


def _openai_responses(c: Clients, is_async: bool, raw: bool) -> Any:
    client = c.aopenai if is_async else c.openai
    create = client.responses.with_raw_response.create if raw else client.responses.create
    return create(model="gpt-4.1-mini", input=PROMPT, stream=True, max_output_tokens=MAX_TOKENS)


def _anthropic(c: Clients, is_async: bool, raw: bool) -> Any:
    client = c.aanthropic if is_async else c.anthropic
    create = client.messages.with_raw_response.create if raw else client.messages.create
    return create(model="claude-haiku-4-5", messages=MESSAGES, max_tokens=MAX_TOKENS, stream=True)


def _groq(c: Clients, is_async: bool, raw: bool) -> Any:
    client = c.agroq if is_async else c.groq
    create = client.chat.completions.with_raw_response.create if raw else client.chat.completions.create
    return create(model="llama-3.1-8b-instant", messages=MESSAGES, stream=True, max_tokens=MAX_TOKENS)


def _google(c: Clients, is_async: bool, raw: bool) -> Any:
    config = {"max_output_tokens": MAX_TOKENS}
    models = c.google.aio.models if is_async else c.google.models
    return models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT, config=config)


OPENERS: dict[str, Callable[[Clients, bool, bool], Any]] = {
    "openai-chat": _openai_chat,
    "openai-responses": _openai_responses,
    "anthropic": _anthropic,
    "groq": _groq,
    "google": _google,
}
STAINLESS = ("openai-chat", "openai-responses", "anthropic", "groq")  # SDK streams with close() and `with`


async def _open(c: Clients, provider: str, is_async: bool, raw: bool = False) -> Any:
    stream = OPENERS[provider](c, is_async, raw)
    if is_async:
        stream = await stream
    if raw:
        stream = stream.parse()
        if is_async and asyncio.iscoroutine(stream):
            stream = await stream
    return stream


async def _next(stream: Any, is_async: bool) -> Any:
    return await stream.__anext__() if is_async else next(iter(stream))


async def _drain(stream: Any, is_async: bool) -> int:
    count = 0
    if is_async:
        async for _ in stream:
            count += 1
    else:
        for _ in stream:
            count += 1
    return count


async def _close(stream: Any, provider: str, is_async: bool) -> None:
    if provider in STAINLESS:
        result = stream.close()  # AsyncStream.close() is a coroutine
        if is_async:
            await result
    elif is_async:
        await stream.aclose()
    else:
        stream.close()


# --- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture
def clients(fake_server: Any) -> Clients:
    return _clients(fake_server)


@pytest.fixture
def instrumented(otel: Any, caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    settings = Settings(cost_enabled=False, provider_hosts=HOSTS)
    instrumentors = [
        OpenAIInstrumentor(),
        AnthropicInstrumentor(),
        GroqInstrumentor(),
        GoogleGenAIInstrumentor(),
    ]
    for instrumentor in instrumentors:
        instrumentor.instrument(
            tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=settings
        )
    yield otel
    for instrumentor in instrumentors:
        instrumentor.uninstrument()
    assert "Failed to detach context" not in caplog.text


def _settle() -> None:
    """Let garbage collection notice dropped streams and the worker finish them."""
    gc.collect()
    assert deferred.flush()


def _one_span(otel: Any) -> Any:
    _settle()
    spans = otel.finished()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def _usage_within_ledger(span: Any, server: Any, *, exact: bool) -> None:
    attrs = span.attributes
    if not server.ledger:  # google's sync stream sends nothing until its first read
        assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs
        return
    call = server.ledger[-1]
    if not exact and not call.usage_reported:
        return  # the app hung up before the server counted the stream: nothing to compare with
    billed = call.normalized()
    if exact:
        assert call.usage_reported
        assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == billed.input_tokens
        assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == billed.output_tokens
        return
    for key, limit in (
        (sc.GEN_AI_USAGE_INPUT_TOKENS, billed.input_tokens),
        (sc.GEN_AI_USAGE_OUTPUT_TOKENS, billed.output_tokens),
    ):
        assert attrs.get(key, 0) <= limit


PROVIDERS = pytest.mark.parametrize("provider", list(OPENERS))
MODES = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])


# --- the exits --------------------------------------------------------------------------------------------
@PROVIDERS
@MODES
async def test_drained(instrumented: Any, clients: Clients, provider: str, is_async: bool) -> None:
    stream = await _open(clients, provider, is_async)
    assert await _drain(stream, is_async) > 3
    span = _one_span(instrumented)  # (settled anyway: a drained stream must not wait for GC)
    assert span.status.status_code.name == "UNSET"
    assert sc.GENAI_COST_STREAM_INCOMPLETE not in span.attributes
    assert span.attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    _usage_within_ledger(span, clients.server, exact=True)


@PROVIDERS
@MODES
async def test_break_then_close(instrumented: Any, clients: Clients, provider: str, is_async: bool) -> None:
    stream = await _open(clients, provider, is_async)
    await _next(stream, is_async)
    await _close(stream, provider, is_async)
    # Ended on the app's thread, at once: no garbage collection or worker involved.
    spans = instrumented.finished()
    assert len(spans) == 1
    assert spans[0].attributes[sc.GENAI_COST_STREAM_INCOMPLETE] is True
    await _close(stream, provider, is_async)  # closing twice ends nothing twice
    _usage_within_ledger(_one_span(instrumented), clients.server, exact=False)


@PROVIDERS
@MODES
async def test_break_then_drop_ends_at_last_use(
    instrumented: Any, clients: Clients, provider: str, is_async: bool
) -> None:
    stream = await _open(clients, provider, is_async)
    await _next(stream, is_async)
    last_use = time.time_ns()
    time.sleep(0.3)  # the app moves on; the stream is dropped (and collected) well after
    del stream
    span = _one_span(instrumented)
    assert span.attributes[sc.GENAI_COST_STREAM_INCOMPLETE] is True
    assert span.end_time <= last_use  # the time the app last used it, not when it was collected
    _usage_within_ledger(span, clients.server, exact=False)


@PROVIDERS
@MODES
async def test_dropped_unread(instrumented: Any, clients: Clients, provider: str, is_async: bool) -> None:
    stream = await _open(clients, provider, is_async)
    del stream
    span = _one_span(instrumented)
    assert span.attributes[sc.GENAI_COST_STREAM_INCOMPLETE] is True
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes


@PROVIDERS
@MODES
async def test_sdk_error_mid_stream(
    instrumented: Any, clients: Clients, provider: str, is_async: bool
) -> None:
    clients.server.fail_next(status=500, mid_stream=True)
    stream = await _open(clients, provider, is_async)
    raised: BaseException | None = None
    try:
        await _drain(stream, is_async)
    except Exception as exc:
        raised = exc
    span = _one_span(instrumented)
    if raised is not None:  # (google-genai < 1.50 turns an SSE error event into an empty chunk)
        assert span.status.status_code.name == "ERROR"
        assert span.attributes[sc.ERROR_TYPE] == type(raised).__qualname__
    assert span.attributes[sc.GENAI_COST_STREAM_INCOMPLETE] is True
    assert not span.status.description  # exception text can quote the prompt or an API key


@pytest.mark.parametrize("provider", STAINLESS)
@MODES
async def test_exception_inside_with(
    instrumented: Any, clients: Clients, provider: str, is_async: bool
) -> None:
    stream = await _open(clients, provider, is_async)
    with pytest.raises(KeyError, match="app bug"):
        if is_async:
            async with stream:
                await _next(stream, is_async)
                raise KeyError("app bug")
        else:
            with stream:
                await _next(stream, is_async)
                raise KeyError("app bug")
    spans = instrumented.finished()  # leaving the with closed the stream: ended at once
    assert len(spans) == 1 and spans[0].attributes[sc.GENAI_COST_STREAM_INCOMPLETE] is True


@PROVIDERS
async def test_task_cancelled(otel: Any, caplog: pytest.LogCaptureFixture, provider: str) -> None:
    from genai_cost.fakeprovider import FakeProviderServer

    with FakeProviderServer(chunk_delay=0.02) as slow:
        clients = _clients(slow)
        instrumented_otel = otel
        settings = Settings(cost_enabled=False, provider_hosts=HOSTS)
        instrumentors = [
            OpenAIInstrumentor(),
            AnthropicInstrumentor(),
            GroqInstrumentor(),
            GoogleGenAIInstrumentor(),
        ]
        for instrumentor in instrumentors:
            instrumentor.instrument(
                tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=settings
            )
        try:
            first = asyncio.Event()

            async def read() -> None:
                stream = await _open(clients, provider, True)
                async for _ in stream:
                    first.set()

            task = asyncio.create_task(read())
            await asyncio.wait_for(first.wait(), 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            span = _one_span(instrumented_otel)
            assert span.attributes[sc.ERROR_TYPE] == "CancelledError"
            assert span.attributes[sc.GENAI_COST_STREAM_INCOMPLETE] is True
        finally:
            for instrumentor in instrumentors:
                instrumentor.uninstrument()
    assert "Failed to detach context" not in caplog.text


@pytest.mark.parametrize("provider", STAINLESS)
@MODES
async def test_raw_response_parsed(
    instrumented: Any, clients: Clients, provider: str, is_async: bool
) -> None:
    stream = await _open(clients, provider, is_async, raw=True)
    gc.collect()  # the raw response is gone: the stream, not the raw response, ends the span
    assert deferred.flush() and instrumented.finished() == []
    assert await _drain(stream, is_async) > 3
    span = _one_span(instrumented)
    assert sc.GENAI_COST_STREAM_INCOMPLETE not in span.attributes
    _usage_within_ledger(span, clients.server, exact=True)
