"""The local SQLite store: where it lives, how it is opened, and every query run against it.

Several processes may write one file at once: WAL mode lets readers and one writer work together,
``busy_timeout`` makes a writer wait for the lock instead of failing, and each batch is one short
``BEGIN IMMEDIATE`` transaction, so a crash loses at most the batch being written.

The file holds user and session ids, so a store we create is readable by its owner only (0600, and
0700 for a directory we create; SQLite gives the -wal and -shm files the mode of the database).
``report`` opens the file read-only and never writes to it, so a user who may only read it can run it.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from genai_cost import config
from genai_cost import semconv as sc
from genai_cost.store import rollup
from genai_cost.store.dialect import SQLITE, Dialect, is_postgres
from genai_cost.store.errors import StoreCorruptError, StoreError, StoreMissingError
from genai_cost.store.migrations import MIGRATIONS, applied_migrations, check_readable, migrate
from genai_cost.store.timerange import TimeRange
from genai_cost.usage import SERVED_LABEL_SQL, STORED_COLUMNS, STORED_FIELDS, TOKEN_KINDS, Usage

BUSY_TIMEOUT_MS = 10_000
MEMORY = ":memory:"


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/genai-cost/usage.db``, else ``~/.local/share/genai-cost/usage.db``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "genai-cost" / "usage.db"


def resolve_db_path(path: str | os.PathLike[str] | None = None) -> Path:
    """An explicit path, else the env var, else the default location."""
    if path:
        return Path(path).expanduser()
    env = config.Settings.from_env().db_path
    if env:
        return Path(env).expanduser()
    return default_db_path()


def resolve_db(target: str | os.PathLike[str] | None = None) -> str:
    """A PostgreSQL URL as given (``-d`` or the env var), else the SQLite file's path."""
    if target is None:
        target = config.Settings.from_env().db_path
    if target is not None and is_postgres(str(target)):
        return str(target)
    return str(resolve_db_path(target))


def format_time(moment: datetime) -> str:
    """UTC, fixed width, so text order is time order and SQLite's date functions read it."""
    # Not strftime: its %Y gives "999", not "0999", on glibc, which breaks the order.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(slots=True)
class UsageRow:
    """One GenAI call as stored. ``None`` tokens and cost mean "not reported", never zero.

    Its token counts and served dimensions are a ``Usage`` (one column per ``usage.STORED_COLUMNS``
    entry), also readable as attributes: ``row.input_tokens`` is ``row.usage.input_tokens``.
    """

    start_time: str
    duration_s: float | None
    trace_id: str | None  # None: the call's span was not sampled (no trace to link to)
    span_id: str
    operation: str
    service_name: str | None = None
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    server_address: str | None = None
    feature: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    tags: str | None = None  # JSON object of the app's extra feature tags
    cost: float | None = None
    currency: str | None = None
    cost_source: str | None = None
    cost_input: float | None = None
    cost_output: float | None = None
    cost_cache_read: float | None = None
    cost_cache_write: float | None = None
    unpriced: bool = False
    usage_missing: bool = False
    error_type: str | None = None
    rate_limited: bool = False
    streaming: bool = False
    time_to_first_chunk_s: float | None = None
    response_id: str | None = None
    finish_reasons: str | None = None  # JSON array
    price_version: str | None = None  # the prices that gave ``cost`` (PriceBook.price_version)
    priced_at: str | None = None  # when ``cost`` was computed (the call's end, or a reprice)
    # --- priced units beyond tokens (migration m007_priced_units) ---
    cost_tools: float | None = None  # the per-use part of ``cost`` (tool calls, images, audio, ...)
    partial: bool = False  # priced for what is known only: a billed unit had no rate
    partial_reason: str | None = None  # the units without a rate
    usage: Usage = field(default_factory=Usage)

    def __getattr__(self, name: str) -> Any:
        if name in _TOKEN_NAMES:
            return getattr(self.usage, name)
        raise AttributeError(name)


