"""Prometheus rules: `promtool check rules`, the `promtool test rules` unit tests, and the README's list.

promtool comes with Debian's prometheus package (collector/install-deps.sh); if it is missing these
tests fail saying so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parent.parent / "prometheus"
RULE_FILES = sorted([PROMETHEUS_DIR / "budgets.yml", *(PROMETHEUS_DIR / "rules").glob("*.yml")])
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*_test.yml"))


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is not installed: run collector/install-deps.sh (apt-get install prometheus)"
    return found


def _run(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_rule_files_exist() -> None:
    names = {p.name for p in RULE_FILES}
    assert {"budgets.yml", "genai_cost_recording.yml", "genai_cost_alerts.yml"} <= names
    assert len(RULE_TESTS) >= 3


def test_promtool_check_rules() -> None:
    proc = _run("check", "rules", *map(str, RULE_FILES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(RULE_FILES)


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.stem)
def test_promtool_rule_unit_tests(test_file: Path) -> None:
    proc = _run("test", "rules", test_file.name, cwd=test_file.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_the_daily_budget_test_covers_firing_and_silent() -> None:
    # The 100 % daily alert must be asserted both firing and not firing, or the test proves little.
    tests = yaml.safe_load((PROMETHEUS_DIR / "tests" / "daily_budget_test.yml").read_text())["tests"]
    cases = [
        case
        for test in tests
        for case in test["alert_rule_test"]
        if case["alertname"] == "GenAICostDailyBudget100Percent"
    ]
    assert any(case["exp_alerts"] for case in cases)
    assert any(not case["exp_alerts"] for case in cases)


def test_a_broken_rule_file_is_rejected(tmp_path: Path) -> None:
    # Proves the check above can fail.
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: g\n    rules:\n      - record: genai_cost:x\n        expr: sum(\n")
    assert _run("check", "rules", str(bad)).returncode != 0


def _rule_names(kind: str) -> set[str]:
    names = set()
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(rule[kind] for rule in group["rules"] if kind in rule)
    return names


def test_every_name_is_prefixed_and_documented() -> None:
    readme = (PROMETHEUS_DIR / "README.md").read_text()
    documented = set(re.findall(r"`(genai_cost:[a-z0-9_:]+)`", readme))
    recorded = _rule_names("record")
    assert all(name.startswith("genai_cost:") for name in recorded)
    assert recorded == documented
    for alert in _rule_names("alert"):
        assert alert.startswith("GenAICost")
        # Alerts are listed with their 80/90/100 siblings shortened, so match the stem.
        stem = re.sub(r"(80|90|100)Percent$", "", alert)
        assert stem in readme, f"{alert} is not in prometheus/README.md"
