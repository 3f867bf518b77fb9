"""genai-cost as an OpenTelemetry distro: the defaults ``opentelemetry-instrument`` uses with genai-cost.

``opentelemetry-instrument`` configures the SDK through the first ``opentelemetry_distro`` and
``opentelemetry_configurator`` entry points it finds. genai-cost registers both (``genai_cost``), so
``pip install genai-cost`` is all an app needs, and it does not depend on opentelemetry-distro: with
two distros installed, OpenTelemetry picks one by the order of the files on disk and warns about the
other, so our defaults would hold on some machines and not on others.

The configurator is OpenTelemetry's own SDK set-up, unchanged. The distro sets defaults, each only
when its variable is unset (a value you set is never changed):

- ``OTEL_TRACES_EXPORTER=otlp`` and ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``, as opentelemetry-distro;
- ``OTEL_METRICS_EXPORTER`` and ``OTEL_LOGS_EXPORTER``: ``otlp`` when the traces go to OTLP, else
  ``none``. Local only (``OTEL_TRACES_EXPORTER=genai_cost``) sends nothing anywhere: the cost metrics
  need a collector, and every call is in the local store;
- ``OTEL_EXPORTER_OTLP_TIMEOUT=2`` (seconds; OpenTelemetry's is 10): an export waits and retries for
  at most this long, so an app whose collector is down exits about 2 seconds later, not 10-20.

With an OTLP exporter in use, the exporters' retry and failure messages become one warning line per
collector address and per 10 minutes (``CollectorDownFilter``), instead of one per attempt and signal.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

logger = logging.getLogger("genai_cost")

TRACES = "OTEL_TRACES_EXPORTER"
METRICS = "OTEL_METRICS_EXPORTER"
LOGS = "OTEL_LOGS_EXPORTER"
PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT"
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
LOCAL_STORE = "genai_cost"  # our traces exporter's name
EXPORT_TIMEOUT_S = "2"  # this SDK reads the variable in seconds (the specification says milliseconds)
_OTLP = frozenset({"otlp", "otlp_proto_grpc", "otlp_proto_http"})


def _names(value: str | None) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def defaults(env: Mapping[str, str]) -> dict[str, str]:
    """The variables the distro would set for ``env``: only those ``env`` leaves unset."""
    out: dict[str, str] = {}
    if TRACES not in env:
        out[TRACES] = "otlp"
    to_otlp = any(name in _OTLP for name in _names(env.get(TRACES, out.get(TRACES))))
    for signal in (METRICS, LOGS):
        if signal not in env:
            out[signal] = "otlp" if to_otlp else "none"
    if PROTOCOL not in env:
        out[PROTOCOL] = "grpc"
    if TIMEOUT not in env:
        out[TIMEOUT] = EXPORT_TIMEOUT_S
    return out


def apply_defaults(env: MutableMapping[str, str]) -> None:
    env.update(defaults(env))


# --- export failures: one line per outage -----------------------------------------------------------

# Where the OTLP exporters log their retries and failures (opentelemetry-exporter-otlp 1.45).
EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
)
_EXPORT_TROUBLE = ("Transient error", "Failed to export", "Shutdown in progress, aborting retry")
QUIET_S = 600.0


class CollectorDownFilter(logging.Filter):
    """Turns the exporters' stream of retry and failure records into one warning per collector address
    per ``quiet_s`` seconds, saying what is lost and what is not. Other records pass unchanged."""

    def __init__(self, env: Mapping[str, str], quiet_s: float = QUIET_S) -> None:
        super().__init__()
        self._quiet_s = quiet_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        http = env.get(PROTOCOL, "grpc").strip() == "http/protobuf"
        default = "http://localhost:4318" if http else "http://localhost:4317"
        self._endpoint = env.get(ENDPOINT) or default
        self._local = LOCAL_STORE in _names(env.get(TRACES))

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg.startswith(_EXPORT_TROUBLE)):
            return True
        endpoint, reason = self._describe(record)
        now = time.monotonic()
        with self._lock:
            last = self._last.get(endpoint)
            if last is not None and now - last < self._quiet_s:
                return False
            self._last[endpoint] = now
        kept = "; the local store still records every call" if self._local else ""
        record.msg = (
            "genai-cost: cannot export telemetry to the OpenTelemetry collector at %s (%s); it is dropped, "
            "the app is unaffected%s. Start the collector, or drop otlp from OTEL_TRACES_EXPORTER. "
            "Further export errors are not logged for %d minutes."
        )
        record.args = (endpoint, reason, kept, round(self._quiet_s / 60))
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True

    def _describe(self, record: logging.LogRecord) -> tuple[str, str]:
        args: tuple[Any, ...] = record.args if isinstance(record.args, tuple) else ()
        endpoint = self._endpoint
        reason = "export failed"
        for arg in args:
            text = str(arg)
            if hasattr(arg, "name") and hasattr(arg, "value"):  # a gRPC StatusCode
                reason = arg.name
            elif isinstance(arg, str) and ":" in text and " " not in text:  # the gRPC exporter's host:port
                endpoint = text
            elif isinstance(arg, BaseException) or "Connection" in text:
                reason = "connection refused" if "refused" in text.lower() else type(arg).__name__
        return endpoint, reason


def install_log_filter(env: Mapping[str, str]) -> CollectorDownFilter | None:
    """Attach a CollectorDownFilter to the OTLP exporters' loggers when a signal is exported over OTLP."""
    if not any(name in _OTLP for var in (TRACES, METRICS, LOGS) for name in _names(env.get(var))):
        return None
    one_line = CollectorDownFilter(env)
    for name in EXPORTER_LOGGERS:
        logging.getLogger(name).addFilter(one_line)
    return one_line


def _other_distros() -> list[str]:
    from importlib.metadata import entry_points

    found = []
    for entry_point in entry_points(group="opentelemetry_distro"):
        if entry_point.name != "genai_cost":
            dist = getattr(entry_point, "dist", None)
            found.append(f"{entry_point.name} ({dist.name})" if dist is not None else entry_point.name)
    return found


class GenAICostDistro(BaseDistro):
    """Loaded by ``opentelemetry-instrument`` before the SDK is configured; see the module docstring."""

    def _configure(self, **kwargs: Any) -> None:
        if "OTEL_PYTHON_DISTRO" not in os.environ and (others := _other_distros()):
            logger.warning(
                "genai-cost: another OpenTelemetry distro is installed too (%s); OpenTelemetry uses the first "
                "it finds. Set OTEL_PYTHON_DISTRO=genai_cost and OTEL_PYTHON_CONFIGURATOR=genai_cost to "
                "choose genai-cost's defaults, or uninstall the other one.",
                ", ".join(others),
            )
        apply_defaults(os.environ)
        install_log_filter(os.environ)


class GenAICostConfigurator(_OTelSDKConfigurator):
    """OpenTelemetry's SDK set-up from the OTEL_* variables, as opentelemetry-distro's configurator."""
