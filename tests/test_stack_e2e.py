"""End to end on real parts: example apps -> OTLP -> the real collector -> real Prometheus -> every
dashboard query, checked against what the fake provider server billed."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from dashboards.queries import PanelQuery, iter_queries, iter_variable_queries, substitute

from genai_cost import config
from genai_cost.demo import demo_env, inject_failures, run_examples
from genai_cost.fakeprovider import FakeProviderServer
from genai_cost.pricing import get_price_book
from genai_cost.store.db import UsageStore
from stack import RULE_FILES, prom_query, run_collector, run_prometheus, wait_for

PROVIDERS = {"openai": "openai", "groq": "groq", "anthropic": "anthropic", "gemini": "gcp.gemini"}
UNPRICED_MODEL = "acme-private-llm"
# One call of a model with no price, and one priced for part of its bill (a code interpreter session has
# no list rate): the "Unpriced calls" and "Partially priced calls" panels each count one.
UNPRICED_APP = textwrap.dedent(
    f"""
    import openai
    client = openai.OpenAI()
    client.chat.completions.create(model={UNPRICED_MODEL!r}, messages=[{{"role": "user", "content": "hi"}}])
    client.responses.create(
        model="gpt-4o", input="plot it", tools=[{{"type": "code_interpreter", "container": {{"type": "auto"}}}}]
    )
    """
)


# A long-running service in miniature: Prometheus rates need a series that changes after its first
# scrape, which the one-shot example apps (a new series per process) do not give.
STEADY_APP = textwrap.dedent(
    """
    import os, time
    import openai
    from genai_cost import feature

    openai_client = openai.OpenAI()
    groq_client = openai.OpenAI(base_url=os.environ["GROQ_OPENAI_BASE_URL"], api_key=os.environ["GROQ_API_KEY"])
    messages = [{"role": "user", "content": "Next question please"}]
    with feature("steady_traffic"):
        for _ in range(12):
            openai_client.chat.completions.create(model="gpt-4o-mini", messages=messages)
            groq_client.chat.completions.create(model="llama-3.3-70b-versatile", messages=messages)
            time.sleep(0.5)
    """
)


@dataclass
class Run:
    prometheus: str
    ledger: list[Any]
    rows: list[Any]  # the local store's rows: one per call, with its feature
    end: float  # when every call had reached Prometheus: rate panels are read at this moment


def _rule_files(features: list[str], tmp: Path) -> list[Path]:
    """The bundled rule files, evaluated every second instead of every minute (same expressions),
    with a budget for each demo feature added to budgets.yml, as a user does in that file."""
    paths = []
    for source in RULE_FILES:
        doc = yaml.safe_load(Path(source).read_text())
        for group in doc["groups"]:
            group["interval"] = "1s"
        if Path(source).name == "budgets.yml":
            rules = doc["groups"][0]["rules"]
            for feature in features:
                labels = {"feature_name": feature}
                rules.append(
                    {"record": "genai_cost:budget_daily_usd", "expr": "vector(0.001)", "labels": labels}
                )
                rules.append(
                    {"record": "genai_cost:budget_monthly_usd", "expr": "vector(0.05)", "labels": labels}
                )
        path = tmp / Path(source).name
        path.write_text(yaml.safe_dump(doc))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("stack")
    db = tmp / "usage.db"
    features = [
        "interview_greeting", "interview_question", "mistake_detection", "performance_summary",
        "resume_analysis", "transcription", "batch_analysis", "parse_jd", "resume_bullets",
        "interview_prep_specific", "portfolio_chat", "resume_generation", "cover_letter", "steady_traffic",
    ]  # fmt: skip
    rule_files = _rule_files(features, tmp)
    with (
        FakeProviderServer() as server,
        run_collector() as ports,
        run_prometheus(ports.metrics_target, rule_files) as prom,
    ):
        env = {
            **demo_env(server, db),
            "OTEL_TRACES_EXPORTER": "otlp,genai_cost",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": ports.otlp_http_endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            config.METRIC_USER_ATTRIBUTES: "true",  # so the "cost by user" panel has data
        }
        inject_failures(server)
        run_examples(server, env, io.StringIO())
        for name, source in (("unpriced_app", UNPRICED_APP), ("steady_app", STEADY_APP)):
            app = tmp / f"{name}.py"
            app.write_text(source)
            done = subprocess.run(
                [str(Path(sys.executable).with_name("opentelemetry-instrument")), sys.executable, str(app)],
                env={**env, "OTEL_SERVICE_NAME": name},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
        ledger = list(server.ledger)
        with UsageStore.open(db, create=False) as store:
            rows = store.rows()
        expected_input = sum(c.normalized().input_tokens or 0 for c in _billed(ledger))

        def arrived() -> bool | None:
            got = prom_query(prom, 'sum(gen_ai_client_token_usage_sum{gen_ai_token_type="input"})')
            return (bool(got) and float(got[0]["value"][1]) == expected_input) or None

        wait_for(arrived, 60, "every token to reach Prometheus through the collector")
        time.sleep(3)  # a few more scrapes, so the newest series have the two samples rate() needs
        end = time.time()
        # Month to date adds up 5-minute blocks at aligned steps, so it shows the calls after the next
        # 5-minute boundary (documented lag); wait for it rather than leave those panels unchecked.
        # Every feature must have caught up with its rolling 24 hours, not merely appeared: a run that
        # crosses a boundary shows part of a feature's calls first.
        total = sum(1 for _ in _billed(ledger))
        assert total > 50

        def by_feature(expr: str) -> dict[str, float]:
            return {s["metric"].get("feature_name", ""): float(s["value"][1]) for s in prom_query(prom, expr)}

        def month_arrived() -> bool | None:
            month = by_feature("genai_cost:cost_usd_by_feature:month_to_date")
            day = by_feature("genai_cost:cost_usd_by_feature:increase1d")
            caught_up = all(
                abs(month.get(f, -1.0) - cost) <= 1e-9 * max(cost, 1e-12) for f, cost in day.items()
            )
            return (len(day) >= len(features) and caught_up) or None

        wait_for(month_arrived, 330, "month-to-date rules (at most 5 minutes: they add up 5-minute blocks)")
        time.sleep(2)
        yield Run(prom, ledger, rows, end)


def _billed(ledger: list[Any]) -> list[Any]:
    return [c for c in ledger if c.usage_reported and c.counted_tokens is None]


def _query(run: Run, q: PanelQuery) -> list[dict[str, Any]]:
    # Time series of rates are read while the apps were running; everything else (stat and table
    # panels over the dashboard's range, recorded budget series) is read now.
    at = run.end if not q.instant and "rate(" in q.expr else None
    return prom_query(run.prometheus, substitute(q.expr, range_seconds=3600, rate_interval="5m"), at=at)


def _values(result: list[dict[str, Any]], labels: tuple[str, ...]) -> dict[tuple[str, ...], float]:
    return {tuple(s["metric"].get(label, "") for label in labels): float(s["value"][1]) for s in result}


@pytest.fixture(scope="module")
def expected(run: Run) -> dict[str, Any]:
    feature_of = {r.response_id: r.feature for r in run.rows if r.response_id}
    book = get_price_book()
    cost: dict[str, dict[str, float]] = {
        "feature_name": defaultdict(float),
        "gen_ai_provider_name": defaultdict(float),
    }
    tokens = 0
    for call in _billed(run.ledger):
        usage = call.normalized()
        tokens += (usage.input_tokens or 0) + (usage.output_tokens or 0)
        price = book.price(PROVIDERS[call.provider], call.model, usage)
        if price is None:
            assert call.model == UNPRICED_MODEL
            continue
        cost["feature_name"][feature_of.get(call.response_id) or ""] += price.total
        cost["gen_ai_provider_name"][PROVIDERS[call.provider]] += price.total
    return {
        "total_cost": sum(cost["feature_name"].values()),
        "cost": cost,
        "tokens": tokens,
        "calls": len(run.rows),
        "streams": sum(1 for r in run.rows if r.streaming and r.error_type is None),
    }


def test_every_dashboard_query_returns_series_with_its_labels(run: Run) -> None:
    empty, missing_labels = [], []
    queries = list(iter_queries())
    assert len(queries) > 50
    for q in queries:
        result = _query(run, q)
        if not result:
            empty.append(f"{q.dashboard} / {q.panel}: {q.expr}")
            continue
        if not any(all(s["metric"].get(label) for label in q.labels) for s in result):
            missing_labels.append(f"{q.dashboard} / {q.panel}: {q.labels} not in {result[0]['metric']}")
        for series in result:
            value = float(series["value"][1])
            assert not math.isnan(value) or q.measure == "seconds", f"{q.panel}: NaN"
    assert empty == [], "panels without data:\n" + "\n".join(empty)
    assert missing_labels == []


def test_variables_list_the_values_the_apps_sent(run: Run) -> None:
    values = {}
    for variable in iter_variable_queries():
        series = prom_query(run.prometheus, substitute(variable.series))
        values[variable.name] = {s["metric"].get(variable.label) for s in series}
    assert {
        "interview_groq",
        "gemini_transcription",
        "claude_resume_writer",
        "multi_provider_usage",
    } <= values["service"]
    assert {"openai", "anthropic", "groq", "gcp.gemini"} <= values["provider"]
    assert {"llama-3.3-70b-versatile", "gemini-2.5-flash", "claude-sonnet-4-5", "gpt-4o-mini"} <= values[
        "model"
    ]
    assert {"interview_question", "transcription", "resume_bullets", "portfolio_chat"} <= values["feature"]


def _panel(title: str, dashboard: str, index: int = 0) -> PanelQuery:
    return [q for q in iter_queries() if q.panel == title and q.dashboard.endswith(dashboard)][index]


def test_totals_match_the_bill(run: Run, expected: dict[str, Any]) -> None:
    def single(title: str, dashboard: str = "overview") -> float:
        (series,) = _query(run, _panel(title, dashboard))
        return float(series["value"][1])

    assert single("Cost in range") == pytest.approx(expected["total_cost"], rel=1e-6)
    assert single("Tokens in range") == pytest.approx(expected["tokens"], rel=1e-9)
    assert single("Requests in range") == pytest.approx(expected["calls"], rel=1e-9)
    assert single("Unpriced calls") == pytest.approx(1)
    assert single("Partially priced calls") == pytest.approx(1)
    assert single("Success rate") == pytest.approx((expected["calls"] - 1) / expected["calls"], rel=1e-9)
    assert single("Cost, last 24 hours", "budgets") == pytest.approx(expected["total_cost"], rel=1e-6)
    assert single("Cost, month to date", "budgets") == pytest.approx(expected["total_cost"], rel=1e-6)
    assert single("Projected month", "budgets") >= expected["total_cost"]


@pytest.mark.parametrize(
    ("title", "label"), [("Cost by feature", "feature_name"), ("Cost by provider", "gen_ai_provider_name")]
)
def test_breakdowns_match_the_bill(run: Run, expected: dict[str, Any], title: str, label: str) -> None:
    got = {key[0]: value for key, value in _values(_query(run, _panel(title, "breakdown")), (label,)).items()}
    want = {k: v for k, v in expected["cost"][label].items() if v > 0}
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-6), key


def test_errors_rate_limits_and_streams(run: Run, expected: dict[str, Any]) -> None:
    failed = _values(
        _query(run, _panel("Failed calls in range", "reliability")), ("gen_ai_provider_name", "error_type")
    )
    assert failed == {("groq", "RateLimitError"): pytest.approx(1)}
    streams = sum(
        _values(
            _query(run, _panel("Streamed calls in range by model", "reliability")), ("gen_ai_request_model",)
        ).values()
    )
    assert streams == pytest.approx(expected["streams"])
    unpriced = _values(
        _query(run, _panel("Unpriced calls by model", "breakdown")),
        ("gen_ai_provider_name", "gen_ai_request_model"),
    )
    assert unpriced == {("openai", UNPRICED_MODEL): pytest.approx(1)}


@pytest.mark.parametrize(
    ("title", "budget"), [("Daily budget used by feature", 0.001), ("Monthly budget used by feature", 0.05)]
)
def test_budget_burn_per_feature(run: Run, expected: dict[str, Any], title: str, budget: float) -> None:
    burn = _values(_query(run, _panel(title, "budgets")), ("feature_name",))
    for (feature,), ratio in burn.items():
        # Each demo feature has a $0.001 daily and a $0.05 monthly budget in this test.
        assert ratio == pytest.approx(expected["cost"]["feature_name"][feature] / budget, rel=1e-6), feature
    assert {"resume_bullets", "interview_question"} <= {k[0] for k in burn}


def test_the_collector_binary_is_real() -> None:
    binary = os.environ.get("GENAI_COST_OTELCOL") or ""
    from stack import build_collector

    path = build_collector()
    assert path.exists() and os.access(path, os.X_OK)
    assert not binary or Path(binary) == path
