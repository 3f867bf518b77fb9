"""The metric instruments, created once per meter provider with explicit bucket advice."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.metrics import (
    CallbackOptions,
    Counter,
    Histogram,
    Meter,
    MeterProvider,
    Observation,
    get_meter,
    get_meter_provider,
)

from genai_cost import semconv as sc
from genai_cost.version import __version__

SCOPE_NAME = "genai_cost"


class Totals:
    """A counter kept as sums in a dict and reported by an observable counter when metrics are
    collected. On the hot path an ``add`` is a dict update: an SDK ``Counter.add`` runs some 40 times
    more bytecodes (attribute set, aggregation, locks), too much for a count most calls carry."""

    __slots__ = ("_lock", "_sums")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: dict[frozenset[tuple[str, Any]], int] = {}

    def add(self, amount: int, attributes: Mapping[str, Any]) -> None:
        key = frozenset(attributes.items())
        with self._lock:
            self._sums[key] = self._sums.get(key, 0) + amount

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            sums = list(self._sums.items())
        return [Observation(total, dict(key)) for key, total in sums]


class Instruments:
    """Histograms of the GenAI conventions plus our cost histogram and unpriced counter."""

    __slots__ = (
        "budget_blocked",
        "budget_remaining",
        "cache_read",
        "cost",
        "duration",
        "time_to_first_chunk",
        "token_usage",
        "unpriced",
    )

    def __init__(self, meter: Meter) -> None:
        self.token_usage: Histogram = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE,
            unit=sc.UNIT_TOKEN,
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(sc.TOKEN_BUCKETS),
        )
        self.duration: Histogram = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION,
            unit=sc.UNIT_SECONDS,
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.time_to_first_chunk: Histogram = meter.create_histogram(
            sc.METRIC_TIME_TO_FIRST_CHUNK,
            unit=sc.UNIT_SECONDS,
            description="Time from the request to the first streamed chunk.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.cost: Histogram = meter.create_histogram(
            sc.METRIC_COST,
            unit=sc.UNIT_COST,
            description="Monetary cost of a single GenAI inference operation.",
            explicit_bucket_boundaries_advisory=list(sc.COST_BUCKETS),
        )
        self.cache_read = Totals()
        meter.create_observable_counter(
            sc.METRIC_CACHE_READ_TOKENS,
            callbacks=[self.cache_read.observe],
            unit=sc.UNIT_TOKEN,
            description="Input tokens served from a prompt cache (part of the input tokens).",
        )
        self.unpriced: Counter = meter.create_counter(
            sc.METRIC_UNPRICED,
            unit=sc.UNIT_CALL,
            description="GenAI calls that used tokens but whose model has no known price.",
        )
        self.budget_blocked: Counter = meter.create_counter(
            sc.METRIC_BUDGET_BLOCKED,
            unit=sc.UNIT_CALL,
            description="GenAI calls refused by a budget before they were sent.",
        )
        # A synchronous gauge (its class is not public API yet).
        self.budget_remaining: Any = meter.create_gauge(
            sc.METRIC_BUDGET_REMAINING,
            unit=sc.UNIT_BUDGET,
            description="What a budget has left in its window (USD or tokens), as of its last call.",
        )


_instruments: weakref.WeakKeyDictionary[MeterProvider, Instruments] = weakref.WeakKeyDictionary()
_instruments_lock = threading.Lock()


def create_instruments(meter_provider: MeterProvider | None = None) -> Instruments:
    """The instruments of a meter provider (the global one when None), made once: the core and the
    cost span processor share them. An observable counter registered twice would keep only the first
    callback, losing whatever the second ``Totals`` counted."""
    provider = meter_provider if meter_provider is not None else get_meter_provider()
    with _instruments_lock:
        found = _instruments.get(provider)
        if found is None:
            found = _instruments[provider] = Instruments(get_meter(SCOPE_NAME, __version__, provider))
        return found
