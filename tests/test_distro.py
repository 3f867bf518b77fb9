"""genai-cost's OpenTelemetry distro: the defaults `opentelemetry-instrument` applies, and what the SDK
ends up configured with (read from the real SDK in a real `opentelemetry-instrument` process)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from genai_cost import distro
from stack import free_port

OTEL = ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # Nothing set: as opentelemetry-distro, everything to a collector over gRPC.
        ({}, {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp"}),
        # Local only: nothing goes anywhere else.
        ({"OTEL_TRACES_EXPORTER": "genai_cost"}, {"OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}),
        ({"OTEL_TRACES_EXPORTER": "otlp,genai_cost"}, {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp"}),
        ({"OTEL_TRACES_EXPORTER": " genai_cost , otlp_proto_http"}, {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp"}),
        ({"OTEL_TRACES_EXPORTER": "console"}, {"OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}),
        # What the user sets stays as set.
        ({"OTEL_TRACES_EXPORTER": "genai_cost", "OTEL_METRICS_EXPORTER": "otlp"}, {"OTEL_LOGS_EXPORTER": "none"}),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": ""}, {"OTEL_METRICS_EXPORTER": "otlp"}),
    ],
)  # fmt: skip
def test_exporter_defaults(env: dict[str, str], expected: dict[str, str]) -> None:
    got = distro.defaults(env)
    assert {k: v for k, v in got.items() if k in OTEL} == expected
    assert got["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc" and got["OTEL_EXPORTER_OTLP_TIMEOUT"] == "2"


def test_explicit_settings_are_never_changed() -> None:
    env = {
        "OTEL_TRACES_EXPORTER": "genai_cost",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "10",
    }
    assert distro.defaults(env) == {}
    applied = dict(env)
    distro.apply_defaults(applied)
    assert applied == env


# --- one line when the collector is down ----------------------------------------------------------------


@pytest.fixture
def one_line_filter() -> Any:
    filters = []

    def install(env: dict[str, str]) -> distro.CollectorDownFilter:
        found = distro.install_log_filter(env)
        assert found is not None
        filters.append(found)
        return found

    yield install
    for found in filters:
        for name in distro.EXPORTER_LOGGERS:
            logging.getLogger(name).removeFilter(found)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_collector_that_is_down_is_one_warning_line(
    protocol: str, one_line_filter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Real OTLP exporters, a port where nothing listens: each export retries, then fails.
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {"OTEL_TRACES_EXPORTER": "otlp,genai_cost", "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
    one_line_filter({**env, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    exporter: Any = (
        GrpcSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=2)
        if protocol == "grpc"
        else HttpSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=2)
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="opentelemetry.exporter"):
        for _ in range(3):  # three exports, each with its retries
            with tracer.start_as_current_span("x"):
                pass
    provider.shutdown()
    assert time.monotonic() - started < 3 * 2 + 2  # each export gives up within its 2 s
    shown = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(shown) == 1, [r.getMessage() for r in shown]
    message = shown[0].getMessage()
    where = f"127.0.0.1:{port}" if protocol == "grpc" else endpoint
    assert message == (
        f"genai-cost: cannot export telemetry to the OpenTelemetry collector at {where} (connection refused); "
        "it is dropped, the app is unaffected; the local store still records every call. Start the collector, "
        "or drop otlp from OTEL_TRACES_EXPORTER. Further export errors are not logged for 10 minutes."
    )


# --- what opentelemetry-instrument configures ------------------------------------------------------------

PROBE = """
import json, os
from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider
readers = metrics.get_meter_provider()._metric_readers
processors = trace.get_tracer_provider()._active_span_processor._span_processors
print(json.dumps({
    "span_exporters": [type(p._batch_processor._exporter).__name__ for p in processors],
    "metric_exporters": [type(r._exporter).__module__ for r in readers],
    "log_processors": len(get_logger_provider()._multi_log_record_processor._log_record_processors),
    "env": {k: v for k, v in os.environ.items() if k.startswith("OTEL_")},
}))
"""


def _configured(env: dict[str, str]) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    clean.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("opentelemetry-instrument")), sys.executable, "-c", PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return dict(json.loads(done.stdout))


def test_local_only_configures_no_network_exporter(tmp_path: Path) -> None:
    got = _configured({"OTEL_TRACES_EXPORTER": "genai_cost"})
    assert got["span_exporters"] == ["LocalStoreSpanExporter"]
    assert got["metric_exporters"] == [] and got["log_processors"] == 0
    assert got["env"]["OTEL_METRICS_EXPORTER"] == "none"


def test_with_a_collector_traces_and_metrics_go_over_otlp() -> None:
    got = _configured({"OTEL_TRACES_EXPORTER": "otlp,genai_cost"})
    assert got["span_exporters"] == ["OTLPSpanExporter", "LocalStoreSpanExporter"]
    assert got["metric_exporters"] == ["opentelemetry.exporter.otlp.proto.grpc.metric_exporter"]
    got = _configured(
        {"OTEL_TRACES_EXPORTER": "otlp,genai_cost", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    )
    assert got["metric_exporters"] == ["opentelemetry.exporter.otlp.proto.http.metric_exporter"]
    assert got["env"]["OTEL_EXPORTER_OTLP_TIMEOUT"] == "2"


def test_explicit_variables_win_under_opentelemetry_instrument() -> None:
    got = _configured(
        {
            "OTEL_TRACES_EXPORTER": "genai_cost",
            "OTEL_METRICS_EXPORTER": "console",
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "7",
        }
    )
    assert got["metric_exporters"] == ["opentelemetry.sdk.metrics._internal.export"]
    assert got["env"]["OTEL_EXPORTER_OTLP_TIMEOUT"] == "7"
