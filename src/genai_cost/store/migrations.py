"""Schema of the local store: an ordered list of named migrations, recorded as they are applied.

Each migration runs once per file, in order, inside the same ``BEGIN IMMEDIATE`` transaction that
reads which ones are already applied, so two processes opening a fresh file at once cannot both
migrate it. ``PRAGMA user_version`` mirrors the number of applied migrations so a file written by a
newer genai-cost (more migrations, or names we do not know) is refused instead of written into.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from genai_cost.store.errors import ForeignStoreError, NewerStoreError

MIGRATIONS_TABLE = "_genai_cost_migrations"

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_usage(db: sqlite3.Connection) -> None:
    # One row per GenAI span. Token and cost columns are NULL when not reported, never 0.
    db.execute(
        """
        CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            start_time TEXT NOT NULL,
            duration_s REAL,
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            service_name TEXT,
            operation TEXT NOT NULL,
            provider TEXT,
            request_model TEXT,
            response_model TEXT,
            server_address TEXT,
            feature TEXT,
            user_id TEXT,
            session_id TEXT,
            tags TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cache_read_tokens INTEGER,
            cache_creation_tokens INTEGER,
            reasoning_tokens INTEGER,
            cost REAL,
            currency TEXT,
            cost_source TEXT,
            cost_input REAL,
            cost_output REAL,
            cost_cache_read REAL,
            cost_cache_write REAL,
            unpriced INTEGER NOT NULL DEFAULT 0,
            usage_missing INTEGER NOT NULL DEFAULT 0,
            error_type TEXT,
            rate_limited INTEGER NOT NULL DEFAULT 0,
            streaming INTEGER NOT NULL DEFAULT 0,
            time_to_first_chunk_s REAL,
            response_id TEXT,
            finish_reasons TEXT
        )
        """
    )
    db.execute("CREATE INDEX usage_start_time ON usage (start_time)")
    # An exporter retry must not bill a span twice.
    db.execute("CREATE UNIQUE INDEX usage_span ON usage (trace_id, span_id)")


@migration
def m002_input_audio_tokens(db: sqlite3.Connection) -> None:
    # The audio part of input_tokens (priced apart by Gemini and OpenAI's audio models); NULL when the
    # provider reported no audio breakdown, and on every row written before this migration.
    db.execute("ALTER TABLE usage ADD COLUMN input_audio_tokens INTEGER")


@migration
def m003_token_parts(db: sqlite3.Connection) -> None:
    # Every token part a call reports, so a stored call can be priced again exactly: Anthropic's cache
    # writes by TTL and Gemini's tool-use prompt tokens (parts of cache_creation_tokens and input_tokens).
    for column in ("cache_creation_5m_tokens", "cache_creation_1h_tokens", "tool_use_prompt_tokens"):
        db.execute(f"ALTER TABLE usage ADD COLUMN {column} INTEGER")


@migration
def m005_price_version(db: sqlite3.Connection) -> None:
    # Which prices priced each call and when (NULL on rows written before this migration), and a log of
    # every `genai-cost reprice` that changed the store.
    db.execute("ALTER TABLE usage ADD COLUMN price_version TEXT")
    db.execute("ALTER TABLE usage ADD COLUMN priced_at TEXT")
    db.execute(
        """
        CREATE TABLE reprice_runs (
            id INTEGER PRIMARY KEY,
            run_at TEXT NOT NULL,
            price_version TEXT NOT NULL,
            range_start TEXT,
            range_end TEXT,
            calls_seen INTEGER NOT NULL,
            calls_changed INTEGER NOT NULL,
            cost_before REAL,
            cost_after REAL
        )
        """
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_not_newer(db: sqlite3.Connection, applied: set[str]) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    unknown = applied - {name for name, _ in MIGRATIONS}
    if version > len(MIGRATIONS) or unknown:
        raise NewerStoreError(
            f"store schema version {max(version, len(applied))} is newer than this genai-cost supports "
            f"({len(MIGRATIONS)}); upgrade genai-cost to read it"
        )


_FOREIGN = "a SQLite database of another program, not a genai-cost store"


def applied_migrations(db: sqlite3.Connection) -> set[str]:
    """The migrations applied to the file; raises if the file is another program's or too new.

    The file's tables are read in one statement: another process may be creating the store at this
    very moment, and two separate reads (is there a migrations table? are there tables?) could see
    before and after its commit, taking a store being made for another program's file.
    """
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if MIGRATIONS_TABLE not in tables:
        if tables:  # tables but no migration record: another program's file (a mistyped -d)
            raise ForeignStoreError(_FOREIGN)
        return set()
    applied = {row[0] for row in db.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
    _check_not_newer(db, applied)
    return applied


def check_readable(db: sqlite3.Connection) -> None:
    """Raise if the file is another program's or needs a newer genai-cost. Reads only."""
    applied_migrations(db)


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply pending migrations; return their names. ``db`` must be in autocommit mode."""
    # Fast path without a write lock: readers and writers reopen the file often.
    applied = applied_migrations(db)
    if len(applied) == len(MIGRATIONS):
        return []
    db.execute("BEGIN IMMEDIATE")
    try:
        applied = applied_migrations(db)  # again, now under the write lock
        db.execute(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT)")
        done = []
        for name, fn in MIGRATIONS:
            if name in applied:
                continue
            fn(db)
            db.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)", (name, _now()))
            done.append(name)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return done
