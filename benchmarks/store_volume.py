"""The usage store at volume: generate a 30-day store, time the writer and the reports.

    PYTHONPATH=src python benchmarks/store_volume.py --calls 10000000 [--db PATH] [--reuse]
    PYTHONPATH=src python benchmarks/store_volume.py --calls 1000000 --db postgresql://...

1. Generates ``--calls`` calls spread over the last 30 days (a few calls a second, as a month of an
   app): 10 features, 5,000 users, sessions of ~20 calls, 6 models, 2% errors, durations log-normal.
   They go in through ``UsageStore.insert`` in large batches (what the writer does, minus reading the
   calls' attributes), so the rollups are maintained as in production. ``--reuse`` keeps a store
   generated before.
2. Times the real writer path: ``--writer-calls`` records (what the instrumentation hands over)
   through ``StoreWriter`` into the store, from the first ``add`` to the last commit.
3. Times ``genai-cost report`` (the summary, ``--by feature``, ``--by user --days 30``,
   ``--by session --since 7d``), each with its latency percentiles, through the CLI's own code.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from genai_cost import records
from genai_cost import semconv as sc
from genai_cost.cli import main as cli_main
from genai_cost.store.db import UsageRow, UsageStore, format_time
from genai_cost.store.dialect import display, is_postgres
from genai_cost.store.targets import target_for
from genai_cost.store.writer import StoreWriter
from genai_cost.usage import Usage

MODELS = [
    ("openai", "gpt-4o-mini", 0.15, 0.60),
    ("openai", "gpt-4o", 2.50, 10.0),
    ("anthropic", "claude-sonnet-4-5", 3.0, 15.0),
    ("anthropic", "claude-haiku-4-5", 1.0, 5.0),
    ("groq", "llama-3.3-70b-versatile", 0.59, 0.79),
    ("gcp.gemini", "gemini-2.5-flash", 0.30, 2.50),
]
FEATURES = [f"feature-{i}" for i in range(10)]
USERS = 5_000
SESSION_CALLS = 20
BATCH = 50_000


def generate(store: UsageStore, calls: int, now: datetime, seed: int = 7) -> float:
    """Insert ``calls`` calls over the 30 days before ``now``; returns the seconds it took."""
    rng = random.Random(seed)
    start = now - timedelta(days=30)
    step = timedelta(days=30) / calls
    started = time.perf_counter()
    batch: list[UsageRow] = []
    session = 0
    user = feature = model = None
    for i in range(calls):
        if i % SESSION_CALLS == 0:  # a new session: its user, feature and model
            session += 1
            user = f"user-{rng.randrange(USERS)}"
            feature = FEATURES[min(int(rng.expovariate(0.4)), len(FEATURES) - 1)]
            model = MODELS[rng.randrange(len(MODELS))]
        provider, name, per_in, per_out = model  # type: ignore[misc]
        at = start + step * i
        duration = rng.lognormvariate(0.0, 0.8)
        failed = rng.random() < 0.02
        tokens_in, tokens_out = rng.randrange(200, 4000), rng.randrange(20, 800)
        row = UsageRow(
            start_time=format_time(at),
            duration_s=duration,
            trace_id=None if rng.random() < 0.99 else f"{rng.getrandbits(128):032x}",
            span_id=f"{rng.getrandbits(64):016x}",
            operation=sc.OP_CHAT,
            service_name="volume-app",
            provider=provider,
            request_model=name,
            response_model=name,
            feature=feature,
            user_id=user,
            session_id=f"session-{session}",
            cost=None if failed else (tokens_in * per_in + tokens_out * per_out) / 1e6,
            currency=None if failed else "USD",
            error_type="APIError" if failed else None,
            streaming=i % 3 == 0,
            usage=Usage() if failed else Usage(tokens_in, tokens_out),
        )
        batch.append(row)
        if len(batch) == BATCH:
            store.insert(batch)
            batch = []
    store.insert(batch)
    return time.perf_counter() - started


def writer_throughput(where: str, count: int, now: datetime) -> float:
    """Calls per second through the real writer path (records -> rows -> batched transactions)."""
    writer = StoreWriter(target_for(where), limit=count + 1, interval_s=0.05)
    base = int(now.timestamp() * 1e9)
    made = []
    for i in range(count):
        attrs = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
            sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
            sc.GEN_AI_RESPONSE_ID: f"chatcmpl-{i}",
            sc.SERVER_ADDRESS: "api.openai.com",
            sc.FEATURE_NAME: "writer-bench",
            sc.USER_ID: f"user-{(i // 20) % 100}",
            sc.SESSION_ID: f"wsession-{i // 20}",
            sc.GEN_AI_USAGE_INPUT_TOKENS: 1200,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: 150,
            sc.GEN_AI_USAGE_COST_AMOUNT: 0.00027,
            sc.GEN_AI_USAGE_COST_CURRENCY: "USD",
            sc.GEN_AI_USAGE_COST_SOURCE: "local",
            sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        }
        made.append(
            records.CallRecord(
                attrs, base + i * 1000, base + i * 1000 + 5 * 10**8, i + 1, i + 1, False, False
            )
        )
    started = time.perf_counter()
    for record in made:
        writer.add(record)
    writer.close(timeout_s=600)
    seconds = time.perf_counter() - started
    assert writer.written == count and writer.dropped == 0, (writer.written, writer.dropped)
    return count / seconds


REPORTS = [
    ("report (summary, by feature, by model)", []),
    ("report --by feature", ["--by", "feature"]),
    ("report --by user --days 30", ["--by", "user", "--days", "30"]),
    ("report --by session --since 7d", ["--by", "session", "--since", "7d"]),
    (
        "report --by session --since 7d --format json",
        ["--by", "session", "--since", "7d", "--format", "json"],
    ),
]


def time_report(where: str, argv: list[str]) -> tuple[float, str]:
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        status = cli_main(
            ["report", "-d", where, "--top", "10", *argv]
            if "--format" not in argv
            else ["report", "-d", where, *argv]
        )
    seconds = time.perf_counter() - started
    assert status == 0
    return seconds, out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--db", help="a SQLite path or a postgresql:// URL (default: a temporary file)")
    parser.add_argument("--reuse", action="store_true", help="keep the store if it is there")
    parser.add_argument("--writer-calls", type=int, default=200_000)
    args = parser.parse_args()
    where = args.db or os.path.join(tempfile.mkdtemp(prefix="genai-cost-volume-"), "usage.db")
    now = datetime.now(UTC)
    fresh = not args.reuse or (not is_postgres(where) and not os.path.exists(where))
    with UsageStore.open(where) as store:
        if fresh:
            seconds = generate(store, args.calls, now)
            print(
                f"generated {args.calls:,} calls in {seconds:.1f} s ({args.calls / seconds:,.0f} calls/s): {display(where)}"
            )
        count = store.count()
    if not is_postgres(where):
        print(f"store: {count:,} calls, {os.path.getsize(where) / 1e9:.2f} GB")
    rate = writer_throughput(where, args.writer_calls, now)
    print(f"writer: {args.writer_calls:,} calls through StoreWriter in batches: {rate:,.0f} calls/s")
    for name, argv in REPORTS:
        seconds, output = time_report(where, argv)
        print(f"{name}: {seconds:.2f} s")
        if "--format" not in argv and "--by" in argv:
            lines = output.splitlines()
            print("    " + "\n    ".join(lines[2:6]))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
