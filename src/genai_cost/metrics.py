"""The metric instruments, created once per meter provider with explicit bucket advice."""

from __future__ import annotations

from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider, get_meter

from genai_cost import semconv as sc
from genai_cost.version import __version__

SCOPE_NAME = "genai_cost"


class Instruments:
    """Histograms of the GenAI conventions plus our cost histogram and unpriced counter."""

    __slots__ = ("cost", "duration", "time_to_first_chunk", "token_usage", "unpriced")

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
        self.unpriced: Counter = meter.create_counter(
            sc.METRIC_UNPRICED,
            unit=sc.UNIT_CALL,
            description="GenAI calls that used tokens but whose model has no known price.",
        )


def create_instruments(meter_provider: MeterProvider | None = None) -> Instruments:
    return Instruments(get_meter(SCOPE_NAME, __version__, meter_provider))
