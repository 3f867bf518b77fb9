"""The local store: schema migrations, the span exporter (real SDK, real SQLite) and UsageStore queries."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import genai_cost.store.migrations as migrations
from genai_cost import config
from genai_cost import semconv as sc
from genai_cost.store import rollup
from genai_cost.store.db import USAGE_COLUMNS, UsageRow, UsageStore, default_db_path, resolve_db_path
from genai_cost.store.dialect import SQLITE
from genai_cost.store.errors import (
    ForeignStoreError,
    NewerStoreError,
    StoreCorruptError,
    StoreMissingError,
)
from genai_cost.store.exporter import LocalStoreSpanExporter
from genai_cost.store.timerange import TimeRange
from genai_cost.usage import TOKEN_KINDS, Usage
from store_data import CALLS, CLAUDE_MODEL, GROQ_MODEL, Call, emit, record, utc

SRC = str(Path(__file__).resolve().parents[1] / "src")
TESTS = str(Path(__file__).resolve().parent)

EXPECTED_COLUMNS = [
    ("id", "INTEGER"), ("start_time", "TEXT"), ("duration_s", "REAL"), ("trace_id", "TEXT"),
    ("span_id", "TEXT"), ("service_name", "TEXT"), ("operation", "TEXT"), ("provider", "TEXT"),
    ("request_model", "TEXT"), ("response_model", "TEXT"), ("server_address", "TEXT"), ("feature", "TEXT"),
    ("user_id", "TEXT"), ("session_id", "TEXT"), ("tags", "TEXT"), ("input_tokens", "INTEGER"),
    ("output_tokens", "INTEGER"), ("cache_read_tokens", "INTEGER"), ("cache_creation_tokens", "INTEGER"),
    ("reasoning_tokens", "INTEGER"), ("cost", "REAL"), ("currency", "TEXT"), ("cost_source", "TEXT"),
    ("cost_input", "REAL"), ("cost_output", "REAL"), ("cost_cache_read", "REAL"),
    ("cost_cache_write", "REAL"), ("unpriced", "INTEGER"), ("usage_missing", "INTEGER"),
    ("error_type", "TEXT"), ("rate_limited", "INTEGER"), ("streaming", "INTEGER"),
    ("time_to_first_chunk_s", "REAL"), ("response_id", "TEXT"), ("finish_reasons", "TEXT"),
    ("input_audio_tokens", "INTEGER"), ("cache_creation_5m_tokens", "INTEGER"),
    ("cache_creation_1h_tokens", "INTEGER"), ("tool_use_prompt_tokens", "INTEGER"),
    ("price_version", "TEXT"), ("priced_at", "TEXT"),
    ("service_tier", "TEXT"), ("processing", "TEXT"), ("speed", "TEXT"), ("inference_geo", "TEXT"),
    # m007_priced_units
    ("web_search_calls", "INTEGER"), ("web_fetch_calls", "INTEGER"), ("code_execution_calls", "INTEGER"),
    ("file_search_calls", "INTEGER"), ("images", "INTEGER"), ("audio_seconds", "REAL"),
    ("input_characters", "INTEGER"), ("cost_tools", "REAL"), ("partial", "INTEGER"), ("partial_reason", "TEXT"),
    # m008_image_option
    ("image_option", "TEXT"),
]  # fmt: skip
ALL_MIGRATIONS = [
    "m001_usage",
    "m002_input_audio_tokens",
    "m003_token_parts",
    "m004_unsampled_calls",
    "m004_hourly_rollups",
    "m005_price_version",
    "m006_served_dimensions",
    "m007_priced_units",
    "m008_image_option",
]
NOVEMBER = TimeRange(utc("2026-11-01T00:00:00"), utc("2026-12-01T00:00:00"))


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# --- schema ------------------------------------------------------------------------------------------


def test_migrate_blank_in_memory_db_gives_the_schema() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert migrations.migrate(conn) == ALL_MIGRATIONS
    columns = [(row[1], row[2]) for row in conn.execute("PRAGMA table_info(usage)")]
    assert columns == EXPECTED_COLUMNS
    indexes = {row[1]: row[2] for row in conn.execute("PRAGMA index_list(usage)")}
    assert indexes == {"usage_span": 1, "usage_start_time": 0, "usage_unsampled_span": 1}  # name -> unique
    trace_id = next(row for row in conn.execute("PRAGMA table_info(usage)") if row[1] == "trace_id")
    assert trace_id[3] == 0  # nullable: an unsampled call has no trace to link to
    names = [r[0] for r in conn.execute(f"SELECT name FROM {migrations.MIGRATIONS_TABLE} ORDER BY rowid")]
    assert names == ALL_MIGRATIONS
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations.MIGRATIONS)
    assert migrations.migrate(conn) == []  # applied once only


def test_every_token_kind_has_its_store_column() -> None:
    # A token kind declared on Usage needs a migration that adds its column (the contributor notes say so).
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrations.migrate(conn)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(usage)")}
    assert {kind.column for kind in TOKEN_KINDS} <= columns
    assert set(USAGE_COLUMNS) <= columns
    for table in rollup.TABLES:  # and to each rollup table
        assert {row[1] for row in conn.execute(f"PRAGMA table_info({table.name})")} == set(table.columns)


def test_open_sets_wal_and_busy_timeout(tmp_path: Path) -> None:
    with UsageStore.open(tmp_path / "a" / "b" / "usage.db") as store:  # missing dirs are created
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000


@pytest.mark.parametrize("how", ["unknown migration", "higher user_version"])
def test_store_from_a_newer_version_is_refused(tmp_path: Path, how: str) -> None:
    path = tmp_path / "usage.db"
    UsageStore.open(path).close()
    conn = _connect(path)
    if how == "unknown migration":
        conn.execute(f"INSERT INTO {migrations.MIGRATIONS_TABLE} VALUES ('m002_from_the_future', 'x')")
    else:
        conn.execute(f"PRAGMA user_version = {len(migrations.MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(NewerStoreError, match=r"newer than this genai-cost supports.*upgrade genai-cost"):
        UsageStore.open(path)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(
        StoreMissingError, match=r"no usage recorded yet at .*OTEL_TRACES_EXPORTER=genai_cost"
    ):
        UsageStore.open(tmp_path / "nothing.db", create=False)
    assert not (tmp_path / "nothing.db").exists()  # reading never creates a store
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is a CSV, not a database\n" * 200)
    with pytest.raises(StoreCorruptError, match="is not a genai-cost store"):
        UsageStore.open(junk, create=False)
    other = tmp_path / "logs.db"  # e.g. another tool's SQLite log, given to -d by mistake
    conn = _connect(other)
    conn.execute("CREATE TABLE responses (id TEXT PRIMARY KEY, prompt TEXT)")
    conn.close()
    with pytest.raises(ForeignStoreError, match=r"logs\.db: a SQLite database of another program"):
        UsageStore.open(other, create=False)
    conn = _connect(other)  # left untouched: no table of ours, journal mode unchanged
    assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == [("responses",)]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


# --- paths -------------------------------------------------------------------------------------------


def test_db_path_env_var_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.DB_PATH, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_db_path() == tmp_path / "data" / "genai-cost" / "usage.db"
    assert resolve_db_path() == default_db_path()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / ".local" / "share" / "genai-cost" / "usage.db"
    monkeypatch.setenv(config.DB_PATH, str(tmp_path / "env.db"))
    assert resolve_db_path() == tmp_path / "env.db"
    assert resolve_db_path(tmp_path / "flag.db") == tmp_path / "flag.db"
    # The exporter takes the same path and creates its directory on the first GenAI span.
    monkeypatch.setenv(config.DB_PATH, str(tmp_path / "deep" / "dir" / "usage.db"))
    record_default = LocalStoreSpanExporter()
    assert record_default.path == str(tmp_path / "deep" / "dir" / "usage.db")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(record_default))
    emit(provider.get_tracer("t"), CALLS[0])
    provider.shutdown()
    with UsageStore.open(tmp_path / "deep" / "dir" / "usage.db", create=False) as store:
        assert store.count() == 1


# --- exporter ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [True, False], ids=["BatchSpanProcessor", "SimpleSpanProcessor"])
def test_exporter_writes_one_row_per_genai_span(tmp_path: Path, batch: bool) -> None:
    path = tmp_path / "usage.db"
    record(str(path), CALLS, batch=batch)
    with UsageStore.open(path, create=False) as store:
        rows = store.rows()
    assert len(rows) == len(CALLS)  # the HTTP span is not stored
    by_time = {row.start_time: row for row in rows}

    first = by_time["2026-11-20T10:00:00.000000Z"]
    assert first.duration_s == 0.5
    assert len(first.trace_id) == 32 and len(first.span_id) == 16
    assert (first.service_name, first.operation, first.provider) == ("interview-app", "chat", "groq")
    assert (first.request_model, first.response_model) == (GROQ_MODEL, GROQ_MODEL + "-2026")
    assert first.server_address == "api.groq.example"
    assert (first.feature, first.user_id, first.session_id) == ("interview", "u1", "s1")
    assert json.loads(first.tags or "") == {"tenant": "acme", "attempt": 1}  # only the app's own tags
    assert (first.input_tokens, first.output_tokens) == (1000, 100)
    assert first.cache_read_tokens is None and first.reasoning_tokens is None  # absent, not 0
    assert (first.cost, first.currency, first.cost_source) == (0.001, "USD", "local")
    assert (first.cost_input, first.cost_output, first.cost_cache_read) == (0.0008, 0.0002, 0.0)
    assert (first.unpriced, first.usage_missing, first.rate_limited, first.streaming) == (False,) * 4
    assert first.error_type is None
    assert first.response_id == f"resp-{1795168800 * 10**9}"
    assert json.loads(first.finish_reasons or "") == ["stop"]

    limited = by_time["2026-11-20T11:05:00.000000Z"]
    assert (limited.error_type, limited.rate_limited) == ("RateLimitError", True)
    assert limited.input_tokens is None and limited.output_tokens is None and limited.cost is None
    assert limited.tags is None and limited.finish_reasons is None

    streamed = by_time["2026-11-21T09:00:00.000000Z"]
    assert (streamed.streaming, streamed.time_to_first_chunk_s) == (True, 0.5)
    assert (streamed.request_model, streamed.cache_read_tokens, streamed.cost) == (CLAUDE_MODEL, 2000, 0.024)
    assert streamed.session_id is None

    unpriced = by_time["2026-11-21T12:00:00.000000Z"]
    assert (unpriced.unpriced, unpriced.cost, unpriced.input_tokens) == (True, None, 500)
    assert unpriced.feature is None


def test_export_is_idempotent_and_ignores_other_spans(tmp_path: Path) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("not genai"):
        emit(tracer, CALLS[0])
    spans = memory.get_finished_spans()
    assert len(spans) == 2
    exporter = LocalStoreSpanExporter(tmp_path / "usage.db")
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert exporter.export(spans) == SpanExportResult.SUCCESS  # a retried batch is not billed twice
    exporter.shutdown()
    with UsageStore.open(tmp_path / "usage.db", create=False) as store:
        assert store.count() == 1
    # A batch with no GenAI span does not create a file.
    other = LocalStoreSpanExporter(tmp_path / "other.db")
    assert other.export([s for s in spans if s.name == "not genai"]) == SpanExportResult.SUCCESS
    assert not (tmp_path / "other.db").exists()


def test_exporter_refuses_a_newer_store_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "usage.db"
    UsageStore.open(path).close()
    conn = _connect(path)
    conn.execute(f"INSERT INTO {migrations.MIGRATIONS_TABLE} VALUES ('m002_from_the_future', 'x')")
    conn.close()
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    emit(provider.get_tracer("t"), CALLS[0])
    exporter = LocalStoreSpanExporter(path)
    with caplog.at_level(logging.WARNING, logger="genai_cost"):
        results = [exporter.export(memory.get_finished_spans()) for _ in range(3)]
    assert results == [SpanExportResult.FAILURE] * 3
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("genai_cost")]
    assert len(messages) == 1 and "newer than this genai-cost supports" in messages[0]
    assert _connect(path).execute("SELECT COUNT(*) FROM usage").fetchone()[0] == 0
    exporter.shutdown()
    assert exporter.writer.dropped == 3


@pytest.mark.parametrize("kind", ["directory", "not sqlite"])
def test_exporter_failure_never_reaches_the_app(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "usage.db"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"\x00garbage" * 500)
    exporter = LocalStoreSpanExporter(path)
    exporter.writer.exit_wait_s = 0.3  # the store will not come back: do not wait long for it
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with caplog.at_level(logging.WARNING, logger="genai_cost"):
        emit(provider.get_tracer("t"), CALLS[0])  # must not raise
        memory = InMemorySpanExporter()
        p2 = TracerProvider()
        p2.add_span_processor(SimpleSpanProcessor(memory))
        emit(p2.get_tracer("t"), CALLS[1])
        # Kept in memory to retry (the store may come back), not lost at once.
        assert exporter.export(memory.get_finished_spans()) == SpanExportResult.SUCCESS
        assert exporter.writer.dropped == 0
        provider.shutdown()  # gives up after exit_wait_s, counting what it could not write
    assert exporter.writer.dropped == 2
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot write to the usage store" in m for m in messages) == 1, messages  # once per outage
    assert any("2 buffered calls are lost" in m for m in messages), messages


def test_a_lone_surrogate_in_a_tag_costs_no_row(tmp_path: Path) -> None:
    # Bytes decoded with surrogateescape (file names, environment, argv) give strings UTF-8 cannot hold.
    odd = b"caf\xe9".decode("utf-8", "surrogateescape")
    calls = [
        Call(utc(f"2026-11-20T10:00:{i:02d}"), 0.5, sc.PROVIDER_GROQ, GROQ_MODEL, feature="interview",
             user=f"u{i}", usage=Usage(10, 1))
        for i in range(10)
    ]  # fmt: skip
    calls[3].user = odd
    calls[5].feature = f"menu-{odd}"
    calls[7].tags = {"venue": odd}
    path = tmp_path / "usage.db"
    record(str(path), calls)  # one BatchSpanProcessor batch
    with UsageStore.open(path, create=False) as store:
        rows = store.rows()
    assert len(rows) == 10
    assert rows[3].user_id == "caf\ufffd"
    assert rows[5].feature == "menu-caf\ufffd"
    assert json.loads(rows[7].tags or "") == {"venue": odd}  # JSON escapes it, exactly
    assert [r.user_id for r in rows if r.user_id != "caf\ufffd"] == [f"u{i}" for i in range(10) if i != 3]


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_store_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    # It holds user and session ids. A usual umask (022) would leave the files world-readable.
    previous = os.umask(0o022)
    try:
        path = tmp_path / "data" / "genai-cost" / "usage.db"
        with UsageStore.open(path) as store:
            store.insert(
                [UsageRow("2026-11-20T10:00:00.000000Z", 0.5, "0" * 32, "1" * 16, "chat", user_id="u1")]
            )
            modes = {p.name: _mode(p) for p in path.parent.iterdir()}
        assert modes == {"usage.db": 0o600, "usage.db-wal": 0o600, "usage.db-shm": 0o600}
        assert _mode(path.parent) == 0o700  # the directory we created
        assert _mode(tmp_path / "data") == 0o755  # a parent is an ordinary directory
        # The exporter creates its store the same way.
        exported = tmp_path / "exported.db"
        record(str(exported), CALLS[:1])
        assert _mode(exported) == 0o600
        assert _mode(tmp_path) == 0o700  # an existing directory is left as it was (pytest's own)
    finally:
        os.umask(previous)


# --- queries -----------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> UsageStore:
    path = tmp_path / "usage.db"
    record(str(path), CALLS)
    return UsageStore.open(path, create=False)


def test_report_total_over_november(store: UsageStore) -> None:
    [total] = store.report("total", NOVEMBER)
    assert (total.requests, total.errors, total.rate_limited) == (7, 1, 1)
    assert (total.input_tokens, total.output_tokens, total.cache_read_tokens) == (
        7500,
        1450,
        2000,
    )  # the count_tokens pre-estimate is not summed
    assert total.cache_creation_tokens is None
    assert round(total.cost or 0, 12) == 0.028
    assert (total.priced, total.unpriced, total.sessions) == (4, 1, 2)
    assert round(total.avg_cost_per_call or 0, 12) == 0.007
    assert round(total.avg_cost_per_session or 0, 12) == 0.002  # s1 0.003, s2 0.001
    assert (total.error_rate, total.rate_limited_rate) == (1 / 7, 1 / 7)
    # durations 0.25 0.5 1.0 1.5 2.5 3.0 4.0: nearest rank 4, 7, 7
    assert (total.p50_s, total.p95_s, total.p99_s) == (1.5, 4.0, 4.0)


def test_report_all_time_and_empty_range(store: UsageStore) -> None:
    [total] = store.report("total")
    assert (total.requests, round(total.cost or 0, 12), total.input_tokens) == (8, 0.038, 17500)
    [empty] = store.report("total", TimeRange(utc("2025-01-01T00:00:00"), utc("2025-02-01T00:00:00")))
    assert (empty.requests, empty.cost, empty.input_tokens, empty.p50_s) == (0, None, None, None)
    assert store.report("feature", TimeRange(utc("2025-01-01T00:00:00"), None)) != []
    assert store.report("feature", TimeRange(None, utc("2025-01-01T00:00:00"))) == []


def test_report_by_feature_most_expensive_first(store: UsageStore) -> None:
    rows = store.report("feature", NOVEMBER)
    assert [r.key for r in rows] == ["resume_analysis", "interview", None]
    resume, interview, untagged = rows
    assert (resume.requests, resume.cost, resume.priced, resume.sessions) == (2, 0.024, 1, 0)
    assert resume.avg_cost_per_session is None and resume.avg_cost_per_call == 0.024
    assert (interview.requests, interview.errors, interview.rate_limited) == (4, 1, 1)
    assert (interview.input_tokens, interview.output_tokens, round(interview.cost or 0, 12)) == (
        4000,
        400,
        0.004,
    )
    assert (interview.p50_s, interview.p95_s, interview.p99_s) == (0.5, 2.5, 2.5)
    assert (untagged.cost, untagged.unpriced, untagged.input_tokens) == (None, 1, 500)
    assert [r.key for r in store.report("feature", NOVEMBER, top=1)] == ["resume_analysis"]


def test_report_by_session_user_model_day(store: UsageStore) -> None:
    sessions = {r.key: r for r in store.report("session", NOVEMBER)}
    assert set(sessions) == {"s1", "s2", None}
    assert (round(sessions["s1"].cost or 0, 12), sessions["s1"].avg_cost_per_session) == (0.003, 0.003)
    assert (sessions["s2"].cost, sessions["s2"].requests, sessions["s2"].errors) == (0.001, 2, 1)
    users = {r.key: round(r.cost or 0, 12) for r in store.report("user")}
    assert users == {"u1": 0.037, "u2": 0.001, "u3": 0.0, None: 0.0}
    models = {r.key: r.requests for r in store.report("model", NOVEMBER)}
    assert models == {GROQ_MODEL: 4, CLAUDE_MODEL: 2, "ft:gpt-4o-mini:acme": 1}
    days = store.report("day")
    assert [(r.key, r.requests) for r in days] == [("2026-10-15", 1), ("2026-11-20", 4), ("2026-11-21", 3)]
    ops = {r.key: r.requests for r in store.report("operation", NOVEMBER)}
    assert ops == {sc.OP_CHAT: 6, sc.OP_COUNT_TOKENS: 1}
    providers = {r.key: r.requests for r in store.report("provider")}
    assert providers == {"groq": 4, "anthropic": 2, "openai": 1, "gcp.gemini": 1}


# --- processes ---------------------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from datetime import datetime, timedelta, timezone
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from genai_cost.store.exporter import LocalStoreSpanExporter
    from genai_cost.usage import Cost, Usage
    from store_data import Call, emit

    path, name, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    exporter = LocalStoreSpanExporter(path)
    results = []
    export = exporter.export
    exporter.export = lambda spans: results.append(export(spans)) or results[-1]
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    processor = BatchSpanProcessor(
        exporter, max_queue_size=count, max_export_batch_size=200, schedule_delay_millis=20
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("writer")
    open(go + "." + name, "w").close()  # ready: imports done
    while not os.path.exists(go):
        time.sleep(0.005)
    base = datetime(2026, 11, 22, tzinfo=timezone.utc)
    for i in range(count):
        emit(tracer, Call(base + timedelta(microseconds=i), 0.1, "groq", "m", feature=name,
                          usage=Usage(10, 1), cost=Cost(0.5)))
    provider.shutdown()
    print(len(results), sum(r.name == "SUCCESS" for r in results))
    """
)


