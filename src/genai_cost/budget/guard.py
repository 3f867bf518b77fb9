"""The check before a call is sent and the settlement after it ends.

``check`` runs in the instrumentation core once the call's span has started and before the SDK
sends anything: it finds the budgets that apply (``match``), the key each counts under (``per``),
the call's worst case in each budget's unit, and reserves it in the ledger in one atomic step. A
budget with ``action: raise`` that would go over refuses the call: its span ends with
``error.type=BudgetExceeded`` and the app gets ``BudgetExceeded`` from the SDK call. ``settle`` runs
when the call finishes (``Invocation.finish``), however it ends: the reservation becomes the exact
cost read from the response. A call that raised with no usage releases its reservation; one that
ended without usage the provider reported (a stream cut short, a stream without usage) keeps its
worst case, so a call that cannot be priced never counts as free.

Errors in this code are logged and let the call through (the app keeps working), except a budgets
file that could not be read: then every call is refused (``broken``), since a limit that silently
vanished would let spending run unchecked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from genai_cost import semconv as sc
from genai_cost._internal import log_internal_error
from genai_cost.budget import estimate
from genai_cost.budget.errors import BudgetExceeded
from genai_cost.budget.ledger import RESERVATION_TTL, Claim, Ledger, Level
from genai_cost.budget.spec import USD, Budget, value_key
from genai_cost.context import current_tags
from genai_cost.pricing.book import get_price_book
from genai_cost.usage import Usage

if TYPE_CHECKING:
    from genai_cost.instrumentation.contract import ResponseInfo
    from genai_cost.instrumentation.core import Invocation

logger = logging.getLogger("genai_cost")

# Budgets counted per one of these keep their key on the metrics (bounded cardinality).
_LOW_CARDINALITY = frozenset({"global", "feature", "model", "provider"})
_MAX_WARNED = 10_000


class Reservation:
    """What a call holds in the ledger until it finishes: one claim per budget that applies."""

    __slots__ = ("budgets", "claims", "guard", "ids", "model")

    def __init__(
        self,
        guard: Guard,
        budgets: tuple[Budget, ...],
        claims: tuple[Claim, ...],
        ids: tuple[int, ...],
        model: str | None,
    ) -> None:
        self.guard = guard  # the guard that reserved (budgets may be reconfigured meanwhile)
        self.budgets = budgets  # the budget of each claim
        self.claims = claims
        self.ids = ids
        self.model = model  # the requested model, priced when the response names none we know

    def settle(
        self, invocation: Invocation, info: ResponseInfo | None, error: BaseException | None, incomplete: bool
    ) -> None:
        self.guard.settle(invocation, info, error, incomplete)


class Guard:
    def __init__(
        self,
        budgets: Sequence[Budget],
        ledger: Ledger,
        *,
        ttl: float = RESERVATION_TTL,
        broken: str | None = None,
    ) -> None:
        self.budgets = tuple(budgets)
        self.ledger = ledger
        self.ttl = ttl
        self.broken = broken  # why every call is refused (an unreadable budgets file), or None
        self._warned: set[tuple[str, str, int]] = set()
        self._lock = threading.Lock()

    # --- before the call ------------------------------------------------------------------------

    def check(self, invocation: Invocation, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Reserve the call's worst case, or end its span and raise BudgetExceeded."""
        try:
            refusal = self._reserve(invocation, args, kwargs)
        except Exception:
            log_internal_error("checking budgets")
            return
        if refusal is not None:
            self._refuse(invocation, refusal)

    def _reserve(
        self, invocation: Invocation, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> BudgetExceeded | None:
        if self.broken is not None:
            return BudgetExceeded("(budgets file)", "", 0.0, 0.0, 0.0, None, USD, self.broken)
        request = invocation.request
        tags = current_tags(invocation.parent) or {}

        def values(name: str) -> Any:
            if name == "model":
                return request.model
            if name == "provider":
                return request.provider
            return tags.get(value_key(name))

        applicable = [budget for budget in self.budgets if budget.matches(values)]
        if not applicable:
            return None
        now = time.time()
        in_tokens = estimate.input_tokens(args, kwargs)
        prices: dict[int, float | None] = {}  # output allowance -> worst-case price
        claims: list[Claim] = []
        claimed: list[Budget] = []
        for budget in applicable:
            out_tokens = estimate.output_tokens(request, budget.default_max_output_tokens)
            usage = Usage(input_tokens=in_tokens, output_tokens=out_tokens)
            if budget.unit == USD:
                if out_tokens not in prices:
                    cost = get_price_book().price(request.provider, request.model, usage, now)
                    prices[out_tokens] = None if cost is None else cost.total
                price = prices[out_tokens]
                if price is None:
                    if budget.unpriced == "allow" or budget.action == "warn":  # warn never refuses
                        continue
                    scope = _scope(budget, values)
                    reason = f"no price is known for model {request.model!r} (provider {request.provider!r})"
                    return BudgetExceeded(budget.name, scope, budget.limit, 0.0, 0.0, None, USD, reason)
                amount = price
            else:
                amount = float(in_tokens + out_tokens)
            window = budget.window
            claimed.append(budget)
            claims.append(
                Claim(
                    budget.name,
                    _scope(budget, values),
                    window.bucket(now),
                    window.since(now),
                    budget.limit,
                    amount,
                    budget.action == "raise",
                )
            )
        if not claims:
            return None
        outcome = self.ledger.reserve(claims, now, self.ttl)
        if outcome.ids is not None:  # held now: set before anything else can fail
            invocation.reservation = Reservation(
                self, tuple(claimed), tuple(claims), outcome.ids, request.model
            )
        self._report(invocation, outcome.levels, claimed)
        if outcome.ids is None:
            level = next(level for level in outcome.levels if level.over and level.claim.hard)
            claim = level.claim
            unit = claimed[outcome.levels.index(level)].unit
            return BudgetExceeded(
                claim.budget, claim.scope, claim.limit, level.spent, level.reserved, claim.amount, unit
            )
        return None

    def _report(self, invocation: Invocation, levels: Sequence[Level], budgets: Sequence[Budget]) -> None:
        """The remaining gauge, and the once-per-window warning of ``action: warn`` budgets."""
        gauge = invocation.telemetry.instruments.budget_remaining
        warned: list[str] = []
        for level, budget in zip(levels, budgets, strict=True):
            claim = level.claim
            if budget.per in _LOW_CARDINALITY:
                attrs = {sc.GENAI_COST_BUDGET_NAME: claim.budget}
                if claim.scope:
                    attrs[sc.GENAI_COST_BUDGET_SCOPE] = claim.scope
                taken = claim.amount if level.claim.hard and not level.over else 0.0
                gauge.set(claim.limit - level.spent - level.reserved - taken, attrs)
            if level.over and not claim.hard:
                warned.append(claim.budget)
                if self._first_warning((claim.budget, claim.scope, claim.since)):
                    logger.warning(
                        "genai-cost: budget %r%s is over its limit of %g %s in this %s window "
                        "(action: warn, calls go on)",
                        claim.budget,
                        f" for {claim.scope!r}" if claim.scope else "",
                        claim.limit,
                        budget.unit,
                        budget.window.label,
                    )
        if warned:
            invocation.span.set_attribute(sc.GENAI_COST_BUDGET_WARNED, warned)

    def _first_warning(self, key: tuple[str, str, int]) -> bool:
        """True once per budget, key and window. Bounded: per-user windows come and go."""
        with self._lock:
            if key in self._warned:
                return False
            if len(self._warned) >= _MAX_WARNED:
                self._warned.clear()  # at worst a warning is logged again
            self._warned.add(key)
            return True

    def _refuse(self, invocation: Invocation, error: BudgetExceeded) -> None:
        try:
            request = invocation.request
            invocation.span.set_attribute(sc.GENAI_COST_BUDGET_NAME, error.budget)
            attrs = {sc.GENAI_COST_BUDGET_NAME: error.budget, sc.GEN_AI_PROVIDER_NAME: request.provider}
            if request.model:
                attrs[sc.GEN_AI_REQUEST_MODEL] = request.model
            invocation.telemetry.instruments.budget_blocked.add(1, attrs)
            invocation.sent = False  # no request is made: not a provider call
            invocation.finish(None, error)
        except Exception:
            log_internal_error("refusing a call")
        raise error

    # --- after the call -------------------------------------------------------------------------

    def settle(
        self, invocation: Invocation, info: ResponseInfo | None, error: BaseException | None, incomplete: bool
    ) -> None:
        """Turn the call's reservation into what it cost (see the module docstring for each case)."""
        reservation = invocation.reservation
        if reservation is None:
            return
        invocation.reservation = None
        try:
            request = invocation.request
            usage = info.usage if info is not None else None
            if (
                usage is not None
                and usage.input_tokens is not None
                and (usage.output_tokens is not None or not estimate.has_output(request))
                and not incomplete
            ):
                model = (info.model if info is not None else None) or reservation.model
                stated = invocation.provider_cost(info)  # what the call cost, as on its span
                amounts = [
                    _cost(budget, claim, request.provider, (model, reservation.model), usage, stated)
                    for budget, claim in zip(reservation.budgets, reservation.claims, strict=True)
                ]
            elif error is not None and not incomplete:
                amounts = [0.0] * len(reservation.claims)  # failed, nothing billed: released
            else:
                amounts = [claim.amount for claim in reservation.claims]  # no final count: the worst case
            self.ledger.settle(reservation.claims, reservation.ids, amounts)
        except Exception:
            log_internal_error("settling a budget reservation")


def _cost(
    budget: Budget,
    claim: Claim,
    provider: str,
    models: tuple[str | None, str | None],
    usage: Usage,
    stated: float | None = None,
) -> float:
    """A finished call's exact amount in the budget's unit (``stated``: the cost the provider stated);
    its worst case if it cannot be priced."""
    if budget.unit != USD:
        return float((usage.input_tokens or 0) + (usage.output_tokens or 0))
    if stated is not None:
        return stated
    # Priced by the response's model, else the requested one (as the call's span is).
    cost, _ = get_price_book().price_either(provider, *models, usage)
    return claim.amount if cost is None else cost.total


def _scope(budget: Budget, values: Any) -> str:
    if budget.per == "global":
        return ""
    value = values(budget.per)
    return "" if value is None else str(value)
