"""The cost span processor on the real OpenTelemetry SDK: spans of other GenAI instrumentations
get their cost on the exported span, whatever the processor order, and in the cost metric."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import ProxyTracerProvider, SpanKind

from conftest import Otel
from genai_cost import config
from genai_cost import semconv as sc
from genai_cost.metrics import create_instruments
from genai_cost.pricing.apply import apply_cost
from genai_cost.pricing.book import get_price_book
from genai_cost.processor import CostSpanProcessor, install
from genai_cost.usage import Usage
from otlp_receiver import OtlpReceiver, attributes

OTHER_SCOPE = "opentelemetry.instrumentation.openai_v2"
M = 1_000_000


class SnapshotExporter(SpanExporter):
    """Keeps each span's attributes as they were at export time.

    InMemorySpanExporter keeps the span object, whose attribute map a later processor could still
    change; a network exporter serialises at export, which is what this reproduces.
    """

    def __init__(self) -> None:
        self.exported: list[dict[str, Any]] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.exported.extend(dict(span.attributes or {}) for span in spans)
        return SpanExportResult.SUCCESS


def chat_attrs(provider: str, model: str, **usage: int) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
        sc.GEN_AI_PROVIDER_NAME: provider,
        sc.GEN_AI_REQUEST_MODEL: model,
        sc.GEN_AI_RESPONSE_MODEL: model,
        sc.SERVER_ADDRESS: "api.example.com",
    }
    names = {
        "input": sc.GEN_AI_USAGE_INPUT_TOKENS,
        "output": sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        "cache_read": sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        "cache_creation": sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    }
    for key, value in usage.items():
        attrs[names[key]] = value
    return attrs


def emit(provider: TracerProvider, attrs: dict[str, Any], scope: str = OTHER_SCOPE) -> None:
    tracer = provider.get_tracer(scope)
    name = f"{attrs.get(sc.GEN_AI_OPERATION_NAME, 'chat')} {attrs.get(sc.GEN_AI_REQUEST_MODEL, '')}"
    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT) as span:
        span.set_attributes(attrs)


@pytest.fixture
def wired(otel: Otel) -> tuple[Otel, InMemorySpanExporter]:
    """otel's exporter is added BEFORE the cost processor, ``after`` AFTER it."""
    after = InMemorySpanExporter()
    otel.tracer_provider.add_span_processor(CostSpanProcessor(otel.meter_provider))
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(after))
    return otel, after


def test_other_instrumentation_span_priced_before_and_after(otel: Otel) -> None:
    before, after = SnapshotExporter(), SnapshotExporter()
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(before))
    otel.tracer_provider.add_span_processor(CostSpanProcessor(otel.meter_provider))
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(after))
    emit(otel.tracer_provider, chat_attrs("openai", "gpt-4o-mini", input=1_000, output=200))
    # gpt-4o-mini: $0.15 input, $0.60 output per 1M tokens (openai.com/api/pricing).
    expected = (1_000 * 0.15 + 200 * 0.60) / M
    for exporter in (before, after):
        (attrs,) = exporter.exported
        assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(expected, rel=1e-12)
        assert isinstance(attrs[sc.GEN_AI_USAGE_COST_AMOUNT], float)
        assert attrs[sc.GEN_AI_USAGE_COST_CURRENCY] == "USD"
        assert attrs[sc.GEN_AI_USAGE_COST_SOURCE] == "local"
        assert attrs[sc.GENAI_COST_INPUT_AMOUNT] == pytest.approx(1_000 * 0.15 / M)
        assert attrs[sc.GENAI_COST_OUTPUT_AMOUNT] == pytest.approx(200 * 0.60 / M)
        assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1_000  # tokens untouched
    assert otel.metric_sum(sc.METRIC_COST) == pytest.approx(expected, rel=1e-12)


