"""Where budgets are counted: reservations of calls in flight and the spend of finished ones.

``Ledger`` is the interface the guard uses (so a PostgreSQL ledger can sit beside this one);
``SQLiteLedger`` is the one-machine implementation: a SQLite file in WAL mode, each reservation one
``BEGIN IMMEDIATE`` transaction, which holds SQLite's write lock from its first statement. So
"read what is spent and reserved, check, then reserve" cannot interleave with another thread's or
another process's, and no two calls can both take the last dollar.

Spend is kept per (budget, scope, bucket): a bucket is the window's start for calendar windows, 0 for
``total``, a slice of a rolling window (spec.Window.bucket). A reservation is a row of its own with an
expiry time, so a process that died mid-call stops holding budget once its reservations expire.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

RESERVATION_TTL = 900.0  # seconds: longer than any call or stream we expect; then a crash's hold lapses
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS spend (
        budget TEXT NOT NULL, scope TEXT NOT NULL, bucket INTEGER NOT NULL, amount REAL NOT NULL,
        PRIMARY KEY (budget, scope, bucket)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS reservation (
        id INTEGER PRIMARY KEY, budget TEXT NOT NULL, scope TEXT NOT NULL, bucket INTEGER NOT NULL,
        amount REAL NOT NULL, expires REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS reservation_by_budget ON reservation (budget, scope, bucket)",
    "CREATE INDEX IF NOT EXISTS reservation_by_expiry ON reservation (expires)",
)


@dataclass(frozen=True, slots=True)
class Claim:
    """One budget's share of a call: ``amount`` to reserve under (budget, scope, bucket)."""

    budget: str
    scope: str
    bucket: int  # where the spend is counted
    since: int  # buckets at or after this one are in the window now
    limit: float
    amount: float
    hard: bool  # True: refuse when over; False (action: warn): reserve anyway, report it


@dataclass(frozen=True, slots=True)
class Level:
    """A budget's state as a reservation saw it (before adding this call's amount)."""

    claim: Claim
    spent: float
    reserved: float

    @property
    def over(self) -> bool:
        return self.spent + self.reserved + self.claim.amount > self.claim.limit


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of ``reserve``: reservation ids (None when refused) and every claim's level."""

    ids: tuple[int, ...] | None
    levels: tuple[Level, ...]


class Ledger(Protocol):
    def reserve(self, claims: Sequence[Claim], now: float, ttl: float = RESERVATION_TTL) -> Outcome:
        """Atomically: refuse if a hard claim would go over, else reserve every claim."""
        ...

    def settle(self, claims: Sequence[Claim], ids: Sequence[int], amounts: Sequence[float]) -> None:
        """Drop the reservations ``ids`` and count ``amounts`` (the exact cost; 0 releases)."""
        ...

    def levels(self, claims: Sequence[Claim], now: float) -> list[Level]:
        """Spent and reserved per claim, for reports (no reservation is made)."""
        ...

    def scopes(self, budget: str, since: int, now: float) -> list[str]:
        """The scopes a budget has spend or reservations under in the window."""
        ...

    def close(self) -> None: ...


class SqlLedger:
    """What the SQLite and PostgreSQL ledgers share: one connection per process, used by its threads
    under a lock, and the read-only queries (levels, scopes). Each backend opens its connection,
    reads one claim's level and makes its own reserve and settle transactions (the locking differs:
    SQLite's write lock, PostgreSQL's advisory locks)."""

    # The scopes with spend or live reservations in a budget's window; parameters in this order:
    # budget, since, budget, since, now (the backend's placeholders and table names).
    _SCOPES_SQL: str

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid = 0

    def _connection(self) -> Any:
        raise NotImplementedError

    @staticmethod
    def _level(conn: Any, claim: Claim, now: float) -> Level:
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def levels(self, claims: Sequence[Claim], now: float) -> list[Level]:
        with self._lock:
            conn = self._connection()
            return [self._level(conn, claim, now) for claim in claims]

    def scopes(self, budget: str, since: int, now: float) -> list[str]:
        with self._lock:
            rows = (
                self._connection().execute(self._SCOPES_SQL, (budget, since, budget, since, now)).fetchall()
            )
        return [row[0] for row in rows]


class SQLiteLedger(SqlLedger):
    """The ledger in a SQLite file; one connection per process, shared by its threads under a lock."""

    _SCOPES_SQL = (
        "SELECT scope FROM spend WHERE budget = ? AND bucket >= ? UNION "
        "SELECT scope FROM reservation WHERE budget = ? AND bucket >= ? AND expires >= ? ORDER BY 1"
    )

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        _ledgers.add(self)

    def _after_fork(self) -> None:
        # The child has one thread: a lock another parent thread held at the fork would never be
        # released, and the parent's connection is not the child's to use (or close).
        self._lock = threading.Lock()
        self._conn = None

    def _connection(self) -> sqlite3.Connection:
        # A forked child must not use its parent's connection (SQLite forbids it): it opens its own.
        if self._conn is None or self._pid != os.getpid():  # (the pid check: forks the hook missed)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, consistent always
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @staticmethod
    def _level(conn: sqlite3.Connection, claim: Claim, now: float) -> Level:
        key = (claim.budget, claim.scope, claim.since)
        spent = conn.execute(
            "SELECT total(amount) FROM spend WHERE budget = ? AND scope = ? AND bucket >= ?", key
        ).fetchone()[0]
        reserved = conn.execute(
            "SELECT total(amount) FROM reservation WHERE budget = ? AND scope = ? AND bucket >= ? "
            "AND expires >= ?",
            (*key, now),
        ).fetchone()[0]
        return Level(claim, spent, reserved)

    def reserve(self, claims: Sequence[Claim], now: float, ttl: float = RESERVATION_TTL) -> Outcome:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM reservation WHERE expires < ?", (now,))
                levels = tuple(self._level(conn, claim, now) for claim in claims)
                if any(level.over and level.claim.hard for level in levels):
                    conn.execute("ROLLBACK")
                    return Outcome(None, levels)
                ids = tuple(
                    conn.execute(
                        "INSERT INTO reservation (budget, scope, bucket, amount, expires) VALUES (?, ?, ?, ?, ?)",
                        (c.budget, c.scope, c.bucket, c.amount, now + ttl),
                    ).lastrowid
                    or 0
                    for c in claims
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return Outcome(ids, levels)

    def settle(self, claims: Sequence[Claim], ids: Sequence[int], amounts: Sequence[float]) -> None:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("DELETE FROM reservation WHERE id = ?", [(i,) for i in ids])
                conn.executemany(
                    "INSERT INTO spend (budget, scope, bucket, amount) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (budget, scope, bucket) DO UPDATE SET amount = amount + excluded.amount",
                    [(c.budget, c.scope, c.bucket, a) for c, a in zip(claims, amounts, strict=True) if a],
                )
                # Buckets that left their window are of no more use (calendar and rolling windows).
                conn.executemany(
                    "DELETE FROM spend WHERE budget = ? AND scope = ? AND bucket < ?",
                    [(c.budget, c.scope, c.since) for c in claims if c.since],
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise


_ledgers: weakref.WeakSet[SQLiteLedger] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for ledger in list(_ledgers):
        ledger._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
