"""The ``genai_cost`` traces exporter: the switch that turns the usage store on.

Registered for ``OTEL_TRACES_EXPORTER`` as ``genai_cost`` (usable beside ``otlp``). Creating it starts
a ``StoreWriter`` and registers it as a ``records`` sink: every call genai-cost instruments reaches
the store from there, whatever the trace sampler keeps. Spans of our own instrumentation are therefore
skipped here (they would be written twice); the GenAI spans of other instrumentations that follow the
conventions are written from here, as they are exported (so only the sampled ones).

It never raises into the app: a failed batch is logged under the ``genai_cost`` logger and reported
as FAILURE (a bug of ours goes through ``log_internal_error``, so tests see it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from genai_cost._internal import log_internal_error
from genai_cost.config import Settings
from genai_cost.metrics import SCOPE_NAME
from genai_cost.store.db import UsageRow, resolve_db
from genai_cost.store.rows import call_row
from genai_cost.store.targets import target_for
from genai_cost.store.writer import StoreWriter


def span_to_row(span: ReadableSpan) -> UsageRow | None:
    """The store row of a GenAI span (exported, so sampled), or None for any other span."""
    if span.context is None or span.start_time is None:
        return None
    return call_row(
        dict(span.attributes or {}),  # a plain dict: lookups on the SDK's mapping proxy cost 3x
        start_ns=span.start_time,
        end_ns=span.end_time,
        trace_id=span.context.trace_id,
        span_id=span.context.span_id,
        error=span.status.status_code is StatusCode.ERROR,
        service_name=_service_name(span),
    )


def _service_name(span: ReadableSpan) -> str | None:
    value = span.resource.attributes.get(SERVICE_NAME) if span.resource else None
    return None if value is None else str(value)


def _ours(span: ReadableSpan) -> bool:
    scope = span.instrumentation_scope
    return scope is not None and scope.name == SCOPE_NAME


class LocalStoreSpanExporter(SpanExporter):
    """Turns the store on for every call genai-cost instruments, and writes other GenAI spans.

    ``path`` (a SQLite file, or a ``postgresql://`` URL) defaults to
    ``$OTEL_INSTRUMENTATION_GENAI_COST_DB``, else a file in the user's data directory. The store is
    opened on the first write, and reopened after a fork.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, settings: Settings | None = None
    ) -> None:
        settings = settings if settings is not None else Settings.from_env()
        target = target_for(resolve_db(path if path is not None else settings.db_path))
        self.path = target.where  # as it may be shown: a PostgreSQL URL without its password
        self.writer = StoreWriter(target, limit=settings.store_buffer)
        self.writer.start()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            rows = []
            for span in spans:
                try:
                    row = None if _ours(span) else span_to_row(span)
                except Exception:  # one odd span must not cost the rest of the batch
                    log_internal_error("the local store exporter, reading a span")
                    continue
                if row is not None:
                    rows.append(row)
            # Written, or kept to retry while the store is down; the writer logs what happened.
            if rows and not self.writer.write_rows(rows):
                return SpanExportResult.FAILURE
            return SpanExportResult.SUCCESS
        except Exception:
            log_internal_error("the local store exporter")
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.writer.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.writer.flush(timeout_millis / 1000)
