"""``genai-cost budgets``: each budget, its window, what it has spent, reserved and left; and with
``--prometheus``, the Prometheus budget rules made from the same file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from genai_cost import config


def add_budgets(sub: Any) -> None:
    parser = sub.add_parser(
        "budgets",
        help="each budget's window, spent, reserved and left (from the budget ledger)",
        description=(
            "Reads the budgets file (--file, else $" + config.BUDGETS_FILE + ") and the ledger the guard "
            "counts in (--ledger, else $" + config.BUDGETS_LEDGER + ", else budgets.db beside the usage "
            "store). A budget counted per user, feature, ... has one line per key seen in its window. "
            "A malformed file ends with its file:line: field error (exit code 2)."
        ),
    )
    parser.add_argument("-f", "--file", metavar="PATH", help="the budgets file (YAML or JSON)")
    parser.add_argument(
        "--ledger", metavar="PATH|URL", help="the budget ledger: a SQLite file or a postgresql:// URL"
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="print the Prometheus budget rules made from the file (prometheus/budgets.yml) instead",
    )
    parser.set_defaults(func=run_budgets)


def run_budgets(args: argparse.Namespace) -> int:
    from genai_cost.budget import report
    from genai_cost.budget.errors import BudgetFileError
    from genai_cost.budget.setup import default_ledger_path, open_ledger
    from genai_cost.budget.spec import load_budgets
    from genai_cost.cli import UsageError

    settings = config.Settings.from_env()
    path = args.file or settings.budgets_file
    if not path:
        raise UsageError(f"no budgets file: pass --file or set {config.BUDGETS_FILE}")
    try:
        budgets = load_budgets(path)
    except BudgetFileError as exc:
        raise UsageError(str(exc)) from None
    if args.prometheus:
        from genai_cost.budget.prometheus import rules_yaml

        sys.stdout.write(rules_yaml(budgets, str(path)))
        return 0
    ledger = open_ledger(args.ledger or default_ledger_path(settings))
    try:
        rows = report.budget_rows(budgets, ledger)
    finally:
        ledger.close()
    sys.stdout.write((report.to_json(rows) if args.format == "json" else report.to_table(rows)) + "\n")
    return 0