def _python_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, TESTS])}


def test_two_processes_writing_one_store_lose_nothing(tmp_path: Path) -> None:
    path, go = tmp_path / "usage.db", tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), name, "2000", str(go)],
            env=_python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("proc-a", "proc-b")
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.{name}").exists() for name in ("proc-a", "proc-b")):
        assert time.monotonic() < deadline and all(w.poll() is None for w in writers), "writers did not start"
        time.sleep(0.01)
    go.touch()  # both are ready on the same start line, then write at once
    outputs = [w.communicate(timeout=120) for w in writers]
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        batches, ok = map(int, out.split())
        assert batches == ok >= 10, err  # every batch committed (a failure logs why on stderr)
    with UsageStore.open(path, create=False) as store:
        assert store.count() == 4000
        by_feature = {r.key: (r.requests, r.cost) for r in store.report("feature")}
    assert by_feature == {"proc-a": (2000, 1000.0), "proc-b": (2000, 1000.0)}
    # The batches of the two processes interleave in the file: they really wrote at the same time.
    order = [row[0] for row in _connect(path).execute("SELECT feature FROM usage ORDER BY id")]
    assert sum(a != b for a, b in itertools.pairwise(order)) >= 1


_CRASH = textwrap.dedent(
    """
    import os, sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from genai_cost.store.exporter import LocalStoreSpanExporter
    from store_data import CALLS, Call, emit

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("crash")
    for call in CALLS[:6]:
        emit(tracer, call)
    spans = memory.get_finished_spans()
    exporter = LocalStoreSpanExporter(sys.argv[1])
    assert exporter.export(spans[:2]).name == "SUCCESS"
    assert exporter.export(spans[2:5]).name == "SUCCESS"
    os._exit(3)  # killed before shutdown: the sixth span was never exported
    """
)