def test_cost_histogram_sum_equals_span_costs(wired: tuple[Otel, InMemorySpanExporter]) -> None:
    otel, _ = wired
    calls = [
        chat_attrs("openai", "gpt-4o-mini", input=1_000, output=200),
        chat_attrs("openai", "gpt-4o-2024-08-06", input=5_000, output=700, cache_read=2_048),
        chat_attrs(
            "anthropic",
            "claude-sonnet-4-5-20250929",
            input=26_000,
            output=500,
            cache_read=20_000,
            cache_creation=5_000,
        ),
        chat_attrs("groq", "llama-3.3-70b-versatile", input=27_500, output=6_000),
        chat_attrs("gcp.gemini", "gemini-2.5-flash", input=17_500, output=8_200),
    ]
    for attrs in calls * 3:
        emit(otel.tracer_provider, attrs)
    spans = otel.finished()
    assert len(spans) == 15
    span_total = sum(s.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] for s in spans)
    assert otel.metric_sum(sc.METRIC_COST) == pytest.approx(span_total, rel=1e-12)
    # Per-model series, with the token metric's attribute set.
    claude = {sc.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5-20250929", sc.GEN_AI_PROVIDER_NAME: "anthropic"}
    # Sonnet 4.5: $3 input, $0.30 cache hit, $3.75 5-minute cache write, $15 output.
    one = (1_000 * 3 + 20_000 * 0.30 + 5_000 * 3.75 + 500 * 15) / M
    assert otel.metric_sum(sc.METRIC_COST, claude) == pytest.approx(3 * one, rel=1e-12)
    cost_keys = {sc.GEN_AI_USAGE_COST_CURRENCY, sc.GEN_AI_USAGE_COST_SOURCE}
    for point in otel.metric_points(sc.METRIC_COST):
        assert cost_keys <= set(point.attributes) <= {*sc.METRIC_ATTRIBUTES, *cost_keys}
        assert point.count == 3


def test_own_and_already_priced_spans_are_not_repriced(wired: tuple[Otel, InMemorySpanExporter]) -> None:
    otel, _ = wired
    ours = chat_attrs("openai", "gpt-4o-mini", input=1_000, output=200)
    ours[sc.GEN_AI_USAGE_COST_AMOUNT] = 0.5  # what our core set (deliberately not the list price)
    emit(otel.tracer_provider, ours, scope="genai_cost")
    # Our scope without cost (pricing off in the core): still left alone.
    emit(
        otel.tracer_provider, chat_attrs("openai", "gpt-4o-mini", input=1_000, output=200), scope="genai_cost"
    )
    # Another vendor that prices its own spans.
    theirs = chat_attrs("openai", "gpt-4o-mini", input=1_000, output=200)
    theirs[sc.GEN_AI_USAGE_COST_AMOUNT] = 0.25
    emit(otel.tracer_provider, theirs)
    # An unpriced span of ours.
    unpriced = chat_attrs("openai", "my-model", input=10, output=10)
    unpriced[sc.GENAI_COST_UNPRICED] = True
    emit(otel.tracer_provider, unpriced)

    first, second, third, fourth = otel.finished()
    assert first.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] == 0.5
    assert sc.GEN_AI_USAGE_COST_AMOUNT not in second.attributes
    assert third.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] == 0.25
    assert sc.GENAI_COST_INPUT_AMOUNT not in third.attributes
    assert sc.GEN_AI_USAGE_COST_AMOUNT not in fourth.attributes
    assert otel.metric_points(sc.METRIC_COST) == []
    assert otel.metric_points(sc.METRIC_UNPRICED) == []


