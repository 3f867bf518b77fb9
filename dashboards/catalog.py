"""Every dashboard we ship, in the order the README lists them."""

from __future__ import annotations

from typing import Final

from dashboards import breakdown, budgets, overview, reliability
from dashboards.spec import Dashboard

DASHBOARDS: Final[tuple[Dashboard, ...]] = (
    overview.DASHBOARD,
    breakdown.DASHBOARD,
    reliability.DASHBOARD,
    budgets.DASHBOARD,
)
