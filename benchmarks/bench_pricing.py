"""Per-span pricing cost: the price book next to a naive genai-prices call, plus processor throughput.

    PYTHONPATH=src python benchmarks/bench_pricing.py [--calls 20000]

Prints, for the same mix of models and usages in the same run:
  * book.price(...)                  median / p90 microseconds per call
  * genai_prices.calc_price(...)     median / p90 microseconds per call (the naive way)
  * CostSpanProcessor                spans per second with and without it, and its cost per span
  * first use                        seconds to import genai-prices and load its data (fresh process)
Per-call times include the timer's own overhead (printed too).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from genai_cost.usage import Usage

# (our provider name, genai-prices provider id, model, usage)
MIX = [
    ("openai", "openai", "gpt-4o-mini", dict(input_tokens=1_200, output_tokens=300)),
    (
        "openai",
        "openai",
        "gpt-4o-2024-08-06",
        dict(input_tokens=5_000, output_tokens=700, cache_read_tokens=2_048),
    ),
    (
        "anthropic",
        "anthropic",
        "claude-sonnet-4-5-20250929",
        dict(input_tokens=26_000, output_tokens=500, cache_read_tokens=20_000, cache_write_tokens=5_000),
    ),
    ("groq", "groq", "llama-3.3-70b-versatile", dict(input_tokens=27_500, output_tokens=6_000)),
    ("gcp.gemini", "google", "gemini-2.5-pro", dict(input_tokens=250_000, output_tokens=2_000)),
    ("openai", "openai", "o3", dict(input_tokens=2_000, output_tokens=3_000, output_reasoning_tokens=2_500)),
]


def ours(mix: dict[str, int]) -> Usage:
    return Usage(
        input_tokens=mix["input_tokens"],
        output_tokens=mix["output_tokens"],
        cache_read_tokens=mix.get("cache_read_tokens"),
        cache_creation_tokens=mix.get("cache_write_tokens"),
        reasoning_tokens=mix.get("output_reasoning_tokens"),
    )


def per_call_us(fn, calls: int) -> list[float]:  # type: ignore[no-untyped-def]
    clock = time.perf_counter_ns
    samples = []
    for index in range(calls):
        started = clock()
        fn(index)
        samples.append((clock() - started) / 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(len(ordered) * 0.9)]
    return f"median {statistics.median(ordered):8.2f} us   p90 {p90:8.2f} us"


def first_use_seconds() -> float:
    code = (
        "import time; t = time.perf_counter()\n"
        "from genai_cost.pricing import get_price_book\n"
        "from genai_cost.usage import Usage\n"
        "get_price_book().price('openai', 'gpt-4o', Usage(input_tokens=1, output_tokens=1))\n"
        "print(time.perf_counter() - t)\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": src}, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def processor_spans_per_second(spans: int) -> tuple[float, float]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import SpanKind

    from genai_cost import semconv as sc
    from genai_cost.processor import CostSpanProcessor

    def run(with_processor: bool) -> float:
        provider = TracerProvider()
        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        if with_processor:
            provider.add_span_processor(CostSpanProcessor(meter_provider))
        tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2")
        attrs = [
            {
                sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
                sc.GEN_AI_PROVIDER_NAME: provider_name,
                sc.GEN_AI_REQUEST_MODEL: model,
                sc.GEN_AI_RESPONSE_MODEL: model,
                sc.GEN_AI_USAGE_INPUT_TOKENS: mix["input_tokens"],
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: mix["output_tokens"],
            }
            for provider_name, _, model, mix in MIX
        ]
        started = time.perf_counter()
        for index in range(spans):
            span = tracer.start_span("chat", kind=SpanKind.CLIENT, attributes=attrs[index % len(attrs)])
            span.end()
        elapsed = time.perf_counter() - started
        provider.shutdown()
        meter_provider.shutdown()
        return spans / elapsed

    run(True)  # warm up (price data, caches)
    # Best of three, alternating, so a busy machine shows less in the difference.
    without = with_processor = 0.0
    for _ in range(3):
        without = max(without, run(False))
        with_processor = max(with_processor, run(True))
    return without, with_processor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()

    print(f"first use (import genai-prices + load data, fresh process): {first_use_seconds():.3f} s")

    import genai_prices

    from genai_cost.pricing import PriceBook

    book = PriceBook()
    ours_args = [(p, m, ours(u)) for p, _, m, u in MIX]
    naive_args = [(genai_prices.Usage(**u), m, gp) for _, gp, m, u in MIX]
    now = datetime.now(tz=UTC)
    count = len(MIX)

    def price(index: int) -> None:
        provider, model, usage = ours_args[index % count]
        book.price(provider, model, usage)

    def naive(index: int) -> None:
        usage, model, provider_id = naive_args[index % count]
        genai_prices.calc_price(usage, model, provider_id=provider_id, genai_request_timestamp=now)

    for index in range(count):  # the first call per model resolves and compiles; not the hot path
        price(index)
        naive(index)

    timer = per_call_us(lambda _: None, args.calls)
    book_us = per_call_us(price, args.calls)
    naive_us = per_call_us(naive, max(args.calls // 10, 1_000))
    print(f"timer overhead                 {summary(timer)}")
    print(f"book.price (hot path)          {summary(book_us)}")
    print(f"genai_prices.calc_price naive  {summary(naive_us)}")
    ratio = statistics.median(naive_us) / statistics.median(book_us)
    print(f"speed-up (median)              {ratio:8.1f} x")

    without, with_processor = processor_spans_per_second(max(args.calls // 2, 2_000))
    overhead_us = (1 / with_processor - 1 / without) * 1e6
    print(f"spans/s without processor      {without:10,.0f}")
    print(f"spans/s with CostSpanProcessor {with_processor:10,.0f}   (+{overhead_us:.1f} us per span)")


if __name__ == "__main__":
    main()
