"""The Prometheus budget rules are generated from the budgets file: one source of truth."""

from __future__ import annotations

from pathlib import Path

import yaml

from genai_cost import cli
from genai_cost.budget.prometheus import rules_yaml
from genai_cost.budget.spec import budgets_from_code, load_budgets

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/budgets.yaml"


def test_the_bundled_rules_are_the_example_budgets_file(capsys: object, monkeypatch: object) -> None:
    """prometheus/budgets.yml is `genai-cost budgets --prometheus` of examples/budgets.yaml, unedited."""
    generated = rules_yaml(load_budgets(ROOT / EXAMPLE), EXAMPLE)
    assert (ROOT / "prometheus" / "budgets.yml").read_text() == generated, (
        "regenerate: genai-cost budgets --prometheus --file examples/budgets.yaml > prometheus/budgets.yml"
    )


def test_what_the_rules_can_follow_becomes_a_series_and_the_rest_a_comment() -> None:
    budgets = budgets_from_code(
        [
            {"name": "all-day", "limit_usd": 50, "window": "day"},
            {"name": "all-24h", "limit_usd": 40, "window": "rolling:24h"},  # same series, lower: wins
            {"name": "search", "limit_usd": 7.5, "window": "month", "match": {"feature": "search"}},
            {"name": "tokens", "limit_tokens": 10, "window": "day"},
            {"name": "users", "limit_usd": 1, "window": "day", "per": "user"},
            {"name": "paris", "limit_usd": 1, "window": "month", "timezone": "Europe/Paris"},
            {"name": "models", "limit_usd": 1, "window": "day", "match": {"model": "gpt-*"}},
        ]
    )
    text = rules_yaml(budgets, "b.yaml")
    rules = yaml.safe_load(text)["groups"][0]["rules"]
    assert rules == [
        {"record": "genai_cost:budget_daily_usd", "expr": "vector(40)"},
        {
            "record": "genai_cost:budget_monthly_usd",
            "expr": "vector(7.5)",
            "labels": {"feature_name": "search"},
        },
    ]
    for name in ("all-day", "tokens", "users", "paris", "models"):
        assert f"#   {name}: " in text


def test_the_command_prints_the_rules(capsys: object) -> None:
    assert cli.main(["budgets", "--prometheus", "--file", str(ROOT / EXAMPLE)]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert yaml.safe_load(out)["groups"][0]["name"] == "genai_cost_budgets"
