"""Cache economics (`genai-cost report --cache`): savings equal a hand computation from list prices,
hit rates, and cache writes that nothing read within their TTL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from genai_cost import config, feature
from genai_cost import semconv as sc
from genai_cost.cli import main
from genai_cost.config import Settings
from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
from genai_cost.pricing.book import PriceBook
from genai_cost.store.cache import cache_economics
from genai_cost.store.db import UsageStore
from genai_cost.store.exporter import LocalStoreSpanExporter
from genai_cost.usage import Cost, Usage
from store_data import Call, record, utc

M = 1e6
MODEL = "claude-haiku-4-5"
# USD per million tokens, anthropic.com/pricing: input, cache read (0.1x), 5-minute write (1.25x),
# 1-hour write (2x), output.
INPUT, READ, WRITE_5M, WRITE_1H, OUTPUT = 1.00, 0.10, 1.25, 2.00, 5.00


def with_cache(b: Any) -> float:
    return (
        b.input_tokens * INPUT
        + b.cache_read_tokens * READ
        + b.cache_creation_5m_tokens * WRITE_5M
        + b.cache_creation_1h_tokens * WRITE_1H
        + b.output_tokens * OUTPUT
    ) / M


def without_cache(b: Any) -> float:
    # Anthropic's input_tokens exclude cache reads and writes: with no cache, all of them are input.
    all_input = b.input_tokens + b.cache_read_tokens + b.cache_creation_tokens
    return (all_input * INPUT + b.output_tokens * OUTPUT) / M


@pytest.fixture
def recorded(otel: Any, fake_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv(config.PRICES_FILE, raising=False)
    db = tmp_path / "usage.db"
    exporter = LocalStoreSpanExporter(db)
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        settings=Settings(provider_hosts={"127.0.0.1": "anthropic"}),
    )
    try:
        client = anthropic.Anthropic(api_key="k", base_url=fake_server.anthropic_base_url, max_retries=0)
        block = {
            "type": "text",
            "text": "Rewrite these bullets " * 200,
            "cache_control": {"type": "ephemeral"},
        }
        for _ in range(3):
            with feature("resume"):
                client.messages.create(
                    model=MODEL, max_tokens=100, messages=[{"role": "user", "content": [block]}]
                )
        with feature("cover_letter"):  # no cache_control: no cache use
            client.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    finally:
        instrumentor.uninstrument()
        exporter.shutdown()
    yield db, list(fake_server.ledger), otel


def test_savings_equal_the_hand_computation_from_list_prices(recorded: Any) -> None:
    db, billed, _ = recorded
    resume = billed[:3]
    assert all(b.cache_read_tokens > 0 and b.cache_creation_5m_tokens > 0 for b in resume)
    with UsageStore.open(db, readonly=True) as store:
        (row,) = cache_economics(store, PriceBook())  # cover_letter used no cache: not listed
    assert (row.feature, row.provider, row.model, row.calls) == ("resume", "anthropic", MODEL, 3)
    assert row.cost == pytest.approx(sum(map(with_cache, resume)), rel=1e-12)
    assert row.cost_without_cache == pytest.approx(sum(map(without_cache, resume)), rel=1e-12)
    saved = sum(without_cache(b) - with_cache(b) for b in resume)
    assert row.saved == pytest.approx(saved, rel=1e-9)
    reads = sum(b.cache_read_tokens for b in resume)
    all_input = sum(b.input_tokens + b.cache_read_tokens + b.cache_creation_tokens for b in resume)
    assert row.hit_rate == reads / all_input
    # Each write was read by the next call, milliseconds later, except the last one's.
    assert row.unread_writes == 1
    assert row.unread_write_tokens == resume[-1].cache_creation_tokens
    assert row.unread_write_cost == pytest.approx(
        resume[-1].cache_creation_5m_tokens * WRITE_5M / M, rel=1e-12
    )


def test_report_cache_command(recorded: Any, capsys: pytest.CaptureFixture[str]) -> None:
    db, billed, _ = recorded
    saved = sum(without_cache(b) - with_cache(b) for b in billed[:3])
    assert main(["report", "--cache", "-d", str(db)]) == 0
    out = capsys.readouterr().out
    assert "Cache by feature and model" in out and "resume" in out and "cover_letter" not in out
    assert f"${saved:.6f}" in out
    assert main(["report", "--cache", "--format", "json", "-d", str(db)]) == 0
    (record_,) = json.loads(capsys.readouterr().out)
    assert record_["cache_saved_usd"] == pytest.approx(saved, rel=1e-9)
    assert record_["unread_cache_writes"] == 1


def test_cache_read_counter_for_the_hit_rate(recorded: Any) -> None:
    # genai_cost.client.token.cache_read (the dashboards' and the alert's numerator): every cached token,
    # beside the input tokens of the token histogram (the denominator).
    _, billed, otel = recorded
    resume = {sc.FEATURE_NAME: "resume"}
    assert otel.metric_sum(sc.METRIC_CACHE_READ_TOKENS, resume) == sum(
        b.cache_read_tokens for b in billed[:3]
    )
    inputs = otel.metric_sum(sc.METRIC_TOKEN_USAGE, {**resume, sc.GEN_AI_TOKEN_TYPE: "input"})
    assert inputs == sum(b.input_tokens + b.cache_read_tokens + b.cache_creation_tokens for b in billed[:3])
    # No cache hit, no point: cover_letter has no cache-read series.
    assert otel.metric_points(sc.METRIC_CACHE_READ_TOKENS) and all(
        p.attributes.get(sc.FEATURE_NAME) == "resume" for p in otel.metric_points(sc.METRIC_CACHE_READ_TOKENS)
    )


def test_writes_unread_within_their_ttl(tmp_path: Path) -> None:
    # Times chosen around the TTLs: a 5-minute write read 10 minutes later was not read in time; a
    # 1-hour write read 10 minutes later was.
    db = str(tmp_path / "usage.db")
    cost = Cost(0.01, input=0.01)

    def call(at: str, name: str, usage: Usage) -> Call:
        return Call(utc(at), 0.1, "anthropic", MODEL, feature=name, usage=usage, cost=cost)

    write_5m = Usage(2000, 10, cache_creation_tokens=1500, cache_creation_5m_tokens=1500)
    write_1h = Usage(2000, 10, cache_creation_tokens=1500, cache_creation_1h_tokens=1500)
    read = Usage(2000, 10, cache_read_tokens=1500)
    record(
        db,
        [
            call("2026-11-20T10:00:00", "a", write_5m),
            call("2026-11-20T10:10:00", "a", read),  # too late for the 10:00 write
            call("2026-11-20T10:00:00", "b", write_1h),
            call("2026-11-20T10:10:00", "b", read),  # in time for the 1-hour write
            call("2026-11-20T10:12:00", "c", write_5m),
            call("2026-11-20T10:13:00", "other", read),  # another feature's read does not count
        ],
    )
    with UsageStore.open(db, readonly=True) as store:
        rows = {r.feature: r for r in cache_economics(store, PriceBook())}
    assert rows["a"].unread_writes == 1 and rows["a"].unread_write_tokens == 1500
    assert rows["a"].unread_write_cost == pytest.approx(1500 * WRITE_5M / M, rel=1e-12)
    assert rows["b"].unread_writes == 0
    assert rows["c"].unread_writes == 1
    assert rows["other"].unread_writes == 0 and rows["other"].hit_rate == 1500 / 2000
