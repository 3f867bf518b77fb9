"""Process start-up added by genai-cost: import + instrument, with all four SDKs installed and imported.

Fresh-interpreter commands alternate N times (A F B A F B ...) and the median wall times are
compared: A imports openai, anthropic, groq and google-genai and sets up the OpenTelemetry SDK
providers (what any instrumented app has); F adds ``opentelemetry.instrumentation.instrumentor``
(BaseInstrumentor, which every OTel instrumentation and ``opentelemetry-instrument`` load, with
``packaging``); B imports genai-cost and instruments all four SDKs. B - A is what a hand-instrumented
app pays, B - F what genai-cost adds beyond the OpenTelemetry instrumentation framework. B also reports, from inside, how long the genai-cost step itself took.
The price data loads in a background thread started by instrument(); B does not wait for it (the app
does not either): its load time is reported separately by bench_pricing.py ("first use").
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"

_COMMON = """
import time
t0 = time.perf_counter()
import openai, anthropic, groq
from google import genai
from opentelemetry import trace, metrics
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.metrics import MeterProvider
trace.set_tracer_provider(TracerProvider())
metrics.set_meter_provider(MeterProvider())
# The SDK imports leave a full garbage collection due (~250k new objects); pay it here, in every
# variant, so it does not land inside whichever import happens to come next.
import gc
gc.collect()
"""

SDKS_ONLY = _COMMON + "print(0.0)\n"
# What opentelemetry-instrument (and every BaseInstrumentor-based tool) loads and runs before any
# instrumentor patches: BaseInstrumentor and one dependency check.
WITH_OTEL_FRAMEWORK = (
    _COMMON
    + "t1 = time.perf_counter()\nimport opentelemetry.instrumentation.instrumentor\n"
    + "from opentelemetry.instrumentation.dependencies import get_dependency_conflicts\n"
    + "get_dependency_conflicts(['openai >= 1.66, < 4'])  # what instrument() checks first\n"
    + "print((time.perf_counter() - t1) * 1000)\n"
)

WITH_GENAI_COST = (
    _COMMON
    + """
t1 = time.perf_counter()
from genai_cost.instrumentation.openai import OpenAIInstrumentor
from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
from genai_cost.instrumentation.groq import GroqInstrumentor
from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor
for cls in (OpenAIInstrumentor, AnthropicInstrumentor, GroqInstrumentor, GoogleGenAIInstrumentor):
    cls().instrument()
print((time.perf_counter() - t1) * 1000)
"""
)


def _run(code: str) -> tuple[float, float]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    wall = (time.perf_counter() - start) * 1000
    return wall, float(done.stdout.strip().splitlines()[-1])


def measure(runs: int) -> dict[str, Any]:
    _run(SDKS_ONLY)  # warm the file cache and write the .pyc files
    _run(WITH_GENAI_COST)
    plain: list[float] = []
    framework: list[float] = []
    instrumented: list[float] = []
    inside: list[float] = []
    framework_inside: list[float] = []
    for _ in range(runs):
        plain.append(_run(SDKS_ONLY)[0])
        framework_wall, framework_step = _run(WITH_OTEL_FRAMEWORK)
        framework.append(framework_wall)
        framework_inside.append(framework_step)
        wall, step = _run(WITH_GENAI_COST)
        instrumented.append(wall)
        inside.append(step)
    base, ours = statistics.median(plain), statistics.median(instrumented)
    otel = statistics.median(framework)
    return {
        "runs": runs,
        "sdks_only_ms": base,
        "otel_instrumentation_framework_ms": otel - base,
        "with_genai_cost_ms": ours,
        "added_ms": ours - base,
        "added_beyond_framework_ms": ours - otel,
        "in_process_ms": statistics.median(inside),
        "framework_in_process_ms": statistics.median(framework_inside),
        "beyond_framework_in_process_ms": statistics.median(inside) - statistics.median(framework_inside),
        "importtime": top_imports(),
    }


def top_imports(limit: int = 6) -> list[tuple[str, float]]:
    """genai-cost's own modules by cumulative import time (python -X importtime), in ms."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", WITH_GENAI_COST],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        try:
            cumulative = int(parts[1]) / 1000
        except ValueError:
            continue
        name = parts[2].rstrip()
        if name.strip().startswith(("genai_cost", "genai_prices", "wrapt")):
            rows.append((name.strip(), cumulative, len(name) - len(name.lstrip())))
    top = sorted(rows, key=lambda r: -r[1])
    return [(name, ms) for name, ms, _ in top[:limit]]


if __name__ == "__main__":
    print(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
