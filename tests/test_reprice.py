"""Price versions in the store, `genai-cost reprice` and `genai-cost prices`, over calls made with the
real OpenAI SDK against the fake provider and written by the real store exporter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from genai_cost import config, feature
from genai_cost import semconv as sc
from genai_cost.cli import main
from genai_cost.config import Settings
from genai_cost.instrumentation.openai import OpenAIInstrumentor
from genai_cost.pricing.book import PriceBook, get_price_book
from genai_cost.store import reprice
from genai_cost.store.db import UsageStore
from genai_cost.store.exporter import LocalStoreSpanExporter

M = 1e6
# USD per million tokens (input, cached input, output): openai.com/api/pricing, and the override below.
LIST = {"gpt-4o-mini": (0.15, 0.075, 0.60), "gpt-4o": (2.50, 1.25, 10.00)}
OVERRIDE = {"gpt-4o-mini": (0.30, 0.15, 1.20), "acme-ft-1": (1.00, 0.50, 2.00)}
PRICES_YAML = """\
models:
  - model: gpt-4o-mini
    provider: openai
    input: 0.30
    cache_read: 0.15
    output: 1.20
  - model: acme-ft-1
    provider: openai
    input: 1.00
    cache_read: 0.50
    output: 2.00
"""


def price(rates: tuple[float, float, float], billed: Any) -> float:
    per_input, per_cached, per_output = rates
    uncached = billed.input_tokens - billed.cache_read_tokens
    return (
        uncached * per_input + billed.cache_read_tokens * per_cached + billed.output_tokens * per_output
    ) / M


@pytest.fixture
def recorded(otel: Any, fake_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A store with 4 calls: search on gpt-4o-mini (2) and on an unpriced fine-tune, summary on gpt-4o."""
    monkeypatch.delenv(config.PRICES_FILE, raising=False)
    db = tmp_path / "usage.db"
    exporter = LocalStoreSpanExporter(db)
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=Settings()
    )
    calls = [
        ("search", "gpt-4o-mini"),
        ("search", "gpt-4o-mini"),
        ("search", "acme-ft-1"),
        ("summary", "gpt-4o"),
    ]
    try:
        client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
        for name, model in calls:
            with feature(name):
                client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "x " * 3000}]
                )
    finally:
        instrumentor.uninstrument()
        exporter.shutdown()
    billed = list(zip(calls, fake_server.ledger, strict=True))
    assert all(b.cache_read_tokens > 0 for _, b in billed)
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICES_YAML)
    yield db, prices, billed


def stored(db: Path) -> list[Any]:
    with UsageStore.open(db, readonly=True) as store:
        return store.rows()


def test_each_stored_call_keeps_the_price_version_that_priced_it(recorded: Any) -> None:
    db, _, billed = recorded
    rows = stored(db)
    version = get_price_book().price_version()
    assert version.startswith("genai-prices ")
    for row, ((_, model), bill) in zip(rows, billed, strict=True):
        if model == "acme-ft-1":
            assert row.cost is None and row.unpriced and row.price_version is None and row.priced_at is None
        else:
            assert row.cost == pytest.approx(price(LIST[model], bill), rel=1e-12)
            assert row.price_version == version
            assert row.priced_at is not None and row.priced_at >= row.start_time


