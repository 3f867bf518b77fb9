"""The budget ledger in PostgreSQL, for budgets shared by several machines.

Same tables and the same steps as ``SQLiteLedger`` (ledger.py); what makes a reservation atomic
across machines is a transaction-scoped advisory lock per (budget, scope), taken in a fixed order by
``reserve`` and ``settle`` alike. So no two calls counted under one key can read, check and reserve
at once, and a settlement never lands between a reservation's two sums. Other keys go on in
parallel. Needs ``psycopg`` (3.x): ``pip install 'psycopg[binary]'``.

Times are the clients' clocks (a reservation's expiry, a window's bucket): keep the machines' clocks
in sync (NTP), as the windows assume anyway.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

from genai_cost.budget.ledger import RESERVATION_TTL, Claim, Level, Outcome, SqlLedger

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS genai_cost_budget_spend (
        budget TEXT NOT NULL, scope TEXT NOT NULL, bucket BIGINT NOT NULL, amount DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (budget, scope, bucket))""",
    """CREATE TABLE IF NOT EXISTS genai_cost_budget_reservation (
        id BIGSERIAL PRIMARY KEY, budget TEXT NOT NULL, scope TEXT NOT NULL, bucket BIGINT NOT NULL,
        amount DOUBLE PRECISION NOT NULL, expires DOUBLE PRECISION NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS genai_cost_budget_reservation_by_budget
        ON genai_cost_budget_reservation (budget, scope, bucket)""",
    """CREATE INDEX IF NOT EXISTS genai_cost_budget_reservation_by_expiry
        ON genai_cost_budget_reservation (expires)""",
)
CONNECT_TIMEOUT = 3  # seconds
RETRY_AFTER = 30.0  # seconds between connection attempts while the database is unreachable
_SCHEMA_LOCK = 0x67656E6169  # one advisory lock key for creating the tables ("genai")
# Both sums in one statement: one snapshot, so they agree with each other.
_LEVEL = """SELECT
    (SELECT coalesce(sum(amount), 0) FROM genai_cost_budget_spend
        WHERE budget = %(budget)s AND scope = %(scope)s AND bucket >= %(since)s),
    (SELECT coalesce(sum(amount), 0) FROM genai_cost_budget_reservation
        WHERE budget = %(budget)s AND scope = %(scope)s AND bucket >= %(since)s AND expires >= %(now)s)"""


class PostgresLedger(SqlLedger):
    """The ledger in a PostgreSQL database (``conninfo``: a ``postgresql://`` URL or DSN)."""

    _SCOPES_SQL = (
        "SELECT scope FROM genai_cost_budget_spend WHERE budget = %s AND bucket >= %s UNION "
        "SELECT scope FROM genai_cost_budget_reservation WHERE budget = %s AND bucket >= %s "
        "AND expires >= %s ORDER BY 1"
    )

    def __init__(self, conninfo: str) -> None:
        super().__init__()
        self.conninfo = conninfo
        self._retry_at = 0.0

    def _connection(self) -> Any:
        conn = self._conn
        if conn is None or conn.closed or self._pid != os.getpid():
            # While the database is unreachable, calls go on unchecked (guard.py logs it) without each
            # one waiting for a connection attempt: one attempt per RETRY_AFTER seconds.
            if time.monotonic() < self._retry_at:
                raise ConnectionError(f"budget ledger unreachable; next attempt in under {RETRY_AFTER:g} s")
            import psycopg

            try:
                conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    for statement in _SCHEMA:
                        conn.execute(statement)
            except Exception:
                self._retry_at = time.monotonic() + RETRY_AFTER
                raise
            self._conn, self._pid = conn, os.getpid()
        return conn

    @staticmethod
    def _lock_keys(conn: Any, claims: Iterable[Claim]) -> None:
        for budget, scope in sorted({(c.budget, c.scope) for c in claims}):  # a fixed order: no deadlock
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{budget}\x1f{scope}",))

    @staticmethod
    def _level(conn: Any, claim: Claim, now: float) -> Level:
        row = conn.execute(
            _LEVEL, {"budget": claim.budget, "scope": claim.scope, "since": claim.since, "now": now}
        ).fetchone()
        return Level(claim, float(row[0]), float(row[1]))

    def reserve(self, claims: Sequence[Claim], now: float, ttl: float = RESERVATION_TTL) -> Outcome:
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                self._lock_keys(conn, claims)
                conn.execute(
                    "DELETE FROM genai_cost_budget_reservation WHERE budget = ANY(%s) AND expires < %s",
                    (sorted({c.budget for c in claims}), now),
                )
                levels = tuple(self._level(conn, claim, now) for claim in claims)
                if any(level.over and level.claim.hard for level in levels):
                    return Outcome(None, levels)
                ids = tuple(
                    conn.execute(
                        "INSERT INTO genai_cost_budget_reservation (budget, scope, bucket, amount, expires) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                        (c.budget, c.scope, c.bucket, c.amount, now + ttl),
                    ).fetchone()[0]
                    for c in claims
                )
        return Outcome(ids, levels)

    def settle(self, claims: Sequence[Claim], ids: Sequence[int], amounts: Sequence[float]) -> None:
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                self._lock_keys(conn, claims)
                conn.execute("DELETE FROM genai_cost_budget_reservation WHERE id = ANY(%s)", (list(ids),))
                for claim, amount in zip(claims, amounts, strict=True):
                    if amount:
                        conn.execute(
                            "INSERT INTO genai_cost_budget_spend (budget, scope, bucket, amount) "
                            "VALUES (%s, %s, %s, %s) ON CONFLICT (budget, scope, bucket) "
                            "DO UPDATE SET amount = genai_cost_budget_spend.amount + excluded.amount",
                            (claim.budget, claim.scope, claim.bucket, amount),
                        )
                    if claim.since:  # buckets that left their window are of no more use
                        conn.execute(
                            "DELETE FROM genai_cost_budget_spend WHERE budget = %s AND scope = %s AND bucket < %s",
                            (claim.budget, claim.scope, claim.since),
                        )
