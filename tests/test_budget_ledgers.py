"""The ledger contract, held by both ledgers: SQLite (one machine) and PostgreSQL (a fleet)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from genai_cost.budget.ledger import Claim, Ledger, SQLiteLedger
from genai_cost.budget.pg_ledger import PostgresLedger
from genai_cost.budget.setup import open_ledger
from postgres_server import PostgresServer, postgres_server


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: Any, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        made: Ledger = SQLiteLedger(tmp_path / "b.db")
    else:
        server = request.getfixturevalue("postgres")
        made = PostgresLedger(server.url)
        _reset(made)
    yield made
    made.close()


def _reset(ledger: Any) -> None:
    conn = ledger._connection()
    conn.execute("TRUNCATE genai_cost_budget_spend, genai_cost_budget_reservation")


def claim(
    amount: float, *, budget: str = "b", scope: str = "", limit: float = 1.0, hard: bool = True
) -> Claim:
    return Claim(budget, scope, 0, 0, limit, amount, hard)


def test_reserve_refuse_settle(ledger: Ledger) -> None:
    first = ledger.reserve([claim(0.6)], 1000.0)
    assert first.ids is not None and first.levels[0].reserved == 0.0
    refused = ledger.reserve([claim(0.6)], 1000.0)
    assert refused.ids is None and refused.levels[0].reserved == pytest.approx(0.6)
    ledger.settle([claim(0.6)], first.ids, [0.25])
    (level,) = ledger.levels([claim(0.0)], 1000.0)
    assert (level.spent, level.reserved) == (pytest.approx(0.25), 0.0)
    assert ledger.reserve([claim(0.75)], 1000.0).ids is not None  # exactly at the limit is allowed
    assert ledger.reserve([claim(0.01)], 1000.0).ids is None


def test_one_refusal_reserves_nothing_and_warn_claims_still_reserve(ledger: Ledger) -> None:
    ok, over = claim(0.5, budget="ok"), claim(2.0, budget="over")
    assert ledger.reserve([ok, over], 1000.0).ids is None
    assert ledger.levels([ok], 1000.0)[0].reserved == 0.0  # all or nothing
    soft = claim(2.0, budget="over", hard=False)
    outcome = ledger.reserve([ok, soft], 1000.0)
    assert outcome.ids is not None and outcome.levels[1].over


def test_scopes_are_counted_apart(ledger: Ledger) -> None:
    for scope in ("ann", "bob"):
        outcome = ledger.reserve([claim(0.9, scope=scope)], 1000.0)
        assert outcome.ids is not None
        ledger.settle([claim(0.9, scope=scope)], outcome.ids, [0.9])
    assert ledger.reserve([claim(0.2, scope="ann")], 1000.0).ids is None
    assert ledger.reserve([claim(0.2, scope="cid")], 1000.0).ids is not None
    assert ledger.scopes("b", 0, 1000.0) == ["ann", "bob", "cid"]


def test_reservations_of_a_crashed_process_expire(ledger: Ledger) -> None:
    assert ledger.reserve([claim(0.8)], 1000.0, ttl=60).ids is not None  # never settled
    assert ledger.reserve([claim(0.8)], 1030.0, ttl=60).ids is None
    assert ledger.reserve([claim(0.8)], 1061.0, ttl=60).ids is not None


def test_threads_never_reserve_past_the_limit(ledger: Ledger) -> None:
    """200 reservations of 1/128 from 20 threads on a limit of 1.0: exactly 128 are granted (binary
    fractions, so the sums are exact)."""

    def reserve(_: int) -> bool:
        return ledger.reserve([claim(1 / 128)], 1000.0).ids is not None

    with ThreadPoolExecutor(20) as pool:
        granted = sum(pool.map(reserve, range(200)))
    assert granted == 128
    assert ledger.levels([claim(0.0)], 1000.0)[0].reserved == pytest.approx(1.0)


def test_a_url_opens_postgres_and_a_path_sqlite(tmp_path: Path, postgres: PostgresServer) -> None:
    assert isinstance(open_ledger(postgres.url), PostgresLedger)
    assert isinstance(open_ledger(tmp_path / "b.db"), SQLiteLedger)
    assert isinstance(open_ledger(str(tmp_path / "b.db")), SQLiteLedger)


def test_the_budgets_command_reads_a_postgres_ledger(
    tmp_path: Path, postgres: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from genai_cost import cli

    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - name: fleet\n    limit_usd: 2\n    window: total\n")
    ledger = PostgresLedger(postgres.url)
    _reset(ledger)
    fleet = Claim("fleet", "", 0, 0, 2.0, 0.5, True)
    outcome = ledger.reserve([fleet], 1e12)  # far in the future: still held when the command runs
    assert outcome.ids is not None
    ledger.settle([fleet], outcome.ids, [0.75])
    ledger.reserve([fleet], 1e12)
    ledger.close()
    assert cli.main(["budgets", "--file", str(budgets), "--ledger", postgres.url, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["budget"], row["spent"], row["reserved"], row["left"]) == ("fleet", 0.75, 0.5, 0.75)


def test_an_unreachable_postgres_fails_fast_and_is_retried_later() -> None:
    import socket
    import time

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ledger = PostgresLedger(f"postgresql://genai@127.0.0.1:{port}/postgres")
    import psycopg

    with pytest.raises(psycopg.OperationalError):  # refused
        ledger.reserve([claim(0.1)], 1000.0)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="unreachable"):
        ledger.reserve([claim(0.1)], 1000.0)  # no new attempt yet
    assert time.monotonic() - started < 0.05