_TOKEN_NAMES = frozenset(STORED_FIELDS)  # token counts and served dimensions
_CALL_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(UsageRow) if f.name != "usage")
USAGE_COLUMNS: tuple[str, ...] = _CALL_COLUMNS + STORED_COLUMNS
_TEXT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(UsageRow) if "str" in str(f.type))
_call_values = attrgetter(*_CALL_COLUMNS)
_token_values = attrgetter(*STORED_FIELDS)  # token counts and served dimensions


def _row_values(row: UsageRow) -> tuple[Any, ...]:
    return (*_call_values(row), *_token_values(row.usage))


# A lone surrogate (e.g. bytes decoded with surrogateescape) cannot be stored as UTF-8, nor a NUL in
# PostgreSQL: each becomes U+FFFD, the replacement character, as a lenient UTF-8 decoder shows a bad byte.
_SURROGATE = re.compile("[\ud800-\udfff\x00]")


def _valid_text(value: str) -> str:
    return _SURROGATE.sub("\ufffd", value)


def with_valid_text(row: UsageRow) -> UsageRow:
    """``row`` with every string that the store cannot hold repaired (see _valid_text)."""
    for name in _TEXT_COLUMNS:
        value = getattr(row, name)
        if isinstance(value, str) and _SURROGATE.search(value):
            setattr(row, name, _valid_text(value))
    return row


# A retried batch (a commit whose answer was lost) is not stored twice: the unique indexes say so.
_INSERT = (
    f"INSERT INTO usage ({', '.join(USAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in USAGE_COLUMNS)}) ON CONFLICT DO NOTHING"
)

PRUNE_BATCH = 20_000
_PRUNE_BATCH = (
    "DELETE FROM usage WHERE id IN (SELECT id FROM usage WHERE start_time < ? ORDER BY start_time LIMIT ?)"
)

# --by choices -> the SQL expression that names the group.
GROUP_BY: dict[str, str] = {
    "feature": "feature",
    "model": "COALESCE(request_model, response_model)",
    "provider": "provider",
    "user": "user_id",
    "session": "session_id",
    "operation": "operation",
    "day": "substr(start_time, 1, 10)",
    "pricing": SERVED_LABEL_SQL,  # how the calls were served: "service_tier=flex", "processing=batch", ...
}
TOTAL = "total"


@dataclass(slots=True)
class ReportRow:
    """Totals of one group (or of everything, when ``by`` is ``total``).

    ``tokens`` holds the summed count of each token kind (None: no call reported it), also readable
    as attributes (``row.input_tokens``).
    """

    by: str
    key: str | None
    requests: int = 0
    errors: int = 0
    rate_limited: int = 0
    tokens: Usage = field(default_factory=Usage)
    cost: float | None = None  # sum over priced calls; None when no call in the group has a price
    priced: int = 0  # calls with a cost
    unpriced: int = 0  # calls with tokens but no known price
    partial: int = 0  # calls priced for part of what was billed (a unit with no rate)
    usage_missing: int = 0  # calls whose provider reported no usage
    sessions: int = 0
    session_cost: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    latency_exact: bool = True  # False: estimated from histograms (see rollup.percentile)

    def __getattr__(self, name: str) -> Any:
        if name in _TOKEN_NAMES:
            return getattr(self.tokens, name)
        raise AttributeError(name)

    @classmethod
    def empty(cls, by: str, key: str | None = None) -> ReportRow:
        return cls(by, key)

    @property
    def avg_cost_per_call(self) -> float | None:
        return self.cost / self.priced if self.cost is not None and self.priced else None

    @property
    def avg_cost_per_session(self) -> float | None:
        return self.session_cost / self.sessions if self.session_cost is not None and self.sessions else None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def rate_limited_rate(self) -> float:
        return self.rate_limited / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "key": self.key,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "rate_limited": self.rate_limited,
            "rate_limited_rate": self.rate_limited_rate,
            **{kind.name: getattr(self.tokens, kind.name) for kind in TOKEN_KINDS},
            "cost_usd": self.cost,
            "priced": self.priced,
            "unpriced": self.unpriced,
            "partial": self.partial,
            "usage_missing": self.usage_missing,
            "avg_cost_per_call_usd": self.avg_cost_per_call,
            "sessions": self.sessions,
            "avg_cost_per_session_usd": self.avg_cost_per_session,
            "latency_p50_s": self.p50_s,
            "latency_p95_s": self.p95_s,
            "latency_p99_s": self.p99_s,
            "latency_approximate": not self.latency_exact,
        }


