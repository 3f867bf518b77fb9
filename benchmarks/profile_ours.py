"""Where genai-cost's per-call time goes: cProfile over one scenario, instrumented.

    PYTHONPATH=src python benchmarks/profile_ours.py anthropic_messages --calls 3000

Prints the functions of genai_cost and opentelemetry by own time (microseconds per call). cProfile
slows every Python call alike, so read the shares, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    import scenarios
    import worker

    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(scenarios.SCENARIOS_BY_NAME))
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--off", action="store_true", help="profile the uninstrumented call instead")
    args = parser.parse_args()
    scenario = scenarios.SCENARIOS_BY_NAME[args.scenario]
    tracer_provider, meter_provider, exporter = worker.make_providers()
    worker._EXPORTER = exporter
    if not args.off:
        worker.instrument_genai_cost([scenario.provider], tracer_provider, meter_provider)
    call = scenario.build()
    for _ in range(50):
        call()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.calls):
        call()
    profile.disable()
    stats = pstats.Stats(profile)
    rows = []
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "genai_cost" in filename or "opentelemetry" in filename or "wrapt" in filename:
            short = filename.split("site-packages/")[-1].split("src/")[-1]
            rows.append((tottime, cumtime, ncalls, f"{short}:{line}({name})"))
    rows.sort(reverse=True)
    total_own = sum(r[0] for r in rows)
    print(
        f"{args.scenario}: {args.calls} calls; genai_cost + opentelemetry + wrapt own time "
        f"{total_own / args.calls * 1e6:.1f} us per call (profiled)"
    )
    print(f"{'own us/call':>11} {'cum us/call':>11} {'calls/call':>10}  function")
    for tottime, cumtime, ncalls, where in rows[: args.top]:
        print(
            f"{tottime / args.calls * 1e6:11.2f} {cumtime / args.calls * 1e6:11.2f} {ncalls / args.calls:10.1f}  {where}"
        )


if __name__ == "__main__":
    main()
