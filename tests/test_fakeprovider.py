"""The fake provider server, driven by the real OpenAI, Groq, Anthropic and google-genai SDKs.

Every test asserts that what the SDK parsed equals what the server's ledger says it billed, so the
instrumentation tests that build on this server can trust both sides.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import groq
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from google.oauth2.credentials import Credentials

from genai_cost.fakeprovider import BilledCall, FakeProviderServer, Tokens, rules

SRC = Path(__file__).resolve().parents[1] / "src"
USER = [{"role": "user", "content": "hello world"}]  # 11 characters -> 2 input tokens
CLAUDE = "claude-haiku-4-5"


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _fresh_ledger(server: FakeProviderServer) -> None:
    server.reset()


@pytest.fixture
def oai(server: FakeProviderServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as client:
        yield client


@pytest.fixture
def groq_client(server: FakeProviderServer) -> Iterator[groq.Groq]:
    with groq.Groq(base_url=server.groq_base_url, api_key="test", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(server: FakeProviderServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test", max_retries=0) as client:
        yield client


@pytest.fixture(scope="module")
def gemini(server: FakeProviderServer) -> Iterator[genai.Client]:
    options = genai_types.HttpOptions(base_url=server.gemini_base_url)
    with genai.Client(api_key="test", http_options=options) as client:
        yield client


def only_call(server: FakeProviderServer) -> BilledCall:
    calls = server.ledger
    assert len(calls) == 1, calls
    return calls[0]


# -- the rules -----------------------------------------------------------------------------------
def test_usage_is_a_pure_function_of_the_request(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    first = oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    second = oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert first.usage == second.usage
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.id != second.id
    assert first.usage is not None
    assert first.usage.prompt_tokens == 2  # len("hello world") // 4
    assert 8 <= first.usage.completion_tokens <= 64
    # One word per output token, and never the prompt echoed back.
    content = first.choices[0].message.content or ""
    assert len(content.split()) == first.usage.completion_tokens
    assert "hello" not in content
    expected = server.expected_usage("openai", "chat.completions", {"model": "gpt-4o-mini", "messages": USER})
    assert server.ledger[0].tokens == expected == server.ledger[1].tokens


def test_max_tokens_caps_output_and_sets_finish_reason(oai: openai.OpenAI) -> None:
    response = oai.chat.completions.create(model="gpt-4o-mini", messages=USER, max_completion_tokens=3)
    assert response.usage is not None and response.usage.completion_tokens == 3
    assert response.choices[0].finish_reason == "length"


def test_token_ids_count_one_token_each() -> None:
    assert rules.prompt_text({"input": [1, 2, 3, 4, 5]}).tokens == 5
    assert rules.prompt_text({"messages": [{"role": "user", "content": "x" * 40}]}).tokens == 10
    assert rules.prompt_text({"tools": [{"description": "x" * 400}]}).tokens == 1  # tools count nothing


# -- OpenAI --------------------------------------------------------------------------------------
def test_openai_chat_json(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    response = oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    call = only_call(server)
    assert response.usage is not None
    assert (call.provider, call.endpoint, call.model, call.stream, call.status) == (
        "openai",
        "chat.completions",
        "gpt-4o-mini",
        False,
        200,
    )
    assert call.response_id == response.id and response.id.startswith("chatcmpl-")
    assert call.usage_reported
    assert call.input_tokens == response.usage.prompt_tokens
    assert call.output_tokens == response.usage.completion_tokens
    assert call.normalized().input_tokens == response.usage.prompt_tokens
    assert call.normalized().output_tokens == response.usage.completion_tokens


def test_openai_reasoning_model_and_long_prompt_cache(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    long_prompt = "word " * 1000  # 5000 characters >= 4096: half the input is a cache read
    response = oai.chat.completions.create(
        model="o3-mini", messages=[{"role": "user", "content": long_prompt}]
    )
    usage = response.usage
    assert usage is not None and usage.prompt_tokens_details and usage.completion_tokens_details
    assert usage.prompt_tokens == 1250
    assert usage.prompt_tokens_details.cached_tokens == 625
    assert usage.completion_tokens_details.reasoning_tokens == usage.completion_tokens // 2
    visible = response.choices[0].message.content or ""
    assert len(visible.split()) == usage.completion_tokens - usage.completion_tokens_details.reasoning_tokens
    call = only_call(server)
    assert (call.cache_read_tokens, call.reasoning_tokens) == (625, usage.completion_tokens // 2)
    normalized = call.normalized()
    assert normalized.input_tokens == 1250  # OpenAI's prompt_tokens already include the cached ones
    assert normalized.cache_read_tokens == 625
    assert normalized.output_tokens == usage.completion_tokens


def test_openai_chat_stream_with_include_usage(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert all(chunk.usage is None for chunk in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    call = only_call(server)
    assert call.stream and call.usage_reported and call.response_id == last.id
    assert (call.input_tokens, call.output_tokens) == (last.usage.prompt_tokens, last.usage.completion_tokens)
    assert len(text.split()) == call.output_tokens
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_openai_chat_stream_without_include_usage_has_no_usage(
    server: FakeProviderServer, oai: openai.OpenAI
) -> None:
    chunks = list(oai.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    assert chunks and all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)
    call = only_call(server)
    assert call.stream and not call.usage_reported
    assert (call.input_tokens, call.output_tokens) == (0, 0)
    assert call.normalized().empty


def test_openai_chat_stream_helper(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    with oai.chat.completions.stream(
        model="gpt-4o", messages=USER, stream_options={"include_usage": True}
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.usage is not None
    assert final.usage.completion_tokens == only_call(server).output_tokens


async def test_openai_async_chat_stream(server: FakeProviderServer) -> None:
    async with openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
        response = await client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert chunks[-1].usage == response.usage
    assert [c.stream for c in server.ledger] == [True, False]


def test_openai_responses_json(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="gpt-5-mini", input="hello world", instructions="be brief")
    call = only_call(server)
    usage = response.usage
    assert usage is not None
    assert response.id == call.response_id and response.id.startswith("resp_")
    assert usage.input_tokens == call.input_tokens == (len("hello world") + len("be brief")) // 4
    assert usage.output_tokens == call.output_tokens
    assert usage.output_tokens_details.reasoning_tokens == call.reasoning_tokens == usage.output_tokens // 2
    assert usage.input_tokens_details.cached_tokens == call.cache_read_tokens == 0
    assert len(response.output_text.split()) == usage.output_tokens - call.reasoning_tokens


def test_openai_responses_stream_ends_with_completed_usage(
    server: FakeProviderServer, oai: openai.OpenAI
) -> None:
    long_input = "z" * 8000
    events = list(oai.responses.create(model="gpt-4.1", input=long_input, stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    usage = events[-1].response.usage
    assert usage is not None
    call = only_call(server)
    assert (
        (usage.input_tokens, usage.output_tokens)
        == (call.input_tokens, call.output_tokens)
        == (2000, usage.output_tokens)
    )
    assert usage.input_tokens_details.cached_tokens == call.cache_read_tokens == 1000
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == events[-1].response.output_text


def test_openai_responses_stream_helper(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="o4-mini", input="hello world") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.usage is not None
    assert final.usage.output_tokens_details.reasoning_tokens == only_call(server).reasoning_tokens > 0


async def test_openai_async_responses_stream(server: FakeProviderServer) -> None:
    async with openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as client:
        stream = await client.responses.create(model="gpt-4o", input="hello world", stream=True)
        events = [event async for event in stream]
    assert events[-1].type == "response.completed"
    assert events[-1].response.usage is not None
    assert events[-1].response.usage.output_tokens == only_call(server).output_tokens


def test_openai_legacy_completions(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    response = oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="hello world")
    assert response.usage is not None
    assert response.usage.completion_tokens <= 16  # the endpoint's default max_tokens
    chunks = list(
        oai.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="hello world",
            max_tokens=40,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    json_call, stream_call = server.ledger
    assert json_call.output_tokens == response.usage.completion_tokens
    assert stream_call.output_tokens == chunks[-1].usage.completion_tokens
    assert stream_call.endpoint == "completions" and stream_call.stream


def test_openai_embeddings_base64_by_default(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    raw = oai.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["hello", "world!"])
    wire = json.loads(raw.http_response.text)
    assert isinstance(wire["data"][0]["embedding"], str)  # the SDK asked for base64
    decoded = raw.parse()
    as_floats = oai.embeddings.create(
        model="text-embedding-3-small", input=["hello", "world!"], encoding_format="float"
    )
    assert len(decoded.data) == 2 and len(decoded.data[0].embedding) == 1536
    assert decoded.data[0].embedding == as_floats.data[0].embedding
    assert decoded.data[0].embedding != decoded.data[1].embedding
    vector = struct.unpack("<1536f", base64.b64decode(wire["data"][0]["embedding"]))
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-4
    assert decoded.usage.prompt_tokens == decoded.usage.total_tokens == (5 + 6) // 4
    first, second = server.ledger
    assert first.endpoint == "embeddings" and first.input_tokens == 2 and first.output_tokens == 0
    assert second.tokens == first.tokens


def test_openai_rate_limit_error(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    server.fail_next(429, retry_after=2)
    with pytest.raises(openai.RateLimitError) as excinfo:
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    headers = excinfo.value.response.headers
    assert headers["retry-after"] == "2" and headers["x-ratelimit-remaining-requests"] == "0"
    assert excinfo.value.code == "rate_limit_exceeded"
    call = only_call(server)
    assert (call.status, call.usage_reported, call.error) == (429, False, "rate_limit_exceeded")
    # The failure was used up: the next call succeeds.
    oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert server.ledger[-1].status == 200


def test_openai_retries_and_times(server: FakeProviderServer) -> None:
    with openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=2) as client:
        server.fail_next(500, times=2, retry_after=0.01)
        response = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        assert [c.status for c in server.ledger] == [500, 500, 200]
        assert server.ledger[-1].response_id == response.id
        server.reset()
        server.fail_next(429, times=3, retry_after=0.01)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        assert [c.status for c in server.ledger] == [429, 429, 429]


def test_fail_next_path_filter(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    server.fail_next(500, path_contains="/embeddings")
    oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    with pytest.raises(openai.InternalServerError):
        oai.embeddings.create(model="text-embedding-3-small", input="x")
    assert [(c.endpoint, c.status) for c in server.ledger] == [("chat.completions", 200), ("embeddings", 500)]


def test_openai_mid_stream_error_and_cut(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    server.fail_next(500, mid_stream=True)
    oai.chat.completions.create(model="gpt-4o-mini", messages=USER)  # not a stream: not failed
    received = []
    with pytest.raises(openai.APIError, match="mid-stream"):
        for chunk in oai.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True):
            received.append(chunk)
    assert received  # the stream had started
    server.fail_next(mid_stream="cut")
    with pytest.raises(openai.APIConnectionError):
        list(oai.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    ok, failed, cut = server.ledger
    assert ok.status == 200 and ok.usage_reported
    assert (failed.status, failed.error, failed.usage_reported) == (200, "server_error", False)
    assert (cut.error, cut.usage_reported) == ("connection_cut", False)


def test_malformed_body(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    server.fail_next(200)
    with pytest.raises(ValueError):  # json.JSONDecodeError, raised by the SDK's parser
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert only_call(server).error == "malformed_body"
    server.fail_next(502, body="<html>bad gateway</html>", retry_after=None)
    with pytest.raises(openai.InternalServerError) as excinfo:
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert excinfo.value.response.text == "<html>bad gateway</html>"
    assert "retry-after" not in excinfo.value.response.headers


def test_unknown_path_is_a_json_404(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="/v1/images/variations"):
        oai.images.create_variation(image=("a.png", b"\x89PNG", "image/png"))
    assert server.ledger == []


# -- Groq ----------------------------------------------------------------------------------------
def test_groq_json_usage_has_timings(server: FakeProviderServer, groq_client: groq.Groq) -> None:
    response = groq_client.chat.completions.create(model="llama-3.3-70b-versatile", messages=USER)
    usage = response.usage
    assert usage is not None and usage.queue_time is not None and usage.total_time is not None
    call = only_call(server)
    assert (call.provider, call.path) == ("groq", "/groq/openai/v1/chat/completions")
    assert (call.input_tokens, call.output_tokens) == (usage.prompt_tokens, usage.completion_tokens)
    assert response.x_groq is not None and response.x_groq.id


def test_groq_stream_usage_in_x_groq(server: FakeProviderServer, groq_client: groq.Groq) -> None:
    chunks = list(
        groq_client.chat.completions.create(model="llama-3.3-70b-versatile", messages=USER, stream=True)
    )
    last = chunks[-1]
    assert last.x_groq is not None and last.x_groq.usage is not None
    assert last.choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks)
    call = only_call(server)
    assert call.usage_reported
    assert (call.input_tokens, call.output_tokens) == (
        last.x_groq.usage.prompt_tokens,
        last.x_groq.usage.completion_tokens,
    )


def test_openai_sdk_pointed_at_groq_ignores_stream_options(server: FakeProviderServer) -> None:
    with openai.OpenAI(base_url=server.groq_openai_base_url, api_key="test", max_retries=0) as client:
        chunks = list(
            client.chat.completions.create(
                model="llama-3.1-8b-instant",
                messages=USER,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert all(chunk.usage is None for chunk in chunks)
    usage = (chunks[-1].model_extra or {})["x_groq"]["usage"]
    call = only_call(server)
    assert call.provider == "groq" and usage["completion_tokens"] == call.output_tokens


async def test_groq_async_and_rate_limit(server: FakeProviderServer) -> None:
    async with groq.AsyncGroq(base_url=server.groq_base_url, api_key="test", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="llama-3.3-70b-versatile", messages=USER, stream=True
        )
        chunks = [chunk async for chunk in stream]
        server.fail_next(429)
        with pytest.raises(groq.RateLimitError):
            await client.chat.completions.create(model="llama-3.3-70b-versatile", messages=USER)
    assert chunks[-1].x_groq is not None and chunks[-1].x_groq.usage is not None
    assert [c.status for c in server.ledger] == [200, 429]


# -- Anthropic -----------------------------------------------------------------------------------
def test_anthropic_json_with_cache_control(server: FakeProviderServer, claude: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": "s" * 400, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    message = claude.messages.create(model=CLAUDE, max_tokens=200, system=system, messages=USER)
    total = (400 + 11) // 4  # 102
    usage = message.usage
    assert usage.cache_read_input_tokens == total // 2 == 51
    assert usage.cache_creation_input_tokens == total // 4 == 25
    assert usage.cache_creation is not None and usage.cache_creation.ephemeral_1h_input_tokens == 25
    assert usage.cache_creation.ephemeral_5m_input_tokens == 0
    assert usage.input_tokens == total - 51 - 25
    call = only_call(server)
    assert call.response_id == message.id and message.id.startswith("msg_")
    assert (call.input_tokens, call.cache_read_tokens, call.cache_creation_1h_tokens) == (26, 51, 25)
    normalized = call.normalized()
    assert normalized.input_tokens == total  # semconv: Anthropic input = input + cache read + cache write
    assert normalized.output_tokens == usage.output_tokens
    assert message.stop_reason == "end_turn"


def test_anthropic_stream_helper(server: FakeProviderServer, claude: anthropic.Anthropic) -> None:
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "x" * 80, "cache_control": {"type": "ephemeral"}}],
        }
    ]
    with claude.messages.stream(model=CLAUDE, max_tokens=5, messages=messages) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    call = only_call(server)
    assert final.usage.output_tokens == call.output_tokens == 5
    assert final.stop_reason == "max_tokens"
    assert len(text.split()) == 5
    assert final.usage.cache_creation_input_tokens == call.cache_creation_5m_tokens == 5


def test_anthropic_raw_stream_events(server: FakeProviderServer, claude: anthropic.Anthropic) -> None:
    events = list(claude.messages.create(model=CLAUDE, max_tokens=100, messages=USER, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    start, delta = events[0], events[-2]
    assert start.type == "message_start" and delta.type == "message_delta"
    assert start.message.usage.output_tokens == 1  # provisional
    call = only_call(server)
    assert delta.usage.output_tokens == call.output_tokens  # cumulative final count
    assert start.message.usage.input_tokens == delta.usage.input_tokens == call.input_tokens == 2


async def test_anthropic_async_stream_and_count_tokens(server: FakeProviderServer) -> None:
    async with anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key="test", max_retries=0
    ) as client:
        async with client.messages.stream(model=CLAUDE, max_tokens=100, messages=USER) as stream:
            final = await stream.get_final_message()
        counted = await client.messages.count_tokens(model=CLAUDE, messages=USER, system="be brief")
    assert counted.input_tokens == (11 + 8) // 4
    streamed, count = server.ledger
    assert final.usage.output_tokens == streamed.output_tokens
    assert (count.endpoint, count.counted_tokens, count.usage_reported) == ("messages.count_tokens", 4, False)


def test_anthropic_thinking(server: FakeProviderServer, claude: anthropic.Anthropic) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    message = claude.messages.create(model=CLAUDE, max_tokens=2048, thinking=thinking, messages=USER)
    with claude.messages.stream(model=CLAUDE, max_tokens=2048, thinking=thinking, messages=USER) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_message()
    assert (
        [block.type for block in message.content] == ["thinking", "text"] == [b.type for b in final.content]
    )
    assert {"thinking", "signature", "text"} <= kinds
    json_call, stream_call = server.ledger
    assert message.usage.output_tokens_details is not None
    assert message.usage.output_tokens_details.thinking_tokens == json_call.reasoning_tokens > 0
    assert final.usage.output_tokens_details is not None
    assert final.usage.output_tokens_details.thinking_tokens == stream_call.reasoning_tokens
    assert final.usage.output_tokens == json_call.output_tokens == json_call.normalized().output_tokens
    visible = message.content[1]
    assert (
        visible.type == "text"
        and len(visible.text.split()) == json_call.output_tokens - json_call.reasoning_tokens
    )


def test_anthropic_beta_path(server: FakeProviderServer, claude: anthropic.Anthropic) -> None:
    message = claude.beta.messages.create(
        model=CLAUDE, max_tokens=50, messages=USER, betas=["context-1m-2025-08-07"]
    )
    call = only_call(server)
    assert call.endpoint == "messages" and message.usage.output_tokens == call.output_tokens


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_errors(
    server: FakeProviderServer, claude: anthropic.Anthropic, status: int, error_class: type, error_type: str
) -> None:
    server.fail_next(status, retry_after=0.5)
    with pytest.raises(error_class) as excinfo:
        claude.messages.create(model=CLAUDE, max_tokens=10, messages=USER)
    body = excinfo.value.body
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert excinfo.value.response.headers["retry-after-ms"] == "500"
    assert only_call(server).status == status


def test_anthropic_mid_stream_error(server: FakeProviderServer, claude: anthropic.Anthropic) -> None:
    server.fail_next(529, mid_stream=True)
    seen = []
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        for event in claude.messages.create(model=CLAUDE, max_tokens=100, messages=USER, stream=True):
            seen.append(event.type)
    assert "content_block_delta" in seen and "message_delta" not in seen
    assert only_call(server).error == "overloaded_error"


# -- Gemini --------------------------------------------------------------------------------------
def test_gemini_generate_with_thinking(server: FakeProviderServer, gemini: genai.Client) -> None:
    response = gemini.models.generate_content(
        model="gemini-2.5-flash",
        contents="hello world",
        config=genai_types.GenerateContentConfig(system_instruction="be brief", max_output_tokens=40),
    )
    meta = response.usage_metadata
    assert meta is not None and meta.thoughts_token_count and meta.candidates_token_count
    call = only_call(server)
    assert call.provider == "gemini" and call.endpoint == "generateContent"
    assert call.response_id == response.response_id and response.model_version == "gemini-2.5-flash"
    assert meta.prompt_token_count == call.input_tokens == (11 + 8) // 4
    assert (meta.candidates_token_count, meta.thoughts_token_count) == (
        call.output_tokens,
        call.reasoning_tokens,
    )
    assert meta.total_token_count == call.input_tokens + call.output_tokens + call.reasoning_tokens
    assert call.output_tokens + call.reasoning_tokens <= 40
    assert call.normalized().output_tokens == meta.candidates_token_count + meta.thoughts_token_count
    assert len((response.text or "").split()) == meta.candidates_token_count


def test_gemini_thinking_budget_zero_and_tools(server: FakeProviderServer, gemini: genai.Client) -> None:
    config = genai_types.GenerateContentConfig(
        thinking_config=genai_types.ThinkingConfig(thinking_budget=0),
        tools=[genai_types.Tool(google_search=genai_types.GoogleSearch())],
    )
    response = gemini.models.generate_content(model="gemini-2.5-flash", contents="q" * 5000, config=config)
    meta = response.usage_metadata
    assert meta is not None and meta.thoughts_token_count is None
    assert meta.tool_use_prompt_token_count == rules.TOOL_USE_PROMPT_TOKENS_PER_TOOL
    assert meta.cached_content_token_count == 625 and meta.prompt_token_count == 1250
    call = only_call(server)
    assert (call.tool_use_prompt_tokens, call.cache_read_tokens, call.reasoning_tokens) == (16, 625, 0)
    assert call.normalized().input_tokens == 1250 + 16  # prompt (cached part included) + tool-use prompt


def test_media_parts_count_a_fixed_number_of_tokens(server: FakeProviderServer, gemini: genai.Client) -> None:
    audio = genai_types.Part.from_bytes(data=b"RIFF....WAVEfmt " * 64, mime_type="audio/wav")
    response = gemini.models.generate_content(model="gemini-2.0-flash", contents=[audio, "transcribe this"])
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == rules.MEDIA_PART_TOKENS + len("transcribe this") // 4
    assert only_call(server).input_tokens == response.usage_metadata.prompt_token_count


def test_gemini_file_upload_then_transcribe(server: FakeProviderServer, gemini: genai.Client) -> None:
    video = io.BytesIO(b"\x00\x01" * 4096)
    config = genai_types.UploadFileConfig(mime_type="video/mp4", display_name="answer-1")
    uploaded = gemini.files.upload(file=video, config=config)
    assert uploaded.name and uploaded.state == genai_types.FileState.ACTIVE and uploaded.size_bytes == 8192
    assert gemini.files.get(name=uploaded.name).display_name == "answer-1"
    response = gemini.models.generate_content(
        model="gemini-2.5-flash", contents=[uploaded, "Transcribe this video"]
    )
    assert response.usage_metadata is not None
    assert (
        response.usage_metadata.prompt_token_count
        == rules.MEDIA_PART_TOKENS + len("Transcribe this video") // 4
    )
    gemini.files.delete(name=uploaded.name)
    with pytest.raises(genai_errors.ClientError) as excinfo:
        gemini.files.get(name=uploaded.name)
    assert excinfo.value.code == 404
    # Storage is free: only the generation is billed.
    assert [c.endpoint for c in server.ledger] == ["generateContent"]


def test_gemini_stream_usage_is_cumulative(server: FakeProviderServer, gemini: genai.Client) -> None:
    chunks = list(gemini.models.generate_content_stream(model="gemini-2.0-flash", contents="hello world"))
    assert len(chunks) > 1
    counts = [c.usage_metadata.candidates_token_count for c in chunks if c.usage_metadata]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    call = only_call(server)
    assert call.stream and call.endpoint == "streamGenerateContent"
    assert counts[-1] == call.output_tokens
    assert len("".join(c.text or "" for c in chunks).split()) == call.output_tokens
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.STOP


async def test_gemini_async(server: FakeProviderServer) -> None:
    options = genai_types.HttpOptions(base_url=server.gemini_base_url)
    async with genai.Client(api_key="test", http_options=options).aio as client:
        response = await client.models.generate_content(model="gemini-2.0-flash", contents="hello world")
        stream = await client.models.generate_content_stream(model="gemini-2.0-flash", contents="hi")
        chunks = [chunk async for chunk in stream]
        uploaded = await client.files.upload(file=io.BytesIO(b"audio"), config={"mime_type": "audio/wav"})
    json_call, stream_call = server.ledger
    assert response.usage_metadata is not None
    assert response.usage_metadata.candidates_token_count == json_call.output_tokens
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].usage_metadata.candidates_token_count == stream_call.output_tokens
    assert uploaded.size_bytes == 5


def test_gemini_count_tokens_and_embeddings(server: FakeProviderServer, gemini: genai.Client) -> None:
    counted = gemini.models.count_tokens(model="gemini-2.0-flash", contents="hello world")
    embedded = gemini.models.embed_content(model="gemini-embedding-001", contents=["hello", "world!"])
    assert counted.total_tokens == 2
    assert embedded.embeddings is not None and len(embedded.embeddings) == 2
    assert embedded.embeddings[0].values is not None and len(embedded.embeddings[0].values) == 3072
    count, embed = server.ledger
    assert (count.endpoint, count.counted_tokens, count.usage_reported) == ("countTokens", 2, False)
    assert (embed.endpoint, embed.input_tokens) == ("batchEmbedContents", (5 + 6) // 4)
    assert (
        embedded.usage_metadata is not None
        and embedded.usage_metadata.prompt_token_count == embed.input_tokens
    )


def test_gemini_errors(server: FakeProviderServer, gemini: genai.Client) -> None:
    server.fail_next(429)
    with pytest.raises(genai_errors.ClientError) as client_error:
        gemini.models.generate_content(model="gemini-2.0-flash", contents="x")
    assert client_error.value.code == 429 and client_error.value.status == "RESOURCE_EXHAUSTED"
    server.fail_next(503)
    with pytest.raises(genai_errors.ServerError):
        gemini.models.generate_content(model="gemini-2.0-flash", contents="x")
    server.fail_next(500, mid_stream=True)
    with pytest.raises(genai_errors.ServerError, match="mid-stream"):
        list(gemini.models.generate_content_stream(model="gemini-2.0-flash", contents="x"))
    assert [(c.status, c.error) for c in server.ledger] == [
        (429, "RESOURCE_EXHAUSTED"),
        (503, "UNAVAILABLE"),
        (200, "INTERNAL"),
    ]


def test_vertex_paths(server: FakeProviderServer) -> None:
    options = genai_types.HttpOptions(base_url=server.vertex_base_url)
    with genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=Credentials(token="test"),
        http_options=options,
    ) as client:
        response = client.models.generate_content(model="gemini-2.5-pro", contents="hello world")
    call = only_call(server)
    assert call.provider == "vertex_ai" and "/projects/p/locations/us-central1/" in call.path
    assert response.usage_metadata is not None
    assert response.usage_metadata.thoughts_token_count == call.reasoning_tokens > 0


# -- the server itself ---------------------------------------------------------------------------
def test_expected_usage_matches_ledger_per_provider(
    server: FakeProviderServer, claude: anthropic.Anthropic
) -> None:
    body: dict[str, Any] = {"model": CLAUDE, "max_tokens": 30, "messages": USER, "system": "terse"}
    claude.messages.create(**body)
    assert server.expected_usage("anthropic", "messages", body) == only_call(server).tokens
    wire = {"contents": [{"role": "user", "parts": [{"text": "hello world"}]}]}
    tokens = server.expected_usage("gemini", "generateContent", wire, model="gemini-2.5-flash")
    assert isinstance(tokens, Tokens) and tokens.input_tokens == 2 and tokens.reasoning_tokens > 0


def test_concurrent_requests_are_all_in_the_ledger(server: FakeProviderServer, oai: openai.OpenAI) -> None:
    errors: list[BaseException] = []

    def call() -> None:
        try:
            list(oai.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    calls = server.ledger
    assert len(calls) == 16 and len({c.response_id for c in calls}) == 16


def test_client_hanging_up_mid_stream_is_recorded() -> None:
    with FakeProviderServer(chunk_delay=0.02) as slow:
        with openai.OpenAI(base_url=slow.openai_base_url, api_key="test", max_retries=0) as client:
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
            )
            started = time.monotonic()
            next(iter(stream))
            stream.close()
        deadline = time.monotonic() + 3
        while slow.ledger[0].error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert time.monotonic() - started < 3
        call = slow.ledger[0]
        assert (call.error, call.usage_reported) == ("client_disconnected", False)


def test_cli_prints_urls_and_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "genai_cost.fakeprovider", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": ""},
    )
    try:
        assert process.stdout is not None
        urls = json.loads(process.stdout.readline())
        request = urllib.request.Request(
            urls["openai"] + "/chat/completions",
            data=json.dumps({"model": "gpt-4o-mini", "messages": USER}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.load(response)
        assert body["usage"]["prompt_tokens"] == 2
        assert urls["groq"].endswith("/groq") and urls["anthropic"] == urls["url"]
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
        if process.stdout is not None:
            process.stdout.close()


def test_gemini_reports_audio_and_video_modalities(server: FakeProviderServer, gemini: genai.Client) -> None:
    audio = genai_types.Part.from_bytes(data=b"ID3\x04" + bytes(60), mime_type="audio/mp3")
    video = gemini.files.upload(file=io.BytesIO(b"\x00\x01" * 64), config={"mime_type": "video/mp4"})
    response = gemini.models.generate_content(model="gemini-2.5-flash", contents=[audio, video, "transcribe"])
    meta = response.usage_metadata
    assert meta is not None and meta.prompt_tokens_details is not None
    details = {
        str(d.modality.value if d.modality else None): d.token_count for d in meta.prompt_tokens_details
    }
    # rules: audio part = 258 AUDIO; video part = 226 VIDEO + 32 AUDIO (its sound track); the rest TEXT.
    text = len("transcribe") // 4
    assert details == {"TEXT": text, "AUDIO": 258 + 32, "VIDEO": 226}
    assert meta.prompt_token_count == sum(details.values()) == 2 * rules.MEDIA_PART_TOKENS + text
    call = server.ledger[-1]
    assert (call.input_audio_tokens, call.input_video_tokens) == (290, 226)
    assert call.normalized().input_audio_tokens == 290


def test_openai_chat_reports_input_audio_tokens(server: FakeProviderServer) -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": "transcribe"}, audio]}]
    with openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0) as client:
        response = client.chat.completions.create(model="gpt-audio", messages=messages)
        assert response.usage is not None and response.usage.prompt_tokens_details is not None
        assert response.usage.prompt_tokens_details.audio_tokens == rules.MEDIA_PART_TOKENS
        assert server.ledger[-1].input_audio_tokens == rules.MEDIA_PART_TOKENS
        # The Responses API has no audio breakdown: nothing is billed as audio there.
        client.responses.create(model="gpt-4o-mini", input="transcribe")
        assert server.ledger[-1].input_audio_tokens == 0
