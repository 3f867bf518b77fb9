"""A span exporter that keeps one row per GenAI span in the local SQLite store.

Registered for ``OTEL_TRACES_EXPORTER`` as ``genai_cost`` (usable beside ``otlp``). The SDK puts it
behind a BatchSpanProcessor, so writing happens off the request path, one transaction per batch.
It never raises into the app: a failed batch is logged under the ``genai_cost`` logger and
reported as FAILURE (a bug of ours goes through ``log_internal_error``, so tests see it).
A store written by a newer genai-cost is logged once and never written to.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.semconv.attributes.error_attributes import ErrorTypeValues
from opentelemetry.trace import StatusCode

from genai_cost import semconv as sc
from genai_cost._internal import log_internal_error
from genai_cost.store.db import UsageRow, UsageStore, resolve_db_path
from genai_cost.store.errors import NewerStoreError, StoreError
from genai_cost.usage import Usage

logger = logging.getLogger(__name__)

# Attributes that are ours or the conventions'; every other attribute on a GenAI span is an app tag.
_NOT_TAG_PREFIXES = ("gen_ai.", "genai_cost.", "server.", "error.")
_NOT_TAG_KEYS = frozenset({sc.FEATURE_NAME, sc.USER_ID, sc.SESSION_ID, *sc.COMPAT_ATTRIBUTES})
# error.type values that mean a rate limit, when our flag is absent (other instrumentations' spans):
# the same definition the recording rules and dashboards use.
_RATE_LIMITED = re.compile(sc.RATE_LIMITED_ERROR_TYPES)
_LOCK_RETRIES = 6  # with the busy timeout per attempt, far longer than any writer holds the lock


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _format_ns(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{rest // 1000:06d}Z"


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _tags(attrs: Mapping[str, Any]) -> str | None:
    tags = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in attrs.items()
        if key not in _NOT_TAG_KEYS and not key.startswith(_NOT_TAG_PREFIXES)
    }
    return json.dumps(tags, sort_keys=True, separators=(",", ":")) if tags else None


def span_to_row(span: ReadableSpan) -> UsageRow | None:
    """The store row of a GenAI span, or None for any other span."""
    attrs = dict(span.attributes or {})  # a plain dict: lookups on the SDK's mapping proxy cost 3x
    operation = attrs.get(sc.GEN_AI_OPERATION_NAME)
    if operation is None or span.context is None or span.start_time is None:
        return None
    if attrs.get(sc.GENAI_COST_NOT_SENT):
        return None  # the SDK rejected the call before sending it: not a provider request
    usage = Usage.from_attributes(attrs)
    error_type = _str(attrs.get(sc.ERROR_TYPE))
    if error_type is None and span.status.status_code is StatusCode.ERROR:
        error_type = ErrorTypeValues.OTHER.value
    finish = attrs.get(sc.GEN_AI_RESPONSE_FINISH_REASONS)
    ttfc = _float(attrs.get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK))
    cost = _float(attrs.get(sc.GEN_AI_USAGE_COST_AMOUNT))
    return UsageRow(
        start_time=_format_ns(span.start_time),
        duration_s=(span.end_time - span.start_time) / 1e9 if span.end_time is not None else None,
        trace_id=f"{span.context.trace_id:032x}",
        span_id=f"{span.context.span_id:016x}",
        operation=str(operation),
        service_name=_str(span.resource.attributes.get(SERVICE_NAME)) if span.resource else None,
        provider=_str(attrs.get(sc.GEN_AI_PROVIDER_NAME)),
        request_model=_str(attrs.get(sc.GEN_AI_REQUEST_MODEL)),
        response_model=_str(attrs.get(sc.GEN_AI_RESPONSE_MODEL)),
        server_address=_str(attrs.get(sc.SERVER_ADDRESS)),
        feature=_str(attrs.get(sc.FEATURE_NAME)),
        user_id=_str(attrs.get(sc.USER_ID)),
        session_id=_str(attrs.get(sc.SESSION_ID)),
        tags=_tags(attrs),
        cost=cost,
        currency=_str(attrs.get(sc.GEN_AI_USAGE_COST_CURRENCY)),
        cost_source=_str(attrs.get(sc.GEN_AI_USAGE_COST_SOURCE)),
        cost_input=_float(attrs.get(sc.GENAI_COST_INPUT_AMOUNT)),
        cost_output=_float(attrs.get(sc.GENAI_COST_OUTPUT_AMOUNT)),
        cost_cache_read=_float(attrs.get(sc.GENAI_COST_CACHE_READ_AMOUNT)),
        cost_cache_write=_float(attrs.get(sc.GENAI_COST_CACHE_WRITE_AMOUNT)),
        unpriced=bool(attrs.get(sc.GENAI_COST_UNPRICED)),
        usage_missing=bool(attrs.get(sc.GENAI_COST_USAGE_MISSING)),
        error_type=error_type,
        rate_limited=bool(attrs.get(sc.GENAI_COST_RATE_LIMITED))
        or (error_type is not None and _RATE_LIMITED.fullmatch(error_type) is not None),
        streaming=bool(attrs.get(sc.GEN_AI_REQUEST_STREAM)) or ttfc is not None,
        time_to_first_chunk_s=ttfc,
        response_id=_str(attrs.get(sc.GEN_AI_RESPONSE_ID)),
        finish_reasons=json.dumps([str(r) for r in finish]) if isinstance(finish, (list, tuple)) else None,
        price_version=_str(attrs.get(sc.GENAI_COST_PRICE_VERSION)),
        priced_at=_format_ns(span.end_time) if cost is not None and span.end_time is not None else None,
        usage=usage,
    )


class LocalStoreSpanExporter(SpanExporter):
    """Writes each batch of GenAI spans to the store in one transaction; other spans are ignored.

    ``path`` defaults to ``$OTEL_INSTRUMENTATION_GENAI_COST_DB``, else the user's data directory.
    The file is opened on the first batch that holds a GenAI span, and reopened after a fork.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(resolve_db_path(path))
        self._lock = threading.Lock()
        self._store: UsageStore | None = None
        self._pid: int | None = None
        self._refused = False
        self._closed = False

    def _open(self) -> UsageStore:
        pid = os.getpid()
        if self._store is None or self._pid != pid:
            # A connection inherited through fork must not be used (or closed) by the child.
            self._store = UsageStore.open(self.path)
            self._pid = pid
        return self._store

    def _rows(self, spans: Sequence[ReadableSpan]) -> list[UsageRow]:
        rows = []
        for span in spans:
            try:
                row = span_to_row(span)
            except Exception:  # one odd span must not cost the rest of the batch
                log_internal_error("the local store exporter, reading a span")
                continue
            if row is not None:
                rows.append(row)
        return rows

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            rows = self._rows(spans)
            if not rows:
                return SpanExportResult.SUCCESS
            with self._lock:
                if self._refused or self._closed:
                    return SpanExportResult.FAILURE
                try:
                    self._insert(rows)
                except NewerStoreError as exc:
                    self._refused = True
                    logger.error("genai_cost: %s; not writing GenAI usage to it (the app is unaffected)", exc)
                    return SpanExportResult.FAILURE
                except BaseException:
                    self._drop_connection()  # start afresh on the next batch
                    raise
            return SpanExportResult.SUCCESS
        except (sqlite3.Error, OSError, StoreError) as exc:  # the file, the disk or the lock: not our bug
            logger.warning(
                "genai_cost: could not write %d span%s to the local store %s: %s (the app is unaffected)",
                len(spans),
                "" if len(spans) == 1 else "s",
                self.path,
                exc,
            )
            return SpanExportResult.FAILURE
        except Exception:
            log_internal_error("the local store exporter")
            return SpanExportResult.FAILURE

    def _insert(self, rows: list[UsageRow]) -> None:
        """Insert one batch, retrying while another process holds the lock past the busy timeout
        (or SQLite answers "locked" at once, as it can while a new file is set up): a batch is not
        dropped for being unlucky."""
        for attempt in range(_LOCK_RETRIES):
            try:
                self._open().insert(rows)
                return
            except (sqlite3.OperationalError, StoreError) as exc:
                if attempt == _LOCK_RETRIES - 1 or not _is_lock_error(exc):
                    raise
                self._drop_connection()
                time.sleep(0.05 * 2**attempt)

    def _drop_connection(self) -> None:
        store, self._store = self._store, None
        if store is not None and self._pid == os.getpid():
            try:
                store.close()
            except Exception:
                logger.debug("genai_cost: closing the local store failed", exc_info=True)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            self._drop_connection()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        # Every export commits before it returns; nothing is buffered here.
        return True
