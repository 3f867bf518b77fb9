"""Every call genai-cost instruments, as one record, for consumers that must see all of them.

Spans may be sampled; the usage store must not be (a 1% sampler would make the report 100x short).
So the instrumentation hands each finished call to the registered sinks, sampled or not, as it
records the metrics. A record carries exactly what the call's span carries (its attributes, times,
ids and error status), so a sink reads a record the way it would read the span.

Sinks are called on the thread that finished the call (the app's, or genai-cost's finisher for a
dropped stream): ``add`` must be quick and never block or raise (a bounded buffer written by a thread
of the sink's own is the usual shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from genai_cost._internal import log_internal_error


@dataclass(slots=True)  # read-only by convention: a frozen dataclass's __init__ costs 3x per call
class CallRecord:
    attributes: Mapping[str, Any]  # every attribute the call's span has (or would have, unsampled)
    start_ns: int  # unix time, nanoseconds
    end_ns: int
    trace_id: int
    span_id: int
    sampled: bool  # the span was recorded and exported: trace_id leads to it
    error: bool  # the span's status is ERROR
    service_name: str | None = None  # of the tracer provider's resource, when the core knows it


class CallSink(Protocol):
    def add(self, record: CallRecord) -> None: ...


sinks: list[CallSink] = []  # read on the hot path: an empty list costs one truth test


def add_sink(sink: CallSink) -> None:
    if sink not in sinks:
        sinks.append(sink)


def remove_sink(sink: CallSink) -> None:
    if sink in sinks:
        sinks.remove(sink)


def emit(record: CallRecord) -> None:
    for sink in list(sinks):
        try:
            sink.add(record)
        except Exception:
            log_internal_error("handing a call to a sink")
