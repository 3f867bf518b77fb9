"""genai-cost: LLM cost monitoring on OpenTelemetry.

Public API only; everything else is internal and may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genai_cost.context import current_tags, feature, with_current_context
from genai_cost.version import __version__

if TYPE_CHECKING:
    from genai_cost.processor import CostSpanProcessor

__all__ = ["CostSpanProcessor", "__version__", "current_tags", "feature", "with_current_context"]


def __getattr__(name: str) -> Any:
    # The processor pulls in pricing; keep `import genai_cost` light.
    if name == "CostSpanProcessor":
        from genai_cost.processor import CostSpanProcessor

        return CostSpanProcessor
    raise AttributeError(f"module 'genai_cost' has no attribute {name!r}")
