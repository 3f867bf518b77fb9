"""The store holds every call whatever the trace sampler keeps: real SDKs, the fake server's ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler, TraceIdRatioBased

from genai_cost import config, feature
from genai_cost.cli import main as cli_main
from genai_cost.instrumentation import deferred
from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
from genai_cost.instrumentation.openai import OpenAIInstrumentor
from genai_cost.store.db import UsageStore
from genai_cost.store.exporter import LocalStoreSpanExporter
from test_cost import list_price

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _calls(fake_server: Any, count: int) -> None:
    """OpenAI calls and streams, and Anthropic messages, tagged."""
    oai = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
    claude = anthropic.Anthropic(api_key="k", base_url=fake_server.anthropic_base_url, max_retries=0)
    for i in range(count):
        model = "gpt-4o" if i % 3 == 0 else "gpt-4o-mini"
        prompt = "long context " * (400 if i % 4 == 0 else 3) + str(i)  # some calls read the cache
        messages = [{"role": "user", "content": prompt}]
        with feature("sampled", user_id=f"u{i % 7}", session_id=f"s{i % 11}"):
            if i % 10 == 9:
                claude.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=messages)  # type: ignore[arg-type]
            elif i % 5 == 0:
                for _chunk in oai.chat.completions.create(model=model, messages=messages, stream=True):  # type: ignore[arg-type]
                    pass
            else:
                oai.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]


def assert_store_is_the_ledger(store: UsageStore, ledger: list[Any]) -> float:
    """Call for call: one row per billed call, with its tokens; returns the expected OpenAI cost."""
    rows = store.rows()
    assert len(rows) == len(ledger)
    by_id = {row.response_id: row for row in rows}
    assert len(by_id) == len(rows)
    expected = 0.0
    for call in ledger:
        row = by_id[call.response_id]
        billed = call.normalized()
        assert (row.input_tokens, row.output_tokens) == (billed.input_tokens, billed.output_tokens), call
        assert row.cache_read_tokens == billed.cache_read_tokens or (
            row.cache_read_tokens is None and not billed.cache_read_tokens
        )
        assert (row.feature, row.user_id) == ("sampled", row.user_id) and row.user_id is not None
        if call.provider == "openai":
            cost = list_price(call.model, call.input_tokens, call.cache_read_tokens, call.output_tokens)
            assert row.cost == pytest.approx(cost, rel=1e-9), call
            expected += cost
        else:
            assert row.cost is not None and row.cost > 0
    return expected


@pytest.mark.parametrize("sampler", [TraceIdRatioBased(0.01), ALWAYS_OFF], ids=["ratio-0.01", "always-off"])
def test_the_store_equals_the_bill_under_any_sampler(
    tmp_path: Path, fake_server: Any, sampler: Sampler
) -> None:
    sampled = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=sampler)
    tracer_provider.add_span_processor(SimpleSpanProcessor(sampled))
    exporter = LocalStoreSpanExporter(tmp_path / "usage.db")  # the switch: OTEL_TRACES_EXPORTER=genai_cost
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        _calls(fake_server, 300)
        deferred.finish_all()  # the dropped streams (as at exit)
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
        tracer_provider.shutdown()  # flushes the writer
    ledger = fake_server.ledger
    assert len(ledger) == 300
    spans = {f"{s.context.span_id:016x}": f"{s.context.trace_id:032x}" for s in sampled.get_finished_spans()}
    assert len(spans) < 20  # the trace kept (almost) nothing...
    with UsageStore.open(tmp_path / "usage.db", create=False) as store:
        expected = assert_store_is_the_ledger(store, ledger)  # ...the store has every call
        [total] = store.report("total")
        rows = store.rows()
    openai_total = sum(r.cost or 0 for r in rows if r.provider == "openai")
    assert openai_total == pytest.approx(expected, rel=1e-9)
    assert total.requests == 300 and total.cost == pytest.approx(sum(r.cost or 0 for r in rows), rel=1e-12)
    # The trace id is kept exactly where the span was sampled (the store does not hold it twice).
    assert {r.span_id: r.trace_id for r in rows if r.trace_id is not None} == spans
    assert exporter.writer.dropped == 0


_APP = textwrap.dedent(
    """
    import sys
    from test_store_sampling import _calls

    class Server:
        openai_base_url, anthropic_base_url = sys.argv[1], sys.argv[2]

    _calls(Server, int(sys.argv[3]))
    print("app done")
    """
)


def test_opentelemetry_instrument_with_a_1_percent_sampler(tmp_path: Path, fake_server: Any) -> None:
    # The switch users have: OTEL_TRACES_EXPORTER=genai_cost. Nothing is flushed by the app: the
    # writer does it at exit.
    db = tmp_path / "usage.db"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([SRC, str(Path(__file__).parent)]),
        "OTEL_TRACES_EXPORTER": "genai_cost",
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.01",
        "OTEL_SERVICE_NAME": "sampled-app",
        config.DB_PATH: str(db),
    }
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("opentelemetry-instrument")),
            sys.executable,
            "-c",
            _APP,
            fake_server.openai_base_url,
            fake_server.anthropic_base_url,
            "120",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0 and "app done" in done.stdout, done.stderr
    assert "genai-cost" not in done.stderr, done.stderr  # nothing dropped, nothing failed
    ledger = fake_server.ledger
    assert len(ledger) == 120
    with UsageStore.open(db, create=False) as store:
        expected = assert_store_is_the_ledger(store, ledger)
        rows = store.rows()
    assert {r.service_name for r in rows} == {"sampled-app"}
    assert sum(r.trace_id is not None for r in rows) < 12
    assert expected > 0


def test_report_cli_equals_the_bill(
    tmp_path: Path, fake_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    exporter = LocalStoreSpanExporter(tmp_path / "usage.db")
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        _calls(fake_server, 40)
        deferred.finish_all()
    finally:
        instrumentor.uninstrument()
        tracer_provider.shutdown()
    assert cli_main(["report", "--by", "user", "--format", "json", "-d", str(tmp_path / "usage.db")]) == 0
    users = json.loads(capsys.readouterr().out)
    openai_calls = [c for c in fake_server.ledger if c.provider == "openai"]
    assert sum(u["requests"] for u in users) == len(openai_calls)
    billed = sum(
        list_price(c.model, c.input_tokens, c.cache_read_tokens, c.output_tokens) for c in openai_calls
    )
    assert sum(u["cost_usd"] for u in users) == pytest.approx(billed, rel=1e-9)
