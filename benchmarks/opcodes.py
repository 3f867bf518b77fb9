"""Bytecodes run per call: genai-cost and the floor, counted, not timed.

    PYTHONPATH=src python benchmarks/opcodes.py [--top 15] [scenario ...]

Timings on a shared machine move by several microseconds between runs; a count of the bytecode
instructions the interpreter runs per call does not move at all, so it shows what a change to the
hot path did before any timing can. Each scenario's patched SDK method is replayed as in
``isolated.py`` (the SDK's own work is not counted), under ``sys.settrace`` with opcode events. The
table gives instructions and Python function calls per call for the floor and for genai-cost, how
many of genai-cost's ran in its own modules, and with ``--top`` its costliest functions.
Instructions are not all equal (a call or an allocation costs more than a comparison), so this
complements the timed benchmarks; it does not replace them.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import isolated  # noqa: E402
import scenarios  # noqa: E402

CALLS = 20  # the count is exact per call; a few calls only average out first-call effects


class Counts:
    def __init__(self) -> None:
        self.opcodes: Counter[str] = Counter()  # per function, "module:function"
        self.calls: Counter[str] = Counter()

    def tracer(self, frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        code = frame.f_code
        name = f"{frame.f_globals.get('__name__', '?')}:{code.co_name}"
        if event == "opcode":
            self.opcodes[name] += 1
        elif event == "call":
            self.calls[name] += 1
        return self.tracer

    def own(self, counter: Counter[str]) -> int:
        return sum(value for name, value in counter.items() if name.startswith("genai_cost"))


def count(call: Callable[[], Any]) -> Counts:
    for _ in range(CALLS):  # warm: first-call caches (price book, endpoints) are not per call
        call()
    counts = Counts()
    sys.settrace(counts.tracer)
    try:
        for _ in range(CALLS):
            call()
    finally:
        sys.settrace(None)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenarios", nargs="*", default=[s.name for s in scenarios.SCENARIOS])
    parser.add_argument("--top", type=int, default=0, help="also list genai-cost's N costliest functions")
    args = parser.parse_args()
    wanted, floor = isolated.set_up(args.scenarios)
    print(
        "| scenario | floor bytecodes | genai-cost bytecodes | of which genai-cost's modules "
        "| ÷ floor | floor calls | genai-cost calls |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    tops = []
    for scenario in wanted:
        replay, span = isolated.record(scenario)
        floor_call = floor.wrap(replay.plain, span, bool(scenario.chunks))
        base, ours, theirs = count(replay.plain), count(replay.instrumented), count(floor_call)

        def per_call(counter: Counter[str], minus: Counter[str]) -> float:
            return (sum(counter.values()) - sum(minus.values())) / CALLS

        floor_ops, ours_ops = per_call(theirs.opcodes, base.opcodes), per_call(ours.opcodes, base.opcodes)
        print(
            f"| {scenario.title} | {floor_ops:,.0f} | {ours_ops:,.0f} | {ours.own(ours.opcodes) / CALLS:,.0f} "
            f"| {ours_ops / floor_ops:.2f} | {per_call(theirs.calls, base.calls):,.0f} "
            f"| {per_call(ours.calls, base.calls):,.0f} |",
            flush=True,
        )
        if args.top:
            own = Counter({k: v for k, v in ours.opcodes.items() if k.startswith("genai_cost")})
            tops.append((scenario.title, own.most_common(args.top), ours.calls))
    for title, top, calls in tops:
        print(f"\n{title}: genai-cost's costliest functions (bytecodes per call, calls per call)")
        for name, value in top:
            print(f"  {value / CALLS:6.0f}  {calls[name] / CALLS:4.1f}  {name}")


if __name__ == "__main__":
    main()
