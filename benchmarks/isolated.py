"""genai-cost's own per-call work next to the floor's, with the SDK's work taken out.

    PYTHONPATH=src python benchmarks/isolated.py [--calls 2000] [--blocks 9] [scenario ...]

End to end, an SDK call costs 0.3-17 ms of parsing and I/O that varies far more than the tens of
microseconds being compared. Here each scenario's SDK call is made once for real, through the patched
method, and what the patched method received and returned is recorded. Then genai-cost's wrapper runs
around a replay of that method (the same arguments in, the same parsed response or a fresh stream
over the same parsed chunks out), and so does the floor (a bare span with the attributes genai-cost
wrote and the same histogram records). The replay alone is the baseline. Modes alternate in blocks in
one process; the table gives each mode's fastest block (thread-CPU microseconds per call) over the
baseline's fastest: the work is deterministic, so other jobs on the machine can only add to it.
Everything runs against the same providers as ``worker.py`` (batch processor, dropping exporters).
"""

from __future__ import annotations

import argparse
import copy
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scenarios  # noqa: E402
import worker  # noqa: E402

# Where genai-cost patches each provider's SDK: (module, class, method).
PATCH_POINTS = {
    "openai": ("openai._base_client", "SyncAPIClient", "request"),
    "anthropic": ("anthropic._base_client", "SyncAPIClient", "request"),
    "gemini": ("google.genai.models", "Models", "generate_content"),
}


class Replay:
    """The patched SDK method, recorded once and then replayed without the SDK's work."""

    def __init__(self, scenario: scenarios.Scenario) -> None:
        import importlib

        module_name, class_name, method = PATCH_POINTS[scenario.provider]
        owner = getattr(importlib.import_module(module_name), class_name)
        proxy = owner.__dict__[method]
        self.wrapper: Callable[..., Any] = proxy._self_wrapper  # genai-cost's wrapt wrapper
        original = proxy.__wrapped__
        seen: dict[str, Any] = {}

        def record(instance: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(instance, *args, **kwargs)
            inner = getattr(result, "_iterator", None)
            if inner is not None:  # a Stainless stream: keep its parsed chunks
                seen["chunks"] = list(inner)
                result._iterator = iter(seen["chunks"])
            seen.update(instance=instance, args=args, kwargs=kwargs, result=result)
            return result

        setattr(owner, method, record)
        try:
            self.app = scenario.build()
            self.app()
        finally:
            setattr(owner, method, proxy)
        self.instance, self.args, self.kwargs = seen["instance"], seen["args"], seen["kwargs"]
        self.result, self.chunks = seen["result"], seen.get("chunks")

    def method(self, *args: Any, **kwargs: Any) -> Any:
        if self.chunks is None:
            return self.result
        stream = copy.copy(self.result)
        stream._iterator = iter(self.chunks)
        return stream

    def consume(self, result: Any) -> None:
        if self.chunks is not None:
            for _ in result:
                pass
            result.close()

    def plain(self) -> None:
        self.consume(self.method(*self.args, **self.kwargs))

    def instrumented(self) -> None:
        self.consume(self.wrapper(self.method, self.instance, self.args, dict(self.kwargs)))


def block_us(call: Callable[[], None], calls: int) -> float:
    clock = time.thread_time_ns
    start = clock()
    for _ in range(calls):
        call()
    return (clock() - start) / calls / 1000


def set_up(names: list[str]) -> tuple[list[scenarios.Scenario], worker.Floor]:
    """The scenarios named, genai-cost instrumenting their SDKs, and the floor, on shared providers."""
    wanted = [scenarios.SCENARIOS_BY_NAME[name] for name in names]
    tracer_provider, meter_provider, worker._EXPORTER = worker.make_providers()
    for scenario in wanted:
        scenario.build()()
    worker.instrument_genai_cost(sorted({s.provider for s in wanted}), tracer_provider, meter_provider)
    return wanted, worker.Floor(meter_provider)


def record(scenario: scenarios.Scenario) -> tuple[Replay, Any]:
    """The scenario's replay and the span genai-cost makes around it (the floor copies its attributes)."""
    replay = Replay(scenario)
    return replay, span_of(replay.instrumented)


def span_of(call: Callable[[], Any]) -> Any:
    """The span one call of ``call`` makes on the shared provider, as exported."""
    provider = worker._tracer_provider()
    provider.force_flush()
    call()
    provider.force_flush()
    return worker._EXPORTER.last


def measure(scenario: scenarios.Scenario, floor: worker.Floor, calls: int, blocks: int) -> dict[str, float]:
    replay, span = record(scenario)
    modes = {
        "baseline": replay.plain,
        "floor": floor.wrap(replay.plain, span, bool(scenario.chunks)),
        "genai-cost": replay.instrumented,
    }
    out: dict[str, float] = alternate(modes, calls, blocks)
    out["attributes"] = len(span.attributes)
    return out


def alternate(modes: dict[str, Callable[[], None]], calls: int, blocks: int) -> dict[str, float]:
    """Run the modes in alternating blocks (the order rotating) and give each mode's fastest block:
    ``baseline`` as measured, every other mode over it."""
    gc.collect()
    gc.freeze()
    samples: dict[str, list[float]] = {name: [] for name in modes}
    for call in modes.values():  # warm-up
        block_us(call, calls // 4)
    for block in range(blocks):
        names = list(modes)
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(block_us(modes[name], calls))
    # The least of the blocks: this work is deterministic, so the machine's noise only ever adds.
    base = min(samples["baseline"])
    out = {name: min(values) - base for name, values in samples.items() if name != "baseline"}
    out["baseline"] = base
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenarios", nargs="*", default=[s.name for s in scenarios.SCENARIOS])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=9)
    args = parser.parse_args()
    wanted, floor = set_up(args.scenarios)
    print(
        "| scenario | replayed SDK method us | floor us | genai-cost us | genai-cost - floor us | ÷ floor |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for scenario in wanted:
        calls = max(100, round(args.calls * scenario.weight))
        row = measure(scenario, floor, calls, args.blocks)
        print(
            f"| {scenario.title} | {row['baseline']:.1f} | {row['floor']:.1f} | {row['genai-cost']:.1f} "
            f"| {row['genai-cost'] - row['floor']:.1f} | {row['genai-cost'] / row['floor']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
