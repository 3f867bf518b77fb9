"""The README's Budgets commands, run verbatim on a small app against the fake provider server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()

APP = textwrap.dedent(
    """
    import openai
    import genai_cost
    from genai_cost import feature

    client = openai.OpenAI(max_retries=0)  # OPENAI_BASE_URL, OPENAI_API_KEY
    messages = [{"role": "user", "content": "Write one interview question about caching"}]
    with feature("interview", user_id="ann"):
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=300)
        try:  # could spend 2M tokens: more than ann's 1M a month, so it is never sent
            client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=2_000_000)
        except genai_cost.BudgetExceeded as exc:
            print("refused:", exc.budget, exc.scope, exc.unit)
    """
)


def _budgets_block() -> str:
    section = README.split("## Budgets", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "no bash block in the README's Budgets section"
    return match.group(1)


def test_the_readme_budget_commands_work_as_written(tmp_path: Path, fake_server: Any) -> None:
    (tmp_path / "app.py").write_text(APP)
    script = _budgets_block()
    assert "opentelemetry-instrument python app.py" in script
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "OPENAI_BASE_URL": fake_server.openai_base_url,
        "OPENAI_API_KEY": "sk-test",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    env.pop("OTEL_INSTRUMENTATION_GENAI_COST_BUDGETS_FILE", None)
    done = subprocess.run(
        [
            "bash",
            "-euo",
            "pipefail",
            "-c",
            script + "\ngenai-cost budgets --file budgets.yaml --format json\n",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "refused: per-user-tokens ann tokens" in done.stdout
    assert len(fake_server.ledger) == 1  # the refused call was never sent
    billed = fake_server.ledger[0].normalized()
    rows = json.loads(done.stdout[done.stdout.index("[\n") :])
    ann = next(r for r in rows if r["budget"] == "per-user-tokens" and r["scope"] == "ann")
    assert ann["spent"] == billed.input_tokens + billed.output_tokens  # type: ignore[operator]
    assert (tmp_path / "data" / "genai-cost" / "budgets.db").exists()  # beside the usage store
