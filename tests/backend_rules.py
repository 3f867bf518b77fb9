"""How other backends read cost and usage off an OTLP span: their public ingestion rules, re-stated.

Each function takes a span's attributes as the backend receives them (OTLP values: str, int, float,
bool) and returns what that backend would show. Field names and precedence follow the sources linked;
re-stated, not copied. Used by tests/test_compat.py to check that each compatibility family makes the
backend show exactly our cost.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# --- Langfuse ---------------------------------------------------------------------------------------
# https://github.com/langfuse/langfuse/blob/62751446149b702b419a9292ddfc2280cdf74b8c/packages/shared/src/server/otel/OtelIngestionProcessor.ts
#   extractCostDetails: langfuse.observation.cost_details (a JSON object), else gen_ai.usage.cost -> total,
#   else llm.cost.total -> total. extractUsageDetails: langfuse.observation.usage_details (a JSON object),
#   else (for scopes without a rule of their own) extractGenericGenAiUsageDetails.
# https://github.com/langfuse/langfuse/blob/62751446149b702b419a9292ddfc2280cdf74b8c/worker/src/services/IngestionService/index.ts
#   calculateUsageCosts: any provided cost key -> no cost is computed; total = provided total, else
#   input + output when those are the only keys.

_LF_INPUT = ("prompt_tokens", "input_tokens", "prompt")
_LF_OUTPUT = ("completion_tokens", "output_tokens", "completion")
_LF_TOTAL = ("total_tokens", "total")
_LF_CACHE_READ = (
    "cache_read.input_tokens",
    "cache_read_input_tokens",
    "cache_read_tokens",
    "details.cache_read_tokens",
    "details.cache_read_input_tokens",
    "prompt_details.cache_read",
    "input_cached_tokens",
)
_LF_CACHE_WRITE = (
    "cache_creation.input_tokens",
    "cache_creation_input_tokens",
    "cache_write_tokens",
    "details.cache_write_tokens",
    "details.cache_creation_input_tokens",
    "prompt_details.cache_write",
    "input_cache_creation",
)
_LF_REASONING = ("reasoning.output_tokens", "completion_details.reasoning")
_LF_AUDIO_OUT = ("completion_details.audio",)
_LF_CONSUMED = (
    *_LF_INPUT,
    *_LF_OUTPUT,
    *_LF_TOTAL,
    *_LF_CACHE_READ,
    *_LF_CACHE_WRITE,
    *_LF_REASONING,
    *_LF_AUDIO_OUT,
)


@dataclass
class LangfuseObservation:
    usage_details: dict[str, Any]
    cost_details: dict[str, Any]
    total_cost: float | None  # None: Langfuse computes it from usage_details and its own prices


def _json_object(attrs: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    raw = attrs.get(key)
    if not raw:
        return None
    if not isinstance(raw, str):
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else {}


def _first(raw: Mapping[str, float], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        if key in raw:
            return raw[key]
    return None


def _number(value: Any) -> float:
    # JavaScript's Number(): numbers as they are, numeric strings parsed, anything else NaN.
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip() or "0")
    except ValueError:
        return math.nan


def langfuse_generic_usage(attrs: Mapping[str, Any]) -> dict[str, float]:
    """extractGenericGenAiUsageDetails: every gen_ai.usage.* key but gen_ai.usage.cost, and every
    llm.token_count.* key, prefix removed, as a usage type; known aliases folded into
    input/output/cache types."""
    raw: dict[str, float] = {}
    for key, value in attrs.items():
        if (key.startswith("gen_ai.usage.") and key != "gen_ai.usage.cost") or key.startswith(
            "llm.token_count."
        ):
            name = key.replace("gen_ai.usage.", "", 1).replace("llm.token_count.", "", 1)
            number = _number(value)
            if not math.isnan(number):
                raw[name] = number
    inputs, outputs, total = _first(raw, _LF_INPUT), _first(raw, _LF_OUTPUT), _first(raw, _LF_TOTAL)
    cache_read, cache_write = _first(raw, _LF_CACHE_READ), _first(raw, _LF_CACHE_WRITE)
    reasoning, audio_out = _first(raw, _LF_REASONING), _first(raw, _LF_AUDIO_OUT)
    usage = {
        (key[len("details.") :] if key.startswith("details.") else key): value
        for key, value in raw.items()
        if key not in _LF_CONSUMED
    }
    if inputs is not None:
        usage["input"] = max(inputs - (cache_read or 0) - (cache_write or 0), 0)
    if outputs is not None:
        usage["output"] = max(outputs - (reasoning or 0) - (audio_out or 0), 0)
    if total is not None:
        usage["total"] = total
    for name, value in (
        ("input_cached_tokens", cache_read),
        ("input_cache_creation", cache_write),
        ("output_reasoning_tokens", reasoning),
        ("output_audio_tokens", audio_out),
    ):
        if value is not None:
            usage[name] = value
    return usage


def langfuse(attrs: Mapping[str, Any]) -> LangfuseObservation:
    usage = _json_object(attrs, "langfuse.observation.usage_details")
    if usage is None:
        usage = langfuse_generic_usage(attrs)
    cost = _json_object(attrs, "langfuse.observation.cost_details")
    if cost is None:
        cost = {}
        for key in ("gen_ai.usage.cost", "llm.cost.total"):
            value = attrs.get(key)
            if value is not None and value != "":
                cost = {"total": value}
                break
    provided = [key for key, value in cost.items() if value is not None]
    total: float | None = None
    if provided:
        if cost.get("total") is not None:
            total = cost["total"]
        elif all(key in ("input", "output") for key in provided):
            total = (cost.get("input") or 0) + (cost.get("output") or 0)
    return LangfuseObservation(usage, cost, total)


# --- Logfire ------------------------------------------------------------------------------------------
# https://github.com/pydantic/logfire/blob/e484a6b53a0df3062d304ce258573e387cf3140a/docs/guides/web-ui/llms.md
# (Cost: `operation.cost` if set, else computed from tokens in the browser, not queryable) and
# docs/cookbook/track-llm-cost.md (SQL: SUM((attributes->'operation.cost')::numeric)).


def logfire(attrs: Mapping[str, Any]) -> float | None:
    """The cost Logfire's SQL, dashboards and alerts sum; None: only a browser-side estimate."""
    value = attrs.get("operation.cost")
    return None if value is None else float(value)


