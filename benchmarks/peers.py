"""The peers we compare against, each in its own virtual environment with the same SDK versions.

A peer is a set of pip requirements plus, per provider, how to switch it on. Environments live under
``~/.cache/genai-cost/bench-venvs/<peer>`` (override with ``GENAI_COST_BENCH_VENVS``) and are rebuilt
only when the requirement list changes. The provider SDKs and the OpenTelemetry SDK are pinned to
the versions of the interpreter running the benchmark, so every peer drives the same SDK code.

This module is imported by the worker inside peers' environments too: stdlib only at module level.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The SDKs every environment gets, pinned to the versions installed next to genai-cost.
SDK_DISTRIBUTIONS = ("openai", "anthropic", "google-genai", "httpx2")
OTEL_DISTRIBUTIONS = ("opentelemetry-api", "opentelemetry-sdk")

# Provider keys used by the scenarios.
OPENAI, ANTHROPIC, GEMINI = "openai", "anthropic", "gemini"


@dataclass(frozen=True)
class Peer:
    name: str
    label: str  # what the table shows
    requirements: tuple[str, ...]
    # provider -> "module:Class" of a BaseInstrumentor, or "openlit" for openlit.init
    instrumentors: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # set in the worker before anything is imported
    # When even the peer alone does not resolve: install it with --no-deps plus these.
    runtime_deps: tuple[str, ...] = ()


# Content capture is off for every peer, as it is for genai-cost by default: all tools then do the
# same job (no prompt or completion text), which is also what a cost-only user would configure.
PEERS: tuple[Peer, ...] = (
    Peer(
        "openlit",
        "OpenLIT",
        ("openlit==1.45.0",),
        {OPENAI: "openlit", ANTHROPIC: "openlit", GEMINI: "openlit"},
        {},
        # openlit 1.45 pins openai<3 and anthropic<1, and its web-framework instrumentations do not
        # resolve together today; these are what its LLM instrumentations need.
        (
            "opentelemetry-exporter-otlp",
            "opentelemetry-instrumentation",
            "opentelemetry-semantic-conventions",
            "pydantic>=2,<3",
            "requests>=2.26,<3",
            "schedule>=1.2.2,<2",
            "xmltodict>=0.13,<2",
            "boto3>=1.34,<2",
        ),
    ),
    Peer(
        "openllmetry",
        "OpenLLMetry",
        (
            "opentelemetry-instrumentation-openai==0.62.4",
            "opentelemetry-instrumentation-anthropic==0.62.4",
            "opentelemetry-instrumentation-google-generativeai==0.62.4",
        ),
        {
            OPENAI: "opentelemetry.instrumentation.openai:OpenAIInstrumentor",
            ANTHROPIC: "opentelemetry.instrumentation.anthropic:AnthropicInstrumentor",
            GEMINI: "opentelemetry.instrumentation.google_generativeai:GoogleGenerativeAiInstrumentor",
        },
        {"TRACELOOP_TRACE_CONTENT": "false"},
    ),
    Peer(
        "otel-genai",
        "OTel genai-*",
        (
            "opentelemetry-instrumentation-genai-openai==1.3b0",
            "opentelemetry-instrumentation-genai-anthropic==1.3b0",
            "opentelemetry-instrumentation-google-genai==1.3b0",
        ),
        {
            OPENAI: "opentelemetry.instrumentation.genai.openai:OpenAIInstrumentor",
            ANTHROPIC: "opentelemetry.instrumentation.genai.anthropic:AnthropicInstrumentor",
            GEMINI: "opentelemetry.instrumentation.google_genai:GoogleGenAiSdkInstrumentor",
        },
    ),
    Peer(
        "otel-openai-v2",
        "OTel openai-v2",
        # It imports httpx, which openai 3 no longer brings (it moved to httpx2), and it needs the
        # util-genai of its time (1.x moved the modules it imports; it declares no upper bound).
        ("opentelemetry-instrumentation-openai-v2==2.4b0", "opentelemetry-util-genai==0.4b0", "httpx"),
        {OPENAI: "opentelemetry.instrumentation.openai_v2:OpenAIInstrumentor"},
    ),
)
PEERS_BY_NAME = {peer.name: peer for peer in PEERS}


def venv_root() -> Path:
    return Path(os.environ.get("GENAI_COST_BENCH_VENVS", Path.home() / ".cache/genai-cost/bench-venvs"))


def pinned(distributions: tuple[str, ...]) -> list[str]:
    return [f"{name}=={importlib.metadata.version(name)}" for name in distributions]


@dataclass
class PeerEnv:
    peer: Peer
    python: Path | None  # None: the environment could not be built
    reason: str = ""  # why not, or which pins had to give way
    versions: dict[str, str] = field(default_factory=dict)


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _pip(venv: Path, args: list[str], log: Path) -> bool:
    with log.open("a") as out:
        out.write(f"\n$ pip {' '.join(args)}\n")
        out.flush()
        done = subprocess.run(
            [str(_python(venv)), "-m", "pip", "--disable-pip-version-check", "-q", "install", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return done.returncode == 0


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "conflict" in line.lower()]
    return (errors or lines or ["pip failed"])[-1][:200]


def ensure(peer: Peer, say: Any = print) -> PeerEnv:
    """Build (or reuse) the peer's environment; never raises, reports why it could not."""
    sdk_pins = pinned(SDK_DISTRIBUTIONS)
    otel_pins = pinned(OTEL_DISTRIBUTIONS)
    spec = json.dumps([peer.requirements, sdk_pins, otel_pins])
    digest = hashlib.sha256(spec.encode()).hexdigest()[:16]
    venv = venv_root() / peer.name
    marker = venv / "genai-cost-bench.json"
    if marker.exists():
        saved = json.loads(marker.read_text())
        if saved.get("digest") == digest:
            python = _python(venv) if saved.get("ok") else None
            return PeerEnv(peer, python, saved.get("reason", ""), saved.get("versions", {}))
    say(f"[peers] building {venv} (one-off; pip install {' '.join(peer.requirements)})")
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    log = venv / "pip.log"
    reason = ""
    ok = _pip(venv, [*peer.requirements, *sdk_pins, *otel_pins], log)
    if not ok:  # the peer pins another OpenTelemetry: keep the SDK versions, let OTel move
        ok = _pip(venv, [*peer.requirements, *sdk_pins], log)
        reason = "OpenTelemetry pin relaxed" if ok else ""
    if not ok:  # the peer declares an older SDK range: install it, then put the same SDKs over it
        ok = _pip(venv, list(peer.requirements), log) and _pip(venv, [*sdk_pins, *otel_pins], log)
    if not ok and peer.runtime_deps:  # its own dependencies do not resolve: take only what it needs
        ok = _pip(venv, ["--no-deps", *peer.requirements], log) and _pip(
            venv, [*peer.runtime_deps, *sdk_pins, *otel_pins], log
        )
    if ok:
        check = subprocess.run(
            [str(_python(venv)), "-m", "pip", "check", "--disable-pip-version-check"],
            capture_output=True,
            text=True,
            check=False,
        )
        broken = [line for line in check.stdout.splitlines() if "but you have" in line]
        if broken:
            reason = "SDK versions forced over its declared range: " + "; ".join(broken)[:300]
    else:
        reason = "cannot install with the same SDK versions: " + _last_error(log)
    versions: dict[str, str] = {}
    if ok:
        listed = subprocess.run(
            [str(_python(venv)), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
            capture_output=True,
            text=True,
            check=False,
        )
        if listed.returncode == 0:
            versions = {item["name"].lower(): item["version"] for item in json.loads(listed.stdout)}
    marker.write_text(json.dumps({"digest": digest, "ok": ok, "reason": reason, "versions": versions}))
    return PeerEnv(peer, _python(venv) if ok else None, reason, versions)


# --- inside the worker ------------------------------------------------------------------------------
def instrument(peer: Peer, providers: list[str], tracer_provider: Any, meter_provider: Any) -> dict[str, str]:
    """Switch the peer on for ``providers``; returns provider -> note (why not, or how it was forced).

    A peer whose declared SDK range excludes the installed SDK is still switched on (as
    ``skip_dep_check`` would) and noted as forced: if it then makes no span, the worker reports n/a.
    """
    problems: dict[str, str] = {}
    wanted = [p for p in providers if p in peer.instrumentors]
    for provider in providers:
        if provider not in peer.instrumentors:
            problems[provider] = "no instrumentation for this SDK"
    if not wanted:
        return problems
    if peer.name == "openlit":
        _openlit(tracer_provider, meter_provider)
        return problems
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    for provider in wanted:
        module_name, _, class_name = peer.instrumentors[provider].partition(":")
        try:
            module = __import__(module_name, fromlist=[class_name])
            instrumentor = getattr(module, class_name)()
        except Exception as exc:  # report, never drop silently
            problems[provider] = f"import failed: {type(exc).__name__}: {exc}"[:160]
            continue
        conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
        if conflict is not None:
            problems[provider] = f"forced: declares {conflict.required}, found {conflict.found}"
        try:
            instrumentor.instrument(
                tracer_provider=tracer_provider, meter_provider=meter_provider, skip_dep_check=True
            )
        except Exception as exc:
            problems[provider] = f"instrument() failed: {type(exc).__name__}: {exc}"[:160]
    return problems


# openlit prices calls from a JSON file it downloads at init; the network is not ours to use, so it
# gets the same prices from a local file (USD per 1k tokens), and does the same pricing work.
OPENLIT_PRICES = {
    "chat": {
        "gpt-4o-mini": {"promptPrice": 0.00015, "completionPrice": 0.0006, "cacheReadPrice": 0.000075},
        "gpt-4o-mini-2024-07-18": {
            "promptPrice": 0.00015,
            "completionPrice": 0.0006,
            "cacheReadPrice": 0.000075,
        },
        "claude-sonnet-4-5-20250929": {
            "promptPrice": 0.003,
            "completionPrice": 0.015,
            "cacheReadPrice": 0.0003,
            "cacheCreationPrice": 0.00375,
        },
        "gemini-2.5-flash": {"promptPrice": 0.0003, "completionPrice": 0.0025},
    },
    "embeddings": {},
    "images": {},
    "audio": {},
}


def _openlit(tracer_provider: Any, meter_provider: Any) -> None:
    import tempfile

    import openlit

    # It reuses the global TracerProvider and MeterProvider the worker has set.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as prices:
        json.dump(OPENLIT_PRICES, prices)
    openlit.init(
        application_name="bench",
        environment="bench",
        capture_message_content=False,
        collect_gpu_stats=False,
        pricing_json=prices.name,
        # Its per-call log events would go to a console exporter here (no endpoint): our spans and
        # metrics are what is compared, so events are off.
        disable_events=True,
    )
