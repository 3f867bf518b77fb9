"""What the budget guard adds to a call: the check before it and the settlement after it.

    PYTHONPATH=src python benchmarks/budget.py [--calls 2000] [--blocks 7] [--postgres URL] [scenario ...]

Each scenario's patched SDK method is replayed as in ``isolated.py`` (the SDK's own work taken out),
in alternating blocks: genai-cost with no budget, with a budget that does not apply to the call
(``match`` on another feature: no ledger access), and with one that does (reserve, then settle, in
the local SQLite ledger: two ``BEGIN IMMEDIATE`` transactions in WAL mode). Wall-clock microseconds
per call (the ledger's file I/O is part of the cost), fastest block over the bare replay's. With
``--postgres postgresql://...``, also with the budget counted in that PostgreSQL ledger (a network
round trip per transaction: on 127.0.0.1 here, more across machines).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import isolated  # noqa: E402

from genai_cost.budget import setup  # noqa: E402
from genai_cost.budget.guard import Guard  # noqa: E402

LIMIT_USD = 1e9  # never reached: every call reserves and settles


def block_us(call: Callable[[], None], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        call()
    return (time.perf_counter_ns() - start) / calls / 1000


def under(guard: Guard | None, call: Callable[[], None]) -> Callable[[], None]:
    """``call`` with ``guard`` in force (set and cleared around it, as configure_budgets would)."""

    def run() -> None:
        setup.state.guard = guard
        try:
            call()
        finally:
            setup.state.guard = None

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "scenarios", nargs="*", default=["openai_chat", "anthropic_messages", "gemini_generate"]
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--postgres", metavar="URL", help="also measure a PostgreSQL ledger")
    args = parser.parse_args()
    wanted, _ = isolated.set_up(args.scenarios)
    ledger = Path(tempfile.mkdtemp(prefix="genai-cost-bench-")) / "budgets.db"
    applies = [{"name": "bench", "limit_usd": LIMIT_USD, "window": "month"}]
    elsewhere = [{"name": "bench-other", "limit_usd": LIMIT_USD, "match": {"feature": "not-this-one"}}]
    pg_header = " + budget in PostgreSQL us | check alone us |" if args.postgres else ""
    print(
        "| scenario | replayed SDK method us | genai-cost us | + budget not applying us "
        "| + budget applying (reserve + settle) us | check alone us |" + pg_header
    )
    print("|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if args.postgres else ""))
    for scenario in wanted:
        replay, _ = isolated.record(scenario)
        calls = max(100, round(args.calls * scenario.weight))
        other = setup.configure_budgets(elsewhere, ledger=ledger)
        applying = setup.configure_budgets(applies, ledger=ledger)
        in_postgres = setup.configure_budgets(applies, ledger=args.postgres) if args.postgres else None
        setup.clear()
        modes = {
            "baseline": replay.plain,
            "ours": replay.instrumented,
            "other": under(other, replay.instrumented),
            "applies": under(applying, replay.instrumented),
        }
        if in_postgres is not None:
            modes["postgres"] = under(in_postgres, replay.instrumented)
        samples: dict[str, list[float]] = {name: [] for name in modes}
        for call in modes.values():
            block_us(call, calls // 4)
        for block in range(args.blocks):
            names = list(modes)
            shift = block % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(block_us(modes[name], calls))
        best = {name: min(values) for name, values in samples.items()}
        base = best["baseline"]
        ours, other_us, applies_us = best["ours"] - base, best["other"] - base, best["applies"] - base
        print(
            f"| {scenario.title} | {base:.1f} | {ours:.1f} | {other_us:.1f} | {applies_us:.1f} "
            f"| {applies_us - ours:.1f} |"
            + (
                f" {best['postgres'] - base:.1f} | {best['postgres'] - base - ours:.1f} |"
                if args.postgres
                else ""
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
