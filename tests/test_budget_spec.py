"""The budgets file and budgets given in code: the schema, windows and `file:line: field` errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from genai_cost.budget.errors import BudgetFileError
from genai_cost.budget.spec import TOKENS, USD, Budget, Window, budgets_from_code, load_budgets

GOOD = """\
budgets:
  - name: monthly-total
    limit_usd: 500
    window: month
  - name: per-user-tokens
    per: user
    limit_tokens: 1000000
    window: month
  - name: resume-daily
    match: {feature: resume_analysis}
    limit_usd: 20
    window: day
    timezone: Europe/Paris
    action: warn
  - name: rolling
    limit_usd: 1.5
    window: rolling:24h
    per: tag:team
    match: {model: "gpt-4o*", provider: [openai, groq]}
"""


def write(tmp_path: Path, text: str, name: str = "budgets.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_issue_example_reads(tmp_path: Path) -> None:
    budgets = load_budgets(write(tmp_path, GOOD))
    assert [b.name for b in budgets] == ["monthly-total", "per-user-tokens", "resume-daily", "rolling"]
    total, per_user, daily, rolling = budgets
    assert (total.limit, total.unit, total.window.kind, total.per, total.action) == (
        500.0,
        USD,
        "month",
        "global",
        "raise",
    )
    assert (per_user.unit, per_user.per) == (TOKENS, "user")
    assert daily.match == (("feature", ("resume_analysis",)),)
    assert (daily.window.timezone, daily.action) == ("Europe/Paris", "warn")
    assert rolling.window == Window("rolling", 86400.0)
    assert rolling.per == "tag:team"
    assert rolling.match == (("model", ("gpt-4o*",)), ("provider", ("openai", "groq")))
    assert total.where.endswith("budgets.yaml:2")


def test_json_reads_the_same(tmp_path: Path) -> None:
    path = write(
        tmp_path, '{"budgets": [\n {"name": "a", "limit_tokens": 10, "window": "total"}\n]}', "b.json"
    )
    (budget,) = load_budgets(path)
    assert (budget.name, budget.limit, budget.unit, budget.window.kind) == ("a", 10.0, TOKENS, "total")


@pytest.mark.parametrize(
    ("text", "line", "field", "problem"),
    [
        ("budgets:\n  - name: a\n    limit_usd: -1\n", 3, "budgets[0].limit_usd", "expected a number >= 0"),
        (
            "budgets:\n  - name: a\n    limit_usd: 1\n    limit_tokens: 2\n",
            4,
            "budgets[0].limit_usd",
            "exactly one",
        ),
        (
            "budgets:\n  - name: a\n    limit_usd: 1\n    window: week\n",
            4,
            "budgets[0].window",
            "expected day",
        ),
        (
            "budgets:\n  - name: a\n    limit_usd: 1\n    window: rolling:5x\n",
            4,
            "budgets[0].window",
            "duration",
        ),
        ("budgets:\n  - name: a\n    limit_usd: 1\n    per: team\n", 4, "budgets[0].per", "tag:<key>"),
        (
            "budgets:\n  - name: a\n    limit_usd: 1\n    actoin: warn\n",
            4,
            "budgets[0].actoin",
            "unknown key",
        ),
        (
            "budgets:\n  - name: a\n    limit_usd: 1\n    action: stop\n",
            4,
            "budgets[0].action",
            "raise, warn",
        ),
        (
            "budgets:\n  - name: a\n    limit_usd: 1\n    timezone: Mars/Base\n",
            4,
            "budgets[0].timezone",
            "unknown",
        ),
        (
            "budgets:\n  - name: a\n    limit_usd: 1\n    match: {colour: red}\n",
            4,
            "budgets[0].match.colour",
            "unknown match key",
        ),
        ("budgets:\n  - limit_usd: 1\n", 2, "budgets[0].name", "required"),
        (
            "budgets:\n  - {name: a, limit_usd: 1}\n  - {name: a, limit_usd: 2}\n",
            3,
            "budgets[1].name",
            "already used",
        ),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BudgetFileError) as caught:
        load_budgets(path)
    error = caught.value
    assert (error.line, error.field) == (line, field)
    assert problem in error.problem
    assert str(error).startswith(f"{path}:{line}: {field}: ")


def test_syntax_errors_carry_their_line(tmp_path: Path) -> None:
    with pytest.raises(BudgetFileError) as caught:
        load_budgets(write(tmp_path, "budgets:\n  - name: [a\n"))
    assert caught.value.line is not None


def test_code_uses_the_same_schema() -> None:
    (budget,) = budgets_from_code([{"name": "daily", "limit_usd": 2, "window": "day", "per": "feature"}])
    assert (budget.name, budget.limit, budget.window.kind, budget.per) == ("daily", 2.0, "day", "feature")
    with pytest.raises(BudgetFileError, match=r"^<code>: budgets\[0\]\.window: "):
        budgets_from_code([{"name": "x", "limit_usd": 1, "window": "fortnight"}])
    ready = Budget("made", 3.0, USD)
    assert budgets_from_code([ready]) == (ready,)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_calendar_windows_follow_their_time_zone() -> None:
    now = _ts("2026-03-31T23:30:00+00:00")
    assert Window("day").start(now) == _ts("2026-03-31T00:00:00+00:00")
    assert Window("month").start(now) == _ts("2026-03-01T00:00:00+00:00")
    assert Window("month").end(now) == _ts("2026-04-01T00:00:00+00:00")
    # 01:30 on April 1st in Paris (summer time, UTC+2): a new day and a new month there.
    paris = Window("day", timezone="Europe/Paris")
    assert paris.start(now) == _ts("2026-04-01T00:00:00+02:00")
    assert paris.end(now) == _ts("2026-04-02T00:00:00+02:00")
    assert Window("month", timezone="Europe/Paris").start(now) == _ts("2026-04-01T00:00:00+02:00")
    assert datetime.fromtimestamp(Window("day").bucket(now), UTC).hour == 0


def test_rolling_windows_count_whole_buckets_on_the_safe_side() -> None:
    window = Window("rolling", 86400.0)
    now = 1_000_000_000.0
    assert window.since(now) <= now - 86400  # a bucket partly out of the window still counts
    assert now - 86400 - window.since(now) < 86400 / 96 + 1
    assert window.bucket(now) <= now < window.bucket(now) + 86400 / 96 + 1
