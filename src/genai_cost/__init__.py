"""genai-cost: LLM cost monitoring on OpenTelemetry.

Public API only; everything else is internal and may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genai_cost.version import __version__

if TYPE_CHECKING:
    from genai_cost.budget.errors import BudgetExceeded
    from genai_cost.budget.setup import configure_budgets
    from genai_cost.budget.spec import Budget
    from genai_cost.context import current_tags, feature, with_current_context
    from genai_cost.processor import CostSpanProcessor

__all__ = [
    "Budget",
    "BudgetExceeded",
    "CostSpanProcessor",
    "__version__",
    "configure_budgets",
    "current_tags",
    "feature",
    "with_current_context",
]

# Imported on first use: `genai-cost report` and the store need no OpenTelemetry, and the processor
# pulls in pricing.
_LAZY = {
    "feature": "genai_cost.context",
    "current_tags": "genai_cost.context",
    "with_current_context": "genai_cost.context",
    "CostSpanProcessor": "genai_cost.processor",
    "BudgetExceeded": "genai_cost.budget.errors",
    "Budget": "genai_cost.budget.spec",
    "configure_budgets": "genai_cost.budget.setup",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'genai_cost' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value
