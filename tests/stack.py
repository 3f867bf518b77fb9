"""Start and stop the real OpenTelemetry Collector and a real Prometheus on 127.0.0.1 for tests.

No pytest in here, so any test (or a script) can use it. Every process binds free ports on
127.0.0.1, writes its log to a temporary directory, is waited for with a bounded timeout, and is
stopped when its context manager exits. Failures raise ``StackError`` with the tail of the log.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTOR_DIR = REPO_ROOT / "collector"
COLLECTOR_CONFIG = COLLECTOR_DIR / "config.yaml"
PROMETHEUS_DIR = REPO_ROOT / "prometheus"
# Budgets first: the burn-ratio rules read them.
RULE_FILES = (
    PROMETHEUS_DIR / "budgets.yml",
    PROMETHEUS_DIR / "rules" / "genai_cost_recording.yml",
    PROMETHEUS_DIR / "rules" / "genai_cost_alerts.yml",
)

# A cold OCB build takes ~3 minutes on 2 cores; leave room for a slow module proxy.
BUILD_TIMEOUT_S = 20 * 60
START_TIMEOUT_S = 30.0

T = TypeVar("T")


class StackError(RuntimeError):
    """A stack component could not be built, started or queried."""


_LOWEST_PORT = 10_000
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a process started later.

    Drawn below the kernel's ephemeral range: ports there are never handed out for outgoing
    connections nor port-0 binds, so nothing but an explicit bind can take it before the process
    does (a port-0 pick could be reused by the next outgoing connection). Never the same port twice
    in one test run, since several are picked before any is bound.
    """
    high = _ephemeral_start() - 1
    for _ in range(200):
        port = random.randint(_LOWEST_PORT, high) if high > _LOWEST_PORT else 0
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = int(sock.getsockname()[1])
        _handed_out.add(port)
        return port
    raise StackError("no free port on 127.0.0.1")


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something other than None/False, or raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
            if result is not None and result is not False:
                return result
        except Exception as exc:  # the condition is not met yet; keep the reason for the message
            last_error = exc
        if time.monotonic() >= deadline:
            reason = f" (last error: {last_error!r})" if last_error else ""
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what}{reason}")
        time.sleep(interval)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


# --- collector -----------------------------------------------------------------------------------------


def build_collector() -> Path:
    """Build (or reuse the cached) collector with collector/build.sh and return the binary's path.

    ``GENAI_COST_OTELCOL`` (set by scripts/test.sh after its build step) names a binary to use as is.
    """
    given = os.environ.get("GENAI_COST_OTELCOL")
    if given:
        if not (Path(given).is_file() and os.access(given, os.X_OK)):
            raise StackError(f"GENAI_COST_OTELCOL={given} is not an executable file")
        return Path(given)
    script = COLLECTOR_DIR / "build.sh"
    try:
        proc = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{script} did not finish within {BUILD_TIMEOUT_S}s") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        stderr_tail = "\n".join(proc.stderr.splitlines()[-40:])
        raise StackError(f"{script} failed (exit {proc.returncode}):\n{stderr_tail}")
    binary = Path(lines[-1])
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise StackError(f"{script} printed {binary}, which is not an executable file")
    return binary


