"""Memory over many instrumented calls: resident size and live Python objects must stay flat.

    python benchmarks/memory.py --calls 100000

genai-cost instruments openai, anthropic and google-genai on the same OpenTelemetry set-up as the
worker. The calls cycle through Anthropic messages (8 in 10: the cheapest real SDK call, so 100k
calls fit the time budget), an OpenAI chat completion and a 20-delta Anthropic stream, so the
non-stream and stream paths both run. At 10 checkpoints it records RSS (/proc/self/statm) and the
number of gc-tracked objects after a full collection. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()

    import scenarios
    import worker

    tracer_provider, meter_provider, exporter = worker.make_providers()
    worker._EXPORTER = exporter
    worker.instrument_genai_cost(["anthropic", "gemini", "openai"], tracer_provider, meter_provider)
    cycle = [scenarios.anthropic_messages()] * 8 + [scenarios.openai_chat(), scenarios.anthropic_stream(20)]
    checkpoints = []
    step = max(1, args.calls // 10)
    start = time.perf_counter()
    for done in range(args.calls + 1):
        if done % step == 0:
            tracer_provider.force_flush()
            gc.collect()
            checkpoints.append(
                {"calls": done, "rss_mb": round(rss_mb(), 2), "objects": len(gc.get_objects())}
            )
        if done < args.calls:
            cycle[done % len(cycle)]()
    tracer_provider.force_flush()
    warm = checkpoints[1]  # after the first 10%: caches, pools and the price book are filled
    last = checkpoints[-1]
    print(
        json.dumps(
            {
                "calls": args.calls,
                "seconds": round(time.perf_counter() - start, 1),
                "spans_exported": exporter.count,
                "checkpoints": checkpoints,
                "rss_growth_after_warmup_mb": round(last["rss_mb"] - warm["rss_mb"], 2),
                "objects_growth_after_warmup": last["objects"] - warm["objects"],
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000,
            }
        )
    )


if __name__ == "__main__":
    main()