def test_a_crash_keeps_every_committed_batch(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    done = subprocess.run(
        [sys.executable, "-c", _CRASH, str(path)],
        env=_python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    with UsageStore.open(path, create=False) as store:
        assert store.count() == 5


# --- OTEL_TRACES_EXPORTER=otlp,genai_cost under opentelemetry-instrument --------------------------------

_APP = textwrap.dedent(
    """
    from opentelemetry import trace
    from store_data import CALLS, Call, emit

    tracer = trace.get_tracer("app")
    with tracer.start_as_current_span("POST /analyze"):
        for call in CALLS[:3]:
            emit(tracer, call)
    print("app done")
    """
)


def test_registered_exporter_beside_otlp(tmp_path: Path) -> None:
    from otlp_receiver import OtlpReceiver

    # The SDK finds the exporter by name through the entry point pyproject.toml declares.
    app, db = tmp_path / "app.py", tmp_path / "data" / "usage.db"
    app.write_text(_APP)
    with OtlpReceiver() as receiver:
        env = {
            **_python_env(),
            "OTEL_SERVICE_NAME": "resume-writer",
            "OTEL_TRACES_EXPORTER": "otlp,genai_cost",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            config.DB_PATH: str(db),
        }
        done = subprocess.run(
            [str(Path(sys.executable).with_name("opentelemetry-instrument")), sys.executable, str(app)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0 and "app done" in done.stdout, done.stderr
        otlp_names = sorted(span.name for _, span in receiver.spans())
    assert otlp_names == ["POST /analyze"] + [f"chat {GROQ_MODEL}"] * 3  # otlp got every span
    with UsageStore.open(db, create=False) as store:
        rows = store.rows()
    assert [(r.service_name, r.feature, r.session_id, r.cost) for r in rows] == [
        ("resume-writer", "interview", "s1", 0.001),
        ("resume-writer", "interview", "s1", 0.002),
        ("resume-writer", "interview", "s2", 0.001),
    ]


def test_m002_upgrades_an_old_store_and_the_exporter_fills_audio(tmp_path: Path) -> None:
    # A file written before m002 (only m001 applied) keeps its rows, gains the column (NULL for them),
    # and new spans carrying gen_ai.usage.audio.input_tokens store it.
    path = tmp_path / "usage.db"
    old = _connect(path)
    migrations.m001_usage(old, SQLITE)
    old.execute(f"CREATE TABLE {migrations.MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT)")
    old.execute(f"INSERT INTO {migrations.MIGRATIONS_TABLE} VALUES ('m001_usage', 'x')")
    old.execute("PRAGMA user_version = 1")
    old.execute(
        "INSERT INTO usage (start_time, trace_id, span_id, operation, input_tokens)"
        " VALUES ('2026-11-01T00:00:00.000000Z', 't', 's', 'chat', 7)"
    )
    old.close()
    transcription = CALLS[-1]
    audio = Call(
        transcription.at, transcription.duration_s, transcription.provider, transcription.model,
        operation=transcription.operation, usage=Usage(10_000, 500, input_audio_tokens=8_000),
    )  # fmt: skip
    record(str(path), [audio, CALLS[0]])
    with UsageStore.open(path, create=False) as store:
        rows = {row.input_tokens: row for row in store.rows()}
    assert rows[7].input_audio_tokens is None  # written before the column existed
    assert rows[10_000].input_audio_tokens == 8_000
    assert rows[1000].input_audio_tokens is None  # no audio reported: NULL, not 0
    assert _connect(path).execute("PRAGMA user_version").fetchone()[0] == len(migrations.MIGRATIONS)


def test_m006_upgrades_a_store_and_its_hourly_totals_keep_every_call(tmp_path: Path) -> None:
    # A store at m005 with calls: m006 adds the served columns (NULL for those calls) and makes the
    # hourly totals again with the pricing key, so reports still count every call.
    path = tmp_path / "usage.db"
    record(str(path), CALLS)
    with UsageStore.open(path, create=False) as store:
        before = [row.to_dict() for row in store.report("feature")]
    old = _connect(path)
    # Back to m005's schema: m008's, m007's and m006's columns go (the rollup tables are made again below).
    m007 = [column for column, _ in migrations._M007_UNITS] + ["cost_tools", "partial", "partial_reason"]
    for column in ("image_option", *m007, "service_tier", "processing", "speed", "inference_geo"):
        old.execute(f"ALTER TABLE usage DROP COLUMN {column}")
    for table in migrations._M004_TABLES:
        old.execute(f"DROP TABLE {table.name}")
        table.create(old, SQLITE, migrations._M004_TOKENS)
        table.backfill(old, migrations._M004_TOKENS)
    old.execute(
        f"DELETE FROM {migrations.MIGRATIONS_TABLE} WHERE name IN ('m006_served_dimensions', 'm007_priced_units', 'm008_image_option')"
    )
    old.execute(f"PRAGMA user_version = {len(migrations.MIGRATIONS) - 3}")
    old.close()
    with UsageStore.open(path, create=False) as store:
        assert [row.to_dict() for row in store.report("feature")] == before
        [standard] = store.report("pricing")
        assert standard.key is None and standard.requests == len(CALLS)
        assert {(r.service_tier, r.processing, r.speed, r.inference_geo) for r in store.rows()} == {
            (None, None, None, None)
        }


def test_store_being_created_by_another_process_is_not_taken_for_a_foreign_file(tmp_path: Path) -> None:
    """Two processes open a new store at once: the second must not read the first's commit halfway.

    The creator holds its migration transaction open until the opener has made its first read of
    the file's tables, then commits before the opener's next statement (the window in which a check
    made of two reads saw "no migrations table" and then "tables": another program's file)."""
    path = tmp_path / "usage.db"
    creator = sqlite3.connect(path, isolation_level=None)
    creator.execute("BEGIN IMMEDIATE")
    creator.execute(f"CREATE TABLE {migrations.MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT)")
    for name, apply in migrations.MIGRATIONS:
        apply(creator, SQLITE)
        creator.execute(f"INSERT INTO {migrations.MIGRATIONS_TABLE} VALUES (?, 'now')", (name,))
    creator.execute(f"PRAGMA user_version = {len(migrations.MIGRATIONS)}")

    opener = sqlite3.connect(path, isolation_level=None)
    statements: list[str] = []

    def commit_after_first_table_read(statement: str) -> None:
        if statements and "sqlite_master" in statements[-1] and creator.in_transaction:
            creator.execute("COMMIT")
        statements.append(statement)

    opener.set_trace_callback(commit_after_first_table_read)
    assert migrations.migrate(opener) == []  # the creator's migrations, none left to apply
    assert not creator.in_transaction  # the commit did land in the window
    assert migrations.applied_migrations(opener) == {name for name, _ in migrations.MIGRATIONS}
    opener.close()
    creator.close()
