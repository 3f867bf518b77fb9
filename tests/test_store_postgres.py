"""The usage store on a real PostgreSQL (Debian's packages, started by the test): the same schema,
migrations and report as SQLite, and a fleet of writer processes through a server restart."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genai_cost import semconv as sc
from genai_cost.cli import main as cli_main
from genai_cost.store.db import GROUP_BY, TOTAL, USAGE_COLUMNS, UsageStore
from genai_cost.store.dialect import POSTGRES, display
from genai_cost.store.errors import ForeignStoreError, StoreError
from genai_cost.store.migrations import MIGRATIONS, migrate
from genai_cost.usage import Usage
from postgres_server import PASSWORD, PostgresServer, postgres_server
from store_data import CALLS, GROQ_MODEL, Call, record, utc

SRC = str(Path(__file__).resolve().parents[1] / "src")
TESTS = str(Path(__file__).resolve().parent)

import psycopg  # noqa: E402  (the test extra installs it; a missing driver must fail, not skip)


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


_databases = iter(range(1_000_000))


@pytest.fixture
def url(pg: PostgresServer) -> str:
    """A fresh, empty database on the server."""
    name = f"t{next(_databases)}"
    pg.psql(f"CREATE DATABASE {name}", database="postgres")
    return pg.url.rsplit("/", 1)[0] + "/" + name


def test_migrations_build_the_same_table(url: str, tmp_path: Path) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        assert migrate(conn, POSTGRES) == [name for name, _ in MIGRATIONS]
        assert migrate(conn, POSTGRES) == []  # applied once only
        columns = [
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'usage' "
                "ORDER BY ordinal_position"
            )
        ]
        indexes = {
            row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'usage'")
        }
        nullable = conn.execute(
            "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'usage' AND column_name = 'trace_id'"
        ).fetchone()
    lite = sqlite3.connect(":memory:", isolation_level=None)
    migrate(lite)
    assert columns == [row[1] for row in lite.execute("PRAGMA table_info(usage)")]
    assert set(USAGE_COLUMNS) <= set(columns)
    assert indexes >= {"usage_start_time", "usage_span", "usage_unsampled_span"}
    assert nullable == ("YES",)


def _report(store: UsageStore, by: str) -> list[dict[str, Any]]:
    return [row.to_dict() for row in store.report(by)]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def test_the_report_is_the_same_on_both(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(url, CALLS)  # through the real exporter and writer, as an app would
    record(str(tmp_path / "usage.db"), CALLS)
    with UsageStore.open(url, readonly=True) as on_pg, UsageStore.open(tmp_path / "usage.db") as on_lite:
        assert on_pg.count() == len(CALLS)
        for by in (TOTAL, *GROUP_BY):
            assert _same(_report(on_pg, by), _report(on_lite, by)), by
        [total] = on_pg.report(TOTAL)
    assert (total.requests, round(total.cost or 0, 12), total.input_tokens) == (8, 0.038, 17500)
    assert cli_main(["report", "-d", url, "--by", "session", "--format", "json"]) == 0
    sessions = {row["key"]: row for row in json.loads(capsys.readouterr().out)}
    assert sessions["s1"]["requests"] == 2 and round(sessions["s1"]["cost_usd"], 12) == 0.003
    assert cli_main(["report", "-d", url]) == 0
    text = capsys.readouterr().out
    assert "Summary" in text and "By feature" in text and PASSWORD not in text


def test_how_calls_were_served_is_stored_and_grouped_the_same_on_both(url: str, tmp_path: Path) -> None:
    # The served dimensions' columns, and --by pricing from the hourly totals and the edge hours alike.
    served = [
        {"service_tier": "flex"},
        {"service_tier": "batch", "processing": "batch"},
        {"speed": "fast", "inference_geo": "us"},
    ]
    calls = [
        dataclasses.replace(call, usage=dataclasses.replace(call.usage, **served[i % 3]))
        if call.usage is not None
        else call
        for i, call in enumerate(CALLS)
    ]
    record(url, calls)
    record(str(tmp_path / "usage.db"), calls)
    with UsageStore.open(url, readonly=True) as on_pg, UsageStore.open(tmp_path / "usage.db") as on_lite:
        by_pricing = _report(on_pg, "pricing")
        assert _same(by_pricing, _report(on_lite, "pricing"))
        assert {row["key"] for row in by_pricing} >= {"service_tier=flex", "speed=fast inference_geo=us"}
        stored = {
            (r.response_id, r.service_tier, r.processing, r.speed, r.inference_geo) for r in on_pg.rows()
        }
        assert stored == {
            (r.response_id, r.service_tier, r.processing, r.speed, r.inference_geo) for r in on_lite.rows()
        }
        assert {row[1:] for row in stored} >= {("batch", "batch", None, None), (None, None, "fast", "us")}


def test_report_on_an_empty_database_and_a_foreign_table(
    url: str, pg: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["report", "-d", url]) == 2
    err = capsys.readouterr().err
    assert "no usage recorded yet" in err and PASSWORD not in err and display(url) in err
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT COUNT(*) FROM pg_tables WHERE tablename = 'usage'").fetchone() == (0,)
        conn.execute("CREATE TABLE usage (id int)")  # another program's table
    with pytest.raises(ForeignStoreError, match="not genai-cost's"):
        UsageStore.open(url)
    bad = url.replace(PASSWORD, "wrong")
    with pytest.raises(StoreError, match="cannot connect") as caught:
        UsageStore.open(bad)
    assert "wrong" not in str(caught.value) and PASSWORD not in str(caught.value)


def test_text_postgresql_cannot_hold_is_repaired(url: str) -> None:
    odd = b"caf\xe9".decode("utf-8", "surrogateescape")
    calls = [
        Call(
            utc("2026-11-20T10:00:00"),
            0.5,
            sc.PROVIDER_GROQ,
            GROQ_MODEL,
            user="nul\x00user",
            usage=Usage(1, 1),
        ),
        Call(utc("2026-11-20T10:00:01"), 0.5, sc.PROVIDER_GROQ, GROQ_MODEL, user=odd, usage=Usage(1, 1)),
    ]
    record(url, calls)
    with UsageStore.open(url) as store:
        assert sorted(r.user_id or "" for r in store.rows()) == ["caf\ufffd", "nul\ufffduser"]


def test_a_batch_sent_again_is_stored_and_counted_once(url: str) -> None:
    from test_rollup import random_rows

    rows = random_rows(400, seed=5)
    with UsageStore.open(url) as store:
        store.insert(rows[:300])
        store.insert(rows[200:])  # the first 100 of these were stored already
        store.insert(rows)
        [total] = store.report(TOTAL)
        by_user = {r.key: r.requests for r in store.report("user")}
    assert total.requests == 400 == sum(by_user.values())
    assert total.errors == sum(r.error_type is not None for r in rows)


def test_prune_on_postgresql(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from test_prune import calls_by_age, prune_and_report

    record(url, calls_by_age([1, 89, 91, 400]))
    out, users = prune_and_report(url, capsys)  # the default: 90 days
    assert "deleted 2 calls" in out and PASSWORD not in out and users == ["age1", "age89"]


# --- a fleet of writers through a restart ------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import atexit, json, os, sys, time

    url, name, stop, out = sys.argv[1:5]
    state = {}
    # Registered before genai-cost's own exit hook, so it runs after it: the counts are final.
    atexit.register(lambda: open(out, "w").write(json.dumps(state)))

    import openai
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
    from genai_cost import feature
    from genai_cost.fakeprovider import FakeProviderServer
    from genai_cost.instrumentation.openai import OpenAIInstrumentor
    from genai_cost.store.exporter import LocalStoreSpanExporter
    from test_cost import list_price

    provider = TracerProvider(sampler=TraceIdRatioBased(0.01), resource=Resource.create({"service.name": name}))
    exporter = LocalStoreSpanExporter(url)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    slowest = 0.0
    with FakeProviderServer() as server:
        client = openai.OpenAI(api_key="k", base_url=server.openai_base_url, max_retries=0)
        i = 0
        while not os.path.exists(stop) or i < 50:
            model = "gpt-4o" if i % 3 == 0 else "gpt-4o-mini"
            started = time.perf_counter()
            with feature("fleet", user_id=f"{name}-u{i % 5}", session_id=f"{name}-s{i % 13}"):
                client.chat.completions.create(model=model, messages=[{"role": "user", "content": f"q{i} " * (1 + i % 50)}])
            slowest = max(slowest, time.perf_counter() - started)
            i += 1
            time.sleep(0.01)
        ledger = list(server.ledger)
    state.update(
        calls=len(ledger),
        billed=sum(list_price(c.model, c.input_tokens, c.cache_read_tokens, c.output_tokens) for c in ledger),
        input_tokens=sum(c.input_tokens for c in ledger),
        slowest=slowest,
        writer=exporter.writer,
    )
    atexit.register(lambda: state.update(dropped=state.pop("writer").dropped))  # runs before the file is written
    """
)


