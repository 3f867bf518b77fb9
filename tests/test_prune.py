"""`genai-cost prune`: deletes calls older than the retention, on a real SQLite store (PostgreSQL:
tests/test_store_postgres.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from genai_cost import semconv as sc
from genai_cost.cli import main
from genai_cost.store.db import PRUNE_BATCH, UsageRow, UsageStore, format_time
from genai_cost.usage import Usage
from store_data import GROQ_MODEL, Call, record


def calls_by_age(days: list[float]) -> list[Call]:
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        Call(
            now - timedelta(days=age), 0.5, sc.PROVIDER_GROQ, GROQ_MODEL, user=f"age{age}", usage=Usage(1, 1)
        )
        for age in days
    ]


def prune_and_report(database: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, list[str]]:
    assert main(["prune", "-d", database, *args]) == 0
    out = capsys.readouterr().out
    with UsageStore.open(database, readonly=True) as store:
        users = sorted(r.user_id or "" for r in store.rows())
    return out, users


def test_prune_default_and_given_retention(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "usage.db")
    record(path, calls_by_age([1, 30, 89, 91, 200, 400]))
    out, users = prune_and_report(path, capsys, "--dry-run")
    assert "would delete 3 calls that started before" in out and len(users) == 6
    out, users = prune_and_report(path, capsys)  # the default: 90 days
    assert "deleted 3 calls" in out and users == ["age1", "age30", "age89"]
    out, users = prune_and_report(path, capsys, "--older-than", "4w")
    assert "deleted 2 calls" in out and users == ["age1"]


def test_prune_in_batches(tmp_path: Path) -> None:
    old = datetime.now(UTC) - timedelta(days=100)
    rows = [
        UsageRow(format_time(old + timedelta(seconds=i)), 0.5, None, f"{i:016x}", "chat")
        for i in range(PRUNE_BATCH + 5)
    ]
    rows.append(UsageRow(format_time(datetime.now(UTC)), 0.5, None, "f" * 16, "chat"))
    with UsageStore.open(tmp_path / "usage.db") as store:
        store.insert(rows)
        assert store.prune(datetime.now(UTC) - timedelta(days=90))[0] == PRUNE_BATCH + 5
        assert store.count() == 1


@pytest.mark.parametrize("bad", ["90", "today", "-5d", "ninety days"])
def test_prune_bad_age(tmp_path: Path, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune", "-d", str(tmp_path / "usage.db"), "--older-than", bad]) == 2
    assert "--older-than" in capsys.readouterr().err


def test_prune_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune", "-d", str(tmp_path / "none.db")]) == 2
    assert "no usage recorded yet" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
