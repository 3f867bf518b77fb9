"""The bundled collector, built for real, validated, and carrying real SDK metrics into real Prometheus.

A missing Go toolchain, a failed build or a missing Prometheus fails these tests with the reason;
nothing is skipped.
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import stack
from genai_cost import semconv as sc
from genai_cost.metrics import SCOPE_NAME, create_instruments
from genai_cost.pricing.apply import record_cost
from genai_cost.usage import Cost

SERVICE = "genai-cost-collector-test"
INSTANCE = "replica-1"
MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
FEATURE = "resume-writer"
UNPRICED_MODEL = "my-finetune-v3"

# What the test sends (one feature, one model) and so what Prometheus must show.
COSTS = (0.0012, 0.0034)
INPUT_TOKENS = (1200, 800)
OUTPUT_TOKENS = (300, 150)
DURATIONS = (0.85, 1.7)
TTFC = 0.21
RATE_LIMITED_DURATION = 0.05

BASE_ATTRS: dict[str, Any] = {
    sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
    sc.GEN_AI_PROVIDER_NAME: sc.PROVIDER_OPENAI,
    sc.GEN_AI_REQUEST_MODEL: MODEL,
    sc.GEN_AI_RESPONSE_MODEL: RESPONSE_MODEL,
    sc.SERVER_ADDRESS: "api.openai.com",
    sc.FEATURE_NAME: FEATURE,
}

# The Prometheus side of the contract (dashboards and rules use these literal names).
EXPECTED_LABELS = {
    "job": SERVICE,
    "instance": INSTANCE,
    "gen_ai_operation_name": "chat",
    "gen_ai_provider_name": "openai",
    "gen_ai_request_model": MODEL,
    "gen_ai_response_model": RESPONSE_MODEL,
    "server_address": "api.openai.com",
    "feature_name": FEATURE,
}


# Spans only give the metrics a trace context (for exemplars); they are not exported here.
TRACER = TracerProvider().get_tracer("test_collector")
TRACE_IDS: set[str] = set()


@pytest.fixture(scope="module")
def collector_binary() -> Path:
    return stack.build_collector()


def test_bundled_config_validates(collector_binary: Path) -> None:
    proc = stack.validate_collector_config(collector_binary, stack.COLLECTOR_CONFIG)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_validate_rejects_a_broken_config(collector_binary: Path, tmp_path: Path) -> None:
    # Proves `validate` really checks: a component the distribution lacks must be refused.
    config = yaml.safe_load(stack.COLLECTOR_CONFIG.read_text())
    config["exporters"]["prometheusremotewrite"] = {"endpoint": "http://127.0.0.1:1/api/v1/write"}
    config["service"]["pipelines"]["metrics"]["exporters"].append("prometheusremotewrite")
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(config))
    proc = stack.validate_collector_config(collector_binary, broken)
    assert proc.returncode != 0
    assert "prometheusremotewrite" in proc.stdout + proc.stderr


def _manifest_types(binary: Path) -> dict[str, set[str]]:
    out = subprocess.run([str(binary), "components"], capture_output=True, text=True, check=True).stdout
    listed = yaml.safe_load(out)
    return {
        kind: {entry["name"] for entry in listed.get(kind) or []}
        for kind in ("receivers", "processors", "exporters", "extensions", "connectors")
    }


def test_distribution_has_exactly_the_components_the_config_uses(collector_binary: Path) -> None:
    config = yaml.safe_load(stack.COLLECTOR_CONFIG.read_text())
    used = {
        kind: {name.split("/", 1)[0] for name in config.get(kind) or {}}
        for kind in ("receivers", "processors", "exporters", "extensions", "connectors")
    }
    assert _manifest_types(collector_binary) == used


@pytest.fixture(scope="module")
def stack_with_data(collector_binary: Path) -> Iterator[tuple[str, stack.CollectorPorts]]:
    with (
        stack.run_collector(binary=collector_binary) as ports,
        stack.run_prometheus(ports.metrics_target) as prom_url,
    ):
        provider = _send_metrics(ports.otlp_http_endpoint)
        try:
            # Both cost points must have arrived before any assertion reads values.
            stack.wait_for(
                lambda: (
                    [
                        r
                        for r in stack.prom_query(prom_url, "gen_ai_client_operation_cost_count")
                        if float(r["value"][1]) == len(COSTS)
                    ]
                    or None
                ),
                stack.START_TIMEOUT_S,
                f"gen_ai_client_operation_cost_count == {len(COSTS)} in Prometheus (collector log: {ports.log})",
            )
            stack.wait_for_series(prom_url, "genai_cost_client_unpriced_total")
            yield prom_url, ports
        finally:
            # Shut down only now: the final export carries no exemplars and would replace the
            # exported point (and its exemplar) before Prometheus scraped it.
            provider.shutdown()


def _send_metrics(endpoint: str) -> MeterProvider:
    """Record like the instrumentation does, with the real SDK and OTLP/HTTP to the collector.

    Returns the provider, still running; the caller shuts it down.
    """
    resource = Resource.create({"service.name": SERVICE, "service.instance.id": INSTANCE})
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", timeout=10), export_interval_millis=60_000
    )
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    try:
        instruments = create_instruments(provider)
        for cost, input_tokens, output_tokens, duration in zip(
            COSTS, INPUT_TOKENS, OUTPUT_TOKENS, DURATIONS, strict=True
        ):
            # Inside a sampled span, as the instrumentation records: the SDK attaches an exemplar.
            with TRACER.start_as_current_span(f"{sc.OP_CHAT} {MODEL}") as span:
                record_cost(instruments, BASE_ATTRS, "openai", MODEL, Cost(cost))
                TRACE_IDS.add(format(span.get_span_context().trace_id, "032x"))
            instruments.token_usage.record(input_tokens, {**BASE_ATTRS, sc.GEN_AI_TOKEN_TYPE: "input"})
            instruments.token_usage.record(output_tokens, {**BASE_ATTRS, sc.GEN_AI_TOKEN_TYPE: "output"})
            instruments.duration.record(duration, BASE_ATTRS)
        instruments.time_to_first_chunk.record(TTFC, BASE_ATTRS)
        # A rate-limited call: no usage, no cost, error.type = the SDK's exception class.
        error_attrs = {**BASE_ATTRS, sc.ERROR_TYPE: "RateLimitError"}
        del error_attrs[sc.GEN_AI_RESPONSE_MODEL]
        instruments.duration.record(RATE_LIMITED_DURATION, error_attrs)
        unpriced_attrs = {**BASE_ATTRS, sc.GEN_AI_REQUEST_MODEL: UNPRICED_MODEL}
        del unpriced_attrs[sc.GEN_AI_RESPONSE_MODEL]
        instruments.unpriced.add(1, unpriced_attrs)
        instruments.unpriced.add(1, unpriced_attrs)
        assert provider.force_flush(timeout_millis=10_000), "OTLP metric export to the collector failed"
    except BaseException:
        provider.shutdown()
        raise
    return provider


def _one(prom_url: str, expr: str) -> dict[str, Any]:
    result = stack.prom_query(prom_url, expr)
    assert len(result) == 1, f"{expr}: expected one series, got {result}"
    return result[0]


def _value(series: dict[str, Any]) -> float:
    return float(series["value"][1])


def _buckets(prom_url: str, expr: str) -> dict[float, float]:
    # OpenMetrics writes bounds as floats ("1024.0", "1.048576e+06"), so compare numbers, not strings.
    return {float(r["metric"]["le"]): _value(r) for r in stack.prom_query(prom_url, expr)}


def _app_labels(series: dict[str, Any]) -> dict[str, str]:
    # Drop what the exporter/Prometheus add on their own: the name, bucket bound and scope info.
    return {
        k: v
        for k, v in series["metric"].items()
        if k not in {"__name__", "le"} and not k.startswith("otel_scope_")
    }


def test_cost_histogram_names_labels_and_values(stack_with_data: tuple[str, Any]) -> None:
    prom_url, _ = stack_with_data
    total = _one(prom_url, "gen_ai_client_operation_cost_sum")
    assert total["metric"]["__name__"] == "gen_ai_client_operation_cost_sum"
    # The proposal's required attributes, as Prometheus labels.
    cost_labels = {"gen_ai_usage_cost_currency": "USD", "gen_ai_usage_cost_source": "local"}
    assert _app_labels(total) == {**EXPECTED_LABELS, **cost_labels}
    assert total["metric"]["otel_scope_name"] == SCOPE_NAME
    assert math.isclose(_value(total), sum(COSTS), rel_tol=1e-9)
    assert _value(_one(prom_url, "gen_ai_client_operation_cost_count")) == len(COSTS)
    buckets = {
        r["metric"]["le"]: _value(r)
        for r in stack.prom_query(prom_url, "gen_ai_client_operation_cost_bucket")
    }
    # 0.0012 and 0.0034 both fall in (0.001, 0.005]: the advised boundaries reached Prometheus.
    assert buckets["0.001"] == 0
    assert buckets["0.005"] == 2
    assert buckets["+Inf"] == 2
    assert len(buckets) == len(sc.COST_BUCKETS) + 1


def test_cost_exemplars_link_to_traces(stack_with_data: tuple[str, Any]) -> None:
    # enable_open_metrics + Prometheus' exemplar storage: the trace ids of the calls reach Prometheus.
    prom_url, _ = stack_with_data

    def trace_ids() -> set[str]:
        now = time.time()
        result = stack.prom_api(
            prom_url,
            "/api/v1/query_exemplars",
            {
                "query": "gen_ai_client_operation_cost_bucket",
                "start": f"{now - 600:.0f}",
                "end": f"{now + 60:.0f}",
            },
        )
        return {ex["labels"]["trace_id"] for series in result for ex in series["exemplars"]}

    seen = stack.wait_for(lambda: trace_ids() or None, 10, "exemplars on gen_ai_client_operation_cost_bucket")
    # The SDK keeps the last exemplar per bucket: both costs share a bucket, so the second call's trace.
    assert seen <= TRACE_IDS


def test_token_usage_by_type(stack_with_data: tuple[str, Any]) -> None:
    prom_url, _ = stack_with_data
    result = stack.prom_query(prom_url, "gen_ai_client_token_usage_sum")
    by_type = {r["metric"]["gen_ai_token_type"]: r for r in result}
    assert set(by_type) == {"input", "output"}
    for token_type, sent in (("input", INPUT_TOKENS), ("output", OUTPUT_TOKENS)):
        series = by_type[token_type]
        assert _app_labels(series) == {**EXPECTED_LABELS, "gen_ai_token_type": token_type}
        assert _value(series) == sum(sent)
    buckets = _buckets(prom_url, 'gen_ai_client_token_usage_bucket{gen_ai_token_type="input"}')
    assert sorted(buckets) == [*sc.TOKEN_BUCKETS, math.inf]
    assert buckets[1024] == 1  # 800 <= 1024 < 1200


def test_duration_and_errors(stack_with_data: tuple[str, Any]) -> None:
    prom_url, _ = stack_with_data
    ok = _one(prom_url, 'gen_ai_client_operation_duration_seconds_count{error_type=""}')
    assert _app_labels(ok) == EXPECTED_LABELS
    assert _value(ok) == len(DURATIONS)
    failed = _one(prom_url, 'gen_ai_client_operation_duration_seconds_count{error_type!=""}')
    expected_failed = {k: v for k, v in EXPECTED_LABELS.items() if k != "gen_ai_response_model"}
    assert _app_labels(failed) == {**expected_failed, "error_type": "RateLimitError"}
    assert _value(failed) == 1
    buckets = _buckets(prom_url, 'gen_ai_client_operation_duration_seconds_bucket{error_type=""}')
    assert sorted(buckets) == [*sc.DURATION_BUCKETS, math.inf]
    assert buckets[1.28] == 1  # 0.85 <= 1.28 < 1.7
    ttfc = _one(prom_url, "gen_ai_client_operation_time_to_first_chunk_seconds_sum")
    assert _app_labels(ttfc) == EXPECTED_LABELS
    assert math.isclose(_value(ttfc), TTFC)
    assert stack.prom_query(prom_url, "gen_ai_client_operation_time_to_first_chunk_seconds_bucket")


def test_unpriced_counter(stack_with_data: tuple[str, Any]) -> None:
    prom_url, _ = stack_with_data
    series = _one(prom_url, "genai_cost_client_unpriced_total")
    expected = {k: v for k, v in EXPECTED_LABELS.items() if k != "gen_ai_response_model"}
    assert _app_labels(series) == {**expected, "gen_ai_request_model": UNPRICED_MODEL}
    assert _value(series) == 2


def test_resource_attributes_go_to_target_info_not_every_series(stack_with_data: tuple[str, Any]) -> None:
    prom_url, _ = stack_with_data
    info = _one(prom_url, "target_info")
    assert info["metric"]["job"] == SERVICE
    assert info["metric"]["instance"] == INSTANCE
    assert info["metric"]["telemetry_sdk_language"] == "python"
    cost = _one(prom_url, "gen_ai_client_operation_cost_sum")
    assert "telemetry_sdk_language" not in cost["metric"]


def _rule_exprs() -> list[tuple[str, str]]:
    exprs = []
    for path in stack.RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                exprs.append((rule.get("record") or rule["alert"], rule["expr"]))
    return exprs


def test_rule_expressions_run_on_real_data(stack_with_data: tuple[str, Any]) -> None:
    prom_url, _ = stack_with_data
    for _name, expr in _rule_exprs():
        stack.prom_query(prom_url, expr)  # raises StackError on a query error
    # This app's series are new (one export, then the same value on every scrape): increase() alone
    # would say 0; the spend rules count a new series whole, so they see exactly what was sent.
    rules = dict(_rule_exprs())
    for record in ("genai_cost:cost_usd_by_feature:increase1d", "genai_cost:cost_usd_by_feature:increase5m"):
        series = _one(prom_url, rules[record])
        assert series["metric"] == {"feature_name": FEATURE}, record
        assert math.isclose(_value(series), sum(COSTS), rel_tol=1e-9), record
    unpriced = _one(prom_url, rules["genai_cost:unpriced_calls:increase1h"])
    assert unpriced["metric"] == {
        "job": SERVICE,
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": UNPRICED_MODEL,
    }
    assert _value(unpriced) == 2
    limited = re.search(r'error_type=~"([^"]+)"', rules["genai_cost:rate_limited:rate5m"])
    assert limited is not None
    matched = stack.prom_query(
        prom_url, f'gen_ai_client_operation_duration_seconds_count{{error_type=~"{limited.group(1)}"}}'
    )
    assert [r["metric"]["error_type"] for r in matched] == ["RateLimitError"]


def test_prometheus_loaded_every_rule(stack_with_data: tuple[str, Any]) -> None:
    prom_url, _ = stack_with_data
    groups = stack.prom_api(prom_url, "/api/v1/rules")["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    assert loaded == {name for name, _ in _rule_exprs()}


def test_traces_reach_the_traces_backend(collector_binary: Path) -> None:
    # A second collector stands in for the traces backend (Tempo in compose): it speaks OTLP gRPC, and
    # its own telemetry counts the spans it accepted.
    with stack.run_collector(binary=collector_binary) as backend:
        env = {"GENAI_COST_TRACES_ENDPOINT": f"127.0.0.1:{backend.otlp_grpc}"}
        with stack.run_collector(binary=collector_binary, env=env) as front:
            provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
            provider.add_span_processor(
                SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{front.otlp_http_endpoint}/v1/traces"))
            )
            tracer = provider.get_tracer("test")
            with tracer.start_as_current_span(f"{sc.OP_CHAT} {MODEL}", attributes=BASE_ATTRS):
                pass
            provider.shutdown()
            accepted = stack.wait_for(
                lambda: _accepted_spans(backend.telemetry) or None,
                stack.START_TIMEOUT_S,
                f"spans accepted by the backend collector (front log: {front.log})",
            )
            assert accepted == 1


def _accepted_spans(telemetry_port: int) -> float:
    _, body = stack._http_get(f"http://127.0.0.1:{telemetry_port}/metrics")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith("otelcol_receiver_accepted_spans") and 'transport="grpc"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_build_is_cached() -> None:
    # collector/build.sh itself (not GENAI_COST_OTELCOL): once built, it returns at once.
    script = stack.COLLECTOR_DIR / "build.sh"
    first = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True, timeout=1800)
    start = time.monotonic()
    second = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True, timeout=60)
    assert time.monotonic() - start < 5, "a cached build must not rebuild"
    path = Path(second.stdout.splitlines()[-1])
    assert path == Path(first.stdout.splitlines()[-1])
    assert path.parent.name.startswith(
        yaml.safe_load((stack.COLLECTOR_DIR / "builder-config.yaml").read_text())["dist"]["version"] + "-"
    )
    assert "using cached" in second.stderr


# --- deploy/docker-compose.yaml: not run here (no Docker), but everything it mounts is what the tests run.

DEPLOY_DIR = stack.REPO_ROOT / "deploy"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY_DIR / "docker-compose.yaml").read_text())


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts (named volumes left out)."""
    mounts = {}
    for volume in service.get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith("."):
            mounts[container] = (DEPLOY_DIR / host).resolve()
    return mounts