def _is_not_a_database(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "encrypted" in text


class UsageStore:
    """An open store (a SQLite file or a PostgreSQL database). Holds every query; the writer and the
    CLI only call methods. ``path`` is where it is, as it may be shown (no password)."""

    def __init__(
        self,
        conn: Any,
        path: str,
        dialect: Dialect = SQLITE,
        bad_text: tuple[type[Exception], ...] = (UnicodeEncodeError,),
    ) -> None:
        self._conn = conn
        self.path = path
        self.dialect = dialect
        self._bad_text = bad_text  # what the driver raises for text the store cannot hold
        self._insert_sql = dialect.sql(_INSERT)
        self._rollup_sql = [(table, dialect.sql(table.upsert)) for table in rollup.TABLES]

    # --- opening -----------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = True, readonly: bool = False) -> UsageStore:
        """Open (and migrate) the store at ``path``. Raises a StoreError subclass with a user message.

        ``readonly`` (``report``): the file must exist, and it is opened without writing unless this
        user may write it (then a store written by an older genai-cost is upgraded).
        """
        where = str(path)
        if is_postgres(where):
            from genai_cost.store import postgres

            return cls(*postgres.open_store(where, readonly=readonly))
        if readonly:
            create = False
        if where != MEMORY:
            file = Path(where)
            if not create and not file.is_file():
                raise StoreMissingError(
                    f"no usage recorded yet at {where}; run your app with OTEL_TRACES_EXPORTER=genai_cost "
                    f"(or otlp,genai_cost), e.g. OTEL_TRACES_EXPORTER=genai_cost "
                    f"opentelemetry-instrument python app.py"
                )
            if create:
                _create_private(file)
        if readonly and where != MEMORY:
            return cls._open_readonly(where)
        conn = _connect(where)
        with _errors_named(where, conn):
            # Read-only checks first (a non-SQLite file fails here), so another program's file is
            # left exactly as it was.
            check_readable(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            migrate(conn)
        return cls(conn, where)

    @classmethod
    def _open_readonly(cls, where: str) -> UsageStore:
        if _writable(Path(where)):
            # Its owner: an ordinary connection that only reads (and migrates a store written by an
            # older genai-cost). Closing it tidies the -wal and -shm files, which a mode=ro one leaves.
            conn = _connect(where)
            with _errors_named(where, conn):
                migrate(conn)
            return cls(conn, where)
        # mode=ro never writes. In WAL mode SQLite still needs the -shm file; when the app has exited
        # it is gone, and a user who cannot write the directory cannot create it. Then the file is read
        # as immutable, which is exact only while no -wal file holds changes, so only then.
        conn = _connect(where, readonly=True)
        try:
            with _errors_named(where, conn):
                applied = applied_migrations(conn)
        except StoreError as exc:
            if not _is_readonly_failure(exc.__cause__) or _has_wal_changes(where):
                raise
            conn = _connect(where, readonly=True, immutable=True)
            with _errors_named(where, conn):
                applied = applied_migrations(conn)
        if len(applied) < len(MIGRATIONS):
            conn.close()
            raise StoreError(
                f"{where} was written by an older genai-cost and needs a one-time upgrade; "
                "run genai-cost report once as a user who can write it"
            )
        return cls(conn, where)

    @property
    def connection(self) -> sqlite3.Connection:
        """For query modules beside this one (store/reprice.py); autocommit mode."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> UsageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -----------------------------------------------------------------------------------

    def insert(self, rows: Sequence[UsageRow]) -> None:
        """Write ``rows`` in one transaction: all of them or none."""
        if not rows:
            return
        try:
            self._insert(rows, [_row_values(row) for row in rows])
        except self._bad_text:
            # One bad string must not cost the batch: repair (rarely needed, so not done up front).
            rows = [with_valid_text(row) for row in rows]
            self._insert(rows, [_row_values(row) for row in rows])

    def _insert(self, rows: Sequence[UsageRow], values: list[tuple[Any, ...]]) -> None:
        conn = self._conn
        conn.execute(self.dialect.begin_write)
        try:
            cursor = conn.cursor()
            cursor.executemany(self._insert_sql, values)
            if cursor.rowcount != len(values):
                # Some calls were stored already (a batch sent again): count only the new ones.
                rows = self._insert_one_by_one(rows, values)
            for table, upsert in self._rollup_sql:
                cursor.executemany(upsert, table.totals(rows))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _insert_one_by_one(self, rows: Sequence[UsageRow], values: list[tuple[Any, ...]]) -> list[UsageRow]:
        """Inside the batch's transaction, after its insert: which rows are new. The batch's insert is
        rolled back and each row inserted again, alone, to learn whether it was stored (rare)."""
        conn = self._conn
        conn.execute("ROLLBACK")
        conn.execute(self.dialect.begin_write)
        stored = []
        cursor = conn.cursor()
        for row, value in zip(rows, values, strict=True):
            cursor.execute(self._insert_sql, value)
            if cursor.rowcount == 1:
                stored.append(row)
        return stored

    def prune(self, before: datetime, *, dry_run: bool = False) -> tuple[int, datetime]:
        """Delete the calls of the whole UTC days before ``before``'s day; return how many (or would
        be, ``dry_run``) and the cut-off. Whole days, so the hourly totals drop whole hours too.

        In batches of short transactions, so writers running at the same time wait little."""
        cutoff = _floor_day(before)
        if dry_run:
            older = self.dialect.sql("SELECT COUNT(*) FROM usage WHERE start_time < ?")
            return int(self._conn.execute(older, (format_time(cutoff),)).fetchone()[0]), cutoff
        sql = self.dialect.sql(_PRUNE_BATCH)
        deleted = 0
        while True:
            count = self._in_transaction(sql, (format_time(cutoff), PRUNE_BATCH))
            deleted += count
            if count < PRUNE_BATCH:
                break
        for table in rollup.TABLES:
            self._in_transaction(
                self.dialect.sql(f"DELETE FROM {table.name} WHERE hour < ?"), (_hour(cutoff),)
            )
        return deleted, cutoff

    def _in_transaction(self, sql: str, params: Sequence[Any]) -> int:
        self._conn.execute(self.dialect.begin_write)
        try:
            count = int(self._conn.execute(sql, params).rowcount)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return count

    # --- reading -----------------------------------------------------------------------------------

    def count(self, time_range: TimeRange | None = None) -> int:
        where, params = _where(time_range)
        sql = self.dialect.sql(f"SELECT COUNT(*) FROM usage WHERE {where}")
        return int(self._conn.execute(sql, params).fetchone()[0])

    def rows(self, time_range: TimeRange | None = None) -> list[UsageRow]:
        where, params = _where(time_range)
        cursor = self._conn.execute(
            self.dialect.sql(
                f"SELECT {', '.join(USAGE_COLUMNS)} FROM usage WHERE {where} ORDER BY start_time, id"
            ),
            params,
        )
        out = []
        calls = len(_CALL_COLUMNS)
        for values in cursor:
            row = UsageRow(
                **dict(zip(_CALL_COLUMNS, values[:calls], strict=True)),
                usage=Usage(*values[calls:]),
            )
            row.unpriced, row.usage_missing = bool(row.unpriced), bool(row.usage_missing)
            row.partial = bool(row.partial)
            row.rate_limited, row.streaming = bool(row.rate_limited), bool(row.streaming)
            out.append(row)
        return out

    def time_bounds(self) -> tuple[str | None, str | None]:
        # Two subqueries: SQLite reads a MIN or a MAX alone from the index, both at once by a full scan.
        first, last = self._conn.execute(
            "SELECT (SELECT MIN(start_time) FROM usage), (SELECT MAX(start_time) FROM usage)"
        ).fetchone()
        return first, last

    def report(
        self, by: str, time_range: TimeRange | None = None, *, top: int | None = None, sessions: bool = True
    ) -> list[ReportRow]:
        """Totals per group (``by`` in GROUP_BY) or one total row (``by='total'``).

        count_tokens calls count as requests, but their input (a pre-estimate, not billed) is not summed.

        Groups come most expensive first (days in date order unless ``top`` is given). Whole days are
        read from the hourly totals (``rollup``), the partial hours at the range's edges from the calls.
        Latency percentiles are exact (nearest rank over every call in the group) when the range holds
        at most ``EXACT_PERCENTILES_UP_TO`` calls, else estimated from the hourly histograms
        (``latency_exact`` is False). ``sessions=False`` skips counting distinct sessions (0) where that
        takes a pass of its own (every grouping but user and session).
        """
        if by != TOTAL and by not in GROUP_BY:
            raise ValueError(f"unknown grouping {by!r}")
        key = "''" if by == TOTAL else _ROLLUP_KEY[by]
        # Reports by user or session need the per-call-group table; every other one the small one.
        table = rollup.CALLS if by in ("user", "session") else rollup.TOTALS
        parts, params = _parts(time_range, table)
        tokens = ", ".join(
            f"SUM(CASE WHEN operation <> '{sc.OP_COUNT_TOKENS}' THEN {kind.column} END) AS {kind.name}"
            for kind in TOKEN_KINDS
        )
        distinct = (
            "COUNT(DISTINCT CASE WHEN session_id <> '' THEN session_id END)" if table is rollup.CALLS else "0"
        )
        cursor = self._conn.execute(
            self.dialect.sql(f"""
            SELECT {key} AS key, SUM(requests) AS requests, SUM(errors) AS errors,
                   SUM(rate_limited) AS rate_limited, {tokens},
                   SUM(cost) AS cost, SUM(priced) AS priced, SUM(unpriced) AS unpriced,
                   COALESCE(SUM({rollup.PARTIAL_CALLS}), 0) AS partial,
                   SUM(usage_missing) AS usage_missing, {distinct} AS sessions,
                   SUM(session_cost) AS session_cost, MIN(duration_min) AS low, MAX(duration_max) AS high,
                   {", ".join(f"SUM({b})" for b in rollup.BUCKETS)}
            FROM ({parts}) AS parts GROUP BY key
            """),
            params,
        )
        names = [column[0] for column in cursor.description]
        found = cursor.fetchall()
        # Ordered and cut before rows are built: a report by session may have 100,000 groups.
        cost, requests = names.index("cost"), names.index("requests")
        total_requests = sum(int(values[requests]) for values in found)
        found.sort(key=lambda v: (-(v[cost] or 0.0), -int(v[requests]), v[0] or ""))
        if top is not None:
            found = found[:top]
        elif by == "day":
            found.sort(key=lambda v: v[0] or "")
        width = len(names) - len(rollup.BUCKETS)
        rows: dict[Any, ReportRow] = {}
        for values in found:
            named = dict(zip(names[:width], values[:width], strict=True))
            group = None if by == TOTAL or named["key"] == "" else named.pop("key")
            named.pop("key", None)
            tokens_found = Usage(
                **{kind.name: (_real if kind.real else _int)(named.pop(kind.name)) for kind in TOKEN_KINDS}
            )
            low, high = named.pop("low"), named.pop("high")
            row = rows[group] = ReportRow(
                by=by,
                key=group,
                tokens=tokens_found,
                **{
                    name: value if name in ("cost", "session_cost") else _int(value)
                    for name, value in named.items()
                },
            )
            if total_requests > EXACT_PERCENTILES_UP_TO:
                hist = [int(n) for n in values[width:]]
                row.p50_s, row.p95_s, row.p99_s = (
                    rollup.percentile(hist, p, low, high) for p in (50, 95, 99)
                )
                row.latency_exact = False
        if by == TOTAL and not rows:
            rows[None] = ReportRow.empty(TOTAL)
        if table is not rollup.CALLS and rows and sessions:
            self._count_sessions(key, time_range, rows)
        if total_requests <= EXACT_PERCENTILES_UP_TO:
            self._exact_percentiles(by, time_range, rows)
        return list(rows.values())

    def _count_sessions(self, key: str, time_range: TimeRange | None, rows: dict[Any, ReportRow]) -> None:
        """Distinct sessions per group: not a sum, so read from the per-session totals (two columns)."""
        parts, params = _parts(time_range, rollup.CALLS, columns=f"{key} AS key, session_id")
        cursor = self._conn.execute(
            self.dialect.sql(
                f"SELECT key, COUNT(DISTINCT session_id) FROM ({parts}) AS parts WHERE session_id <> '' GROUP BY key"
            ),
            params,
        )
        for group, count in cursor:
            row = rows.get(None if group == "" or key == "''" else group)
            if row is not None:
                row.sessions = int(count)

    def _exact_percentiles(self, by: str, time_range: TimeRange | None, rows: dict[Any, ReportRow]) -> None:
        # Nearest rank: the ceil(p * n / 100)-th smallest duration, in integer arithmetic.
        key = "NULL" if by == TOTAL else GROUP_BY[by]
        where, params = _where(time_range)
        cursor = self._conn.execute(
            self.dialect.sql(f"""
            WITH ranked AS (
                SELECT {key} AS k, duration_s AS d,
                       ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY duration_s) AS rn,
                       COUNT(*) OVER (PARTITION BY {key}) AS n
                FROM usage WHERE {where} AND duration_s IS NOT NULL
            )
            SELECT k, MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN d END),
                      MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN d END),
                      MAX(CASE WHEN rn = (99 * n + 99) / 100 THEN d END)
            FROM ranked GROUP BY k
            """),
            params,
        )
        for k, p50, p95, p99 in cursor:
            row = rows.get(None if k == "" else k)
            if row is not None:  # a tag set to "" is counted with the untagged calls (see rollup)
                row.p50_s, row.p95_s, row.p99_s = p50, p95, p99


def _create_private(file: Path) -> None:
    """Create the store file (and its directory) for its owner only, if they do not exist yet."""
    if not file.parent.is_dir():
        file.parent.parent.mkdir(parents=True, exist_ok=True)
        file.parent.mkdir(mode=0o700, exist_ok=True)
    # An empty file is an empty SQLite database; SQLite keeps the mode it was created with.
    with suppress(FileExistsError):
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _connect(where: str, *, readonly: bool = False, immutable: bool = False) -> sqlite3.Connection:
    target, uri = where, False
    if readonly and where != MEMORY:
        target = f"file:{quote(os.path.abspath(where))}?mode=ro" + ("&immutable=1" if immutable else "")
        uri = True
    try:
        conn = sqlite3.connect(
            target, uri=uri, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store at {where}: {exc}") from exc
    return conn


def _is_readonly_failure(exc: BaseException | None) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("readonly" in text or "unable to open" in text)


def _has_wal_changes(where: str) -> bool:
    try:
        return os.path.getsize(f"{where}-wal") > 0
    except OSError:
        return False


def _writable(file: Path) -> bool:
    return os.access(file, os.W_OK) and os.access(file.parent, os.W_OK)


@contextmanager
def _errors_named(where: str, conn: sqlite3.Connection) -> Iterator[None]:
    """Turn errors while opening into StoreErrors that name the file; close ``conn`` on any error."""
    try:
        yield
    except StoreError as exc:
        conn.close()
        raise type(exc)(f"{where}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        if _is_not_a_database(exc):
            raise StoreCorruptError(
                f"{where} is not a genai-cost store (not a SQLite database, or damaged)"
            ) from exc
        raise StoreError(f"cannot open the store at {where}: {exc}") from exc
    except BaseException:
        conn.close()
        raise


def _int(value: Any) -> Any:
    # PostgreSQL's SUM of integers is a numeric (a Decimal in Python).
    return None if value is None else int(value)


def _real(value: Any) -> Any:
    return None if value is None else float(value)


# --by choices -> the daily totals' column that names the group.
_ROLLUP_KEY = {
    "feature": "feature",
    "model": "model",
    "provider": "provider",
    "user": "user_id",
    "session": "session_id",
    "operation": "operation",
    "day": "substr(hour, 1, 10)",
    "pricing": "pricing",
}
EXACT_PERCENTILES_UP_TO = 50_000  # calls in a range; beyond, percentiles come from the histograms


def _hour(moment: datetime) -> str:
    return format_time(moment)[:13]


def _parts(
    time_range: TimeRange | None, table: rollup.Table, columns: str | None = None
) -> tuple[str, list[str]]:
    """The calls of ``time_range`` as rows of ``table``: whole UTC hours from the table, the partial
    hours at the edges from the calls themselves. ``columns``: the columns to select (default all)."""
    start = time_range.start if time_range is not None else None
    end = time_range.end if time_range is not None else None
    first_whole = None if start is None else _ceil_hour(start)
    end_whole = None if end is None else _floor_hour(end)
    select = columns or ", ".join(table.columns)
    parts: list[str] = []
    params: list[str] = []
    whole = ["1 = 1"]
    if first_whole is not None:
        whole.append("hour >= ?")
        params.append(_hour(first_whole))
    if end_whole is not None:
        whole.append("hour < ?")
        params.append(_hour(end_whole))
    if first_whole is None or end_whole is None or first_whole < end_whole:
        parts.append(f"SELECT {select} FROM {table.name} WHERE {' AND '.join(whole)}")
    else:
        params.clear()
    edges: list[tuple[datetime, datetime]] = []
    if start is not None and first_whole is not None and first_whole != start:  # the partial first hour
        edges.append((start, first_whole if end is None else min(first_whole, end)))
    if end is not None and end_whole is not None and end_whole != end:  # the partial last hour
        edge_start = end_whole if start is None else max(end_whole, start)
        if not edges or edges[0][1] <= edge_start:
            edges.append((edge_start, end))
    for edge_start, edge_end in edges:
        if edge_start < edge_end:
            calls = table.from_calls_sql("start_time >= ? AND start_time < ?")
            parts.append(calls if columns is None else f"SELECT {select} FROM ({calls}) AS edge")
            params += [format_time(edge_start), format_time(edge_end)]
    if not parts:
        parts.append(f"SELECT {select} FROM {table.name} WHERE 1 = 0")
    return " UNION ALL ".join(parts), params


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + timedelta(hours=1)


def _floor_day(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _where(time_range: TimeRange | None) -> tuple[str, list[str]]:
    clauses, params = ["1 = 1"], []
    if time_range is not None and time_range.start is not None:
        clauses.append("start_time >= ?")
        params.append(format_time(time_range.start))
    if time_range is not None and time_range.end is not None:
        clauses.append("start_time < ?")
        params.append(format_time(time_range.end))
    return " AND ".join(clauses), params