def test_reprice_dry_run_shows_the_exact_delta_per_feature(
    recorded: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db, prices, billed = recorded
    before = [(r.cost, r.price_version) for r in stored(db)]
    # By hand: search's gpt-4o-mini calls at the override price, its fine-tune newly priced; summary's
    # gpt-4o has no override and stays at list price.
    mini = [b for (_, model), b in billed if model == "gpt-4o-mini"]
    (fine_tune,) = [b for (_, model), b in billed if model == "acme-ft-1"]
    mini_delta = sum(price(OVERRIDE["gpt-4o-mini"], b) - price(LIST["gpt-4o-mini"], b) for b in mini)
    fine_tune_cost = price(OVERRIDE["acme-ft-1"], fine_tune)

    with UsageStore.open(db, readonly=True) as store:
        result = reprice.plan(store, PriceBook(prices))
    by = {(g.feature, g.model): g for g in result.groups}
    assert by[("search", "gpt-4o-mini")].difference == pytest.approx(mini_delta, rel=1e-12)
    assert by[("search", "gpt-4o-mini")].changed == 2
    assert by[("search", "acme-ft-1")].difference == pytest.approx(fine_tune_cost, rel=1e-12)
    assert by[("search", "acme-ft-1")].newly_priced == 1
    assert by[("summary", "gpt-4o")].difference == 0 and by[("summary", "gpt-4o")].changed == 0
    assert result.changed == 3
    search = sum(g.difference for g in result.groups if g.feature == "search")
    assert search == pytest.approx(mini_delta + fine_tune_cost, rel=1e-12)

    assert main(["reprice", "--prices", str(prices), "--dry-run", "-d", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"+${mini_delta:.6f}" in out
    assert f"+${fine_tune_cost:.6f}" in out
    assert "3 calls would change (1 newly priced)" in out
    assert "Dry run: nothing was written" in out
    assert [(r.cost, r.price_version) for r in stored(db)] == before
    with UsageStore.open(db, readonly=True) as store:
        assert reprice.runs(store) == []


def test_reprice_updates_the_store_and_records_the_run(
    recorded: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db, prices, billed = recorded
    assert main(["reprice", "--prices", str(prices), "-d", str(db)]) == 0
    assert "Store updated: 3 calls re-priced" in capsys.readouterr().out
    version = PriceBook(prices).price_version()
    assert version.startswith(get_price_book().price_version() + "+prices.yaml@")
    for row, ((_, model), bill) in zip(stored(db), billed, strict=True):
        rates = OVERRIDE.get(model) or LIST[model]
        assert row.cost == pytest.approx(price(rates, bill), rel=1e-12)
        assert row.cost_input + row.cost_cache_read + row.cost_output == pytest.approx(row.cost, rel=1e-12)
        assert row.price_version == (version if model in OVERRIDE else get_price_book().price_version())
        assert not row.unpriced and row.cost_source == sc.COST_SOURCE_LOCAL
    with UsageStore.open(db, readonly=True) as store:
        ((_run_at, run_version, changed, cost_before, cost_after),) = reprice.runs(store)
        # The report (read from the hourly totals) says the new costs too.
        [total] = store.report("total")
        by_feature = {r.key: r.cost for r in store.report("feature")}
    assert run_version == version and changed == 3 and cost_after > cost_before
    new_costs = [row.cost or 0.0 for row in stored(db)]
    assert total.cost == pytest.approx(sum(new_costs), rel=1e-12) == pytest.approx(cost_after, rel=1e-12)
    assert sum(c or 0.0 for c in by_feature.values()) == pytest.approx(sum(new_costs), rel=1e-12)
    # Again with the same prices: nothing left to change.
    assert main(["reprice", "--prices", str(prices), "-d", str(db)]) == 0
    assert "0 calls changed" in capsys.readouterr().out


def test_prices_shows_version_unpriced_and_changed_models(
    recorded: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db, prices, _ = recorded
    assert main(["prices", "-d", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"Prices in use: {get_price_book().price_version()}" in out
    assert "Models in the store with no price" in out and "acme-ft-1" in out
    assert "No stored cost differs from these prices." in out
    # Stored costs priced with the override, seen with the bundled prices: gpt-4o-mini changed.
    assert main(["reprice", "--prices", str(prices), "-d", str(db)]) == 0
    capsys.readouterr()
    assert main(["prices", "-d", str(db)]) == 0
    out = capsys.readouterr().out
    changed = out.split("Models whose price changed", 1)[1]
    assert "gpt-4o-mini" in changed and "gpt-4o " not in changed
    assert PriceBook(prices).price_version() in changed  # recorded with the override's version
    assert "Every model in the store has a price." not in out  # acme-ft-1 has none without the file


def test_a_bad_price_file_is_one_error_line(
    recorded: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, _ = recorded
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - model: x\n    input: cheap\n    output: 1\n")
    assert main(["reprice", "--prices", str(bad), "--dry-run", "-d", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("genai-cost: error: ") and "bad.yaml:3" in err and err.count("\n") == 1