# --- OpenInference (Phoenix) -------------------------------------------------------------------------
# https://github.com/Arize-ai/openinference/blob/main/spec/semantic_conventions.md: llm.cost.total (USD),
# llm.cost.prompt / llm.cost.completion, prompt details input / cache_read / cache_write.


@dataclass
class OpenInferenceCost:
    total: float | None
    prompt: float | None
    completion: float | None


def openinference(attrs: Mapping[str, Any]) -> OpenInferenceCost:
    def get(key: str) -> float | None:
        value = attrs.get(key)
        return None if value is None else float(value)

    return OpenInferenceCost(get("llm.cost.total"), get("llm.cost.prompt"), get("llm.cost.completion"))


# --- OpenLIT ----------------------------------------------------------------------------------------------
# https://github.com/openlit/openlit (src/client dashboards over the ClickHouse exporter's otel_traces:
# SUM(toFloat64OrZero(SpanAttributes['gen_ai.usage.cost']))). The ClickHouse exporter stores every
# attribute as a string (the shortest decimal that reads back as the same double).


def openlit(attrs: Mapping[str, Any]) -> float:
    value = attrs.get("gen_ai.usage.cost")
    if value is None:
        return 0.0
    try:
        return float(repr(value) if isinstance(value, float) else str(value))
    except ValueError:
        return 0.0  # toFloat64OrZero
