"""What each budget has spent, reserved and left now: ``genai-cost budgets`` and its JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from genai_cost.budget.ledger import Claim, Ledger
from genai_cost.budget.spec import USD, Budget


@dataclass(frozen=True, slots=True)
class BudgetRow:
    budget: str
    scope: str  # "" for a global budget (or calls without the per: key)
    per: str
    window: str
    window_start: str | None  # UTC, ISO 8601 (None: total)
    window_end: str | None  # None: total or rolling
    unit: str
    limit: float
    spent: float
    reserved: float
    left: float
    action: str


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def budget_rows(budgets: Sequence[Budget], ledger: Ledger, now: float | None = None) -> list[BudgetRow]:
    """One row per budget and per key it has counted in its window (global budgets: one row)."""
    now = time.time() if now is None else now
    rows: list[BudgetRow] = []
    for budget in budgets:
        window = budget.window
        since = window.since(now)
        scopes = [""] if budget.per == "global" else ledger.scopes(budget.name, since, now) or [""]
        claims = [Claim(budget.name, scope, 0, since, budget.limit, 0.0, True) for scope in scopes]
        for level in ledger.levels(claims, now):
            rows.append(
                BudgetRow(
                    budget.name,
                    level.claim.scope,
                    budget.per,
                    window.label,
                    None if window.kind == "total" else _iso(window.start(now)),
                    _iso(window.end(now)),
                    budget.unit,
                    budget.limit,
                    level.spent,
                    level.reserved,
                    max(0.0, budget.limit - level.spent - level.reserved),
                    budget.action,
                )
            )
    return rows


def _amount(value: float, unit: str) -> str:
    return f"${value:,.4f}" if unit == USD else f"{value:,.0f} tok"


def to_table(rows: Sequence[BudgetRow]) -> str:
    header = ("budget", "per", "key", "window", "resets", "limit", "spent", "reserved", "left", "action")
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.budget,
                row.per,
                row.scope or "-",
                row.window,
                row.window_end or "-",
                _amount(row.limit, row.unit),
                _amount(row.spent, row.unit),
                _amount(row.reserved, row.unit),
                _amount(row.left, row.unit),
                row.action,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {5, 6, 7, 8}
    return "\n".join(
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )


def to_json(rows: Sequence[BudgetRow]) -> str:
    return json.dumps([asdict(row) for row in rows], indent=2)
