"""The budget guard's two errors: a call refused by a budget, and a budgets file that cannot be used."""

from __future__ import annotations

from genai_cost.pricing.located import LocatedError


class BudgetExceeded(Exception):
    """Raised from the SDK call, before any request is sent, when a budget would go over its limit.

    ``budget`` and ``scope`` name the budget and the key it was counted under (a user id for
    ``per: user``; "" for a global budget); ``limit``, ``spent`` and ``reserved`` are in the budget's
    unit (``unit``: "USD" or "tokens"), as is ``estimate``, the call's worst-case cost. ``estimate`` is
    None when the call could not be priced (a model with no known price under a USD budget).
    The message quotes no prompt and no secret.
    """

    def __init__(
        self,
        budget: str,
        scope: str,
        limit: float,
        spent: float,
        reserved: float,
        estimate: float | None,
        unit: str,
        reason: str = "",
    ) -> None:
        self.budget = budget
        self.scope = scope
        self.limit = limit
        self.spent = spent
        self.reserved = reserved
        self.estimate = estimate
        self.unit = unit
        self.reason = reason
        where = f"budget {budget!r}" + (f" for {scope!r}" if scope else "")
        if estimate is None:
            text = f"{where}: {reason or 'the call cannot be priced'}; refused (limit {limit:g} {unit})"
        else:
            text = (
                f"{where}: this call (up to {estimate:.6g} {unit}) would go over the limit of {limit:g} "
                f"{unit} ({spent:.6g} spent, {reserved:.6g} reserved by calls in flight)"
            )
        super().__init__(text)

    def __reduce__(self) -> tuple[object, ...]:  # picklable across processes (multiprocessing pools)
        return (
            type(self),
            (
                self.budget,
                self.scope,
                self.limit,
                self.spent,
                self.reserved,
                self.estimate,
                self.unit,
                self.reason,
            ),
        )


class BudgetFileError(LocatedError):
    """A malformed budgets file (or budgets given in code). ``file:line: field: problem``."""
