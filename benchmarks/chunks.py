"""genai-cost's own cost per streamed chunk, isolated from the SDK's parsing.

End to end, a 200-chunk OpenAI stream costs ~17 ms of SDK parsing per call and varies by far more
than a microsecond per chunk, so the 200- vs 20-chunk difference cannot resolve the target. Here the
chunks are real SDK objects, parsed once from the benchmark's own SSE bodies, and genai-cost's stream
path (``streams.iterate`` with the adapter's stream state in its tracker, exactly what an instrumented SDK
stream reads through) runs over them; a plain loop over the same list is subtracted, and the result
of a 20-chunk run is subtracted from a 200-chunk run so the per-stream work (span, metrics, price)
cancels. Run inside the genai-cost worker; needs genai-cost's internals, so it reports why if they
moved.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import scenarios


def _parsed_chunks() -> dict[str, list[Any]]:
    openai_client = scenarios._openai_client(scenarios._sse_transport(scenarios.openai_stream_events(200)))
    openai_chunks = list(
        openai_client.chat.completions.create(
            model=scenarios.OPENAI_MODEL,
            messages=scenarios.openai_messages(),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    anthropic_client = scenarios._anthropic_client(
        scenarios._sse_transport(scenarios.anthropic_stream_events(200))
    )
    anthropic_events = list(
        anthropic_client.messages.create(
            model=scenarios.ANTHROPIC_MODEL,
            messages=[{"role": "user", "content": "x"}],
            max_tokens=10,
            stream=True,
        )
    )
    return {"openai": openai_chunks, "anthropic": anthropic_events}


def _per_call_us(fn: Callable[[], None], calls: int) -> float:
    start = time.thread_time_ns()
    for _ in range(calls):
        fn()
    return (time.thread_time_ns() - start) / calls / 1000


def _chunk_cost(
    instrumented: Callable[[list[Any]], None],
    plain: Callable[[list[Any]], None],
    items: list[Any],
    short: list[Any],
) -> float:
    long_us = _per_call_us(lambda: instrumented(items), 100) - _per_call_us(lambda: plain(items), 100)
    short_us = _per_call_us(lambda: instrumented(short), 100) - _per_call_us(lambda: plain(short), 100)
    return (long_us - short_us) / (len(items) - len(short))


def measure(tracer_provider: Any, meter_provider: Any, repeats: int = 9) -> dict[str, Any]:
    from opentelemetry import context as otel_context

    from genai_cost.config import Settings
    from genai_cost.instrumentation import streams
    from genai_cost.instrumentation.anthropic import MessagesStreamState
    from genai_cost.instrumentation.contract import NO_REWRITE, Request
    from genai_cost.instrumentation.core import make_telemetry
    from genai_cost.instrumentation.openai import ChatStreamState

    telemetry = make_telemetry(Settings(), tracer_provider, meter_provider)
    states = {"openai": ChatStreamState, "anthropic": MessagesStreamState}
    models = {"openai": scenarios.OPENAI_MODEL, "anthropic": scenarios.ANTHROPIC_MODEL}
    out: dict[str, Any] = {}
    for provider, items in _parsed_chunks().items():
        # 20 content chunks plus the same opening and closing chunks as the long stream.
        head = 1 if provider == "openai" else 3
        short = items[: head + 20] + items[-3:]
        new_state = states[provider]

        def instrumented(chunks: list[Any], provider: str = provider, new_state: Any = new_state) -> None:
            request = Request(
                operation="chat", provider=provider, model=models[provider], attributes={}, stream=True
            )
            invocation = telemetry.start(request, NO_REWRITE, otel_context.get_current())
            watch = streams.StreamWatch(invocation, new_state(request, NO_REWRITE))
            for _ in streams.iterate(iter(chunks), watch):
                pass

        def plain(chunks: list[Any]) -> None:
            for _ in iter(chunks):
                pass

        samples = [_chunk_cost(instrumented, plain, items, short) for _ in range(repeats)]
        out[provider] = statistics.median(samples)
    return out
