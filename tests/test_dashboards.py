"""Grafana dashboards: generated JSON is committed, every query is well formed and filtered, and every
PromQL expression runs on a real Prometheus, returning the right labels and values for known data."""

from __future__ import annotations

import contextlib
import json
import math
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from genai_cost import semconv as sc

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `dashboards` lives at the repo root, next to src/
    sys.path.insert(0, str(REPO_ROOT))

from dashboards import generate, links  # noqa: E402
from dashboards import names as n  # noqa: E402
from dashboards.catalog import DASHBOARDS  # noqa: E402
from dashboards.promql import FILTERS, VAR_DATASOURCE, VAR_TRACES  # noqa: E402
from dashboards.queries import PanelQuery, iter_queries, iter_variable_queries, substitute  # noqa: E402

import stack  # noqa: E402

RAW_METRICS = (n.COST, n.TOKENS, n.DURATION, n.TTFC, n.UNPRICED)
UNITS = {"currencyUSD", "short", "s", "percentunit", "reqps"}


def _committed() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(generate.JSON_DIR.glob("*.json"))}


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in board["panels"] if panel["type"] != "row"]


# --- generated JSON --------------------------------------------------------------------------------------


def test_committed_json_equals_generated() -> None:
    assert generate.stale_files() == []
    assert sorted(_committed()) == sorted(board.uid for board in DASHBOARDS)
    assert 2 <= len(DASHBOARDS) <= 4


def test_check_flag_fails_on_stale_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = [sys.executable, str(REPO_ROOT / "dashboards" / "generate.py"), "--check"]
    env = {"PYTHONPATH": str(REPO_ROOT / "src"), "PATH": ""}
    assert subprocess.run(cli, env=env, capture_output=True, check=False).returncode == 0

    monkeypatch.setattr(generate, "JSON_DIR", tmp_path)
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0
    first = sorted(tmp_path.glob("*.json"))[0]
    first.write_text(first.read_text().replace('"title"', '"Title"', 1))
    (tmp_path / "orphan.json").write_text("{}")
    assert generate.stale_files() == [first, tmp_path / "orphan.json"]
    assert generate.main(["--check"]) == 1


# --- structure of every dashboard ------------------------------------------------------------------------


@pytest.mark.parametrize("uid", [board.uid for board in DASHBOARDS])
def test_every_panel_has_promql_units_and_datasource(uid: str) -> None:
    board = _committed()[uid]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)) and 0 not in ids
    for panel in _panels(board):
        where = f"{uid} / {panel['title']}"
        assert panel["datasource"] == {"type": "prometheus", "uid": f"${{{VAR_DATASOURCE}}}"}, where
        assert panel["targets"], where
        for target in panel["targets"]:
            assert target["expr"].strip(), where
            assert target["refId"], where
        assert panel["fieldConfig"]["defaults"]["unit"] in UNITS, where


@pytest.mark.parametrize("uid", [board.uid for board in DASHBOARDS])
def test_variables(uid: str) -> None:
    variables = {var["name"]: var for var in _committed()[uid]["templating"]["list"]}
    assert variables[VAR_DATASOURCE]["type"] == "datasource"
    assert variables[VAR_DATASOURCE]["query"] == "prometheus"
    assert variables[VAR_TRACES]["query"] == "tempo"
    for label, name in FILTERS:
        var = variables[name]
        assert var["type"] == "query"
        assert var["multi"] and var["includeAll"] and var["allValue"] == ".*"
        assert var["query"].startswith(f"label_values({n.DURATION}_count") and var["query"].endswith(
            f", {label})"
        )