def test_unknown_model_marked_counted_and_warned_once(
    wired: tuple[Otel, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    otel, after = wired
    with caplog.at_level(logging.WARNING, logger="genai_cost"):
        for _ in range(4):
            emit(otel.tracer_provider, chat_attrs("openai", "acme-internal-llm-7", input=100, output=10))
    for span in [*otel.finished(), *after.get_finished_spans()]:
        assert span.attributes[sc.GENAI_COST_UNPRICED] is True
        assert sc.GEN_AI_USAGE_COST_AMOUNT not in span.attributes
        assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 100
    assert otel.metric_sum(sc.METRIC_UNPRICED) == 4
    assert otel.metric_points(sc.METRIC_COST) == []
    warnings = [r for r in caplog.records if "acme-internal-llm-7" in r.getMessage()]
    assert len(warnings) == 1


def test_only_model_calls_are_priced(wired: tuple[Otel, InMemorySpanExporter]) -> None:
    otel, _ = wired
    agent = chat_attrs("openai", "gpt-4o-mini", input=5_000, output=500)
    agent[sc.GEN_AI_OPERATION_NAME] = "invoke_agent"  # sums its children's usage: not a bill line
    emit(otel.tracer_provider, agent)
    emit(otel.tracer_provider, {"http.request.method": "GET"})  # not GenAI at all
    no_usage = chat_attrs("openai", "gpt-4o-mini")
    emit(otel.tracer_provider, no_usage)
    for span in otel.finished():
        assert sc.GEN_AI_USAGE_COST_AMOUNT not in span.attributes
        assert sc.GENAI_COST_UNPRICED not in span.attributes
    assert otel.metric_points(sc.METRIC_COST) == []


def test_older_semconv_names(wired: tuple[Otel, InMemorySpanExporter]) -> None:
    otel, _ = wired
    emit(
        otel.tracer_provider,
        {
            sc.GEN_AI_SYSTEM: "anthropic",
            sc.GEN_AI_REQUEST_MODEL: "claude-3-haiku-20240307",
            sc.GEN_AI_USAGE_PROMPT_TOKENS: 12_000,
            sc.GEN_AI_USAGE_COMPLETION_TOKENS: 900,
        },
    )
    (span,) = otel.finished()
    # Claude 3 Haiku: $0.25 input, $1.25 output.
    assert span.attributes[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx((12_000 * 0.25 + 900 * 1.25) / M)
    (point,) = otel.metric_points(sc.METRIC_COST)
    assert point.attributes[sc.GEN_AI_PROVIDER_NAME] == "anthropic"


def test_metric_attributes_low_cardinality(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    attrs = chat_attrs("openai", "gpt-4o-mini", input=1_000, output=200)
    attrs.update(
        {sc.USER_ID: "u-1", sc.SESSION_ID: "s-1", sc.FEATURE_NAME: "resume", sc.GEN_AI_RESPONSE_ID: "r-1"}
    )
    otel.tracer_provider.add_span_processor(CostSpanProcessor(otel.meter_provider))
    emit(otel.tracer_provider, attrs)
    (point,) = otel.metric_points(sc.METRIC_COST)
    assert dict(point.attributes) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        sc.SERVER_ADDRESS: "api.example.com",
        sc.FEATURE_NAME: "resume",
        sc.GEN_AI_USAGE_COST_CURRENCY: "USD",
        sc.GEN_AI_USAGE_COST_SOURCE: "local",
    }
    # Opt-in: user and session on metrics too.
    monkeypatch.setenv(config.METRIC_USER_ATTRIBUTES, "true")
    provider = TracerProvider()
    provider.add_span_processor(CostSpanProcessor(otel.meter_provider))
    emit(provider, attrs)
    users = [p for p in otel.metric_points(sc.METRIC_COST) if sc.USER_ID in p.attributes]
    assert len(users) == 1
    assert users[0].attributes[sc.SESSION_ID] == "s-1"
    provider.shutdown()


def test_install_is_idempotent(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    first = install(otel.tracer_provider, otel.meter_provider)
    assert isinstance(first, CostSpanProcessor)
    assert install(otel.tracer_provider, otel.meter_provider) is first
    emit(otel.tracer_provider, chat_attrs("openai", "gpt-4o-mini", input=1_000, output=200))
    assert otel.metric_sum(sc.METRIC_COST) == pytest.approx((1_000 * 0.15 + 200 * 0.60) / M)
    assert len(otel.metric_points(sc.METRIC_COST)) == 1
    assert otel.metric_points(sc.METRIC_COST)[0].count == 1
    # No SDK provider (the API's proxy): nothing to add to.
    assert install(ProxyTracerProvider()) is None
    # Cost switched off.
    monkeypatch.setenv(config.COST_ENABLED, "false")
    assert install(TracerProvider()) is None


def test_apply_cost_shared_with_the_core(otel: Otel) -> None:
    instruments = create_instruments(otel.meter_provider)
    written: dict[str, Any] = {}
    metric_attrs = {sc.GEN_AI_PROVIDER_NAME: "openai", sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini"}
    cost = apply_cost(
        written,
        instruments,
        metric_attrs,
        "openai",
        "gpt-4o-mini",
        Usage(input_tokens=1_000, output_tokens=200),
    )
    assert cost is not None
    assert written == {**cost.to_attributes(), sc.GENAI_COST_PRICE_VERSION: get_price_book().price_version()}
    assert apply_cost(None, instruments, metric_attrs, "openai", "nope-1", Usage(input_tokens=1)) is None
    unpriced: dict[str, Any] = {}
    assert apply_cost(unpriced, instruments, metric_attrs, "openai", "nope-2", Usage(input_tokens=1)) is None
    assert unpriced == {sc.GENAI_COST_UNPRICED: True}
    assert apply_cost(written, instruments, metric_attrs, "openai", "gpt-4o-mini", Usage()) is None
    assert otel.metric_sum(sc.METRIC_COST) == pytest.approx(cost.total)
    assert otel.metric_sum(sc.METRIC_UNPRICED) == 2
    assert written == {**cost.to_attributes(), sc.GENAI_COST_PRICE_VERSION: get_price_book().price_version()}


SUBPROCESS_APP = """
import sys
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import SpanKind

import genai_cost.processor

endpoint = sys.argv[1]
tracer_provider = TracerProvider()
# The exporters are added BEFORE the cost processor, as an app that sets up OTel first would.
tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
trace.set_tracer_provider(tracer_provider)
reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint + "/v1/metrics"), 60_000)
meter_provider = MeterProvider(metric_readers=[reader])
metrics.set_meter_provider(meter_provider)
assert genai_cost.processor.install() is genai_cost.processor.install()

tracer = trace.get_tracer("opentelemetry.instrumentation.anthropic")
for index in range(10):
    with tracer.start_as_current_span("chat claude-3-haiku", kind=SpanKind.CLIENT) as span:
        span.set_attributes({
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-3-haiku-20240307",
            "gen_ai.usage.input_tokens": 1_000 * (index + 1),
            "gen_ai.usage.output_tokens": 100,
        })
tracer_provider.shutdown()
meter_provider.shutdown()
"""


def test_exported_over_otlp_from_a_subprocess(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(SUBPROCESS_APP), encoding="utf-8")
    src = str(Path(__file__).resolve().parents[1] / "src")
    with OtlpReceiver() as receiver:
        result = subprocess.run(
            [sys.executable, str(script), receiver.endpoint],
            env={"PYTHONPATH": src, "OTEL_SDK_DISABLED": "false"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    spans = [attributes(span.attributes) for _, span in receiver.spans()]
    assert len(spans) == 10
    # Claude 3 Haiku: $0.25 input, $1.25 output per 1M tokens.
    expected = [(1_000 * (i + 1) * 0.25 + 100 * 1.25) / M for i in range(10)]
    costs = sorted(s[sc.GEN_AI_USAGE_COST_AMOUNT] for s in spans)
    assert costs == pytest.approx(expected, rel=1e-12)
    assert all(s[sc.GEN_AI_USAGE_COST_CURRENCY] == "USD" for s in spans)
    points = receiver.histogram_points(sc.METRIC_COST)
    assert sum(p.count for p in points) == 10
    assert sum(p.sum for p in points) == pytest.approx(sum(costs), rel=1e-12)


class _MultiProcessorWithoutOnEnding(SynchronousMultiSpanProcessor):
    """What an SDK from before the ``_on_ending`` hook does: only on_start and on_end."""

    def _on_ending(self, span: Any) -> None:
        pass


def test_fallback_for_sdks_without_on_ending(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_cost import _otel_compat

    monkeypatch.setattr(_otel_compat, "sdk_has_on_ending", lambda: False)
    provider = TracerProvider(active_span_processor=_MultiProcessorWithoutOnEnding())
    before = SnapshotExporter()
    provider.add_span_processor(SimpleSpanProcessor(before))
    assert install(provider, otel.meter_provider) is not None  # goes first, since it can only use on_end
    emit(provider, chat_attrs("openai", "gpt-4o-mini", input=1_000, output=200))
    (attrs,) = before.exported
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx((1_000 * 0.15 + 200 * 0.60) / M)
    assert otel.metric_points(sc.METRIC_COST)[0].count == 1
    provider.shutdown()


# --- a cost the provider stated, on another instrumentation's span ---------------------------------------
# A gateway's instrumentation following the cost proposal: the amount the provider billed, marked so.
GATEWAY_SCOPE = "example.gateway.instrumentation"
STATED = 0.000_301_7  # what the provider billed (a gateway fee on top of the list price)
GPT_4O_MINI_LIST = (1_000 * 0.15 + 200 * 0.60) / M  # $0.15 input, $0.60 output per 1M tokens


def stated_attrs(**cost: Any) -> dict[str, Any]:
    attrs = chat_attrs("openai", "gpt-4o-mini", input=1_000, output=200)
    attrs.update(cost)
    return attrs


def test_stated_cost_passed_through_to_span_metric_and_store(otel: Otel, tmp_path: Path) -> None:
    from genai_cost.store.db import UsageStore
    from genai_cost.store.exporter import LocalStoreSpanExporter

    before, after = SnapshotExporter(), SnapshotExporter()
    store = LocalStoreSpanExporter(tmp_path / "usage.db")
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(before))
    otel.tracer_provider.add_span_processor(CostSpanProcessor(otel.meter_provider))
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(after))
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(store))
    stated = {
        sc.GEN_AI_USAGE_COST_AMOUNT: STATED,
        sc.GEN_AI_USAGE_COST_CURRENCY: "USD",
        sc.GEN_AI_USAGE_COST_SOURCE: "provider",
    }
    emit(otel.tracer_provider, stated_attrs(**stated), scope=GATEWAY_SCOPE)
    emit(otel.tracer_provider, stated_attrs(**stated), scope=GATEWAY_SCOPE)
    for exporter in (before, after):
        for attrs in exporter.exported:
            assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == STATED  # unchanged
            assert attrs[sc.GEN_AI_USAGE_COST_SOURCE] == "provider"
            assert attrs[sc.GENAI_COST_COST_ESTIMATE] == pytest.approx(GPT_4O_MINI_LIST, rel=1e-12)
            assert sc.GENAI_COST_INPUT_AMOUNT not in attrs  # the provider stated a total, not parts
    # Counted once per call (the processor sees each span twice), as stated.
    (point,) = otel.metric_points(sc.METRIC_COST)
    assert point.count == 2
    assert point.attributes[sc.GEN_AI_USAGE_COST_SOURCE] == "provider"
    assert point.attributes[sc.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert otel.metric_sum(sc.METRIC_COST) == pytest.approx(2 * STATED, abs=1e-9, rel=1e-12)
    assert store.force_flush()
    with UsageStore.open(tmp_path / "usage.db", create=False) as db:
        rows = db.rows()
    assert [(r.cost, r.cost_source, r.cost_input) for r in rows] == [(STATED, "provider", None)] * 2
    assert sum(r.cost or 0.0 for r in rows) == pytest.approx(2 * STATED, abs=1e-9)
    store.shutdown()


def test_a_foreign_estimate_is_not_a_stated_cost(wired: tuple[Otel, InMemorySpanExporter]) -> None:
    otel, _ = wired
    # OpenLIT's gen_ai.usage.cost is its own estimate: we price the span as any other.
    emit(otel.tracer_provider, stated_attrs(**{sc.OPENLIT_USAGE_COST: 0.5}), scope="openlit.otel.tracing")
    # The proposal's amount without source=provider: priced by whoever made it, left alone, not counted.
    emit(otel.tracer_provider, stated_attrs(**{sc.GEN_AI_USAGE_COST_AMOUNT: 0.25}))
    emit(
        otel.tracer_provider,
        stated_attrs(**{sc.GEN_AI_USAGE_COST_AMOUNT: 0.125, sc.GEN_AI_USAGE_COST_SOURCE: "local"}),
    )
    # source=provider with an amount that is not a number: not taken, not re-priced either.
    emit(
        otel.tracer_provider,
        stated_attrs(**{sc.GEN_AI_USAGE_COST_AMOUNT: "n/a", sc.GEN_AI_USAGE_COST_SOURCE: "provider"}),
    )
    openlit, own, local, odd = (s.attributes for s in otel.finished())
    assert openlit[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(GPT_4O_MINI_LIST, rel=1e-12)
    assert openlit[sc.GEN_AI_USAGE_COST_SOURCE] == "local"
    assert openlit[sc.OPENLIT_USAGE_COST] == 0.5  # theirs, untouched (compatibility attributes are off)
    assert (own[sc.GEN_AI_USAGE_COST_AMOUNT], local[sc.GEN_AI_USAGE_COST_AMOUNT]) == (0.25, 0.125)
    assert odd[sc.GEN_AI_USAGE_COST_AMOUNT] == "n/a"
    for attrs in (own, local, odd):
        assert sc.GENAI_COST_COST_ESTIMATE not in attrs and sc.GENAI_COST_INPUT_AMOUNT not in attrs
    (point,) = otel.metric_points(sc.METRIC_COST)  # the OpenLIT span only, priced by us
    assert point.attributes[sc.GEN_AI_USAGE_COST_SOURCE] == "local"
    assert point.sum == pytest.approx(GPT_4O_MINI_LIST, rel=1e-12)


def test_stated_cost_without_on_ending(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_cost import _otel_compat

    monkeypatch.setattr(_otel_compat, "sdk_has_on_ending", lambda: False)
    provider = TracerProvider(active_span_processor=_MultiProcessorWithoutOnEnding())
    before = SnapshotExporter()
    provider.add_span_processor(SimpleSpanProcessor(before))
    assert install(provider, otel.meter_provider) is not None
    stated = {sc.GEN_AI_USAGE_COST_AMOUNT: STATED, sc.GEN_AI_USAGE_COST_SOURCE: "provider"}
    emit(provider, stated_attrs(**stated), scope=GATEWAY_SCOPE)
    (attrs,) = before.exported
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == STATED
    assert attrs[sc.GEN_AI_USAGE_COST_CURRENCY] == "USD"  # the proposal requires it: added when missing
    assert attrs[sc.GENAI_COST_COST_ESTIMATE] == pytest.approx(GPT_4O_MINI_LIST, rel=1e-12)
    (point,) = otel.metric_points(sc.METRIC_COST)
    assert (point.count, point.sum) == (1, STATED)
    provider.shutdown()
