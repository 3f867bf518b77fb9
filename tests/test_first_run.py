"""A new user's first run, as the README says it: the wheel installed in a fresh virtual environment
(dependencies from PyPI, at the versions CI tests), the README's commands run verbatim on a small
OpenAI + Anthropic app against the fake provider server, with no OTEL_* variable the README does not
show. In each mode the local store must equal what the fake server billed:

- local only; with OTLP and no collector running (one warning line, at most 5 s later exit);
- with the real collector over gRPC and over HTTP (its endpoint given the way the README says);
- `genai-cost demo` from the wheel in an empty directory.

Then the malformed price file (all four SDKs: instrumentation stays on, calls unpriced, one line), and
the fake provider server in a user's own test, recognised with no setting.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import stack
from genai_cost import semconv as sc
from genai_cost.fakeprovider import FakeProviderServer
from genai_cost.store.db import UsageStore
from test_demo import check_demo_output

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
TESTED = REPO / "tests" / "requirements.latest.txt"

# The README's commands, run as written (each must appear in README.md verbatim).
CREATE_VENV = "python3 -m venv .venv && . .venv/bin/activate"
LOCAL_ONLY = "OTEL_TRACES_EXPORTER=genai_cost opentelemetry-instrument python app.py"
COLLECTOR_GRPC = "OTEL_TRACES_EXPORTER=otlp,genai_cost opentelemetry-instrument python app.py"
COLLECTOR_HTTP = (
    "OTEL_TRACES_EXPORTER=otlp,genai_cost OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf "
    "opentelemetry-instrument python app.py"
)
ELSEWHERE = "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector.internal:4317"  # how the README says where
REPORT = "genai-cost report"

APP = textwrap.dedent(
    """
    import anthropic
    import openai

    from genai_cost import feature

    chat = openai.OpenAI(max_retries=0)  # OPENAI_BASE_URL, OPENAI_API_KEY
    claude = anthropic.Anthropic(max_retries=0)  # ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY
    messages = [{"role": "user", "content": "Write one interview question about caching"}]
    with feature("first_run", user_id="new-user", session_id="session-1"):
        chat.chat.completions.create(model="gpt-4o-mini", messages=messages)
        for _ in chat.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True):
            pass
        claude.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=messages)
        with claude.messages.stream(model="claude-haiku-4-5", max_tokens=200, messages=messages) as stream:
            for _ in stream.text_stream:
                pass
    print("app done")
    """
)


def test_the_commands_are_the_readmes() -> None:
    for command in (CREATE_VENV, LOCAL_ONLY, COLLECTOR_GRPC, COLLECTOR_HTTP, ELSEWHERE):
        assert command in README, command
    assert "pip install genai-cost" in README
    assert "OTEL_METRICS_EXPORTER" not in README.split("## Use it in your app")[1].split("\n## ")[0]


@dataclass
class Venv:
    root: Path  # holds .venv, as the README's Quick start makes it
    wheel: Path

    @property
    def bin(self) -> Path:
        return self.root / ".venv" / "bin"


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False, **kwargs)
    assert done.returncode == 0, f"{argv}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new user's shell: nothing of OpenTelemetry, of genai-cost or of this venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "GENAI_COST_", "PYTEST_", "VIRTUAL_ENV", "PYTHON"))
    }
    return {**env, **extra}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    root = tmp_path_factory.mktemp("new-user")
    dist = root / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(REPO)])
    (wheel,) = dist.glob("genai_cost-*.whl")
    shell = f"cd {root} && {CREATE_VENV.replace('python3', sys.executable)} && "
    # `pip install genai-cost` (from the wheel), plus the app's own SDKs, at the versions CI tests.
    _run(
        ["bash", "-c", shell + f"pip install --quiet {wheel} openai anthropic -c {TESTED}"], env=_clean_env()
    )
    return Venv(root, wheel)


@dataclass
class Run:
    seconds: float
    stdout: str
    stderr: str
    store: Path
    ledger: list[Any]


def _run_app(venv: Venv, command: str, name: str, **env: str) -> Run:
    """The app run by ``command`` in its own directory and home (so its own default store)."""
    home = venv.root / f"home-{name}"
    work = venv.root / f"app-{name}"
    for path in (home, work):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
    (work / "app.py").write_text(APP)
    with FakeProviderServer() as server:
        shell_env = _clean_env(
            HOME=str(home),
            PATH=f"{venv.bin}:{os.environ['PATH']}",
            OPENAI_BASE_URL=server.openai_base_url,
            OPENAI_API_KEY="test-key",
            ANTHROPIC_BASE_URL=server.anthropic_base_url,
            ANTHROPIC_API_KEY="test-key",
            **env,
        )
        shell_env.pop("XDG_DATA_HOME", None)
        started = time.monotonic()
        done = _run(["bash", "-c", command], cwd=work, env=shell_env)
        seconds = time.monotonic() - started
        ledger = list(server.ledger)
    assert "app done" in done.stdout
    return Run(
        seconds, done.stdout, done.stderr, home / ".local" / "share" / "genai-cost" / "usage.db", ledger
    )


def assert_store_is_the_bill(run: Run) -> None:
    """Every call the fake server served is one row, with the tokens it billed; the tags are there."""
    assert len(run.ledger) == 4
    with UsageStore.open(run.store, readonly=True) as store:
        rows = store.rows()
    assert len(rows) == len(run.ledger)
    by_id = {row.response_id: row for row in rows}
    for call in run.ledger:
        row = by_id[call.response_id]
        usage = call.normalized() if call.usage_reported else None
        assert row.input_tokens == (usage.input_tokens if usage else None), call
        assert row.output_tokens == (usage.output_tokens if usage else None), call
        assert row.usage_missing is (usage is None)
        assert (row.feature, row.user_id, row.session_id) == ("first_run", "new-user", "session-1")
        assert row.error_type is None
    assert {row.provider for row in rows if row.request_model == "claude-haiku-4-5"} == {"anthropic"}


# --- the three modes, from the wheel -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_only(venv: Venv) -> Run:
    return _run_app(venv, LOCAL_ONLY, "local")


def test_local_only(local_only: Run, venv: Venv) -> None:
    assert local_only.stderr == ""
    assert_store_is_the_bill(local_only)
    assert (local_only.store.stat().st_mode & 0o777) == 0o600
    report = _run(
        ["bash", "-c", REPORT],
        env=_clean_env(HOME=str(local_only.store.parents[3]), PATH=f"{venv.bin}:/usr/bin:/bin"),
    )
    assert "By feature" in report.stdout and "first_run" in report.stdout and report.stderr == ""


def _nothing_listens(port: int) -> None:
    with socket.socket() as probe:
        probe.settimeout(1)
        busy = probe.connect_ex(("127.0.0.1", port)) == 0
    assert not busy, f"something listens on 127.0.0.1:{port}; this test needs the default OTLP port free"


@pytest.mark.parametrize("command", [COLLECTOR_GRPC, COLLECTOR_HTTP], ids=["grpc", "http"])
def test_no_collector_running(venv: Venv, local_only: Run, command: str) -> None:
    _nothing_listens(4317 if command == COLLECTOR_GRPC else 4318)
    run = _run_app(venv, command, "no-collector")
    assert_store_is_the_bill(run)
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("genai-cost: cannot export telemetry"), run.stderr
    where = "localhost:4317" if command == COLLECTOR_GRPC else "http://localhost:4318"
    assert f"the OpenTelemetry collector at {where} (connection refused)" in lines[0]
    delay = run.seconds - local_only.seconds
    print(f"exit delay without a collector ({'http' if 'PROTOCOL' in command else 'grpc'}): {delay:.2f}s")
    assert delay <= 5.0, (run.seconds, local_only.seconds)


def _collector_numbers(ports: stack.CollectorPorts, transport: str) -> tuple[float, float]:
    """Spans the collector accepted over ``transport``, and the input tokens its Prometheus exporter shows."""
    _, own = stack._http_get(f"http://127.0.0.1:{ports.telemetry}/metrics")
    spans = sum(
        float(line.rsplit(" ", 1)[1])
        for line in own.decode().splitlines()
        if line.startswith("otelcol_receiver_accepted_spans") and f'transport="{transport}"' in line
    )
    _, exported = stack._http_get(f"http://{ports.metrics_target}/metrics")
    tokens = sum(
        float(line.rsplit(" ", 1)[1])
        for line in exported.decode().splitlines()
        if line.startswith("gen_ai_client_token_usage_sum") and 'gen_ai_token_type="input"' in line
    )
    return spans, tokens


@pytest.mark.parametrize("command", [COLLECTOR_GRPC, COLLECTOR_HTTP], ids=["grpc", "http"])
def test_with_the_collector(venv: Venv, command: str) -> None:
    grpc = command == COLLECTOR_GRPC
    with stack.run_collector() as ports:
        # The README's command, with the collector's address given as the README says (ELSEWHERE).
        endpoint = f"http://127.0.0.1:{ports.otlp_grpc if grpc else ports.otlp_http}"
        run = _run_app(venv, command, "collector", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
        billed_input = sum(c.normalized().input_tokens or 0 for c in run.ledger if c.usage_reported)

        def arrived() -> tuple[float, float] | None:
            found = _collector_numbers(ports, "grpc" if grpc else "http")
            return found if found[0] >= 4 and found[1] >= billed_input else None

        spans, tokens = stack.wait_for(
            arrived,
            stack.START_TIMEOUT_S,
            f"the app's spans and token metrics in the collector (log: {ports.log})",
        )
    assert run.stderr == ""
    assert_store_is_the_bill(run)
    assert spans == 4 and tokens == billed_input


def test_demo_from_the_wheel_in_an_empty_directory(venv: Venv) -> None:
    # The demo runs the example apps, which use all four SDKs: the README installs them with [all].
    # Without them it says so.
    without = subprocess.run(
        [str(venv.bin / "genai-cost"), "demo"], capture_output=True, text=True, timeout=60, env=_clean_env()
    )
    assert (without.returncode, without.stderr) == (
        1,
        "genai-cost: error: the example apps use the groq, google-genai SDKs, not installed here: "
        "pip install 'genai-cost[all]'\n",
    )
    shell = f"cd {venv.root} && . .venv/bin/activate && "
    _run(["bash", "-c", shell + f"pip install --quiet '{venv.wheel}[all]' -c {TESTED}"], env=_clean_env())
    empty = venv.root / "empty"
    empty.mkdir()
    home = venv.root / "home-demo"
    home.mkdir()
    done = _run(
        ["bash", "-c", "genai-cost demo"],
        cwd=empty,
        env=_clean_env(HOME=str(home), PATH=f"{venv.bin}:{os.environ['PATH']}"),
    )
    assert done.stderr == ""
    check_demo_output(
        done.stdout, home / ".local" / "share" / "genai-cost" / "demo.db", genai_cost=venv.bin / "genai-cost"
    )
    assert list(empty.iterdir()) == []  # nothing written where it ran


# --- a malformed price file: all four SDKs, instrumentation fully on -----------------------------------------

FOUR_SDKS_APP = textwrap.dedent(
    """
    import anthropic, groq, openai
    from google import genai
    from genai_cost import feature

    hi = [{"role": "user", "content": "hi"}]
    chat, claude, llama, gemini = (
        openai.OpenAI(max_retries=0), anthropic.Anthropic(max_retries=0), groq.Groq(max_retries=0), genai.Client()
    )
    with feature("pricing_check", user_id="u1"):
        chat.chat.completions.create(model="gpt-4o-mini", messages=hi)
        claude.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=hi)
        llama.chat.completions.create(model="llama-3.3-70b-versatile", messages=hi)
        gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")
    print("app done")
    """
)


def test_a_malformed_price_file_is_one_line_and_every_call_is_recorded_unpriced(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  - model: my-model\n    input: 0.3\n    output: cheap\n")
    (tmp_path / "app.py").write_text(FOUR_SDKS_APP)
    db = tmp_path / "usage.db"
    with FakeProviderServer() as server:
        env = _clean_env(
            OTEL_TRACES_EXPORTER="genai_cost",
            OTEL_INSTRUMENTATION_GENAI_COST_DB=str(db),
            OTEL_INSTRUMENTATION_GENAI_COST_PRICES_FILE=str(prices),
            OPENAI_BASE_URL=server.openai_base_url,
            ANTHROPIC_BASE_URL=server.anthropic_base_url,
            GROQ_BASE_URL=server.groq_base_url,
            GOOGLE_GEMINI_BASE_URL=server.gemini_base_url,
            OPENAI_API_KEY="k", ANTHROPIC_API_KEY="k", GROQ_API_KEY="k", GOOGLE_API_KEY="k",
        )  # fmt: skip
        done = subprocess.run(
            [str(Path(sys.executable).with_name("opentelemetry-instrument")), sys.executable, "app.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        ledger = list(server.ledger)
    assert done.returncode == 0 and "app done" in done.stdout, done.stderr
    assert done.stderr == (
        f"genai-cost: {prices}:4: models[0].output: expected a number, got a string ('cheap'); every call is "
        "recorded with its tokens but no cost (genai_cost.unpriced) until the file is fixed\n"
    )
    with UsageStore.open(db, readonly=True) as store:
        rows = {row.response_id: row for row in store.rows()}
    assert len(rows) == len(ledger) == 4
    providers = set()
    for call in ledger:
        row = rows[call.response_id]
        providers.add(row.provider)
        assert (row.input_tokens, row.output_tokens) == (
            call.normalized().input_tokens,
            call.normalized().output_tokens,
        )
        assert (row.feature, row.user_id) == ("pricing_check", "u1")
        assert row.unpriced and row.cost is None
    # The OpenAI SDK on the fake server is `openai_compatible` until the instrumentation knows its marker.
    assert providers - {"openai_compatible", "openai"} == {"anthropic", "groq", "gcp.gemini"}


# --- needs the lead's change in the instrumentation (strict: they fail loudly once it lands) -----------------


@pytest.fixture
def instrumented(otel: Any) -> Iterator[Any]:
    from genai_cost.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    yield otel
    instrumentor.uninstrument()


def test_the_fake_server_in_a_users_own_test_needs_no_setting(
    instrumented: Any, fake_server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openai

    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_COST_PROVIDER_HOSTS", raising=False)
    client = openai.OpenAI(base_url=fake_server.openai_base_url, api_key="test", max_retries=0)
    for _ in client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    ):
        pass
    groq_via_openai = openai.OpenAI(base_url=fake_server.groq_openai_base_url, api_key="test", max_retries=0)
    groq_via_openai.chat.completions.create(
        model="llama-3.3-70b-versatile", messages=[{"role": "user", "content": "hi"}]
    )
    spans = {s.attributes[sc.GEN_AI_REQUEST_MODEL]: s.attributes for s in instrumented.finished()}
    assert spans["gpt-4o-mini"][sc.GEN_AI_PROVIDER_NAME] == "openai"
    stream_call = fake_server.ledger[0]
    assert stream_call.usage_reported  # genai-cost asked OpenAI for stream usage
    assert spans["gpt-4o-mini"][sc.GEN_AI_USAGE_INPUT_TOKENS] == stream_call.normalized().input_tokens
    assert spans["llama-3.3-70b-versatile"][sc.GEN_AI_PROVIDER_NAME] == "groq"


def test_unpriced_spans_say_why(
    instrumented: Any, fake_server: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openai

    from genai_cost.pricing import PRICE_FILE_INVALID
    from genai_cost.pricing import book as book_module

    bad = tmp_path / "prices.yaml"
    bad.write_text("models: 3\n")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_COST_PRICES_FILE", str(bad))
    monkeypatch.setattr(book_module, "_book", None)
    client = openai.OpenAI(base_url=fake_server.openai_base_url, api_key="test", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    (span,) = instrumented.finished()
    assert span.attributes[sc.GENAI_COST_UNPRICED] is True
    assert span.attributes[sc.GENAI_COST_UNPRICED_REASON] == PRICE_FILE_INVALID
    monkeypatch.setattr(book_module, "_book", None)
