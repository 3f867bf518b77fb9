"""The one instrumentation core: span lifecycle, timing, metrics, errors, sync and async.

Provider adapters describe a call as data (a ``CallSpec``) and know how to read usage from a response
or a stream; everything else lives here once. The original SDK call runs exactly once, outside every
telemetry ``try``: its result and its exceptions reach the app unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from genai_cost import semconv as sc
from genai_cost._internal import log_internal_error, logger
from genai_cost.config import Settings
from genai_cost.context import current_tags
from genai_cost.metrics import SCOPE_NAME, Instruments, create_instruments
from genai_cost.processor import apply_cost
from genai_cost.usage import Usage
from genai_cost.version import __version__

_METRIC_TAG_KEYS = (sc.FEATURE_NAME,)
_METRIC_USER_TAG_KEYS = (sc.FEATURE_NAME, sc.USER_ID, sc.SESSION_ID)


class StreamState(Protocol):
    """Per-stream accumulator supplied by an adapter. Keeps counts and ids, never text.

    ``process`` sees each chunk as it passes while the state is ``watching`` (a state without the
    attribute always is). Once it is not, chunks pass by untouched and ``process`` is given the last
    few (``streams.TAIL_CHUNKS``) when the stream ends, before ``result``: a state stops watching
    once it has what only the first chunks carry, unless it must hide a chunk or count text.
    """

    def process(self, chunk: Any) -> bool:
        """Look at one chunk; return False to hide it from the app (a usage chunk we asked for)."""
        ...

    def result(self) -> tuple[Usage | None, dict[str, Any]]:
        """Usage (None if the provider sent none) and response attributes, at stream end."""
        ...


@dataclass(slots=True)
class CallSpec:
    """What an adapter says about one call before it is made."""

    operation: str
    provider: str
    request_model: str | None
    attributes: dict[str, Any]  # request attributes, semconv names
    server_address: str | None = None
    server_port: int | None = None
    stream: bool = False
    raw: bool = False  # with_raw_response / with_streaming_response: the app parses later
    read_response: Callable[[Any], tuple[Usage | None, dict[str, Any]]] | None = None
    new_stream_state: Callable[[CallSpec], StreamState] | None = None
    asked_for_usage: bool = False  # we added a stream-usage option the app did not ask for
    # Set only when the user opted in to estimating streams that report no usage.
    estimated_input_tokens: int | None = None
    # False for calls that cost nothing (count_tokens): usage goes on the span as a pre-estimate,
    # but not into the token metric nor the price.
    billable: bool = True
    # Filled by the adapter when it changed the call (e.g. asked for stream usage).
    args: tuple[Any, ...] | None = None
    kwargs: dict[str, Any] | None = None
    client: Any = None  # the SDK client making the call, for adapters that honour its options
    # Called with the span once started, before the SDK call (e.g. to send the span's trace context).
    on_start: Callable[[trace.Span], None] | None = None


RATE_LIMIT_ERROR_TYPE = "RateLimitError"


def _is_rate_limit(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    return status == 429 or RATE_LIMIT_ERROR_TYPE in type(exc).__name__


def _error_type(exc: BaseException) -> str:
    """The exception's class name; a 429 raised as a generic class (google-genai's ClientError) is
    reported as RateLimitError, so rate limits count the same for every provider in metrics."""
    name = type(exc).__qualname__
    if RATE_LIMIT_ERROR_TYPE not in name and _is_rate_limit(exc):
        return RATE_LIMIT_ERROR_TYPE
    return name


@dataclass(slots=True)
class Telemetry:
    """What every wrapper closes over: tracer, instruments and settings."""

    tracer: Tracer
    instruments: Instruments
    settings: Settings
    _tag_keys: tuple[str, ...] = field(default=_METRIC_TAG_KEYS)

    def __post_init__(self) -> None:
        if self.settings.metric_user_attributes:
            self._tag_keys = _METRIC_USER_TAG_KEYS

    def start(self, spec: CallSpec, ctx: otel_context.Context | None = None) -> Invocation:
        """Start the span. ``ctx`` is the current context when the caller has it already."""
        if ctx is None:
            ctx = otel_context.get_current()
        model = spec.request_model
        metric_attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: spec.operation,
            sc.GEN_AI_PROVIDER_NAME: spec.provider,
        }
        if model:
            metric_attrs[sc.GEN_AI_REQUEST_MODEL] = model
        if spec.server_address:
            metric_attrs[sc.SERVER_ADDRESS] = spec.server_address
        attributes = spec.attributes
        attributes.update(metric_attrs)
        if spec.server_port and spec.server_address:
            attributes[sc.SERVER_PORT] = spec.server_port
        tags = current_tags(ctx)
        if tags:
            attributes.update(tags)
            for key in self._tag_keys:
                value = tags.get(key)
                if value is not None:
                    metric_attrs[key] = value
        name = f"{spec.operation} {model}" if model else spec.operation
        span = self.tracer.start_span(name, ctx, SpanKind.CLIENT, attributes)
        if spec.on_start is not None:
            try:
                spec.on_start(span)
            except Exception:
                log_internal_error("preparing a call")
        return Invocation(self, spec, span, metric_attrs, ctx)


class Invocation:
    """One call in flight. ``finish`` runs exactly once, however the call ends."""

    __slots__ = (
        "_done",
        "_first_chunk",
        "_metric_attrs",
        "_start",
        "_wall_start",
        "parent",
        "span",
        "spec",
        "telemetry",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        spec: CallSpec,
        span: trace.Span,
        metric_attrs: dict[str, Any],
        parent: otel_context.Context | None = None,
    ):
        self.telemetry = telemetry
        self.parent = parent  # the context the call was made in
        self.spec = spec
        self.span = span
        self._metric_attrs = metric_attrs
        self._done = False
        self._first_chunk: float | None = None
        self._wall_start = time.time()
        self._start = time.perf_counter()

    def first_chunk(self) -> None:
        if self._first_chunk is None:
            self._first_chunk = time.perf_counter() - self._start

    def finish(
        self,
        usage: Usage | None,
        attributes: Mapping[str, Any] | None = None,
        error: BaseException | None = None,
        incomplete: bool = False,
    ) -> None:
        """End the call: span attributes, metrics and price. A dict given as ``attributes`` is
        extended in place (adapters build a fresh one per call)."""
        if self._done:
            return
        self._done = True
        try:
            self._record(usage, attributes, error, incomplete)
        except Exception:
            log_internal_error("finishing a span")
        finally:
            self.span.end()

    def _record(
        self,
        usage: Usage | None,
        attributes: Mapping[str, Any] | None,
        error: BaseException | None,
        incomplete: bool,
    ) -> None:
        telemetry = self.telemetry
        instruments = telemetry.instruments
        spec = self.spec
        metric_attrs = self._metric_attrs
        # Span attributes are gathered here and set once: one lock and one validation pass. The
        # adapter's dict is fresh for each call, so it is added to, not copied.
        out: dict[str, Any] = attributes if type(attributes) is dict else dict(attributes or ())
        response_model = out.get(sc.GEN_AI_RESPONSE_MODEL)
        if response_model:
            metric_attrs[sc.GEN_AI_RESPONSE_MODEL] = response_model
        if error is not None:
            error_type = _error_type(error)
            metric_attrs[sc.ERROR_TYPE] = error_type
            out[sc.ERROR_TYPE] = error_type
            if _is_rate_limit(error):
                out[sc.GENAI_COST_RATE_LIMITED] = True
            self.span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
        instruments.duration.record(time.perf_counter() - self._start, metric_attrs)
        if self._first_chunk is not None:
            instruments.time_to_first_chunk.record(self._first_chunk, metric_attrs)
            out[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self._first_chunk
        if incomplete:
            out[sc.GENAI_COST_STREAM_INCOMPLETE] = True
        if usage is None or usage.empty:
            if (spec.stream or spec.raw) and error is None:
                # The provider sent no usage: leave the token numbers out (never a silent zero).
                out[sc.GENAI_COST_USAGE_MISSING] = True
        else:
            usage.put_attributes(out)
            if spec.billable:
                if usage.input_tokens is not None:
                    instruments.token_usage.record(
                        usage.input_tokens, {**metric_attrs, sc.GEN_AI_TOKEN_TYPE: "input"}
                    )
                if usage.output_tokens is not None:
                    instruments.token_usage.record(
                        usage.output_tokens, {**metric_attrs, sc.GEN_AI_TOKEN_TYPE: "output"}
                    )
                if telemetry.settings.cost_enabled:
                    # The same function prices other instrumentations' spans in the processor.
                    apply_cost(
                        out,
                        instruments,
                        metric_attrs,
                        spec.provider,
                        response_model or spec.request_model,
                        usage,
                        self._wall_start,
                    )
        if out:
            self.span.set_attributes(out)  # a no-op on a span the sampler dropped


class Adapter(Protocol):
    """A provider adapter: turns an intercepted SDK call into a ``CallSpec`` (or None: not ours)."""

    def describe(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallSpec | None: ...

    def is_stream(self, result: Any) -> bool: ...


ResultHandler = Callable[[Invocation, Any], Any]

try:  # the keys behind is_instrumentation_enabled(), read from a context we already hold
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN

    def _suppressed(ctx: otel_context.Context) -> bool:
        return bool(ctx.get(_SUPPRESS_INSTRUMENTATION_KEY) or ctx.get(_SUPPRESS_INSTRUMENTATION_KEY_PLAIN))

except ImportError:  # pragma: no cover - an OpenTelemetry that moved them

    def _suppressed(ctx: otel_context.Context) -> bool:
        return not is_instrumentation_enabled()


def make_wrappers(
    adapter: Adapter,
    telemetry: Telemetry,
    on_result: ResultHandler,
    on_async_result: ResultHandler,
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Build the sync and async wrapt wrappers for one adapter.

    ``on_result`` turns what the SDK returned into what the app gets (the same object, with a stream
    or raw response instrumented in place) and finishes the span when the call is complete.
    """
    describe, start = adapter.describe, telemetry.start
    get_current, attach, detach = otel_context.get_current, otel_context.attach, otel_context.detach
    in_context = trace.set_span_in_context

    def _begin(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Invocation | None:
        ctx = get_current()
        if _suppressed(ctx):
            return None
        try:
            spec = describe(instance, args, kwargs)
            return None if spec is None else start(spec, ctx)
        except Exception:
            log_internal_error("starting a span")
            return None

    def sync_wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        invocation = _begin(instance, args, kwargs)
        if invocation is None:
            return wrapped(*args, **kwargs)
        spec = invocation.spec
        if spec.args is not None:
            args = spec.args
        if spec.kwargs is not None:
            kwargs = spec.kwargs
        token = attach(in_context(invocation.span, invocation.parent))
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            invocation.finish(None, error=exc)
            raise
        finally:
            detach(token)
        try:
            return on_result(invocation, result)
        except Exception:
            log_internal_error("reading a response")
            invocation.finish(None)
            return result

    async def async_wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        invocation = _begin(instance, args, kwargs)
        if invocation is None:
            return await wrapped(*args, **kwargs)
        spec = invocation.spec
        if spec.args is not None:
            args = spec.args
        if spec.kwargs is not None:
            kwargs = spec.kwargs
        token = attach(in_context(invocation.span, invocation.parent))
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            invocation.finish(None, error=exc)
            raise
        finally:
            detach(token)
        try:
            return on_async_result(invocation, result)
        except Exception:
            log_internal_error("reading a response")
            invocation.finish(None)
            return result

    return sync_wrapper, async_wrapper


def make_telemetry(
    settings: Settings,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: Any = None,
) -> Telemetry:
    tracer = trace.get_tracer(SCOPE_NAME, __version__, tracer_provider)
    logger.debug("genai-cost telemetry created (settings=%s)", settings)
    return Telemetry(tracer, create_instruments(meter_provider), settings)
