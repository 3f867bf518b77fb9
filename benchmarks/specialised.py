"""What the generic core costs: genai-cost's work on one route, written out by hand, next to the real thing.

    PYTHONPATH=src python benchmarks/specialised.py [--calls 2000] [--blocks 9]

The 1.3x-of-the-floor target is missed (see README.md). This measures how far a wrapper could get if
it gave up the generic core: one function for Anthropic ``messages.create`` (non-streaming) that does
the same observable work as genai-cost (the same span attributes with the same values, the same four
histogram records, the price from the same price book, the span made current during the call, the
same cost span processor at the end), with no adapter, no ``CallSpec``, no ``Invocation``, no
``Usage``/``Cost`` objects and no defensive conversions. It is not shippable: it trusts the response
types and knows one route, one provider and one model's price bands. It runs in the same process, in
alternating blocks with the replay, the floor and genai-cost, as ``isolated.py`` does, and its
bytecodes are counted as in ``opcodes.py``. Before timing, it checks that its span carries exactly
the attributes genai-cost's span does.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import isolated  # noqa: E402
import opcodes  # noqa: E402
import worker  # noqa: E402

SCENARIO = "anthropic_messages"


def make_specialised(instruments: Any, model: str) -> Callable[..., Any]:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    from genai_cost import semconv as sc
    from genai_cost._otel_compat import suppressed as _suppressed
    from genai_cost.context import _TAGS_KEY
    from genai_cost.metrics import SCOPE_NAME
    from genai_cost.pricing import get_price_book

    tracer = worker._tracer_provider().get_tracer(SCOPE_NAME)  # the shared provider: same processors
    get_current, attach, detach = otel_context.get_current, otel_context.attach, otel_context.detach
    in_context, clock, client = trace.set_span_in_context, time.perf_counter, SpanKind.CLIENT
    schedules = {("anthropic", model): get_price_book()._resolve("anthropic", model)}  # the book's cache
    duration, token_usage, cost_histogram = instruments.duration, instruments.token_usage, instruments.cost

    def specialised(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        ctx = get_current()
        options = args[1]
        if _suppressed(ctx) or options.url != "/v1/messages" or options.method != "post":
            return wrapped(*args, **kwargs)
        body = options.json_data
        request_model = body["model"]
        metric = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
            sc.GEN_AI_PROVIDER_NAME: "anthropic",
            sc.GEN_AI_REQUEST_MODEL: request_model,
            sc.SERVER_ADDRESS: "api.anthropic.com",
        }
        attributes = {**metric, sc.SERVER_PORT: 443}
        if (max_tokens := body.get("max_tokens")) is not None:
            attributes[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        if (stop := body.get("stop_sequences")) is not None:
            attributes[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
        if tags := ctx.get(_TAGS_KEY):
            attributes.update(tags)
        span = tracer.start_span(f"{sc.OP_CHAT} {request_model}", ctx, client, attributes)
        token = attach(in_context(span, ctx))
        start = clock()
        try:
            result = wrapped(*args, **kwargs)
        finally:
            detach(token)
        usage = result.usage
        uncached, output = usage.input_tokens, usage.output_tokens
        read, written = usage.cache_read_input_tokens or 0, usage.cache_creation_input_tokens or 0
        total_input = uncached + read + written
        metric[sc.GEN_AI_RESPONSE_MODEL] = response_model = result.model
        duration.record(clock() - start, metric)
        token_usage.record(total_input, {**metric, sc.GEN_AI_TOKEN_TYPE: "input"})
        token_usage.record(output, {**metric, sc.GEN_AI_TOKEN_TYPE: "output"})
        rates = schedules[("anthropic", response_model)].fixed.rates_for(total_input)
        input_usd = uncached * rates.input / 1e6
        output_usd = output * rates.output / 1e6
        read_usd = read * rates.cache_read / 1e6
        write_usd = written * rates.cache_write / 1e6
        total = input_usd + output_usd + read_usd + write_usd
        cost_histogram.record(total, metric)
        span.set_attributes(
            {
                sc.GEN_AI_RESPONSE_ID: result.id,
                sc.GEN_AI_RESPONSE_MODEL: response_model,
                sc.GEN_AI_RESPONSE_FINISH_REASONS: (result.stop_reason,),
                sc.GEN_AI_USAGE_INPUT_TOKENS: total_input,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: output,
                sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: read,
                sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: written,
                sc.GEN_AI_USAGE_COST_AMOUNT: total,
                sc.GEN_AI_USAGE_COST_CURRENCY: sc.COST_CURRENCY_USD,
                sc.GEN_AI_USAGE_COST_SOURCE: sc.COST_SOURCE_LOCAL,
                sc.GENAI_COST_INPUT_AMOUNT: input_usd,
                sc.GENAI_COST_OUTPUT_AMOUNT: output_usd,
                sc.GENAI_COST_CACHE_READ_AMOUNT: read_usd,
                sc.GENAI_COST_CACHE_WRITE_AMOUNT: write_usd,
            }
        )
        span.end()
        return result

    return specialised


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=9)
    args = parser.parse_args()
    (scenario,), floor = isolated.set_up([SCENARIO])
    replay, span = isolated.record(scenario)
    from genai_cost import semconv as sc

    specialised = make_specialised(floor.instruments, span.attributes[sc.GEN_AI_RESPONSE_MODEL])

    def specialised_call() -> None:
        replay.consume(specialised(replay.method, replay.instance, replay.args, dict(replay.kwargs)))

    ours, theirs = dict(span.attributes), dict(isolated.span_of(specialised_call).attributes)
    if ours != theirs:
        keys = sorted(set(ours) | set(theirs))
        differ = {k: (ours.get(k), theirs.get(k)) for k in keys if ours.get(k) != theirs.get(k)}
        sys.exit(f"the specialised span differs from genai-cost's: {differ}")

    modes = {
        "baseline": replay.plain,
        "floor": floor.wrap(replay.plain, span, False),
        "genai-cost": replay.instrumented,
        "specialised": specialised_call,
    }
    counts = {name: opcodes.count(call) for name, call in modes.items()}
    over = isolated.alternate(modes, args.calls, args.blocks)
    floor_us = over["floor"]
    base_ops = sum(counts["baseline"].opcodes.values())
    floor_ops = sum(counts["floor"].opcodes.values()) - base_ops
    print(f"{scenario.title}: {len(span.attributes)} span attributes, the same in every mode")
    print("| mode | us over the replay | - floor us | ÷ floor | bytecodes over the replay | ÷ floor |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ("floor", "genai-cost", "specialised"):
        us = over[name]
        ops = sum(counts[name].opcodes.values()) - base_ops
        print(
            f"| {name} | {us:.1f} | {us - floor_us:.1f} | {us / floor_us:.2f} "
            f"| {ops / opcodes.CALLS:,.0f} | {ops / floor_ops:.2f} |"
        )


if __name__ == "__main__":
    main()
