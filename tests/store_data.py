"""GenAI spans for the store tests, made with the real OpenTelemetry SDK and carrying the attributes the
core sets (semconv names, Usage/Cost.to_attributes, feature tags). Expected totals are in the tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from genai_cost import semconv as sc
from genai_cost.store.exporter import LocalStoreSpanExporter
from genai_cost.usage import Cost, Usage

GROQ_MODEL = "llama-3.3-70b-versatile"
CLAUDE_MODEL = "claude-sonnet-4-5"


@dataclass
class Call:
    at: datetime
    duration_s: float
    provider: str
    model: str
    operation: str = sc.OP_CHAT
    feature: str | None = None
    user: str | None = None
    session: str | None = None
    usage: Usage | None = None
    cost: Cost | None = None
    unpriced: bool = False
    usage_missing: bool = False
    error: str | None = None
    rate_limited: bool = False
    ttfc_s: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


# Eight calls: interview sessions on Groq (one rate-limited), a streamed resume analysis on Claude with
# cache reads, a free count_tokens call, an unpriced fine-tune, and an October transcription.
CALLS: list[Call] = [
    Call(utc("2026-11-20T10:00:00"), 0.5, sc.PROVIDER_GROQ, GROQ_MODEL, feature="interview", user="u1",
         session="s1", usage=Usage(1000, 100), cost=Cost(0.001, input=0.0008, output=0.0002),
         tags={"tenant": "acme", "attempt": 1}),
    Call(utc("2026-11-20T10:01:00"), 1.5, sc.PROVIDER_GROQ, GROQ_MODEL, feature="interview", user="u1",
         session="s1", usage=Usage(2000, 200), cost=Cost(0.002, input=0.0016, output=0.0004)),
    Call(utc("2026-11-20T11:00:00"), 2.5, sc.PROVIDER_GROQ, GROQ_MODEL, feature="interview", user="u2",
         session="s2", usage=Usage(1000, 100), cost=Cost(0.001, input=0.0008, output=0.0002)),
    Call(utc("2026-11-20T11:05:00"), 0.25, sc.PROVIDER_GROQ, GROQ_MODEL, feature="interview", user="u2",
         session="s2", error="RateLimitError", rate_limited=True),
    Call(utc("2026-11-21T09:00:00"), 4.0, sc.PROVIDER_ANTHROPIC, CLAUDE_MODEL, feature="resume_analysis",
         user="u1", usage=Usage(3000, 1000, cache_read_tokens=2000),
         cost=Cost(0.024, input=0.003, output=0.015, cache_read=0.006), ttfc_s=0.5),
    Call(utc("2026-11-21T09:30:00"), 1.0, sc.PROVIDER_ANTHROPIC, CLAUDE_MODEL, operation=sc.OP_COUNT_TOKENS,
         feature="resume_analysis", user="u3", usage=Usage(3000)),
    Call(utc("2026-11-21T12:00:00"), 3.0, sc.PROVIDER_OPENAI, "ft:gpt-4o-mini:acme", usage=Usage(500, 50),
         unpriced=True),
    Call(utc("2026-10-15T12:00:00"), 1.0, sc.PROVIDER_GEMINI, "gemini-2.5-flash",
         operation=sc.OP_GENERATE_CONTENT, feature="transcription", user="u1",
         usage=Usage(10000, 500), cost=Cost(0.01, input=0.0075, output=0.0025)),
]  # fmt: skip


def attributes(call: Call) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: call.operation,
        sc.GEN_AI_PROVIDER_NAME: call.provider,
        sc.GEN_AI_REQUEST_MODEL: call.model,
        sc.SERVER_ADDRESS: f"api.{call.provider}.example",
        sc.SERVER_PORT: 443,
    }
    if call.error is None:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = call.model + "-2026"
        attrs[sc.GEN_AI_RESPONSE_ID] = f"resp-{ns(call.at)}"
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = ("stop",)
    for key, value in (
        (sc.FEATURE_NAME, call.feature),
        (sc.USER_ID, call.user),
        (sc.SESSION_ID, call.session),
    ):
        if value is not None:
            attrs[key] = value
    attrs.update(call.tags)
    if call.usage is not None:
        attrs.update(call.usage.to_attributes())
    if call.cost is not None:
        attrs.update(call.cost.to_attributes())
    if call.unpriced:
        attrs[sc.GENAI_COST_UNPRICED] = True
    if call.usage_missing:
        attrs[sc.GENAI_COST_USAGE_MISSING] = True
    if call.error is not None:
        attrs[sc.ERROR_TYPE] = call.error
    if call.rate_limited:
        attrs[sc.GENAI_COST_RATE_LIMITED] = True
    if call.ttfc_s is not None:
        attrs[sc.GEN_AI_REQUEST_STREAM] = True
        attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = call.ttfc_s
    return attrs


def emit(tracer: Tracer, call: Call) -> None:
    start = ns(call.at)
    span = tracer.start_span(
        f"{call.operation} {call.model}", kind=SpanKind.CLIENT, start_time=start, attributes=attributes(call)
    )
    if call.error is not None:
        span.set_status(Status(StatusCode.ERROR, call.error))
    span.end(end_time=start + round(call.duration_s * 1e9))


def record(path: str, calls: Iterable[Call], *, batch: bool = True, service: str = "interview-app") -> None:
    """Run the calls through a real TracerProvider with the store exporter, plus one non-GenAI span."""
    exporter = LocalStoreSpanExporter(path)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("store-tests")
    with tracer.start_as_current_span("GET /interview"):  # not a GenAI span: not stored
        for call in calls:
            emit(tracer, call)
    provider.shutdown()