def test_a_fleet_of_writers_through_a_server_restart(url: str, pg: PostgresServer, tmp_path: Path) -> None:
    names = ["machine-a-1", "machine-a-2", "machine-b-1", "machine-b-2"]
    stop = tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, TESTS])}
    writers = {
        name: subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, name, str(stop), str(tmp_path / f"{name}.json")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    }

    def rows() -> int:
        try:
            return int(pg.psql("SELECT COUNT(*) FROM usage", database=url.rsplit("/", 1)[1]))
        except psycopg.Error:
            return 0

    deadline = time.monotonic() + 90
    while rows() < 100:  # every writer is up and writing
        assert time.monotonic() < deadline, "the writers wrote nothing"
        assert all(w.poll() is None for w in writers.values()), [w.communicate() for w in writers.values()]
        time.sleep(0.2)
    pg.stop()  # the apps go on calling; their calls wait in memory
    time.sleep(3)
    pg.start()
    time.sleep(1)
    stop.touch()
    outputs = {name: w.communicate(timeout=120) for name, w in writers.items()}
    states = {}
    for name, writer in writers.items():
        _out, err = outputs[name]
        assert writer.returncode == 0, err
        assert PASSWORD not in err  # the URL is shown without it
        states[name] = json.loads((tmp_path / f"{name}.json").read_text())
        assert states[name]["dropped"] == 0, err
        assert states[name]["slowest"] < 1.0, (name, states[name])  # no call waited for the database
    stderr = "".join(err for _, err in outputs.values())
    assert "cannot write to the usage store at postgresql://genai:***@127.0.0.1" in stderr, stderr
    assert "is back after" in stderr, stderr

    with UsageStore.open(url, readonly=True) as store:
        [total] = store.report(TOTAL)
        by_user = store.report("user")
        count_by_service = {
            name: store._conn.execute(
                "SELECT COUNT(*) FROM usage WHERE service_name = %s", (name,)
            ).fetchone()[0]
            for name in names
        }
    assert count_by_service == {name: states[name]["calls"] for name in names}
    assert total.requests == sum(s["calls"] for s in states.values())
    assert total.input_tokens == sum(s["input_tokens"] for s in states.values())
    assert total.cost == pytest.approx(sum(s["billed"] for s in states.values()), rel=1e-9)
    assert sum(r.cost or 0 for r in by_user) == pytest.approx(total.cost, rel=1e-9)
    assert len(by_user) == 5 * len(names)
