"""The store writer: bounded, never blocks the caller, keeps calls while the store is down (real SQLite)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from genai_cost import records
from genai_cost import semconv as sc
from genai_cost.store.db import UsageStore
from genai_cost.store.targets import SqliteTarget
from genai_cost.store.writer import StoreWriter


def _record(i: int, *, sampled: bool = False) -> records.CallRecord:
    attrs = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
        sc.GEN_AI_PROVIDER_NAME: sc.PROVIDER_OPENAI,
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 10 + i,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 1,
        sc.GEN_AI_USAGE_COST_AMOUNT: 0.25,
        sc.USER_ID: f"u{i}",
    }
    start = 1_795_168_800 * 10**9 + i * 1000
    return records.CallRecord(attrs, start, start + 5 * 10**8, 0xABC + i, 0xDEF + i, sampled, False)


def test_a_store_that_is_down_keeps_calls_until_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "usage.db"
    path.mkdir()  # the store cannot be opened: a directory stands where the file goes
    writer = StoreWriter(SqliteTarget(str(path)), limit=50, interval_s=0.01)
    with caplog.at_level(logging.WARNING, logger="genai_cost"):
        started = time.perf_counter()
        for i in range(80):
            writer.add(_record(i, sampled=i == 0))
        assert time.perf_counter() - started < 0.05  # the caller never waits for the store
        time.sleep(0.3)  # the thread tries, fails, keeps the calls
        assert writer.written == 0 and writer.dropped == 30  # 50 kept, the rest counted
        path.rmdir()  # the store is back
        assert writer.flush(5.0)
        writer.close()
    assert writer.written == 50
    with UsageStore.open(path, create=False) as store:
        rows = store.rows()
    assert [r.user_id for r in rows] == [f"u{i}" for i in range(50)]
    assert rows[0].trace_id == f"{0xABC:032x}" and all(r.trace_id is None for r in rows[1:])
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot write to the usage store" in m for m in messages) == 1, messages
    assert sum("buffer is full" in m for m in messages) == 1, messages
    assert any("is back after" in m for m in messages), messages
    assert any("30 calls were not written" in m for m in messages), messages


def test_a_closed_writer_takes_no_more_calls(tmp_path: Path) -> None:
    writer = StoreWriter(SqliteTarget(str(tmp_path / "usage.db")), limit=10)
    writer.start()
    assert writer in records.sinks
    writer.add(_record(1))
    writer.close()
    assert writer not in records.sinks and writer.written == 1
    writer.add(_record(2))  # a late call (after shutdown) is counted, not written
    assert writer.dropped == 1
