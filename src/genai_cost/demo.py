"""`genai-cost demo`: the whole product in a minute, with no API key and no infrastructure.

Starts the built-in fake provider server, runs the example apps (examples/) unchanged under
`opentelemetry-instrument` with the local store as the traces exporter, then prints the report and
checks it against what the fake server billed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from genai_cost import config
from genai_cost.store.render import plural

# (script, arguments, what the demo says while it runs it)
EXAMPLES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("interview_groq.py", ("groq",), "AI interviews on Groq (groq SDK)"),
    ("interview_groq.py", ("openai",), "AI interviews on Groq (OpenAI SDK with a Groq base URL)"),
    ("gemini_transcription.py", (), "parallel video transcription and batch analysis on Gemini"),
    ("claude_resume_writer.py", (), "resume writer on Claude: count tokens, generate, stream a long answer"),
    ("multi_provider_usage.py", (), "per-user usage across OpenAI, Anthropic and Groq"),
)


class DemoError(RuntimeError):
    pass


@dataclass
class DemoResult:
    db_path: Path
    ledger: list[Any]  # genai_cost.fakeprovider.BilledCall, one per request served


# The SDKs the example apps import (distribution, module).
SDKS = (("openai", "openai"), ("anthropic", "anthropic"), ("groq", "groq"), ("google-genai", "google.genai"))


def examples_dir() -> Path:
    """The example apps: shipped inside the wheel (genai_cost/examples), or examples/ of a source
    checkout installed in editable mode."""
    packaged = Path(__file__).with_name("examples")
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "examples"
    if checkout.is_dir():
        return checkout
    raise DemoError("the example apps are missing from this installation; reinstall genai-cost")


def check_sdks() -> None:
    import importlib.util

    def absent(module: str) -> bool:
        try:  # google.genai: its parent "google" is a namespace others fill too (protobuf)
            return importlib.util.find_spec(module) is None
        except ModuleNotFoundError:
            return True

    missing = [dist for dist, module in SDKS if absent(module)]
    if missing:
        raise DemoError(
            f"the example apps use the {', '.join(missing)} SDK{'s' if len(missing) > 1 else ''}, "
            "not installed here: pip install 'genai-cost[all]'"
        )


def _instrument_command() -> list[str]:
    script = Path(sysconfig.get_path("scripts")) / "opentelemetry-instrument"
    if not script.exists():
        script = Path(sys.executable).with_name("opentelemetry-instrument")
    if not script.exists():
        raise DemoError("opentelemetry-instrument is not installed: pip install 'genai-cost[all]'")
    return [str(script), sys.executable]


def demo_env(server: Any, db_path: Path) -> dict[str, str]:
    """The environment an unchanged app needs to talk to the fake server and write the local store."""
    return {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "genai_cost",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        config.DB_PATH: str(db_path),
        "OPENAI_BASE_URL": server.openai_base_url,
        "OPENAI_API_KEY": "demo-key",
        "ANTHROPIC_BASE_URL": server.anthropic_base_url,
        "ANTHROPIC_API_KEY": "demo-key",
        "GROQ_BASE_URL": server.groq_base_url,
        "GROQ_OPENAI_BASE_URL": server.groq_openai_base_url,
        "GROQ_API_KEY": "demo-key",
        "GOOGLE_GEMINI_BASE_URL": server.gemini_base_url,
        "GOOGLE_API_KEY": "demo-key",
    }


def run_examples(server: Any, env: Mapping[str, str], out: TextIO = sys.stdout) -> None:
    """Run every example app unchanged under opentelemetry-instrument, saying what it does."""
    apps = examples_dir()
    command = _instrument_command()
    for number, (script, args, what) in enumerate(EXAMPLES, start=1):
        print(f"[{number}/{len(EXAMPLES)}] {what} ...", end=" ", file=out, flush=True)
        started = time.monotonic()
        done = subprocess.run(
            [*command, str(apps / script), *args],
            env={**env, "OTEL_SERVICE_NAME": Path(script).stem},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise DemoError(f"{script} {' '.join(args)} failed:\n{done.stderr.strip()}")
        print(f"done in {time.monotonic() - started:.1f}s", file=out, flush=True)


def inject_failures(server: Any) -> None:
    # Groq rate-limits one request (after the SDK's retries) so the report shows a rate-limit.
    server.fail_next(status=429, times=3, path_contains="/groq/openai/v1/chat", retry_after=0.01)


def run_demo(db_path: Path, out: TextIO = sys.stdout) -> DemoResult:
    """Run every example against a fresh fake server into a fresh store at ``db_path``."""
    from genai_cost.fakeprovider import FakeProviderServer

    check_sdks()
    examples_dir()  # missing apps fail here, before anything starts
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    with FakeProviderServer() as server:
        print(f"genai-cost demo: fake OpenAI, Anthropic, Groq and Gemini APIs at {server.url}", file=out)
        inject_failures(server)
        run_examples(server, demo_env(server, db_path), out)
        ledger = list(server.ledger)
    return DemoResult(db_path, ledger)


def check_against_ledger(result: DemoResult) -> str:
    """Lines comparing the store with what the fake server billed; raises if they differ."""
    from genai_cost.store.db import UsageStore

    billed = [c for c in result.ledger if c.usage_reported and c.counted_tokens is None]
    billed_in = sum(c.normalized().input_tokens or 0 for c in billed)
    billed_out = sum(c.normalized().output_tokens or 0 for c in billed)
    with UsageStore.open(result.db_path, readonly=True) as store:
        every = store.rows()
    rows = [r for r in every if r.input_tokens is not None and r.operation != "count_tokens"]
    stored_in = sum(r.input_tokens or 0 for r in rows)
    stored_out = sum(r.output_tokens or 0 for r in rows)
    if (len(rows), stored_in, stored_out) != (len(billed), billed_in, billed_out):
        raise DemoError(
            f"the store does not match the fake server's bill: {len(rows)} calls, {stored_in} in, "
            f"{stored_out} out recorded; {len(billed)} calls, {billed_in} in, {billed_out} out billed"
        )
    lines = [
        f"check: the fake providers billed {plural(len(billed), 'call')}, {billed_in:,} input and "
        f"{billed_out:,} output tokens; the local store recorded exactly the same."
    ]
    counted = sum(1 for r in every if r.operation == "count_tokens")
    failures = [r for r in every if r.error_type is not None and r.operation != "count_tokens"]
    failed = len(failures)
    other = len(every) - len(rows) - counted - failed
    if len(every) != len(rows):
        parts = [f"the {plural(len(rows), 'billed call')}"]
        if counted:
            parts.append(f"{plural(counted, 'count_tokens call')} (free: they count a prompt's tokens)")
        if failed:
            why = " (rate-limited, after the SDK's retries)" if all(r.rate_limited for r in failures) else ""
            parts.append(f"{plural(failed, 'request')} that failed{why}")
        if other:
            parts.append(f"{plural(other, 'request')} whose provider reported no usage")
        lines.append(
            f"The report's {plural(len(every), 'request')} are "
            + _and(parts)
            + "; only the billed calls cost."
        )
    return "\n".join(lines)


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def default_demo_db() -> Path:
    from genai_cost.store.db import default_db_path

    return default_db_path().with_name("demo.db")


def main(db: str | None, out: TextIO = sys.stdout) -> int:
    from genai_cost.store.report import DEFAULT_SECTIONS, report_table

    db_path = Path(db).expanduser() if db else default_demo_db()
    try:
        result = run_demo(db_path, out)
        check = check_against_ledger(result)
    except DemoError as exc:
        print(f"genai-cost: error: {exc}", file=sys.stderr)
        return 1
    print(file=out)
    report_table(str(db_path), DEFAULT_SECTIONS, out=out)
    for by in ("session", "user"):
        report_table(str(db_path), (by,), top=5, header=False, notes=False, out=out)
    where = shlex.quote(str(db_path))
    print(f"\n{check}", file=out)
    print("\nExplore further:", file=out)
    for args in ("--by day", "--by provider --wide", "--by operation --format csv"):
        print(f"  genai-cost report -d {where} {args}", file=out)
    return 0
