"""50 threads here and 4 processes (8 threads each) race on one budget; the fake ledger judges.

Each call reserves its worst case before it is sent, under one lock shared by every thread and
process (SQLite's write lock; PostgreSQL's advisory lock, where the processes stand for machines),
so what the provider billed never goes over the limit, and what the guard counted is exactly what
the provider billed once every call has settled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest

import genai_cost
from budget_race_worker import calls_until_refused
from genai_cost import config
from genai_cost.budget import setup
from genai_cost.budget.ledger import Claim
from genai_cost.config import Settings
from genai_cost.instrumentation.openai import OpenAIInstrumentor
from genai_cost.pricing.book import get_price_book
from postgres_server import postgres_server

LIMIT = 0.006  # about 250 calls of gpt-4o-mini at the fake's sizes
THREADS = 50
PROCESSES = 4
PROCESS_THREADS = 8
WORKER = Path(__file__).with_name("budget_race_worker.py")


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: Any, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
        return
    with postgres_server() as server:
        yield server.url


def test_threads_and_processes_never_overspend(fake_server: Any, tmp_path: Path, ledger: str) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(f"budgets:\n  - name: race\n    limit_usd: {LIMIT}\n    window: total\n")
    go = tmp_path / "go"
    env = {
        **os.environ,
        config.BUDGETS_FILE: str(budgets),
        config.BUDGETS_LEDGER: str(ledger),
        "PYTHONPATH": os.pathsep.join(
            [str(Path(genai_cost.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                fake_server.openai_base_url,
                str(PROCESS_THREADS),
                str(go),
                f"p{n}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(settings=Settings(budgets_file=str(budgets), budgets_ledger=str(ledger)))
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
        go.touch()
        started = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            here = list(pool.map(lambda t: calls_until_refused(client, f"t{t}"), range(THREADS)))
        reports = []
        for worker in workers:
            out, _ = worker.communicate(timeout=240)
            assert worker.returncode == 0
            reports.append(json.loads(out.strip().splitlines()[-1]))
        elapsed = time.perf_counter() - started
    finally:
        instrumentor.uninstrument()
        for worker in workers:
            worker.kill()
    guard = setup.state.guard
    setup.clear()
    made = sum(m for m, _ in here) + sum(r["made"] for r in reports)
    billed = fake_server.ledger
    assert len(billed) == made  # every call that was let through reached the provider once
    assert all(r["made"] > 0 for r in reports), reports  # the processes took part in the race
    assert (
        sum(r for _, r in here) == THREADS
        and sum(r["refused"] for r in reports) == PROCESSES * PROCESS_THREADS
    )
    cost = sum(get_price_book().price("openai", b.model, b.normalized()).total for b in billed)
    assert cost <= LIMIT  # never over: every call held its worst case while in flight
    assert guard is not None
    (level,) = guard.ledger.levels([Claim("race", "", 0, 0, LIMIT, 0.0, True)], time.time())
    assert level.spent == pytest.approx(cost, rel=1e-9)  # settled to exactly what was billed
    assert level.reserved == 0.0
    assert cost > LIMIT / 2
    print(
        f"\n{'postgres' if ledger.startswith('postgresql') else 'sqlite'}: {made} calls in {elapsed:.1f} s; billed ${cost:.6f} of ${LIMIT}"
    )
