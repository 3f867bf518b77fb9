"""`genai-cost budgets`: each budget's window, spent, reserved and left, agreeing with the fake ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import genai_cost
from budget_calls import call, instrument_all
from genai_cost import cli, feature
from genai_cost.budget import setup
from genai_cost.pricing.book import get_price_book

BUDGETS = """\
budgets:
  - name: monthly
    limit_usd: 5
    window: month
  - name: per-user
    per: user
    limit_tokens: 100000
    window: rolling:24h
  - name: search-daily
    match: {feature: search}
    limit_usd: 1
    window: day
    action: warn
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    return budgets, tmp_path / "ledger.db"


@pytest.fixture
def instrumented(otel: Any, fake_server: Any) -> Iterator[Any]:
    done = instrument_all(otel)
    yield otel
    for instrumentor in done:
        instrumentor.uninstrument()
    setup.clear()


def test_budgets_command_agrees_with_the_fake_ledger(
    instrumented: Any, fake_server: Any, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    budgets, ledger = files
    genai_cost.configure_budgets(budgets, ledger=ledger)
    with feature("search", user_id="ann"):
        call(fake_server, "openai", "sync")
        call(fake_server, "groq", "sync-stream")
    with feature("chat", user_id="bob"):
        call(fake_server, "anthropic", "async")
    billed = fake_server.ledger
    providers = {"openai": "openai", "groq": "groq", "anthropic": "anthropic"}
    costs = [get_price_book().price(providers[b.provider], b.model, b.normalized()).total for b in billed]  # type: ignore[union-attr]
    tokens = [b.normalized().input_tokens + b.normalized().output_tokens for b in billed]

    assert cli.main(["budgets", "--file", str(budgets), "--ledger", str(ledger), "--format", "json"]) == 0
    rows = {(r["budget"], r["scope"]): r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {("monthly", ""), ("per-user", "ann"), ("per-user", "bob"), ("search-daily", "")}
    assert rows["monthly", ""]["spent"] == pytest.approx(sum(costs), rel=1e-9)
    assert rows["monthly", ""]["left"] == pytest.approx(5 - sum(costs), rel=1e-9)
    assert rows["monthly", ""]["reserved"] == 0
    assert rows["search-daily", ""]["spent"] == pytest.approx(sum(costs[:2]), rel=1e-9)
    assert rows["per-user", "ann"]["spent"] == sum(tokens[:2])
    assert rows["per-user", "bob"]["spent"] == tokens[2]
    assert rows["monthly", ""]["window"] == "month (UTC)" and rows["monthly", ""]["window_end"].endswith(
        "T00:00:00Z"
    )
    assert (
        rows["per-user", "ann"]["window"] == "rolling 24h" and rows["per-user", "ann"]["window_end"] is None
    )

    assert cli.main(["budgets", "--file", str(budgets), "--ledger", str(ledger)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "budget",
        "per",
        "key",
        "window",
        "resets",
        "limit",
        "spent",
        "reserved",
        "left",
        "action",
    ]
    assert any(line.startswith("search-daily") and line.endswith("warn") for line in table)
    assert len(table) == 5


def test_a_malformed_file_is_reported_with_its_line(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    budgets, ledger = files
    budgets.write_text(BUDGETS.replace("window: day", "window: daily"))
    assert cli.main(["budgets", "--file", str(budgets), "--ledger", str(ledger)]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.strip() == (
        f"genai-cost: error: {budgets}:12: budgets[2].window: expected day, month, total or "
        "rolling:<duration>, got 'daily'"
    )


def test_without_a_file_it_says_what_to_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_COST_BUDGETS_FILE", raising=False)
    assert cli.main(["budgets"]) == cli.EXIT_USAGE
    assert "OTEL_INSTRUMENTATION_GENAI_COST_BUDGETS_FILE" in capsys.readouterr().err
