"""`genai-cost demo`: the whole product in a minute, with no API key and no infrastructure.

Starts the built-in fake provider server, runs the example apps (examples/) unchanged under
`opentelemetry-instrument` with the local store as the traces exporter, then prints the report and
checks it against what the fake server billed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from genai_cost import config

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


def examples_dir() -> Path:
    """The example apps: shipped inside the wheel, or at the root of a source checkout."""
    packaged = Path(__file__).with_name("examples")
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "examples"
    if checkout.is_dir():
        return checkout
    raise DemoError("the example apps are not installed (expected genai_cost/examples or ./examples)")


def _instrument_command() -> list[str]:
    script = Path(sysconfig.get_path("scripts")) / "opentelemetry-instrument"
    if not script.exists():
        script = Path(sys.executable).with_name("opentelemetry-instrument")
    if not script.exists():
        raise DemoError("opentelemetry-instrument is not installed: pip install 'genai-cost[all]'")
    return [str(script), sys.executable]


def demo_env(server: Any, db_path: Path) -> dict[str, str]:
    """The environment an unchanged app needs to talk to the fake server and write the local store."""
    port = server.url.rsplit(":", 1)[1]
    return {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "genai_cost",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        config.DB_PATH: str(db_path),
        # The fake server serves every provider on one host: tell genai-cost which path is which.
        config.PROVIDER_HOSTS: f"127.0.0.1:{port}/v1=openai,127.0.0.1:{port}/groq=groq",
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

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with FakeProviderServer() as server:
        print(f"genai-cost demo: fake OpenAI, Anthropic, Groq and Gemini APIs at {server.url}", file=out)
        inject_failures(server)
        run_examples(server, demo_env(server, db_path), out)
        ledger = list(server.ledger)
    return DemoResult(db_path, ledger)


def check_against_ledger(result: DemoResult) -> str:
    """One line comparing the store with what the fake server billed; raises if they differ."""
    from genai_cost.store.db import UsageStore

    billed = [c for c in result.ledger if c.usage_reported and c.counted_tokens is None]
    billed_in = sum(c.normalized().input_tokens or 0 for c in billed)
    billed_out = sum(c.normalized().output_tokens or 0 for c in billed)
    with UsageStore.open(result.db_path, readonly=True) as store:
        rows = [r for r in store.rows() if r.input_tokens is not None and r.operation != "count_tokens"]
    stored_in = sum(r.input_tokens or 0 for r in rows)
    stored_out = sum(r.output_tokens or 0 for r in rows)
    if (len(rows), stored_in, stored_out) != (len(billed), billed_in, billed_out):
        raise DemoError(
            f"the store does not match the fake server's bill: {len(rows)} calls, {stored_in} in, "
            f"{stored_out} out recorded; {len(billed)} calls, {billed_in} in, {billed_out} out billed"
        )
    return (
        f"check: the fake providers billed {len(billed)} calls, {billed_in:,} input and {billed_out:,} output "
        f"tokens; the local store recorded exactly the same."
    )


def default_demo_db() -> Path:
    from genai_cost.store.db import default_db_path

    return default_db_path().with_name("demo.db")


def main(db: str | None, out: TextIO = sys.stdout, report_args: Sequence[str] = ()) -> int:
    from genai_cost import cli

    db_path = Path(db) if db else default_demo_db()
    try:
        result = run_demo(db_path, out)
        line = check_against_ledger(result)
    except DemoError as exc:
        print(f"genai-cost: error: {exc}", file=sys.stderr)
        return 1
    print(file=out)
    status = cli.main(["report", "-d", str(db_path), *report_args])
    for by in ("session", "user"):
        print(file=out)
        status = status or cli.main(["report", "-d", str(db_path), "--by", by, "--top", "5"])
    print(f"\n{line}", file=out)
    print(
        f"Explore further: genai-cost report -d {db_path} --by day|provider|operation [--format csv|json]",
        file=out,
    )
    return status
