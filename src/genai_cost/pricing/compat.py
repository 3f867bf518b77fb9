"""Compatibility attributes: the one computed cost under the names other backends read.

Each backend that re-estimates a cost from tokens gets it wrong in its own way (cache tokens counted
twice, reasoning unpriced); given its own attribute it shows ours instead. One writer per family,
switched on by ``OTEL_INSTRUMENTATION_GENAI_COST_COMPAT`` (``Settings.compat``), run where the cost
attributes are written (``apply.py``), so our spans and the processor's get the same. Off, nothing runs.

- langfuse: ``langfuse.observation.cost_details`` (its first choice for cost) and
  ``langfuse.observation.usage_details`` (its first choice for usage: without it, its generic extractor
  turns every other ``gen_ai.usage.*`` key into a usage type, ``gen_ai.usage.cost.amount`` too), both
  JSON objects keyed by Langfuse's usage types. Output includes reasoning in both, as in our cost parts.
- logfire: ``operation.cost``.
- openinference: ``llm.cost.total``, ``llm.cost.prompt`` (with its input, cache read and cache write
  details) and ``llm.cost.completion``.
- openlit: ``gen_ai.usage.cost``.

A cost the provider stated (``Cost.stated``: OpenRouter's ``usage.cost``, a gateway's cost header) is the
bill, so every family shows that amount; it comes without parts, and none is made up: Langfuse's
cost_details gets its total only (usage_details as always), OpenInference ``llm.cost.total`` only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from genai_cost import semconv as sc
from genai_cost.usage import Cost, Usage

Writer = Callable[[dict[str, Any], Cost, Usage], None]


def _langfuse(out: dict[str, Any], cost: Cost, usage: Usage) -> None:
    tokens: dict[str, int] = {}
    # A stated cost has no parts: a zero part would be shown as a priced one.
    costs: dict[str, float] = (
        {} if cost.stated else {sc.LANGFUSE_INPUT: cost.input, sc.LANGFUSE_OUTPUT: cost.output}
    )
    cache_read = usage.cache_read_tokens or 0
    cache_write = usage.cache_creation_tokens or 0
    if usage.input_tokens is not None:
        tokens[sc.LANGFUSE_INPUT] = max(usage.input_tokens - cache_read - cache_write, 0)
    if usage.cache_read_tokens is not None:
        tokens[sc.LANGFUSE_CACHE_READ] = cache_read
        if not cost.stated:
            costs[sc.LANGFUSE_CACHE_READ] = cost.cache_read
    if usage.cache_creation_tokens is not None:
        tokens[sc.LANGFUSE_CACHE_WRITE] = cache_write
        if not cost.stated:
            costs[sc.LANGFUSE_CACHE_WRITE] = cost.cache_write
    if usage.output_tokens is not None:
        tokens[sc.LANGFUSE_OUTPUT] = usage.output_tokens
    costs[sc.LANGFUSE_TOTAL] = cost.total  # what Langfuse shows: taken as is, never re-added
    out[sc.LANGFUSE_COST_DETAILS] = json.dumps(costs)
    out[sc.LANGFUSE_USAGE_DETAILS] = json.dumps(tokens)


def _logfire(out: dict[str, Any], cost: Cost, usage: Usage) -> None:
    out[sc.LOGFIRE_OPERATION_COST] = cost.total


def _openinference(out: dict[str, Any], cost: Cost, usage: Usage) -> None:
    out[sc.OPENINFERENCE_COST_TOTAL] = cost.total
    if cost.stated:
        return  # no parts to show
    out[sc.OPENINFERENCE_COST_PROMPT] = cost.input + cost.cache_read + cost.cache_write
    out[sc.OPENINFERENCE_COST_PROMPT_INPUT] = cost.input
    out[sc.OPENINFERENCE_COST_PROMPT_CACHE_READ] = cost.cache_read
    out[sc.OPENINFERENCE_COST_PROMPT_CACHE_WRITE] = cost.cache_write
    out[sc.OPENINFERENCE_COST_COMPLETION] = cost.output


def _openlit(out: dict[str, Any], cost: Cost, usage: Usage) -> None:
    out[sc.OPENLIT_USAGE_COST] = cost.total


_WRITERS: dict[str, Writer] = {
    sc.COMPAT_LANGFUSE: _langfuse,
    sc.COMPAT_LOGFIRE: _logfire,
    sc.COMPAT_OPENINFERENCE: _openinference,
    sc.COMPAT_OPENLIT: _openlit,
}


def compat_writer(families: frozenset[str]) -> Writer | None:
    """One function writing every family in ``families``; None when there is none (the hot path then
    pays one ``is None`` test)."""
    writers = tuple(_WRITERS[name] for name in sc.COMPAT_FAMILIES if name in families)
    if not writers:
        return None
    if len(writers) == 1:
        return writers[0]

    def write_all(out: dict[str, Any], cost: Cost, usage: Usage) -> None:
        for write in writers:
            write(out, cost, usage)

    return write_all