def test_every_raw_metric_selector_is_filtered_by_every_variable() -> None:
    metric = "|".join(re.escape(m) for m in RAW_METRICS)
    for board in _committed().values():
        for panel in _panels(board):
            for target in panel["targets"]:
                expr = target["expr"]
                selectors = re.findall(rf"\b(?:{metric})\w*(\{{[^}}]*\}})?", expr)
                for matchers in selectors:
                    assert matchers, f"unfiltered metric in {panel['title']}: {expr}"
                    for label, var in FILTERS:
                        assert f'{label}=~"${var}"' in matchers, f"{panel['title']}: {var} missing in {expr}"
                # Budgets are per feature only (the rules sum over the rest): follow $feature there.
                for rule in re.findall(r"genai_cost:\w*by_feature\w*(?::\w+)?(\{[^}]*\})?", expr):
                    assert f'{n.FEATURE}=~"$feature"' in rule, f"{panel['title']}: {expr}"
                assert re.search(rf"(?:{metric})|genai_cost:", expr), expr


def _recorded_names() -> set[str]:
    names: set[str] = set()
    for path in stack.RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


def test_recording_rules_used_exist_and_rate_limits_match_the_rules() -> None:
    recorded = _recorded_names()
    used = {name for q in iter_queries() for name in re.findall(r"genai_cost:[\w:]+", q.expr)}
    assert used and used <= recorded, used - recorded
    rules_text = (REPO_ROOT / "prometheus" / "rules" / "genai_cost_recording.yml").read_text()
    assert f'error_type=~"{n.RATE_LIMITED_ERROR_TYPES}"' in rules_text


def test_user_panel_explains_the_opt_in() -> None:
    user_panels = [
        panel
        for board in _committed().values()
        for panel in _panels(board)
        if any(n.USER in target["expr"] for target in panel["targets"])
    ]
    assert user_panels
    for panel in user_panels:
        assert "OTEL_INSTRUMENTATION_GENAI_COST_METRIC_USER_ATTRIBUTES=true" in panel["description"]
        assert (
            "OTEL_INSTRUMENTATION_GENAI_COST_METRIC_USER_ATTRIBUTES=true"
            in panel["fieldConfig"]["defaults"]["noValue"]
        )


def _explore_traceql(url: str, values: dict[str, str]) -> str:
    """Follow a data link as Grafana would: fill the placeholders, decode `panes`, return the TraceQL."""
    filled = re.sub(r"\$\{([^}:]+)(?::percentencode)?\}", lambda m: values.get(m.group(1), "x"), url)
    parts = urlsplit(filled)
    assert parts.path == "/explore"
    panes = json.loads(parse_qs(parts.query)["panes"][0])
    (pane,) = panes.values()
    assert pane["datasource"] == values[VAR_TRACES]
    (query,) = pane["queries"]
    assert query["datasource"] == {"type": "tempo", "uid": values[VAR_TRACES]}
    return str(query["query"])


def test_trace_links_open_tempo_with_the_series_attributes() -> None:
    checked = 0
    for board in _committed().values():
        for panel in _panels(board):
            for link in panel["fieldConfig"]["defaults"].get("links", []):
                labels = re.findall(
                    r"\$\{__(?:field\.labels|data\.fields)\.(\w+):percentencode\}", link["url"]
                )
                assert labels, link["url"]
                values = {VAR_TRACES: "tempo-uid", "__from": "1", "__to": "2"}
                values |= {f"__field.labels.{label}": f"v-{label}" for label in labels}
                values |= {f"__data.fields.{label}": f"v-{label}" for label in labels}
                traceql = _explore_traceql(link["url"], values)
                for label in labels:
                    assert f'span.{links.SPAN_ATTRIBUTE[label]}="v-{label}"' in traceql
                checked += 1
        (board_link,) = [link for link in board["links"] if link["type"] == "link"]
        traceql = _explore_traceql(board_link["url"], {VAR_TRACES: "t"})
        assert traceql == f"{{ span.{sc.GEN_AI_USAGE_COST_AMOUNT} > 0 }}"
    assert checked >= 10


def test_iter_queries_covers_every_target() -> None:
    from_json = sorted(
        target["expr"]
        for board in _committed().values()
        for panel in _panels(board)
        for target in panel["targets"]
    )
    assert sorted(q.expr for q in iter_queries()) == from_json


