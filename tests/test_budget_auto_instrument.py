"""An unchanged app under `opentelemetry-instrument` with a budgets file: it stops at the limit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from genai_cost import semconv as sc
from genai_cost.pricing.book import get_price_book
from otlp_receiver import OtlpReceiver, attributes

LIMIT = 0.003
APP = textwrap.dedent(
    """
    import os
    import anthropic
    import openai

    oai = openai.OpenAI(base_url=os.environ["APP_OPENAI_URL"], api_key="k", max_retries=0)
    claude = anthropic.Anthropic(base_url=os.environ["APP_ANTHROPIC_URL"], api_key="k", max_retries=0)
    made = 0
    try:
        for i in range(1000):
            messages = [{"role": "user", "content": f"Draft interview question number {i}"}]
            if i % 2:
                oai.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=64)
            else:
                for _ in claude.messages.create(model="claude-haiku-4-5", messages=messages, max_tokens=64, stream=True):
                    pass
            made += 1
    except Exception as exc:  # the app knows nothing of genai-cost: it sees an exception from the SDK call
        print(type(exc).__module__, type(exc).__name__, made)
    """
)


def test_an_unchanged_app_stops_at_the_limit(tmp_path: Path, fake_server: Any) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(f"budgets:\n  - name: app-total\n    limit_usd: {LIMIT}\n    window: total\n")
    with OtlpReceiver() as receiver:
        env = {
            **os.environ,
            "APP_OPENAI_URL": fake_server.openai_base_url,
            "APP_ANTHROPIC_URL": fake_server.anthropic_base_url,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",
            "OTEL_INSTRUMENTATION_GENAI_COST_PROVIDER_HOSTS": "127.0.0.1/v1=openai,127.0.0.1=anthropic",
            "OTEL_INSTRUMENTATION_GENAI_COST_BUDGETS_FILE": str(budgets),
            "OTEL_INSTRUMENTATION_GENAI_COST_BUDGETS_LEDGER": str(tmp_path / "ledger.db"),
        }
        env.pop("PYTEST_CURRENT_TEST", None)
        done = subprocess.run(
            [str(Path(sys.executable).with_name("opentelemetry-instrument")), sys.executable, str(app)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    module, name, made = done.stdout.split()
    assert (module, name) == ("genai_cost.budget.errors", "BudgetExceeded")
    billed = fake_server.ledger
    assert len(billed) == int(made) > 2
    providers = {"openai": "openai", "anthropic": "anthropic"}
    cost = sum(get_price_book().price(providers[b.provider], b.model, b.normalized()).total for b in billed)  # type: ignore[union-attr]
    assert LIMIT / 2 < cost <= LIMIT

    spans = [attributes(span.attributes) for _, span in receiver.spans() if span.name.startswith("chat ")]
    assert len(spans) == len(billed) + 1
    (blocked,) = [a for a in spans if sc.ERROR_TYPE in a]
    assert blocked[sc.ERROR_TYPE] == "BudgetExceeded" and blocked[sc.GENAI_COST_BUDGET_NAME] == "app-total"
    priced = sum(a[sc.GEN_AI_USAGE_COST_AMOUNT] for a in spans if sc.GEN_AI_USAGE_COST_AMOUNT in a)
    assert abs(priced - cost) < 1e-12  # the spans' cost and the budget agree with the bill
    counters = [
        point
        for metric in receiver.metrics()
        if metric.name == sc.METRIC_BUDGET_BLOCKED
        for point in metric.sum.data_points
    ]
    assert [(attributes(p.attributes)[sc.GENAI_COST_BUDGET_NAME], p.as_int) for p in counters] == [
        ("app-total", 1)
    ]
    gauges = [
        p for m in receiver.metrics() if m.name == sc.METRIC_BUDGET_REMAINING for p in m.gauge.data_points
    ]
    assert gauges and 0 <= gauges[-1].as_double < LIMIT
