"""The process's budget guard, read by the instrumentation core on every call: None when no budget
is configured, so the hot path pays one attribute read and nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genai_cost.budget.guard import Guard

guard: Guard | None = None