def validate_collector_config(binary: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """Run ``otelcol validate``; the caller asserts on the return code and output."""
    return subprocess.run(
        [str(binary), "validate", f"--config={config}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass(frozen=True)
class CollectorPorts:
    otlp_grpc: int
    otlp_http: int
    prometheus: int  # the exporter's /metrics, what Prometheus scrapes
    health: int
    telemetry: int  # the collector's own metrics
    traces: int  # where the traces exporter sends (nothing listens unless the test starts a backend)
    log: Path

    @property
    def otlp_http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.otlp_http}"

    @property
    def metrics_target(self) -> str:
        return f"127.0.0.1:{self.prometheus}"


@contextlib.contextmanager
def run_collector(
    config: Path = COLLECTOR_CONFIG,
    env: Mapping[str, str] | None = None,
    binary: Path | None = None,
) -> Iterator[CollectorPorts]:
    """Run the collector with ``config``; its endpoints come from GENAI_COST_* variables on free ports.

    ``env`` overrides or adds variables (e.g. a real traces backend). Yields the ports once the
    health check answers.
    """
    binary = binary or build_collector()
    ports = {
        "otlp_grpc": free_port(),
        "otlp_http": free_port(),
        "prometheus": free_port(),
        "health": free_port(),
        "telemetry": free_port(),
        "traces": free_port(),
    }
    child_env = dict(os.environ)
    child_env.update(
        {
            "GENAI_COST_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{ports['otlp_grpc']}",
            "GENAI_COST_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{ports['otlp_http']}",
            "GENAI_COST_PROMETHEUS_ENDPOINT": f"127.0.0.1:{ports['prometheus']}",
            "GENAI_COST_HEALTH_ENDPOINT": f"127.0.0.1:{ports['health']}",
            "GENAI_COST_TELEMETRY_HOST": "127.0.0.1",
            "GENAI_COST_TELEMETRY_PORT": str(ports["telemetry"]),
            "GENAI_COST_TRACES_ENDPOINT": f"127.0.0.1:{ports['traces']}",
        }
    )
    child_env.update(env or {})
    workdir = Path(tempfile.mkdtemp(prefix="genai-cost-otelcol-"))
    log = workdir / "collector.log"
    result = CollectorPorts(log=log, **ports)
    with _process([str(binary), f"--config={config}"], log, child_env, "collector") as proc:
        health_url = f"http://127.0.0.1:{ports['health']}/"

        def healthy() -> bool:
            if proc.poll() is not None:
                raise StackError(f"collector exited with {proc.returncode}:\n{_tail(log)}")
            return _http_get(health_url)[0] == 200

        _wait_or_fail(healthy, "the collector's health check", log)
        yield result
    shutil.rmtree(workdir, ignore_errors=True)


# --- prometheus ------------------------------------------------------------------------------------------


def prometheus_binary() -> Path:
    found = shutil.which("prometheus")
    if not found:
        raise StackError(
            "prometheus is not installed: run collector/install-deps.sh (apt-get install prometheus)"
        )
    return Path(found)


PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"


def prometheus_config(
    scrape_target: str, rule_files: Sequence[Path], scrape_interval: str = "1s"
) -> dict[str, Any]:
    """prometheus/prometheus.yml (the compose file's config) pointed at ``scrape_target`` and local rules."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"]["scrape_interval"] = scrape_interval
    config["global"]["evaluation_interval"] = scrape_interval
    config["rule_files"] = [str(Path(p).resolve()) for p in rule_files]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [scrape_target]}]
    return config


@contextlib.contextmanager
def run_prometheus(
    scrape_target: str,
    rule_files: Sequence[Path] = RULE_FILES,
    scrape_interval: str = "1s",
) -> Iterator[str]:
    """Run our own Prometheus (never the packaged service) with a temporary data dir; yield its URL."""
    binary = prometheus_binary()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="genai-cost-prometheus-"))
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(scrape_target, rule_files, scrape_interval)))
    log = workdir / "prometheus.log"
    url = f"http://127.0.0.1:{port}"
    args = [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--enable-feature=exemplar-storage",
        "--log.level=info",
    ]
    with _process(args, log, dict(os.environ), "prometheus") as proc:

        def ready() -> bool:
            if proc.poll() is not None:
                raise StackError(f"prometheus exited with {proc.returncode}:\n{_tail(log)}")
            return _http_get(f"{url}/-/ready")[0] == 200

        _wait_or_fail(ready, "prometheus /-/ready", log)
        yield url
    shutil.rmtree(workdir, ignore_errors=True)


def prom_api(url: str, path: str, params: Mapping[str, str] | None = None) -> Any:
    """GET a Prometheus HTTP API path and return ``data``; raise StackError on an API error."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    status, body = _http_get(f"{url}{path}{query}", timeout=10)
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise StackError(f"{path} answered {status}: {body[:200]!r}") from exc
    if payload.get("status") != "success":
        raise StackError(f"{path} {params}: {payload.get('errorType')}: {payload.get('error')}")
    return payload["data"]


def prom_query(url: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    """Instant query; returns the result list (``metric`` labels + ``value``) of a vector result."""
    params = {"query": expr}
    if at is not None:
        params["time"] = f"{at:.3f}"
    data = prom_api(url, "/api/v1/query", params)
    if data["resultType"] == "scalar":
        return [{"metric": {}, "value": data["result"]}]
    return list(data["result"])


def wait_for_series(url: str, expr: str, timeout: float = START_TIMEOUT_S) -> list[dict[str, Any]]:
    """Poll until ``expr`` returns at least one series (scrapes and pipelines are asynchronous)."""
    return wait_for(lambda: prom_query(url, expr) or None, timeout, f"series for {expr!r}")


# --- processes ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _process(
    args: list[str], log: Path, env: Mapping[str, str], name: str
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(env)
        )
        try:
            yield proc
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _wait_or_fail(check: Callable[[], bool], what: str, log: Path) -> None:
    try:
        wait_for(check, START_TIMEOUT_S, what)
    except StackError as exc:
        raise StackError(f"{exc}\n--- {log} ---\n{_tail(log)}") from exc
