"""The one benchmark command: per-call and per-chunk overhead next to the floor and the peers,
start-up, memory, pricing and store throughput.

    python benchmarks/run.py            # full run, about 10 minutes on 2 cores
    python benchmarks/run.py --quick    # about 2 minutes, for a first look
    python benchmarks/run.py --no-peers # genai-cost and the floor only

Peers' environments are built once under ~/.cache/genai-cost/bench-venvs (first run: a few minutes
more, needs PyPI). Results: printed, and written to benchmarks/results/latest.{md,json}.
See benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
import scenarios  # noqa: E402

OURS = "genai-cost"
FLOOR = "floor"
BASELINE = "baseline"


def say(*args: Any) -> None:
    print(*args, flush=True)


# --- running the workers ---------------------------------------------------------------------------------
def worker_env(tool: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if tool == OURS:
        env["PYTHONPATH"] = str(ROOT / "src")
    env.setdefault("OTEL_SDK_DISABLED", "false")
    return env


def run_worker(
    tool: str, python: str, args: argparse.Namespace, round_no: int, out: Path
) -> dict[str, Any] | None:
    cmd = [
        python,
        str(HERE / "worker.py"),
        "--tool",
        tool,
        "--scale",
        str(args.scale),
        "--blocks",
        str(args.blocks),
        "--round",
        str(round_no),
        "--out",
        str(out),
    ]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=worker_env(tool), capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.exists():
        say(f"  {tool}: worker failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
        return None
    say(f"  round {round_no + 1}: {tool} done in {time.perf_counter() - started:.0f} s")
    return json.loads(out.read_text())


# --- statistics ---------------------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p90(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def notch(values: list[float]) -> float:
    """Half-width of the ~95% interval of a median (box-plot notch: 1.58 IQR / sqrt(n))."""
    if len(values) < 4:
        return float("nan")
    q = statistics.quantiles(values, n=4)
    return 1.58 * (q[2] - q[0]) / len(values) ** 0.5


def block_diffs(blocks: list[dict[str, Any]], mode: str, key: str) -> list[float]:
    """Per block cycle: (median of the mode's block) - (median of the baseline block of that cycle).

    Each cycle runs every mode once, back to back, so slow drifts of the machine cancel."""
    size = len({b["mode"] for b in blocks})
    diffs = []
    for start in range(0, len(blocks), size):
        cycle = {b["mode"]: b for b in blocks[start : start + size]}
        if mode in cycle and BASELINE in cycle:
            a, b = cycle[mode], cycle[BASELINE]
            if key == "process":
                diffs.append(a["process"] - b["process"])
            else:
                diffs.append(median(a[key]) - median(b[key]))
    return diffs


class Results:
    """Per (tool, scenario): pooled per-call samples and per-cycle overheads across rounds."""

    def __init__(self) -> None:
        self.samples: dict[tuple[str, str], dict[str, list[float]]] = {}
        self.diffs: dict[tuple[str, str], dict[str, list[float]]] = {}
        self.na: dict[tuple[str, str], str] = {}
        self.notes: dict[tuple[str, str], str] = {}
        self.meta: dict[str, dict[str, Any]] = {}
        self.isolated: dict[str, list[Any]] = {}  # genai-cost's stream path alone, per chunk
        self.attributes: dict[tuple[str, str], list[str]] = {}  # what each tool put on its span

    def add(self, result: dict[str, Any]) -> None:
        tool = result["tool"]
        self.meta.setdefault(
            tool, {"instrument_ms": [], "versions": result["versions"], "patched": result["patched"]}
        )
        self.meta[tool]["instrument_ms"].append(result["instrument_ms"])
        for provider, value in result.get("isolated_chunk_us", {}).items():
            self.isolated.setdefault(provider, []).append(value)
        for name, entry in result["scenarios"].items():
            if entry.get("note"):
                self.notes[(tool, name)] = entry["note"]
            if entry.get("na"):
                self.na[(tool, name)] = entry["na"]
                continue
            self.notes.setdefault((tool, name + ":attrs"), str(len(entry["probe"].get("attributes", []))))
            self.attributes.setdefault((tool, name), entry["probe"].get("attributes", []))
            modes = {b["mode"] for b in entry["blocks"]}
            for mode in modes:
                key = f"{BASELINE}@{tool}" if mode == BASELINE else mode
                pooled = self.samples.setdefault((key, name), {"cpu": [], "wall": []})
                for block in entry["blocks"]:
                    if block["mode"] == mode:
                        pooled["cpu"].extend(block["cpu"])
                        pooled["wall"].extend(block["wall"])
                if mode != BASELINE:
                    d = self.diffs.setdefault((mode, name), {"cpu": [], "wall": [], "process": []})
                    for key in d:
                        d[key].extend(block_diffs(entry["blocks"], mode, key))

    def overhead(self, tool: str, scenario: str, key: str = "cpu") -> float:
        return median(self.diffs.get((tool, scenario), {}).get(key, []))


# --- tables -----------------------------------------------------------------------------------------------
def ratio(a: float, b: float) -> float:
    """a / b, or nan when either is not a positive overhead (noise larger than the effect)."""
    return a / b if a > 0 and b > 0 else float("nan")


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # nan
        return "-"
    return f"{value:,.{digits}f}"


def tables(res: Results, tools: list[str], peer_envs: dict[str, peers.PeerEnv]) -> str:
    lines: list[str] = []
    labels = {OURS: "genai-cost", FLOOR: "floor", **{p.name: p.label for p in peers.PEERS}}
    for scenario in scenarios.SCENARIOS:
        name = scenario.name
        lines.append(f"\n### {scenario.title}")
        lines.append("")
        lines.append(
            "| tool | CPU median us | CPU p90 us | wall median us | wall p90 us "
            "| overhead CPU us (±95%) | overhead process-CPU us | overhead wall us | x floor | peer ÷ genai-cost |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        base = res.samples.get((f"{BASELINE}@{OURS}", name))
        if base:
            lines.append(
                f"| baseline (no instrumentation) | {fmt(median(base['cpu']))} | {fmt(p90(base['cpu']))} "
                f"| {fmt(median(base['wall']))} | {fmt(p90(base['wall']))} | 0 | 0 | 0 | | |"
            )
        floor_ovh = res.overhead(FLOOR, name)
        ours_ovh = res.overhead(OURS, name)
        for tool in [FLOOR, OURS, *[t for t in tools if t != OURS]]:
            label = labels.get(tool, tool)
            if (tool, name) in res.na:
                lines.append(f"| {label} | n/a ({res.na[(tool, name)]}) | | | | | | | | |")
                continue
            sample = res.samples.get((tool, name))
            if sample is None:
                if tool in peer_envs and peer_envs[tool].python is None:
                    lines.append(f"| {label} | n/a ({peer_envs[tool].reason}) | | | | | | | | |")
                continue
            diffs = res.diffs[(tool, name)]
            ovh = median(diffs["cpu"])
            note = res.notes.get((tool, name), "")
            mark = " *" if note.startswith("forced") else ""
            lines.append(
                f"| {label}{mark} | {fmt(median(sample['cpu']))} | {fmt(p90(sample['cpu']))} "
                f"| {fmt(median(sample['wall']))} | {fmt(p90(sample['wall']))} "
                f"| {fmt(ovh)} (±{fmt(notch(diffs['cpu']))}) | {fmt(median(diffs['process']))} "
                f"| {fmt(median(diffs['wall']))} | {fmt(ratio(ovh, floor_ovh), 2) if tool != FLOOR else '1.00'} "
                f"| {fmt(ratio(ovh, ours_ovh), 2) if tool not in (FLOOR, OURS) else ''} |"
            )
    # The summary: overhead (CPU us per call) per scenario and tool.
    peer_tools = [t for t in tools if t != OURS]
    lines.append("\n### Summary: CPU overhead per call over the baseline (us), lower is better")
    lines.append("")
    header = [
        "scenario",
        "floor",
        "genai-cost",
        *[labels[t] for t in peer_tools],
        "genai-cost ÷ floor",
        "best peer ÷ genai-cost",
    ]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---" + "|---:" * (len(header) - 1) + "|")
    for scenario in scenarios.SCENARIOS:
        name = scenario.name
        row = [scenario.title, fmt(res.overhead(FLOOR, name)), fmt(res.overhead(OURS, name))]
        peer_values = []
        for tool in peer_tools:
            if (tool, name) in res.na or (tool, name) not in res.diffs:
                row.append("n/a")
            else:
                value = res.overhead(tool, name)
                peer_values.append(value)
                row.append(fmt(value))
        ours = res.overhead(OURS, name)
        row.append(fmt(ratio(ours, res.overhead(FLOOR, name)), 2))
        row.append(fmt(ratio(min(peer_values), ours), 2) if peer_values else "-")
        lines.append("| " + " | ".join(row) + " |")
    # Per streamed chunk.
    lines.append(
        "\n### Per streamed chunk: (overhead of the 200-chunk stream - overhead of the 20-chunk stream) / 180"
    )
    lines.append("")
    lines.append("| stream | " + " | ".join(labels[t] for t in [FLOOR, OURS, *peer_tools]) + " |")
    lines.append("|---" + "|---:" * (len(peer_tools) + 2) + "|")
    for long, short in scenarios.CHUNK_PAIRS:
        title = scenarios.SCENARIOS_BY_NAME[long].title.split(",")[0]
        span = scenarios.SCENARIOS_BY_NAME[long].chunks - scenarios.SCENARIOS_BY_NAME[short].chunks
        row = [title]
        for tool in [FLOOR, OURS, *peer_tools]:
            if (tool, long) not in res.diffs or (tool, short) not in res.diffs:
                row.append("n/a")
                continue
            row.append(fmt((res.overhead(tool, long) - res.overhead(tool, short)) / span, 2) + " us")
        lines.append("| " + " | ".join(row) + " |")
    lines.append(
        "\n### What each tool records: attributes on its span (OpenAI chat / stream / Anthropic / Gemini)"
    )
    lines.append("")
    shown = ("openai_chat", "openai_stream200", "anthropic_messages", "gemini_generate")
    for tool in [OURS, *peer_tools]:
        counts = [
            str(len(res.attributes[(tool, n)])) if (tool, n) in res.attributes else "n/a" for n in shown
        ]
        lines.append(f"- {labels[tool]}: {' / '.join(counts)}")
    if res.isolated:
        parts = []
        for provider, values in res.isolated.items():
            numbers = [v for v in values if isinstance(v, (int, float))]
            parts.append(
                f"{provider} {median(numbers):.2f} us" if numbers else f"{provider} n/a ({values[0]})"
            )
        lines.append(
            "\ngenai-cost's stream path alone, per chunk (real parsed chunks through streams.iterate and the "
            "adapter's stream state, 200 vs 20 chunks, see chunks.py): **" + ", ".join(parts) + "**"
        )
    return "\n".join(lines)


# --- the rest -----------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": os.getloadavg(),
    }


def run_script(args: list[str], timeout: float) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    try:
        done = subprocess.run(
            [sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return f"(timed out after {timeout:.0f} s)"
    if done.returncode != 0:
        return f"(failed: {done.stderr.strip().splitlines()[-1:]})"
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one round, short blocks (about 2 minutes)")
    parser.add_argument("--rounds", type=int, help="processes per tool, interleaved A B C A B C")
    parser.add_argument("--scale", type=float, help="calls per block, relative to the default")
    parser.add_argument("--blocks", type=int, help="block cycles per scenario and process")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peers", help="comma-separated subset of: " + ",".join(p.name for p in peers.PEERS))
    parser.add_argument(
        "--skip", default="", help="comma-separated: overhead,isolated,opcodes,startup,memory,pricing,store"
    )
    parser.add_argument("--memory-calls", type=int)
    args = parser.parse_args()
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.scale = args.scale or (0.5 if quick else 1.0)
    args.blocks = args.blocks or (3 if quick else 8)
    memory_calls = args.memory_calls or (10_000 if quick else 100_000)
    skip = set(filter(None, args.skip.split(",")))
    started = time.perf_counter()

    info = machine()
    say(
        f"genai-cost benchmarks on {info['cpu']} ({info['cores']} cores), Python {info['python']}, load {info['load_avg']}"
    )
    chosen = (
        []
        if args.no_peers
        else [
            peers.PEERS_BY_NAME[n]
            for n in (args.peers.split(",") if args.peers else [p.name for p in peers.PEERS])
        ]
    )
    peer_envs = {peer.name: peers.ensure(peer, say) for peer in chosen}
    for env in peer_envs.values():
        if env.python is None:
            say(f"  {env.peer.label}: n/a ({env.reason})")
        elif env.reason:
            say(f"  {env.peer.label}: {env.reason}")

    report: dict[str, Any] = {"machine": info, "args": vars(args), "peers": {}}
    for name, env in peer_envs.items():
        report["peers"][name] = {
            "ok": env.python is not None,
            "reason": env.reason,
            "versions": {
                k: v
                for k, v in env.versions.items()
                if k.startswith(("openlit", "opentelemetry-instrumentation-", "opentelemetry-util-genai"))
            },
        }
    md: list[str] = []
    res = Results()
    tools = [OURS, *[n for n, e in peer_envs.items() if e.python is not None]]
    if "overhead" not in skip:
        say(
            f"overhead: {args.rounds} round(s) of {', '.join(tools)}; {args.blocks} block cycles per scenario"
        )
        with tempfile.TemporaryDirectory() as tmp:
            for round_no in range(args.rounds):
                for tool in tools:
                    python = sys.executable if tool == OURS else str(peer_envs[tool].python)
                    result = run_worker(tool, python, args, round_no, Path(tmp) / f"{tool}-{round_no}.json")
                    if result is not None:
                        res.add(result)
        table = tables(res, tools, peer_envs)
        md.append(table)
        say(table)
        report["overhead"] = {
            f"{tool}|{name}": {
                "cpu_us": res.overhead(tool, name),
                "process_cpu_us": res.overhead(tool, name, "process"),
                "wall_us": res.overhead(tool, name, "wall"),
            }
            for (tool, name) in res.diffs
        }
        report["na"] = {f"{t}|{n}": why for (t, n), why in res.na.items()}
        report["notes"] = {f"{t}|{n}": why for (t, n), why in res.notes.items() if not n.endswith(":attrs")}
        report["span_attributes"] = {
            f"{t}|{n[:-6]}": int(v) for (t, n), v in res.notes.items() if n.endswith(":attrs")
        }
        report["instrument_ms"] = {tool: median(m["instrument_ms"]) for tool, m in res.meta.items()}
        report["isolated_chunk_us"] = res.isolated
        report["attributes"] = {f"{t}|{n}": a for (t, n), a in res.attributes.items()}
        labels = {OURS: "genai-cost", **{p.name: p.label for p in peers.PEERS}}
        md.append(
            "\ninstrument() time in the worker, SDKs already imported (median ms): "
            + ", ".join(f"{labels.get(t, t)} {v:.0f}" for t, v in report["instrument_ms"].items())
        )
        say(md[-1])
        forced = {k: v for k, v in report["notes"].items() if v.startswith("forced")}
        for env in peer_envs.values():
            if env.reason:
                forced[env.peer.name] = env.reason
        if forced:
            md.append(
                "\n\\* forced past a declared SDK range: " + "; ".join(f"{k}: {v}" for k, v in forced.items())
            )
            say(md[-1])
    sections = (
        (
            "isolated",
            "isolated: genai-cost and the floor around a replay of the patched SDK method",
            ["isolated.py", *(["--blocks", "5", "--calls", "1000"] if quick else [])],
            "Isolated: genai-cost and the floor without the SDK's work (isolated.py; thread-CPU us per "
            "call over the replay alone, fastest of alternating blocks)",
        ),
        (
            "opcodes",
            "opcodes: bytecodes run per call, genai-cost and the floor (exact, not timed)",
            ["opcodes.py"],
            "Bytecodes per call (opcodes.py; counted around the same replay, the replay's own left out)",
        ),
    )
    for key, announce, command, title in sections:
        if key in skip:
            continue
        say(announce)
        proc = subprocess.run(
            [sys.executable, str(HERE / command[0]), *command[1:]],
            env=worker_env(OURS),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        text = f"\n### {title}\n\n" + (
            proc.stdout.strip() if proc.returncode == 0 else f"failed: {proc.stderr.strip()[-500:]}"
        )
        md.append(text)
        say(text)
        report[key] = proc.stdout if proc.returncode == 0 else {"error": proc.stderr[-500:]}
    if "startup" not in skip:
        import startup

        say("start-up: import + instrument of genai-cost, four SDKs imported")
        report["startup"] = startup.measure(3 if quick else 9)
        s = report["startup"]
        text = (
            f"\n### Start-up\n\nMeasured inside fresh processes that already imported the four SDKs and set up "
            f"the OTel SDK (median of {s['runs']}): importing genai-cost and instrumenting all four SDKs takes "
            f"**{s['in_process_ms']:.0f} ms**. Of it, OpenTelemetry's instrumentation framework (BaseInstrumentor "
            f"+ packaging, which any instrumentor and opentelemetry-instrument load anyway) takes "
            f"{s['framework_in_process_ms']:.0f} ms, so **genai-cost's own share is "
            f"{s['beyond_framework_in_process_ms']:.0f} ms**. Whole-process wall times (noisy: the SDK imports "
            f"alone take {s['sdks_only_ms']:.0f} ms): {s['with_genai_cost_ms']:.0f} ms vs {s['sdks_only_ms']:.0f} ms.\n"
            "Slowest imports (cumulative ms, -X importtime): "
            + ", ".join(f"{name} {ms:.0f}" for name, ms in s["importtime"])
        )
        md.append(text)
        say(text)
    if "memory" not in skip:
        say(f"memory: {memory_calls:,} instrumented calls")
        out = run_script([str(HERE / "memory.py"), "--calls", str(memory_calls)], timeout=900)
        try:
            mem = json.loads(out.splitlines()[-1])
        except (ValueError, IndexError):
            mem = {"error": out}
        report["memory"] = mem
        if "error" in mem:
            text = f"\n### Memory\n\n{mem['error']}"
        else:
            points = ", ".join(
                f"{c['calls'] // 1000}k: {c['rss_mb']:.1f} MB" for c in mem["checkpoints"][1::3]
            )
            text = (
                f"\n### Memory\n\n{mem['calls']:,} calls in {mem['seconds']:.0f} s, {mem['spans_exported']:,} spans exported. "
                f"RSS {points}; growth after the first 10%: **{mem['rss_growth_after_warmup_mb']:+.2f} MB**, "
                f"gc objects {mem['objects_growth_after_warmup']:+d}."
            )
            dropped = mem["calls"] - mem["spans_exported"]
            if dropped > 0:
                text += (
                    f" The BatchSpanProcessor dropped {dropped:,} spans: in a tight loop its export thread "
                    "does not keep up with its bounded queue (2048), as in any app calling this fast."
                )
        md.append(text)
        say(text)
    for key, script, title, size_option in (
        ("pricing", "bench_pricing.py", "Pricing", ("--calls", "5000" if quick else "20000")),
        ("store", "bench_store.py", "Local store writer", ("--spans", "10240" if quick else "51200")),
    ):
        if key in skip:
            continue
        say(f"{key}: benchmarks/{script}")
        out = run_script([str(HERE / script), *size_option], timeout=300)
        report[key] = out
        md.append(f"\n### {title} (benchmarks/{script})\n\n```\n{out}\n```")
        say(md[-1])

    elapsed = time.perf_counter() - started
    head = (
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {info['cpu']}, {info['cores']} cores, "
        f"Python {info['python']}, load average at start {info['load_avg'][0]:.1f}; "
        f"{'--quick' if quick else 'full'} run, {args.rounds} round(s), {elapsed:.0f} s."
    )
    report["elapsed_s"] = elapsed
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.md").write_text(head + "\n" + "\n".join(md) + "\n")
    (results / "latest.json").write_text(json.dumps(report, indent=1, default=str))
    say(f"\n{head}\nwritten: {results / 'latest.md'}, {results / 'latest.json'}")


if __name__ == "__main__":
    main()