# --- on a real Prometheus ----------------------------------------------------------------------------


def test_every_expression_parses_in_prometheus() -> None:
    """With the bundled rules loaded, every panel and variable query runs without error."""
    with stack.run_prometheus("127.0.0.1:9", scrape_interval="1h") as url:
        for q in iter_queries():
            stack.prom_query(url, substitute(q.expr))  # raises StackError on a parse error
        for var in iter_variable_queries():
            stack.prom_query(url, substitute(var.series))


# Known data: a few calls, written as Prometheus blocks with promtool, queried at T0 over one hour.
STEP = 60  # seconds between samples, like a scrape interval
RANGE = 3600
RATE_INTERVAL = "1h"  # long enough that rate() sees the calls of the last hour
JOB = "shop/checkout"


@dataclass(frozen=True)
class Call:
    minutes_ago: int
    provider: str
    model: str
    feature: str | None
    cost: float | None  # None: failed or unpriced
    input_tokens: int = 0
    output_tokens: int = 0
    duration: float = 0.5
    ttfc: float | None = None
    error: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    cache_read: int = 0  # part of input_tokens
    partial: bool = False  # priced for part of what was billed (genai_cost.cost.partial on its cost)

    def base(self) -> dict[str, str]:
        labels = {
            "job": JOB,
            "instance": "i-1",
            n.OPERATION: sc.OP_CHAT,
            n.PROVIDER: self.provider,
            n.MODEL: self.model,
            n.RESPONSE_MODEL: self.model,
        }
        if self.feature:
            labels[n.FEATURE] = self.feature
        return labels


CALLS = (
    # An old series: 18 calls every 10 minutes from 175 to 5 minutes ago, 6 of them in the last hour.
    *(
        Call(m, sc.PROVIDER_OPENAI, "gpt-4o-mini", "chat", 0.002, 100, 50, cache_read=40)
        for m in range(175, 0, -10)
    ),
    # Series born inside the hour: `increase` alone would miss all of them.
    Call(
        20,
        sc.PROVIDER_ANTHROPIC,
        "claude-sonnet-4",
        "resume",
        0.05,
        1000,
        300,
        2.0,
        ttfc=0.3,
        cache_read=600,
        partial=True,
    ),
    Call(40, sc.PROVIDER_GROQ, "llama-3.1-8b-instant", "chat", 0.0001, 10, 5),
    Call(30, sc.PROVIDER_GROQ, "llama-3.1-8b-instant", "chat", None, duration=0.05, error="RateLimitError"),
    Call(25, sc.PROVIDER_GROQ, "llama-3.1-8b-instant", "chat", None, duration=0.05, error="RateLimitError"),
    Call(10, sc.PROVIDER_OPENAI, "gpt-4o-mini", None, 0.003, 200, 100),  # untagged
    Call(15, sc.PROVIDER_OPENAI, "ft:custom", "chat", None, 50, 50),  # tokens but no price
)
IN_RANGE = [c for c in CALLS if c.minutes_ago * 60 <= RANGE]  # the window is (T0 - 1h, T0]


Series = dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[int, float]]]


def _histogram(
    series: Series, name: str, labels: dict[str, str], bounds: tuple[float, ...], value: float, t: int
) -> None:
    key = tuple(sorted(labels.items()))
    for le in (*bounds, math.inf):
        le_text = "+Inf" if le == math.inf else repr(float(le))
        series[(f"{name}_bucket", (*key, ("le", le_text)))].append((t, 1.0 if value <= le else 0.0))
    series[(f"{name}_sum", key)].append((t, value))
    series[(f"{name}_count", key)].append((t, 1.0))


