"""Schema of the store: an ordered list of named migrations, recorded as they are applied.

The same migrations build a SQLite file and a PostgreSQL database; the few words that differ come
from the ``Dialect``. Each migration runs once per store, in order, inside the same write transaction
that reads which ones are already applied (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL), so two processes opening a fresh store at once cannot both migrate it. A store written
by a newer genai-cost (names we do not know; on SQLite also a higher ``PRAGMA user_version``) is
refused instead of written into.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from genai_cost.store import rollup
from genai_cost.store.dialect import SQLITE, Dialect
from genai_cost.store.errors import ForeignStoreError, NewerStoreError

MIGRATIONS_TABLE = "_genai_cost_migrations"

Migration = Callable[[Any, Dialect], None]  # (a connection, its dialect)
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_usage(db: Any, d: Dialect) -> None:
    # One row per GenAI span. Token and cost columns are NULL when not reported, never 0.
    db.execute(
        f"""
        CREATE TABLE usage (
            id {d.pk},
            start_time {d.sortable_text} NOT NULL,
            duration_s {d.real},
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
            cost {d.real},
            currency TEXT,
            cost_source TEXT,
            cost_input {d.real},
            cost_output {d.real},
            cost_cache_read {d.real},
            cost_cache_write {d.real},
            unpriced {d.flag} NOT NULL DEFAULT FALSE,
            usage_missing {d.flag} NOT NULL DEFAULT FALSE,
            error_type TEXT,
            rate_limited {d.flag} NOT NULL DEFAULT FALSE,
            streaming {d.flag} NOT NULL DEFAULT FALSE,
            time_to_first_chunk_s {d.real},
            response_id TEXT,
            finish_reasons TEXT
        )
        """
    )
    db.execute("CREATE INDEX usage_start_time ON usage (start_time)")
    # An exporter retry must not bill a span twice.
    db.execute("CREATE UNIQUE INDEX usage_span ON usage (trace_id, span_id)")


@migration
def m002_input_audio_tokens(db: Any, d: Dialect) -> None:
    # The audio part of input_tokens (priced apart by Gemini and OpenAI's audio models); NULL when the
    # provider reported no audio breakdown, and on every row written before this migration.
    db.execute("ALTER TABLE usage ADD COLUMN input_audio_tokens INTEGER")


@migration
def m003_token_parts(db: Any, d: Dialect) -> None:
    # Every token part a call reports, so a stored call can be priced again exactly: Anthropic's cache
    # writes by TTL and Gemini's tool-use prompt tokens (parts of cache_creation_tokens and input_tokens).
    for column in ("cache_creation_5m_tokens", "cache_creation_1h_tokens", "tool_use_prompt_tokens"):
        db.execute(f"ALTER TABLE usage ADD COLUMN {column} INTEGER")


@migration
def m004_unsampled_calls(db: Any, d: Dialect) -> None:
    # Every call is stored, sampled or not; a call whose span was not sampled has no trace to link to,
    # so its trace_id is NULL.
    if d.name == "sqlite":
        _sqlite_drop_not_null(db, "trace_id TEXT NOT NULL", "trace_id TEXT")
    else:
        db.execute("ALTER TABLE usage ALTER COLUMN trace_id DROP NOT NULL")
    # A retried batch must not store an unsampled call twice either (its span id is random, 64 bits).
    db.execute("CREATE UNIQUE INDEX usage_unsampled_span ON usage (span_id) WHERE trace_id IS NULL")


@migration
def m004_hourly_rollups(db: Any, d: Dialect) -> None:
    # Hourly totals kept on write, so reports over millions of calls read far fewer rows
    # (store/rollup.py); calls already stored are added up now.
    for table in _M004_TABLES:
        table.create(db, d, _M004_TOKENS)
        table.backfill(db, _M004_TOKENS)


# The token columns when m004 was written; a later token kind's migration adds its column to
# ``usage`` and to each ``rollup.TABLES`` table.
_M004_TOKENS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cache_creation_5m_tokens",
    "cache_creation_1h_tokens",
    "reasoning_tokens",
    "tool_use_prompt_tokens",
    "input_audio_tokens",
)


# The rollup tables as m004 made them (later migrations change their keys).
_M004_TABLES = (
    rollup.Table("usage_hourly", ("feature", "user_id", "session_id", "provider", "model", "operation")),
    rollup.Table("usage_hourly_totals", ("feature", "provider", "model", "operation")),
)


def _sqlite_drop_not_null(db: Any, column: str, nullable: str) -> None:
    # SQLite cannot drop a NOT NULL constraint: the table is rebuilt from its own definition with that
    # one change (SQLite's documented way), rows and ids kept, then the indexes of m001 made again.
    (create,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'usage'").fetchone()
    changed = create.replace(column, nullable, 1)
    if changed == create:
        raise RuntimeError(f"the usage table has no {column!r} column to change")
    db.execute(changed.replace("CREATE TABLE usage", "CREATE TABLE usage_rebuilt", 1))
    db.execute("INSERT INTO usage_rebuilt SELECT * FROM usage")
    db.execute("DROP TABLE usage")
    db.execute("ALTER TABLE usage_rebuilt RENAME TO usage")
    db.execute("CREATE INDEX usage_start_time ON usage (start_time)")
    db.execute("CREATE UNIQUE INDEX usage_span ON usage (trace_id, span_id)")


@migration
def m005_price_version(db: Any, d: Dialect) -> None:
    # Which prices priced each call and when (NULL on rows written before this migration), and a log of
    # every `genai-cost reprice` that changed the store.
    db.execute("ALTER TABLE usage ADD COLUMN price_version TEXT")
    db.execute("ALTER TABLE usage ADD COLUMN priced_at TEXT")
    db.execute(
        f"""
        CREATE TABLE reprice_runs (
            id {d.pk},
            run_at TEXT NOT NULL,
            price_version TEXT NOT NULL,
            range_start TEXT,
            range_end TEXT,
            calls_seen INTEGER NOT NULL,
            calls_changed INTEGER NOT NULL,
            cost_before {d.real},
            cost_after {d.real}
        )
        """
    )


@migration
def m006_served_dimensions(db: Any, d: Dialect) -> None:
    # How each call was served, as its response said (usage.Usage's served block; NULL: not stated, and
    # on every row written before this migration), so a stored call is re-priced with its tier and a
    # report can be grouped by them. The hourly totals get a "pricing" key for `--by pricing`: a new part
    # of their primary key, so both tables are made again and added up from the calls.
    for column in ("service_tier", "processing", "speed", "inference_geo"):
        db.execute(f"ALTER TABLE usage ADD COLUMN {column} TEXT")
    for table in _M006_TABLES:
        db.execute(f"DROP TABLE {table.name}")
        table.create(db, d, _M004_TOKENS)
        table.backfill(db, _M004_TOKENS)


# The rollup tables as m006 made them.
_M006_TABLES = tuple(rollup.Table(t.name, (*t.keys, "pricing")) for t in _M004_TABLES)


@migration
def m007_priced_units(db: Any, d: Dialect) -> None:
    # Units billed per use beside the tokens (tool calls, images, audio seconds, characters), the part
    # of the cost they make, and whether a call was priced for part of what was billed (a unit with no
    # rate) and why. NULL / false on rows written before this migration.
    for name in ("usage", *(t.name for t in rollup.TABLES)):  # the calls and their hourly totals
        for column, kind in _M007_UNITS:
            db.execute(f"ALTER TABLE {name} ADD COLUMN {column} {d.real if kind == 'real' else 'INTEGER'}")
    db.execute(f"ALTER TABLE usage ADD COLUMN cost_tools {d.real}")
    db.execute(f"ALTER TABLE usage ADD COLUMN partial {d.flag} NOT NULL DEFAULT FALSE")
    db.execute("ALTER TABLE usage ADD COLUMN partial_reason TEXT")
    for table in rollup.TABLES:
        db.execute(f"ALTER TABLE {table.name} ADD COLUMN {rollup.PARTIAL_CALLS} INTEGER")


_M007_UNITS = (
    ("web_search_calls", "integer"),
    ("web_fetch_calls", "integer"),
    ("code_execution_calls", "integer"),
    ("file_search_calls", "integer"),
    ("images", "integer"),
    ("audio_seconds", "real"),
    ("input_characters", "integer"),
)


@migration
def m008_image_option(db: Any, d: Dialect) -> None:
    # A DALL-E call's image size and quality ("1024x1792/hd", usage.Usage.image_option), which its
    # per-image price depends on, so a stored call is re-priced exactly. NULL on rows written before.
    db.execute("ALTER TABLE usage ADD COLUMN image_option TEXT")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_not_newer(db: Any, applied: set[str], d: Dialect) -> None:
    version = d.schema_version(db)
    unknown = applied - {name for name, _ in MIGRATIONS}
    if version > len(MIGRATIONS) or unknown:
        raise NewerStoreError(
            f"store schema version {max(version, len(applied))} is newer than this genai-cost supports "
            f"({len(MIGRATIONS)}); upgrade genai-cost to read it"
        )


_FOREIGN = "a SQLite database of another program, not a genai-cost store"
_FOREIGN_POSTGRES = (
    "the database's schema holds a 'usage' table that is not genai-cost's; "
    "give genai-cost a database (or a schema, with ?options=-csearch_path=NAME) of its own"
)


def applied_migrations(db: Any, d: Dialect = SQLITE) -> set[str]:
    """The migrations applied to the store; raises if the store is another program's or too new.

    The tables are read in one statement: another process may be creating the store at this very
    moment, and two separate reads (is there a migrations table? are there tables?) could see before
    and after its commit, taking a store being made for another program's file.
    """
    tables = d.tables(db)
    if MIGRATIONS_TABLE not in tables:
        # SQLite: tables but no migration record is another program's file (a mistyped -d). A
        # PostgreSQL database may hold other tables; only a usage table of someone else's is in the way.
        if tables if d.name == "sqlite" else tables & {"usage"}:
            raise ForeignStoreError(_FOREIGN if d.name == "sqlite" else _FOREIGN_POSTGRES)
        return set()
    applied = {row[0] for row in db.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
    _check_not_newer(db, applied, d)
    return applied


def check_readable(db: Any, d: Dialect = SQLITE) -> None:
    """Raise if the store is another program's or needs a newer genai-cost. Reads only."""
    applied_migrations(db, d)


def migrate(db: Any, d: Dialect = SQLITE) -> list[str]:
    """Apply pending migrations; return their names. ``db`` must be in autocommit mode."""
    # Fast path without a write lock: readers and writers reopen the store often.
    applied = applied_migrations(db, d)
    if len(applied) == len(MIGRATIONS):
        return []
    db.execute(d.begin_write)
    try:
        d.lock_for_migration(db)
        applied = applied_migrations(db, d)  # again, now under the write lock
        db.execute(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT)")
        done = []
        for name, fn in MIGRATIONS:
            if name in applied:
                continue
            fn(db, d)
            db.execute(
                d.sql(f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)"), (name, _now())
            )
            done.append(name)
        d.set_schema_version(db, len(MIGRATIONS))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return done