def test_compose_collector_is_the_pinned_release_with_the_tested_config() -> None:
    manifest = yaml.safe_load((stack.COLLECTOR_DIR / "builder-config.yaml").read_text())
    version = manifest["dist"]["version"]
    gomods = [
        m["gomod"] for kind in ("receivers", "processors", "exporters", "extensions") for m in manifest[kind]
    ]
    assert all(gomod.endswith(f" v{version}") for gomod in gomods), gomods
    collector = _compose()["services"]["otel-collector"]
    assert collector["image"] == f"otel/opentelemetry-collector-contrib:{version}"
    mounts = _mounts(collector)
    (config_arg,) = [a for a in collector["command"] if a.startswith("--config=")]
    assert mounts[config_arg.removeprefix("--config=")] == stack.COLLECTOR_CONFIG
    # Every variable the config reads is set for the container (its defaults bind 127.0.0.1).
    wanted = set(re.findall(r"\$\{env:(\w+):-", stack.COLLECTOR_CONFIG.read_text()))
    assert wanted == set(collector["environment"])


def test_compose_prometheus_mounts_the_tested_config_and_rules() -> None:
    compose = _compose()
    prometheus = compose["services"]["prometheus"]
    mounts = _mounts(prometheus)
    assert mounts["/etc/prometheus/prometheus.yml"] == stack.PROMETHEUS_CONFIG
    config = yaml.safe_load(stack.PROMETHEUS_CONFIG.read_text())
    resolved = []
    for rule_file in config["rule_files"]:
        (prefix,) = [c for c in mounts if rule_file == c or rule_file.startswith(c + "/")]
        resolved.append(mounts[prefix] / rule_file.removeprefix(prefix).lstrip("/"))
    assert [p.resolve() for p in resolved] == [p.resolve() for p in stack.RULE_FILES]
    (target,) = config["scrape_configs"][0]["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in compose["services"]
    assert compose["services"][host]["environment"]["GENAI_COST_PROMETHEUS_ENDPOINT"] == f"0.0.0.0:{port}"


def test_compose_grafana_provisions_the_dashboards_and_datasources() -> None:
    grafana = _compose()["services"]["grafana"]
    mounts = _mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "genai-cost.yaml").read_text())["providers"]
    dashboards = mounts[provider["options"]["path"]]
    assert sorted(dashboards.glob("*.json")), f"no dashboards in {dashboards}"
    datasources = yaml.safe_load((provisioning / "datasources" / "genai-cost.yaml").read_text())[
        "datasources"
    ]
    by_uid = {d["uid"]: d for d in datasources}
    assert by_uid["prometheus"]["type"] == "prometheus"
    assert by_uid["tempo"]["type"] == "tempo"
    (link,) = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert link == {"name": "trace_id", "datasourceUid": "tempo"}