def _openmetrics(t0: int) -> str:
    """Cumulative series sampled every STEP seconds from each series' first call up to T0."""
    events: Series = defaultdict(list)  # series -> (time, increment) of each call
    for call in CALLS:
        t = t0 - call.minutes_ago * 60
        base = call.base()
        failed = {**base, n.ERROR_TYPE: call.error} if call.error else base
        _histogram(events, n.DURATION, failed, sc.DURATION_BUCKETS, call.duration, t)
        for token_type, tokens in (
            (sc.TOKEN_TYPE_INPUT, call.input_tokens),
            (sc.TOKEN_TYPE_OUTPUT, call.output_tokens),
        ):
            if tokens:
                _histogram(events, n.TOKENS, {**base, n.TOKEN_TYPE: token_type}, sc.TOKEN_BUCKETS, tokens, t)
        if call.cost is not None:
            priced = {**base, n.PARTIAL: "true"} if call.partial else base
            _histogram(events, n.COST, priced, sc.COST_BUCKETS, call.cost, t)
        elif not call.error:
            events[(n.UNPRICED, tuple(sorted(base.items())))].append((t, 1.0))
        if call.ttfc is not None:
            _histogram(events, n.TTFC, base, sc.DURATION_BUCKETS, call.ttfc, t)
        if call.cache_read:
            events[(n.CACHE_READ_TOKENS, tuple(sorted(base.items())))].append((t, float(call.cache_read)))

    lines = []
    for (name, labels), increments in sorted(events.items()):
        label_text = ",".join(f'{k}="{v}"' for k, v in labels)
        first = min(t for t, _ in increments)
        start = first + (-(first - t0) % STEP)  # first sample time on the grid at or after the call
        for sample_t in range(start, t0 + 1, STEP):
            value = sum(v for t, v in increments if t <= sample_t)
            lines.append(f"{name}{{{label_text}}} {value!r} {sample_t}")
    return "\n".join(lines) + "\n# EOF\n"


