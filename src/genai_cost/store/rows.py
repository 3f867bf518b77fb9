"""A GenAI call as a store row: from a span's attributes, whether they come from a span or a record.

Our own instrumentation hands every call to the store as a ``records.CallRecord`` (sampled or not);
GenAI spans of other instrumentations reach it through the exporter. Both carry the same attributes,
so one function reads them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry.semconv.attributes.error_attributes import ErrorTypeValues

from genai_cost import semconv as sc
from genai_cost.store.db import UsageRow
from genai_cost.usage import Usage

# Attributes that are ours or the conventions'; every other attribute on a GenAI span is an app tag.
_NOT_TAG_PREFIXES = ("gen_ai.", "genai_cost.", "server.", "error.")
_NOT_TAG_KEYS = frozenset(
    {
        sc.FEATURE_NAME,
        sc.USER_ID,
        sc.SESSION_ID,
        *sc.COMPAT_ATTRIBUTES,
        # the served tier under OpenAI's semconv name: stored in its own column (service_tier)
        sc.OPENAI_RESPONSE_SERVICE_TIER,
    }
)
# error.type values that mean a rate limit, when our flag is absent (other instrumentations' spans):
# the same definition the recording rules and dashboards use.
_RATE_LIMITED = re.compile(sc.RATE_LIMITED_ERROR_TYPES)


_second: list[Any] = [None, ""]  # the last whole second formatted, and its text: calls come in order


def format_ns(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    last = _second
    if last[0] != seconds:
        last[1] = f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}"
        last[0] = seconds
    return f"{last[1]}.{rest // 1000:06d}Z"


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


_is_tag_memo: dict[str, bool] = {}  # attribute keys repeat from call to call


def _is_tag(key: str) -> bool:
    known = _is_tag_memo.get(key)
    if known is None:
        known = key not in _NOT_TAG_KEYS and not key.startswith(_NOT_TAG_PREFIXES)
        if len(_is_tag_memo) < 10_000:
            _is_tag_memo[key] = known
    return known


def _tags(attrs: Mapping[str, Any]) -> str | None:
    tags = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in attrs.items()
        if _is_tag(key)
    }
    return json.dumps(tags, sort_keys=True, separators=(",", ":")) if tags else None


def call_row(
    attrs: Mapping[str, Any],
    *,
    start_ns: int,
    end_ns: int | None,
    trace_id: int | None,
    span_id: int,
    error: bool,
    service_name: str | None,
) -> UsageRow | None:
    """The row of one GenAI call, or None for a span that is not one (or a call never sent).

    ``trace_id`` is None when the call's span was not sampled: its trace id would lead nowhere.
    """
    get = attrs.get
    operation = get(sc.GEN_AI_OPERATION_NAME)
    if operation is None:
        return None
    if get(sc.GENAI_COST_NOT_SENT):
        return None  # the SDK rejected the call before sending it: not a provider request
    error_type = _str(get(sc.ERROR_TYPE))
    if error_type is None and error:
        error_type = ErrorTypeValues.OTHER.value
    finish = get(sc.GEN_AI_RESPONSE_FINISH_REASONS)
    ttfc = _float(get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK))
    cost = _float(get(sc.GEN_AI_USAGE_COST_AMOUNT))
    return UsageRow(
        start_time=format_ns(start_ns),
        duration_s=(end_ns - start_ns) / 1e9 if end_ns is not None else None,
        trace_id=None if trace_id is None else f"{trace_id:032x}",
        span_id=f"{span_id:016x}",
        operation=str(operation),
        service_name=service_name,
        provider=_str(get(sc.GEN_AI_PROVIDER_NAME)),
        request_model=_str(get(sc.GEN_AI_REQUEST_MODEL)),
        response_model=_str(get(sc.GEN_AI_RESPONSE_MODEL)),
        server_address=_str(get(sc.SERVER_ADDRESS)),
        feature=_str(get(sc.FEATURE_NAME)),
        user_id=_str(get(sc.USER_ID)),
        session_id=_str(get(sc.SESSION_ID)),
        tags=_tags(attrs),
        cost=cost,
        currency=_str(get(sc.GEN_AI_USAGE_COST_CURRENCY)),
        cost_source=_str(get(sc.GEN_AI_USAGE_COST_SOURCE)),
        cost_input=_float(get(sc.GENAI_COST_INPUT_AMOUNT)),
        cost_output=_float(get(sc.GENAI_COST_OUTPUT_AMOUNT)),
        cost_cache_read=_float(get(sc.GENAI_COST_CACHE_READ_AMOUNT)),
        cost_cache_write=_float(get(sc.GENAI_COST_CACHE_WRITE_AMOUNT)),
        unpriced=bool(get(sc.GENAI_COST_UNPRICED)),
        usage_missing=bool(get(sc.GENAI_COST_USAGE_MISSING)),
        error_type=error_type,
        rate_limited=bool(get(sc.GENAI_COST_RATE_LIMITED))
        or (error_type is not None and _RATE_LIMITED.fullmatch(error_type) is not None),
        streaming=bool(get(sc.GEN_AI_REQUEST_STREAM)) or ttfc is not None,
        time_to_first_chunk_s=ttfc,
        response_id=_str(get(sc.GEN_AI_RESPONSE_ID)),
        finish_reasons=json.dumps([str(r) for r in finish]) if isinstance(finish, (list, tuple)) else None,
        price_version=_str(get(sc.GENAI_COST_PRICE_VERSION)),
        priced_at=format_ns(end_ns) if cost is not None and end_ns is not None else None,
        cost_tools=_float(get(sc.GENAI_COST_TOOLS_AMOUNT)),
        partial=bool(get(sc.GENAI_COST_PARTIAL)),
        partial_reason=_str(get(sc.GENAI_COST_PARTIAL_REASON)),
        usage=Usage.from_attributes(attrs),
    )
