"""A process of the budget race (test_budget_race.py): the app, unchanged, instrumented from the
environment (budgets file and ledger), calling the fake OpenAI server from several threads until
the budget refuses. Prints "ready", waits for the go file, then one JSON line of what it did."""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

import genai_cost
import genai_cost._internal as internal
from genai_cost.config import Settings
from genai_cost.instrumentation.openai import OpenAIInstrumentor


def calls_until_refused(client: openai.OpenAI, name: str) -> tuple[int, int]:
    made = 0
    for i in range(10_000):
        try:
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"Summarise resume {name}-{i} in three bullet points"}],
                max_tokens=64,
            )
        except genai_cost.BudgetExceeded:
            return made, 1
        made += 1
    return made, 0


def main(base_url: str, threads: int, go: str, name: str) -> None:
    internal.RAISE_INTERNAL_ERRORS = True  # a bug in the guard fails the race, not a log line
    OpenAIInstrumentor().instrument(settings=Settings.from_env())
    client = openai.OpenAI(api_key="k", base_url=base_url, max_retries=0)
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.001)
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda t: calls_until_refused(client, f"{name}.{t}"), range(threads)))
    print(json.dumps({"made": sum(r[0] for r in results), "refused": sum(r[1] for r in results)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
