"""The README's first command, `genai-cost demo`: example apps -> local store -> report == the bill."""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from genai_cost import cli
from genai_cost.demo import check_against_ledger, run_demo
from genai_cost.pricing import get_price_book
from genai_cost.store.db import UsageStore

PROVIDERS = {"openai": "openai", "groq": "groq", "anthropic": "anthropic", "gemini": "gcp.gemini"}


def test_demo_command_as_a_new_user_runs_it(tmp_path: Path) -> None:
    genai_cost = Path(sys.executable).with_name("genai-cost")
    db = tmp_path / "a dir with spaces" / "demo.db"
    done = subprocess.run(
        [str(genai_cost), "demo", "-d", str(db)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    check_demo_output(done.stdout, db)


def check_demo_output(out: str, db: Path, genai_cost: Path | None = None) -> None:
    """What a new user reads: the runs, the report once, the check, why requests exceed billed calls,
    and commands that can be pasted as printed (run with ``genai_cost``, else this venv's)."""
    for expected in ("[1/5]", "[5/5]", "Summary", "By feature", "By model", "By session", "By user"):
        assert expected in out, out
    assert out.count("genai-cost report: ") == 1, out
    assert "the local store recorded exactly the same" in out
    assert (
        "The report's 81 requests are the 72 billed calls, 8 count_tokens calls (free: they count a "
        "prompt's tokens) and 1 request that failed (rate-limited, after the SDK's retries); only the "
        "billed calls cost." in out
    ), out
    assert not re.search(r"(?<![\d,])1 (calls|requests)\b", out)
    commands = [line.strip() for line in out.split("Explore further:")[1].splitlines() if line.strip()]
    assert len(commands) == 3
    for command in commands:
        argv = shlex.split(command)
        assert argv[:4] == ["genai-cost", "report", "-d", str(db)]
        binary = genai_cost or Path(sys.executable).with_name("genai-cost")
        ran = subprocess.run([str(binary), *argv[1:]], capture_output=True, text=True)
        assert (ran.returncode, ran.stderr) == (0, ""), command


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    return run_demo(db, out=io.StringIO())


def _report(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert cli.main(["report", "-d", str(db), "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_report_per_feature_equals_the_fake_server_bill(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with UsageStore.open(demo.db_path, create=False) as store:
        feature_of = {r.response_id: r.feature for r in store.rows() if r.response_id}
    book = get_price_book()
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    billed = [c for c in demo.ledger if c.usage_reported and c.counted_tokens is None]
    assert len(billed) > 50
    for call in billed:
        usage = call.normalized()
        bucket = expected[feature_of[call.response_id]]  # every billed call reached the store
        bucket["input_tokens"] += usage.input_tokens or 0
        bucket["output_tokens"] += usage.output_tokens or 0
        cost = book.price(PROVIDERS[call.provider], call.model, usage)
        assert cost is not None, call.model
        bucket["cost_usd"] += cost.total
    rows = {r["key"]: r for r in _report(demo.db_path, capsys, "--by", "feature")}
    assert set(rows) == set(expected)
    for feature, numbers in expected.items():
        row = rows[feature]
        assert row["input_tokens"] == numbers["input_tokens"], feature
        assert row["output_tokens"] == numbers["output_tokens"], feature
        assert row["cost_usd"] == pytest.approx(numbers["cost_usd"], rel=1e-9), feature
    assert check_against_ledger(demo).startswith("check:")


def test_report_answers_the_seed_apps_questions(demo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sessions = {r["key"]: r for r in _report(demo.db_path, capsys, "--by", "session", "--since", "7d")}
    assert {"interview-groq-1", "interview-openai-1", "video-interview-1", "application-1"} <= set(sessions)
    assert all(r["cost_usd"] > 0 for r in sessions.values())  # cost per interview session
    for days in ("7", "30", "90"):
        users = _report(demo.db_path, capsys, "--by", "user", "--days", days)
        assert {"candidate-1", "job-seeker-1", "hr-alice", "user-ana"} <= {r["key"] for r in users}
    top = _report(demo.db_path, capsys, "--by", "feature", "--top", "1")
    # Most expensive feature: the Gemini transcriptions, whose audio answers bill at the audio rate
    # ($1.00 vs $0.30 per million on 2.5 Flash), just ahead of resume_bullets on Claude Sonnet.
    assert len(top) == 1 and top[0]["key"] == "transcription"
    greeting = {r["key"]: r for r in _report(demo.db_path, capsys, "--by", "feature")}["interview_greeting"]
    assert greeting["rate_limited"] == 1 and greeting["errors"] == 1  # the demo's injected Groq 429
