"""One benchmark process: alternating blocks of calls with and without one instrumentation.

    python benchmarks/worker.py --tool genai-cost|<peer> --scale 1.0 --blocks 6 --out result.json

Run by ``run.py``, inside the tool's own environment. Every process sets up the same OpenTelemetry:
a TracerProvider with a BatchSpanProcessor and an exporter that drops (counting spans), and a
MeterProvider with a periodic reader whose exporter drops. The tool is switched on once; between
blocks it is switched off and on again by swapping the SDK attributes it patched (a snapshot diff of
the SDK modules, the same mechanism for every tool), so instrument-time work never lands in a block
and no tool is re-initialised. The genai-cost process also runs the floor: a bare CLIENT span with
the attributes genai-cost wrote and the same histogram recordings, around the uninstrumented call.

Per call it records wall time (perf_counter_ns) and the calling thread's CPU time (thread_time_ns);
per block the process CPU time (process_time_ns: includes the batch processor's thread).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402  (stdlib only; sets nothing up)

SDK_MODULE_PREFIXES = ("openai", "anthropic", "google.genai", "httpx", "httpx2", "groq")


# --- the shared OpenTelemetry set-up -----------------------------------------------------------------
def make_providers() -> tuple[Any, Any, Any]:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class DropSpans(SpanExporter):
        """Drops every span; counts them and keeps the last one (to read what a tool recorded)."""

        def __init__(self) -> None:
            self.count = 0
            self.last: Any = None

        def export(self, spans: Any) -> SpanExportResult:
            self.count += len(spans)
            if spans:
                self.last = spans[-1]
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    class DropMetrics(MetricExporter):
        def export(
            self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any
        ) -> MetricExportResult:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            pass

    resource = Resource.create({"service.name": "genai-cost-bench"})
    exporter = DropSpans()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    reader = PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=5_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return tracer_provider, meter_provider, exporter


# --- switching a tool off and on ---------------------------------------------------------------------------
def _sdk_namespaces() -> list[Any]:
    found: dict[int, Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(SDK_MODULE_PREFIXES):
            continue
        found[id(module)] = module
        for value in list(vars(module).values()):
            if isinstance(value, type) and (value.__module__ or "").startswith(SDK_MODULE_PREFIXES):
                found[id(value)] = value
    return list(found.values())


_MISSING = object()
# Dunder names a tool may patch; the others change when a module is (re)imported, not instrumented.
_PATCHABLE_DUNDERS = frozenset(
    {
        "__init__",
        "__call__",
        "__iter__",
        "__next__",
        "__aiter__",
        "__anext__",
        "__enter__",
        "__exit__",
        "__del__",
    }
)


def snapshot() -> dict[tuple[int, str], tuple[Any, Any]]:
    state = {}
    for owner in _sdk_namespaces():
        for key, value in list(vars(owner).items()):
            if key.startswith("__") and key not in _PATCHABLE_DUNDERS:
                continue
            state[(id(owner), key)] = (owner, value)
    return state


class Switch:
    """What a tool patched in the SDKs (before -> after), to turn it off and on without re-instrumenting.

    Only modules and classes that existed before the tool was switched on are compared (the
    snapshot holds them, so their ids stay unique)."""

    def __init__(self, before: dict[tuple[int, str], tuple[Any, Any]]) -> None:
        owners = {key[0] for key in before}
        after = snapshot()
        self.changes: list[tuple[Any, str, Any, Any]] = []
        for key, (owner, value) in after.items():
            if key[0] not in owners:
                continue
            old = before.get(key, (owner, _MISSING))[1]
            if old is not value:
                self.changes.append((owner, key[1], old, value))
        self.on = True

    def set(self, on: bool) -> None:
        if on == self.on:
            return
        for owner, name, old, new in self.changes:
            value = new if on else old
            if value is _MISSING:
                delattr(owner, name)
            elif isinstance(owner, types.ModuleType):
                setattr(owner, name, value)
            else:
                type.__setattr__(owner, name, value)
        self.on = on

    def describe(self) -> list[str]:
        return sorted(
            f"{getattr(o, '__qualname__', getattr(o, '__name__', '?'))}.{n}" for o, n, _, _ in self.changes
        )


# --- tools ---------------------------------------------------------------------------------------------------
def instrument_genai_cost(providers: list[str], tracer_provider: Any, meter_provider: Any) -> dict[str, str]:
    from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
    from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor
    from genai_cost.instrumentation.openai import OpenAIInstrumentor

    classes = {
        peers.OPENAI: OpenAIInstrumentor,
        peers.ANTHROPIC: AnthropicInstrumentor,
        peers.GEMINI: GoogleGenAIInstrumentor,
    }
    for provider in providers:
        classes[provider]().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    from genai_cost.pricing import get_price_book

    book = get_price_book()  # loaded in the background at instrument time; load it now so no block pays
    preload = getattr(book, "preload", None)
    if preload is not None:
        preload()
    return {}


class Floor:
    """The least any instrumentation can do: one CLIENT span with the attributes genai-cost wrote,
    set at start in one dict, and the same histogram recordings, around the uninstrumented call.
    It uses its own TracerProvider, configured like the shared one, so it never pays for genai-cost's
    cost span processor."""

    def __init__(self, meter_provider: Any) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from genai_cost.metrics import Instruments

        self.exporter = type(_EXPORTER)()  # another dropping exporter
        self.tracer_provider = TracerProvider(resource=Resource.create({"service.name": "genai-cost-bench"}))
        self.tracer_provider.add_span_processor(BatchSpanProcessor(self.exporter))
        self.tracer = self.tracer_provider.get_tracer("bench.floor")
        self.instruments = Instruments(meter_provider.get_meter("bench.floor"))

    def wrap(self, call: Callable[[], Any], span: Any, stream: bool) -> Callable[[], Any]:
        from opentelemetry.trace import SpanKind

        from genai_cost import semconv as sc

        attrs = dict(span.attributes)
        name = span.name
        metric_attrs = {key: attrs[key] for key in sc.METRIC_ATTRIBUTES if key in attrs}
        input_attrs = {**metric_attrs, sc.GEN_AI_TOKEN_TYPE: "input"}
        output_attrs = {**metric_attrs, sc.GEN_AI_TOKEN_TYPE: "output"}
        input_tokens = attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0)
        output_tokens = attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0)
        cost = attrs.get(sc.GEN_AI_USAGE_COST_AMOUNT, 0.0)
        tracer, inst, clock = self.tracer, self.instruments, time.perf_counter
        kind = SpanKind.CLIENT

        def floor_call() -> Any:
            start = clock()
            span = tracer.start_span(name, kind=kind, attributes=attrs)
            result = call()
            duration = clock() - start
            inst.duration.record(duration, metric_attrs)
            if stream:
                inst.time_to_first_chunk.record(duration, metric_attrs)
            inst.token_usage.record(input_tokens, input_attrs)
            inst.token_usage.record(output_tokens, output_attrs)
            inst.cost.record(cost, metric_attrs)
            span.end()
            return result

        return floor_call


# --- measuring -------------------------------------------------------------------------------------------------
def run_block(call: Callable[[], Any], calls: int) -> dict[str, Any]:
    wall_clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    walls, cpus = [], []
    process_start = time.process_time_ns()
    for _ in range(calls):
        w0 = wall_clock()
        c0 = cpu_clock()
        call()
        c1 = cpu_clock()
        w1 = wall_clock()
        walls.append((w1 - w0) / 1000)
        cpus.append((c1 - c0) / 1000)
    process_us = (time.process_time_ns() - process_start) / 1000 / calls
    return {"wall": walls, "cpu": cpus, "process": process_us}


_EXPORTER: Any = None


def main() -> None:
    global _EXPORTER
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--scenarios", default=",".join(s for s in ("all",)))
    parser.add_argument("--scale", type=float, default=1.0, help="calls per block, relative")
    parser.add_argument("--blocks", type=int, default=6, help="blocks per mode and scenario")
    parser.add_argument("--round", type=int, default=0, help="rotates the block order between processes")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    peer = peers.PEERS_BY_NAME.get(args.tool)
    if peer is not None:
        os.environ.update(peer.env)

    import scenarios as sc_mod

    wanted = (
        list(sc_mod.SCENARIOS)
        if args.scenarios == "all"
        else [sc_mod.SCENARIOS_BY_NAME[n] for n in args.scenarios.split(",")]
    )
    providers = sorted({s.provider for s in wanted})
    process_start = time.perf_counter()
    tracer_provider, meter_provider, _EXPORTER = make_providers()

    # Load every SDK module a call touches (lazy resources) before the snapshot, with throwaway clients.
    for scenario in wanted:
        scenario.build()()
    before = snapshot()
    t0 = time.perf_counter()
    if peer is None:
        problems = instrument_genai_cost(providers, tracer_provider, meter_provider)
        versions = {"genai-cost": _version("genai-cost")}
    else:
        problems = peers.instrument(peer, providers, tracer_provider, meter_provider)
        versions = {}
    instrument_ms = (time.perf_counter() - t0) * 1000
    switch = Switch(before)
    floor = Floor(meter_provider) if peer is None else None
    versions.update(
        {name: _version(name) for name in ("openai", "anthropic", "google-genai", "opentelemetry-sdk")}
    )

    result: dict[str, Any] = {
        "tool": args.tool,
        "round": args.round,
        "instrument_ms": instrument_ms,
        "patched": switch.describe(),
        "problems": problems,
        "versions": versions,
        "scenarios": {},
    }
    base_calls = {"openai_chat": 40, "anthropic_messages": 60, "gemini_generate": 40}
    for scenario in wanted:
        scenario_start = time.perf_counter()
        entry: dict[str, Any] = {"blocks": [], "note": problems.get(scenario.provider, "")}
        result["scenarios"][scenario.name] = entry
        # Clients are made with the tool on (some tools act when a client is created).
        switch.set(True)
        call = scenario.build()
        probe = _probe(call, switch)
        span = probe.pop("span")
        entry["probe"] = probe
        if probe["error"]:
            entry["na"] = probe["error"]
            continue
        if probe["spans_per_call"] < 1:
            entry["na"] = entry["note"] or "no span produced"
            continue
        if probe["baseline_spans"]:
            entry["na"] = "spans produced while switched off"
            continue
        modes: dict[str, Callable[[], Any]] = {"baseline": call, args.tool: call}
        if floor is not None:
            modes["floor"] = floor.wrap(call, span, bool(scenario.chunks))
        calls = max(4, round(base_calls.get(scenario.name, 40) * scenario.weight * args.scale))
        names = list(modes)
        # Everything made so far (SDK modules, clients) moves to the permanent generation: the
        # collector then scans only what the calls allocate, in every mode alike.
        gc.collect()
        gc.freeze()
        for name in names:  # warm-up
            switch.set(name == args.tool)
            run_block(modes[name], max(2, calls // 4))
        for block in range(args.blocks):
            shift = (block + args.round) % len(names)
            for name in names[shift:] + names[:shift]:
                switch.set(name == args.tool)
                measured = run_block(modes[name], calls)
                entry["blocks"].append({"mode": name, **measured})
        switch.set(False)
        entry["seconds"] = round(time.perf_counter() - scenario_start, 2)
    tracer_provider.force_flush()
    if peer is None and args.scenarios == "all":
        try:
            import chunks

            result["isolated_chunk_us"] = chunks.measure(tracer_provider, meter_provider)
        except Exception as exc:  # genai-cost's internals moved: say so, keep the rest
            result["isolated_chunk_us"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
    result["seconds"] = round(time.perf_counter() - process_start, 2)
    Path(args.out).write_text(json.dumps(result))


def _probe(call: Callable[[], Any], switch: Switch) -> dict[str, Any]:
    """A few calls on and off: does the tool make a span per call, and none when off?"""
    exporter, provider = _EXPORTER, _tracer_provider()
    out: dict[str, Any] = {"error": "", "spans_per_call": 0.0, "baseline_spans": 0, "span": None}
    try:
        provider.force_flush()
        start = exporter.count
        for _ in range(3):
            call()
        provider.force_flush()
        out["spans_per_call"] = (exporter.count - start) / 3
        span = exporter.last
        if span is not None and exporter.count > start:
            out["span"] = span
            out["span_name"] = span.name
            out["attributes"] = sorted(span.attributes)
        switch.set(False)
        start = exporter.count
        for _ in range(3):
            call()
        provider.force_flush()
        out["baseline_spans"] = exporter.count - start
    except Exception as exc:
        out["error"] = f"call failed: {type(exc).__name__}: {exc}"[:200]
    finally:
        switch.set(True)
    return out


def _tracer_provider() -> Any:
    from opentelemetry import trace

    return trace.get_tracer_provider()


def _version(name: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def summarize(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


if __name__ == "__main__":
    main()
