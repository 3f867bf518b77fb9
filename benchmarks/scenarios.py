"""The benchmark calls: real provider SDKs over an in-process transport, so no network is measured.

Each scenario builds a real client (openai, anthropic and google-genai all speak httpx2 here) whose
transport is an ``httpx2.MockTransport`` answering with canned bodies of realistic size: a chat
completion, a 200-chunk stream with a usage chunk, Anthropic messages and a 200-delta stream, a Gemini
``generate_content``. Stream bodies are handed over one SSE event at a time, as a network would.
A call is complete when the app has its answer: the stream is drained and closed.

Imports only the SDKs (never genai_cost): the same module runs in every peer's environment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"
GEMINI_MODEL = "gemini-2.5-flash"
API_KEY = "sk-bench-0000000000000000"
STOP = ["</answer>"]

# ~1.9 KB of prompt: a system prompt and a user turn, as a small app sends.
SYSTEM = (
    "You are an interview coach. Ask one question at a time, wait for the answer, then give short, "
    "specific feedback on structure, clarity and depth. Keep a friendly tone. " * 4
)
USER = "Here is my answer to the system design question about a rate limiter: " + "token bucket " * 60
ANSWER_WORDS = [f"word{i % 97} " for i in range(400)]  # ~3 KB of completion text


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


# --- OpenAI -----------------------------------------------------------------------------------------------
def openai_chat_body() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-BENCH0000000000000000000001",
            "object": "chat.completion",
            "created": 1763700000,
            "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_bench0001",
            "service_tier": "default",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "".join(ANSWER_WORDS),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 1210,
                "completion_tokens": 402,
                "total_tokens": 1612,
                "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        }
    ).encode()


def openai_stream_events(chunks: int) -> list[bytes]:
    """``chunks`` content chunks (the last with finish_reason), the usage chunk, then [DONE]."""
    base = {
        "id": "chatcmpl-BENCH0000000000000000000002",
        "object": "chat.completion.chunk",
        "created": 1763700000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_bench0001",
        "service_tier": "default",
    }
    events = []
    for i in range(chunks):
        delta: dict[str, Any] = {"content": ANSWER_WORDS[i % len(ANSWER_WORDS)]}
        if i == 0:
            delta = {"role": "assistant", "content": "", "refusal": None}
        last = i == chunks - 1
        choice = {
            "index": 0,
            "delta": {} if last else delta,
            "logprobs": None,
            "finish_reason": "stop" if last else None,
        }
        events.append(_sse({**base, "choices": [choice], "usage": None}))
    usage = {
        "prompt_tokens": 1210,
        "completion_tokens": chunks,
        "total_tokens": 1210 + chunks,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    events.append(_sse({**base, "choices": [], "usage": usage}))
    events.append(b"data: [DONE]\n\n")
    return events


def openai_messages() -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]


# --- Anthropic --------------------------------------------------------------------------------------------
def anthropic_message_body() -> bytes:
    return json.dumps(
        {
            "id": "msg_01BENCH000000000000000001",
            "type": "message",
            "role": "assistant",
            "model": ANTHROPIC_MODEL,
            "content": [{"type": "text", "text": "".join(ANSWER_WORDS)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 186,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 1024,
                "output_tokens": 402,
                "service_tier": "standard",
            },
        }
    ).encode()


def anthropic_stream_events(deltas: int) -> list[bytes]:
    """message_start, content_block_start, ping, ``deltas`` text deltas, then the closing events."""
    message = {
        "id": "msg_01BENCH000000000000000002",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 186,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1024,
            "output_tokens": 1,
        },
    }
    events = [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        _sse({"type": "ping"}, "ping"),
    ]
    for i in range(deltas):
        delta = {"type": "text_delta", "text": ANSWER_WORDS[i % len(ANSWER_WORDS)]}
        events.append(
            _sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
        )
    events.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    events.append(
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": deltas},
            },
            "message_delta",
        )
    )
    events.append(_sse({"type": "message_stop"}, "message_stop"))
    return events


# --- Gemini -----------------------------------------------------------------------------------------------
def gemini_body() -> bytes:
    return json.dumps(
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": "".join(ANSWER_WORDS)}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 1210,
                "candidatesTokenCount": 402,
                "totalTokenCount": 1832,
                "thoughtsTokenCount": 220,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1210}],
            },
            "modelVersion": GEMINI_MODEL,
            "responseId": "BENCHresponse000000000001",
        }
    ).encode()


# --- transports and calls -----------------------------------------------------------------------------------
def _json_transport(body: bytes) -> Any:
    import httpx2

    headers = {"content-type": "application/json", "x-request-id": "req_bench"}

    def handler(request: Any) -> Any:
        return httpx2.Response(200, headers=headers, content=body)

    return httpx2.MockTransport(handler)


def _sse_transport(events: list[bytes]) -> Any:
    import httpx2

    headers = {"content-type": "text/event-stream", "x-request-id": "req_bench"}

    def handler(request: Any) -> Any:
        return httpx2.Response(200, headers=headers, content=iter(events))

    return httpx2.MockTransport(handler)


def _openai_client(transport: Any) -> Any:
    import httpx2
    import openai

    return openai.OpenAI(api_key=API_KEY, max_retries=0, http_client=httpx2.Client(transport=transport))


def _anthropic_client(transport: Any) -> Any:
    import anthropic
    import httpx2

    # open_telemetry=False: anthropic 2.x traces its own calls when a global TracerProvider is set;
    # the baseline is the SDK with no tracing at all.
    return anthropic.Anthropic(
        api_key=API_KEY, max_retries=0, http_client=httpx2.Client(transport=transport), open_telemetry=False
    )


def openai_chat() -> Callable[[], Any]:
    client = _openai_client(_json_transport(openai_chat_body()))
    messages = openai_messages()

    def call() -> Any:
        return client.chat.completions.create(
            model=OPENAI_MODEL, messages=messages, temperature=0.2, max_completion_tokens=600
        )

    return call


def openai_stream(chunks: int) -> Callable[[], Any]:
    client = _openai_client(_sse_transport(openai_stream_events(chunks)))
    messages = openai_messages()

    def call() -> Any:
        stream = client.chat.completions.create(
            model=OPENAI_MODEL,
            messages=messages,
            temperature=0.2,
            max_completion_tokens=600,
            stream=True,
            stream_options={"include_usage": True},
        )
        return _drain(stream)

    return call


def _drain(stream: Any) -> int:
    """Read a stream to its end as an app does, close it, and say how many chunks it had."""
    count = 0
    for _ in stream:
        count += 1
    stream.close()
    return count


def anthropic_messages() -> Callable[[], Any]:
    client = _anthropic_client(_json_transport(anthropic_message_body()))
    messages = [{"role": "user", "content": USER}]

    def call() -> Any:
        return client.messages.create(
            model=ANTHROPIC_MODEL, system=SYSTEM, messages=messages, max_tokens=600, stop_sequences=STOP
        )

    return call


def anthropic_stream(deltas: int) -> Callable[[], Any]:
    client = _anthropic_client(_sse_transport(anthropic_stream_events(deltas)))
    messages = [{"role": "user", "content": USER}]

    def call() -> Any:
        stream = client.messages.create(
            model=ANTHROPIC_MODEL,
            system=SYSTEM,
            messages=messages,
            max_tokens=600,
            stop_sequences=STOP,
            stream=True,
        )
        return _drain(stream)

    return call


def gemini_generate() -> Callable[[], Any]:
    import httpx2
    from google import genai
    from google.genai import types

    http_client = httpx2.Client(transport=_json_transport(gemini_body()))
    client = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(httpx_client=http_client))
    config = types.GenerateContentConfig(system_instruction=SYSTEM, temperature=0.2, max_output_tokens=600)

    def call() -> Any:
        return client.models.generate_content(model=GEMINI_MODEL, contents=USER, config=config)

    return call


@dataclass(frozen=True)
class Scenario:
    name: str
    provider: str  # peers.OPENAI / ANTHROPIC / GEMINI
    title: str
    build: Callable[[], Callable[[], Any]]
    chunks: int = 0  # streamed chunks (events) the app receives, 0 for a non-stream call
    weight: float = 1.0  # relative block length: streams cost more per call


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("openai_chat", "openai", "OpenAI chat", openai_chat),
    Scenario(
        "openai_stream200", "openai", "OpenAI chat stream, 200 chunks", lambda: openai_stream(200), 200, 0.25
    ),
    Scenario(
        "openai_stream20", "openai", "OpenAI chat stream, 20 chunks", lambda: openai_stream(20), 20, 0.7
    ),
    Scenario("anthropic_messages", "anthropic", "Anthropic messages", anthropic_messages),
    Scenario(
        "anthropic_stream200",
        "anthropic",
        "Anthropic stream, 200 deltas",
        lambda: anthropic_stream(200),
        200,
        0.25,
    ),
    Scenario(
        "anthropic_stream20",
        "anthropic",
        "Anthropic stream, 20 deltas",
        lambda: anthropic_stream(20),
        20,
        0.7,
    ),
    Scenario("gemini_generate", "gemini", "Gemini generate_content", gemini_generate),
)
SCENARIOS_BY_NAME = {s.name: s for s in SCENARIOS}
# Per-chunk overhead = (overhead of the 200-chunk stream - that of the 20-chunk stream) / 180.
CHUNK_PAIRS = (("openai_stream200", "openai_stream20"), ("anthropic_stream200", "anthropic_stream20"))
