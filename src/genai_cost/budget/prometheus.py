"""The Prometheus budget rules (``prometheus/budgets.yml``), made from the budgets file.

The alert rules and the Budgets dashboard read two recorded series, ``genai_cost:budget_daily_usd``
and ``genai_cost:budget_monthly_usd``, without ``feature_name`` for the overall budget and with it
for a feature's. A budget becomes one of them when the metrics can follow it: USD, a day (the
rules burn over the last 24 hours), ``rolling: 24h`` or a UTC month, counted globally, and matching
nothing or one feature by name. Any other budget (tokens, per user, a model match, ...) is enforced
by the guard only, and the file says so in a comment, so the two never disagree silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from genai_cost.budget.spec import USD, Budget

GROUP = "genai_cost_budgets"
_DAILY = "genai_cost:budget_daily_usd"
_MONTHLY = "genai_cost:budget_monthly_usd"
_HEADER = """\
# genai-cost budgets in USD for Prometheus (compared with the cost series whose
# gen_ai_usage_cost_currency is USD), generated from {source} by
#   genai-cost budgets --prometheus --file {source}
# Edit the budgets file, not this one, then regenerate and reload Prometheus. The guard enforces the
# same file before each call; these rules drive the burn alerts (80, 90, 100 %, in
# prometheus/rules/genai_cost_alerts.yml) and the Budgets dashboard.
groups:
  - name: {group}
    interval: 1m
    rules:
"""


def _record(budget: Budget) -> tuple[str, str | None] | str:
    """(series, feature or None), or why the budget has no Prometheus form."""
    if budget.unit != USD:
        return "counts tokens (the rules count USD)"
    if budget.per != "global":
        return f"counted per {budget.per}"
    window = budget.window
    if window.kind == "day" or (window.kind == "rolling" and window.seconds == 86400):
        series = _DAILY
    elif window.kind == "month" and window.timezone == "UTC":
        series = _MONTHLY
    else:
        return f"window {window.label} (the rules know a day and a UTC month)"
    feature = None
    for key, patterns in budget.match:
        if key != "feature":
            return f"matches calls by {key} (the rules know features)"
        if len(patterns) != 1 or any(ch in patterns[0] for ch in "*?["):
            return "matches more than one feature"
        feature = patterns[0]
    return series, feature


def rules_yaml(budgets: Sequence[Budget], source: str) -> str:
    lines = [_HEADER.format(source=source, group=GROUP)]
    skipped: list[str] = []
    kept: dict[tuple[str, str | None], Budget] = {}  # one series per window and feature: the lowest limit
    for budget in budgets:
        found = _record(budget)
        if isinstance(found, str):
            skipped.append(f"#   {budget.name}: {found}")
            continue
        other = kept.get(found)
        if other is not None and other.limit <= budget.limit:
            skipped.append(f"#   {budget.name}: {other.name} has the same window and a lower limit")
            continue
        if other is not None:
            skipped.append(f"#   {other.name}: {budget.name} has the same window and a lower limit")
        kept[found] = budget
    for (series, feature), budget in kept.items():
        lines.append(f"      # {budget.name} ({budget.where.rpartition('/')[2]})\n")
        lines.append(f"      - record: {series}\n        expr: vector({budget.limit:g})\n")
        if feature is not None:
            lines.append(f"        labels:\n          feature_name: {json.dumps(feature)}\n")
    if skipped:
        lines.append("# Enforced by the guard only (no Prometheus form):\n" + "\n".join(skipped) + "\n")
    return "".join(lines)