@contextlib.contextmanager
def _prometheus_with(openmetrics: str) -> Iterator[str]:
    """A real Prometheus whose storage holds blocks made by promtool from `openmetrics`."""
    binary = stack.prometheus_binary()
    promtool = binary.with_name("promtool")
    with tempfile.TemporaryDirectory(prefix="genai-cost-dash-") as tmp:
        workdir = Path(tmp)
        (workdir / "data.om").write_text(openmetrics)
        subprocess.run(
            [
                str(promtool),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(workdir / "data.om"),
                str(workdir / "data"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        (workdir / "prometheus.yml").write_text("global: {scrape_interval: 1h}\n")
        port = stack.free_port()
        url = f"http://127.0.0.1:{port}"
        args = [
            str(binary),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        with (workdir / "log").open("wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                stack.wait_for(lambda: stack.prom_api(url, "/api/v1/status/buildinfo"), 30, "prometheus")
                yield url
            finally:
                proc.terminate()
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def known_data() -> Iterator[tuple[str, int]]:
    import time

    t0 = int(time.time()) // STEP * STEP - 10 * STEP  # settled, and well inside the retention
    with _prometheus_with(_openmetrics(t0)) as url:
        yield url, t0


def _run(url: str, t0: int, q: PanelQuery | str, **values: str) -> list[dict[str, Any]]:
    expr = q if isinstance(q, str) else q.expr
    return stack.prom_query(
        url, substitute(expr, range_seconds=RANGE, rate_interval=RATE_INTERVAL, values=values), at=t0
    )


def _by(result: list[dict[str, Any]], labels: tuple[str, ...]) -> dict[tuple[str, ...], float]:
    return {tuple(s["metric"].get(label, "") for label in labels): float(s["value"][1]) for s in result}


def _query(title: str) -> PanelQuery:
    """The first query of the one panel with this title."""
    matches = [q for q in iter_queries() if q.panel == title]
    assert len({(q.dashboard, q.panel) for q in matches}) == 1, title
    return matches[0]


def test_every_query_returns_series_with_its_labels(known_data: tuple[str, int]) -> None:
    url, t0 = known_data
    empty = []
    for q in iter_queries():
        if "genai_cost:" in q.expr:  # recording rules: the rules have not run over backfilled data
            continue
        result = _run(url, t0, q)
        if not result:
            empty.append(q.panel)
        for series in result:
            for label in q.labels:
                # Untagged calls have no feature_name; every other grouping label must be set.
                assert label == n.FEATURE or series["metric"].get(label), (q.panel, label, series)
            value = float(series["value"][1])
            if q.measure in ("usd", "tokens", "calls"):
                assert value >= 0, (q.panel, series)
            if q.measure == "ratio":
                assert 0 <= value <= 1, (q.panel, series)
    # Only the per-user panel is empty: user.id is on metrics only after the opt-in.
    assert empty == ["Cost by user (top 10, USD per hour)"]


def test_totals_match_the_calls(known_data: tuple[str, int]) -> None:
    url, t0 = known_data
    cost = sum(c.cost or 0 for c in IN_RANGE)
    tokens = sum(c.input_tokens + c.output_tokens for c in IN_RANGE)
    assert len(IN_RANGE) == 12 and cost == pytest.approx(0.0651)

    def single(title: str, **values: str) -> float:
        (series,) = _run(url, t0, _query(title), **values)
        return float(series["value"][1])

    assert single("Cost in range") == pytest.approx(cost, rel=1e-9)
    assert single("Cost today") == pytest.approx(cost, rel=1e-9)
    assert single("Requests in range") == 12
    assert single("Tokens in range") == tokens
    assert single("Success rate") == pytest.approx(10 / 12)
    assert single("Unpriced calls") == 1
    assert single("Partially priced calls") == 1  # its cost still counts in every total above
    # Month to date + the last day's pace (all 25 calls are within a day) for the rest of the month.
    assert single("Projected this month") > cost
    # The variables filter: one provider, one feature, an unknown service.
    assert single("Cost in range", provider="openai") == pytest.approx(0.015)
    assert single("Cost in range", feature="resume") == pytest.approx(0.05)
    assert _run(url, t0, _query("Cost in range"), service="other") == []


def test_breakdowns_match_the_calls(known_data: tuple[str, int]) -> None:
    url, t0 = known_data

    def by(title: str) -> dict[tuple[str, ...], float]:
        q = _query(title)
        return _by(_run(url, t0, q), q.labels)

    assert by("Cost by provider") == pytest.approx(
        {("openai",): 0.015, ("anthropic",): 0.05, ("groq",): 0.0001}
    )
    assert by("Cost by feature") == pytest.approx({("chat",): 0.0121, ("resume",): 0.05, ("",): 0.003})
    top = by("Top 10 expensive operations")
    assert max(top, key=top.__getitem__) == ("chat", "anthropic", "claude-sonnet-4", "resume")
    assert by("Failed calls in range") == {("groq", "RateLimitError"): 2}
    assert by("Unpriced calls by model") == {("openai", "ft:custom"): 1}
    assert by("Streamed calls in range by model") == {("anthropic", "claude-sonnet-4"): 1}
    mean = by("Mean latency by model in range")
    assert mean[("anthropic", "claude-sonnet-4")] == pytest.approx(2.0)
    # gpt-4o-mini's chat series: 40 of every 100 input tokens from the cache. Series born inside the
    # hour (claude, groq, ft:custom, the untagged call) have no rate yet: left out, not NaN.
    assert by("Prompt cache hit rate by model") == pytest.approx({("gpt-4o-mini",): 0.4}, rel=1e-9)
    ttfc = _run(url, t0, _query("Time to first chunk in range"))
    assert 0.16 <= float(ttfc[0]["value"][1]) <= 0.32  # 0.3 s lies in the (0.16, 0.32] bucket


def test_variable_queries_list_the_labels(known_data: tuple[str, int]) -> None:
    url, t0 = known_data
    for var in iter_variable_queries():
        result = _run(url, t0, f"count by ({var.label}) ({var.series})")
        values = {s["metric"].get(var.label, "") for s in result}
        assert values - {""}, var
