"""Turning budgets on: from the environment (the budgets file, at instrument time) or from code.

    import genai_cost
    genai_cost.configure_budgets([{"name": "daily", "limit_usd": 20, "window": "day"}])

The ledger is a SQLite file beside the usage store (``budgets.db`` in the directory of
OTEL_INSTRUMENTATION_GENAI_COST_DB, or of the default store), shared by every process on the machine
that uses the same path; OTEL_INSTRUMENTATION_GENAI_COST_BUDGETS_LEDGER names another file, or a
``postgresql://`` URL for a ledger shared by several machines (pg_ledger.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from genai_cost.budget import state
from genai_cost.budget.errors import BudgetFileError
from genai_cost.budget.guard import Guard
from genai_cost.budget.ledger import RESERVATION_TTL, Ledger, SQLiteLedger
from genai_cost.budget.spec import Budget, budgets_from_code, load_budgets
from genai_cost.config import BUDGETS_FILE, Settings

logger = logging.getLogger("genai_cost")
LEDGER_FILE = "budgets.db"
_lock = threading.Lock()
_from_env: str | None = None  # the file the current guard was loaded from (None: code or nothing)


def default_ledger_path(settings: Settings) -> str | Path:
    """Where the settings say the ledger is: a file path, or a PostgreSQL URL."""
    if settings.budgets_ledger:
        if is_postgres_url(settings.budgets_ledger):
            return settings.budgets_ledger
        return Path(settings.budgets_ledger).expanduser()
    from genai_cost.store.db import resolve_db_path

    return resolve_db_path(settings.db_path).parent / LEDGER_FILE


def is_postgres_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_ledger(location: str | Path) -> Ledger:
    """The ledger at ``location``: a SQLite file, or a PostgreSQL database for a ``postgresql://`` URL."""
    if is_postgres_url(location):
        from genai_cost.budget.pg_ledger import PostgresLedger

        return PostgresLedger(str(location))
    return SQLiteLedger(location)


def configure_budgets(
    budgets: Sequence[Budget | Mapping[str, Any]] | str | Path,
    *,
    ledger: str | Path | Ledger | None = None,
    ttl: float = RESERVATION_TTL,
) -> Guard | None:
    """Enforce ``budgets`` (a list in the file's schema, or a budgets file) from now on, replacing
    any configured before; an empty list turns the guard off. Raises BudgetFileError."""
    global _from_env
    parsed = load_budgets(budgets) if isinstance(budgets, (str, Path)) else budgets_from_code(budgets)
    guard = None
    if parsed:
        if ledger is None or isinstance(ledger, (str, Path)):
            ledger = open_ledger(ledger if ledger is not None else default_ledger_path(Settings.from_env()))
        guard = Guard(parsed, ledger, ttl=ttl)
    with _lock:
        state.guard, _from_env = guard, None
    return guard


def from_settings(settings: Settings) -> None:
    """Load the budgets file the settings name, once per process (every instrumentor calls this).

    A file that cannot be read is logged as one ``file:line: field: problem`` line and refuses every
    call until it is fixed (see guard.py)."""
    global _from_env
    path = settings.budgets_file
    if not path:
        return
    with _lock:
        if _from_env == path:
            return
        ledger = open_ledger(default_ledger_path(settings))
        try:
            guard = Guard(load_budgets(path), ledger)
        except BudgetFileError as exc:
            logger.error(
                "genai-cost: %s; every GenAI call is refused until the budgets file (%s) is fixed",
                exc,
                BUDGETS_FILE,
            )
            guard = Guard((), ledger, broken=str(exc))
        state.guard, _from_env = guard, path


def clear() -> None:
    """Turn the guard off (tests)."""
    global _from_env
    with _lock:
        state.guard, _from_env = None, None
