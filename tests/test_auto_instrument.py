"""An unchanged app run under `opentelemetry-instrument`, exporting OTLP to a local receiver."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from genai_cost import semconv as sc
from otlp_receiver import OtlpReceiver, attributes

API_KEY = "sk-proj-THIS-IS-A-SECRET"
PROMPT = "Generate an interview question about distributed systems"

APP = textwrap.dedent(
    f"""
    import os
    import openai
    from genai_cost import feature

    client = openai.OpenAI(base_url=os.environ["APP_OPENAI_URL"], api_key={API_KEY!r}, max_retries=0)
    groq = openai.OpenAI(base_url=os.environ["APP_GROQ_URL"], api_key={API_KEY!r}, max_retries=0)
    messages = [{{"role": "user", "content": {PROMPT!r}}}]

    with feature("mistake_detection", user_id="cand-1", session_id="interview-1"):
        try:  # the fake server answers this first request with a 429
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        except openai.RateLimitError:
            print("rate limited")
        groq.chat.completions.create(model="llama-3.3-70b-versatile", messages=messages)
    with feature("interview_question", user_id="cand-1", session_id="interview-1"):
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True):
            pass
    print("app done")
    """
)


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_opentelemetry_instrument_exports_spans_and_metrics(tmp_path: Path, fake_server: Any) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    with OtlpReceiver() as receiver:
        env = {
            **os.environ,
            "APP_OPENAI_URL": fake_server.openai_base_url,
            "APP_GROQ_URL": fake_server.groq_openai_base_url,
            "OTEL_SERVICE_NAME": "interview-app",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",
            "OTEL_INSTRUMENTATION_GENAI_COST_PROVIDER_HOSTS": "127.0.0.1/v1=openai,127.0.0.1/groq=groq",
        }
        env.pop("PYTEST_CURRENT_TEST", None)
        fake_server.fail_next(status=429, retry_after=0)
        done = subprocess.run(
            [_bin("opentelemetry-instrument"), sys.executable, str(app)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert "app done" in done.stdout and "rate limited" in done.stdout, done.stdout + done.stderr

    spans = [(resource, span) for resource, span in receiver.spans() if span.name.startswith("chat ")]
    assert len(spans) == 4, [s.name for _, s in spans]
    by_provider: dict[str, list[dict[str, Any]]] = {}
    for resource, span in spans:
        assert resource["service.name"] == "interview-app"
        attrs = attributes(span.attributes)
        by_provider.setdefault(attrs[sc.GEN_AI_PROVIDER_NAME], []).append(attrs)
    assert len(by_provider["openai"]) == 3 and len(by_provider["groq"]) == 1

    billed = {c.response_id: c for c in fake_server.ledger if c.status == 200}
    ok = [a for a in by_provider["openai"] + by_provider["groq"] if sc.ERROR_TYPE not in a]
    assert len(ok) == 3
    for attrs in ok:
        call = billed[attrs[sc.GEN_AI_RESPONSE_ID]]
        usage = call.normalized()
        assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == usage.input_tokens
        assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.output_tokens
        assert attrs[sc.USER_ID] == "cand-1" and attrs[sc.SESSION_ID] == "interview-1"
    (failed,) = [a for a in by_provider["openai"] if sc.ERROR_TYPE in a]
    assert failed[sc.ERROR_TYPE] == "RateLimitError"
    assert failed[sc.FEATURE_NAME] == "mistake_detection"

    # Token metric sums equal what the fake server billed, per feature.
    points = receiver.histogram_points(sc.METRIC_TOKEN_USAGE)
    input_by_feature: dict[str, int] = {}
    for point in points:
        attrs = attributes(point.attributes)
        if attrs[sc.GEN_AI_TOKEN_TYPE] == "input":
            input_by_feature[attrs[sc.FEATURE_NAME]] = input_by_feature.get(attrs[sc.FEATURE_NAME], 0) + int(
                point.sum
            )
    expected: dict[str, int] = {}
    for attrs in ok:
        call = billed[attrs[sc.GEN_AI_RESPONSE_ID]]
        expected[attrs[sc.FEATURE_NAME]] = expected.get(attrs[sc.FEATURE_NAME], 0) + call.input_tokens
    assert input_by_feature == expected
    assert receiver.histogram_points(sc.METRIC_OPERATION_DURATION)

    # Nothing secret or private left the process.
    everything = b"".join(receiver.raw_bodies)
    assert API_KEY.encode() not in everything and b"SECRET" not in everything
    assert PROMPT.encode() not in everything
