"""The one instrumentation core: span lifecycle, timing, metrics, cost, errors, sync and async.

Provider adapters describe a call as data (``contract.Request``) and read responses into a
``ResponseInfo``; everything else lives here once. The original SDK call runs exactly once, outside
every telemetry ``try``: its result and its exceptions reach the app unchanged. Each call is priced
here, at its end, whether or not its span is sampled, so the token and cost metrics stay exact under
any trace sampler. Needs the OpenTelemetry API only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from genai_cost import records
from genai_cost import semconv as sc
from genai_cost._internal import log_internal_error, logger
from genai_cost._otel_compat import suppressed, tracer_service_name
from genai_cost.budget import state as budgets
from genai_cost.config import Settings
from genai_cost.context import current_tags
from genai_cost.instrumentation.contract import NO_REWRITE, Adapter, Request, ResponseInfo, Rewrite
from genai_cost.metrics import SCOPE_NAME, Instruments, create_instruments
from genai_cost.pricing.apply import apply_cost
from genai_cost.pricing.compat import compat_writer
from genai_cost.version import __version__

_METRIC_TAG_KEYS = (sc.FEATURE_NAME,)
_METRIC_USER_TAG_KEYS = (sc.FEATURE_NAME, sc.USER_ID, sc.SESSION_ID)
_INPUT = {sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_INPUT}
_OUTPUT = {sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT}


def _status_code(exc: BaseException) -> Any:
    return getattr(exc, "status_code", None) or getattr(exc, "code", None)


def error_type(exc: BaseException) -> str:
    """The exception's class name; a 429 raised as a generic class (google-genai's ClientError) is
    reported as RateLimitError, so rate limits count the same for every provider in metrics."""
    name = type(exc).__qualname__
    if sc.RATE_LIMIT_ERROR_TYPE not in name and _status_code(exc) == 429:
        return sc.RATE_LIMIT_ERROR_TYPE
    return name


class Telemetry:
    """What every wrapper closes over: tracer, instruments and settings."""

    __slots__ = ("_tag_keys", "compat", "instruments", "service_name", "settings", "tracer")

    def __init__(self, tracer: Tracer, instruments: Instruments, settings: Settings) -> None:
        self.tracer = tracer
        self.instruments = instruments
        self.settings = settings
        self.service_name = tracer_service_name(tracer)  # for the records (unsampled calls have no span)
        self._tag_keys = _METRIC_USER_TAG_KEYS if settings.metric_user_attributes else _METRIC_TAG_KEYS
        self.compat = compat_writer(settings.compat)  # None unless compatibility attributes are on

    def start(self, request: Request, rewrite: Rewrite, ctx: otel_context.Context) -> Invocation:
        """Start the span of a call made in ``ctx``."""
        model = request.model
        metric_attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: request.operation,
            sc.GEN_AI_PROVIDER_NAME: request.provider,
        }
        if model:
            metric_attrs[sc.GEN_AI_REQUEST_MODEL] = model
        if request.server_address:
            metric_attrs[sc.SERVER_ADDRESS] = request.server_address
        attributes = {**request.attributes, **metric_attrs}
        if request.server_port and request.server_address:
            attributes[sc.SERVER_PORT] = request.server_port
        tags = current_tags(ctx)
        if tags:
            attributes.update(tags)
            for key in self._tag_keys:
                value = tags.get(key)
                if value is not None:
                    metric_attrs[key] = value
        name = f"{request.operation} {model}" if model else request.operation
        span = self.tracer.start_span(name, ctx, SpanKind.CLIENT, attributes)
        invocation = Invocation(self, request, rewrite, span, metric_attrs, ctx, attributes)
        if rewrite.on_start is not None:
            try:
                rewrite.on_start(invocation)
            except Exception:
                log_internal_error("preparing a call")
        return invocation


class Invocation:
    """One call in flight. ``finish`` runs once, however the call ends.

    ``sent`` is False until an adapter that can tell (google-genai) has seen the request go out: a
    call that raises before that was rejected by the SDK itself and is not a provider request.
    """

    __slots__ = (
        "__weakref__",
        "_attributes",
        "_first_chunk",
        "_metric_attrs",
        "_start",
        "_wall_start_ns",
        "billed",
        "done",
        "parent",
        "request",
        "reservation",
        "rewrite",
        "sent",
        "span",
        "stated_cost",
        "telemetry",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        request: Request,
        rewrite: Rewrite,
        span: trace.Span,
        metric_attrs: dict[str, Any],
        parent: otel_context.Context,
        attributes: dict[str, Any] | None = None,
    ):
        self.telemetry = telemetry
        self._attributes = attributes  # the span's attributes at its start
        self.request = request
        self.rewrite = rewrite
        self.span = span
        self.parent = parent  # the context the call was made in
        self.done = False
        self.sent = True
        # What the provider billed, read from the response before the SDK parsed it for the app (a
        # ``.parse()`` call that then raises still counts its tokens).
        self.billed: ResponseInfo | None = None
        self.reservation: Any = None  # what the budget guard holds for this call (budget/guard.py)
        # The call's cost as a gateway stated it in a response header (stainless.COST_HEADERS), USD;
        # a cost stated in the response body (ResponseInfo.provider_cost) comes first.
        self.stated_cost: float | None = None
        self._metric_attrs = metric_attrs
        self._first_chunk: float | None = None
        self._wall_start_ns = time.time_ns()
        self._start = time.perf_counter()

    def first_chunk(self, now: float) -> None:
        """A chunk arrived at ``now`` (``time.perf_counter()``); the first one sets the time to it."""
        if self._first_chunk is None:
            self._first_chunk = now - self._start

    def provider_cost(self, info: ResponseInfo | None) -> float | None:
        """The cost the provider stated: in the response body, else in a gateway's header."""
        if info is not None and info.provider_cost is not None:
            return info.provider_cost
        return self.stated_cost

    def finish(
        self,
        info: ResponseInfo | None = None,
        error: BaseException | None = None,
        *,
        incomplete: bool = False,
        end: float | None = None,
    ) -> None:
        """End the call: span attributes, metrics and price, then the span.

        ``end`` is a ``time.perf_counter()`` reading when the call ended before now (a stream the app
        stopped using earlier). Never raises.
        """
        if self.done:
            return
        self.done = True
        duration = (time.perf_counter() if end is None else end) - self._start
        if self.reservation is not None:
            self.reservation.settle(self, info, error, incomplete)
        try:
            out = self._record(info, error, incomplete, duration)
            if records.sinks and out is not None:
                self._emit(out, self._wall_start_ns + int(duration * 1e9), error is not None)
        except Exception:
            log_internal_error("finishing a span")
        try:
            self.span.end(None if end is None else self._wall_start_ns + int(duration * 1e9))
        except Exception:  # a span processor of the app's that raised: not ours to re-raise
            logger.warning("genai-cost: a span processor raised while ending a span", exc_info=True)

    def _emit(self, out: dict[str, Any], end_ns: int, error: bool) -> None:
        """The call, sampled or not, to the sinks that need every call (the usage store)."""
        context = self.span.get_span_context()
        records.emit(
            records.CallRecord(
                {**(self._attributes or {}), **out},
                self._wall_start_ns,
                end_ns,
                context.trace_id,
                context.span_id,
                context.trace_flags.sampled,
                error,
                self.telemetry.service_name,
            )
        )

    def _record(
        self, info: ResponseInfo | None, error: BaseException | None, incomplete: bool, duration: float
    ) -> dict[str, Any] | None:
        """Metrics, price and span attributes; returns the attributes added at the end (None for a
        call that was never sent)."""
        request = self.request
        metric_attrs = self._metric_attrs
        out: dict[str, Any] = {}
        usage = None
        response_model = None
        if info is not None:
            usage = info.usage
            response_model = info.model
            if info.response_id:
                out[sc.GEN_AI_RESPONSE_ID] = info.response_id
            if response_model:
                out[sc.GEN_AI_RESPONSE_MODEL] = metric_attrs[sc.GEN_AI_RESPONSE_MODEL] = response_model
            if info.finish_reasons:
                out[sc.GEN_AI_RESPONSE_FINISH_REASONS] = info.finish_reasons
            if info.attributes:
                out.update(info.attributes)
        if error is not None:
            out[sc.ERROR_TYPE] = metric_attrs[sc.ERROR_TYPE] = error_type(error)
            if _status_code(error) == 429 or sc.RATE_LIMIT_ERROR_TYPE in type(error).__name__:
                out[sc.GENAI_COST_RATE_LIMITED] = True
            # No description: exception text can quote the prompt, the completion or an API key.
            self.span.set_status(Status(StatusCode.ERROR))
            if not self.sent:  # rejected by the SDK before any request: not a provider call
                out[sc.GENAI_COST_NOT_SENT] = True
                self.span.set_attributes(out)
                return None
        instruments = self.telemetry.instruments
        instruments.duration.record(duration, metric_attrs)
        if self._first_chunk is not None:
            instruments.time_to_first_chunk.record(self._first_chunk, metric_attrs)
            out[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self._first_chunk
        if incomplete:
            out[sc.GENAI_COST_STREAM_INCOMPLETE] = True
        if usage is None or usage.empty:
            if (request.stream or request.raw) and error is None:
                # The provider sent no usage: leave the token numbers out (never a silent zero).
                out[sc.GENAI_COST_USAGE_MISSING] = True
        else:
            usage.put_attributes(out)
            if request.billable:
                if usage.input_tokens is not None:
                    instruments.token_usage.record(usage.input_tokens, {**metric_attrs, **_INPUT})
                    if usage.cache_read_tokens:  # for the cache hit rate (a rate of 0 needs no points)
                        instruments.cache_read.add(usage.cache_read_tokens, metric_attrs)
                if usage.output_tokens is not None:
                    instruments.token_usage.record(usage.output_tokens, {**metric_attrs, **_OUTPUT})
                if self.telemetry.settings.cost_enabled:
                    apply_cost(
                        out,
                        instruments,
                        metric_attrs,
                        request.provider,
                        response_model or request.model,
                        usage,
                        self._wall_start_ns / 1e9,
                        self.telemetry.compat,
                        request_model=request.model,
                        provider_cost=self.provider_cost(info),
                    )
        if out:
            self.span.set_attributes(out)  # a no-op on a span the sampler dropped
        return out


# The call in flight in this context (set while the SDK method runs), for adapter hooks that run
# inside the SDK call: a request about to be sent, a response about to be parsed.
_current: ContextVar[Invocation | None] = ContextVar("genai_cost_invocation", default=None)


def current_invocation() -> Invocation | None:
    return _current.get()


@contextmanager
def running(invocation: Invocation) -> Iterator[None]:
    """Make ``invocation`` the current one while SDK code that belongs to it runs later (a raw
    response's ``.parse()``)."""
    token = _current.set(invocation)
    try:
        yield
    finally:
        _current.reset(token)


def make_wrappers(adapter: Adapter, telemetry: Telemetry) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Build the sync and async wrapt wrappers for one adapter."""
    describe, prepare, start = adapter.describe, adapter.prepare, telemetry.start
    get_current, attach, detach = otel_context.get_current, otel_context.attach, otel_context.detach
    in_context = trace.set_span_in_context

    def _begin(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Invocation | None:
        ctx = get_current()
        if suppressed(ctx):
            return None
        try:
            request = describe(instance, args, kwargs)
            if request is None:
                return None
            rewrite = prepare(request, instance, args, kwargs) or NO_REWRITE
            invocation = start(request, rewrite, ctx)
        except Exception:
            log_internal_error("starting a span")
            return None
        if budgets.guard is not None and request.billable:
            budgets.guard.check(invocation, args, kwargs)  # raises BudgetExceeded: nothing is sent
        return invocation

    def _failed(invocation: Invocation, exc: BaseException) -> None:
        try:
            info = adapter.on_error(invocation, exc)
        except Exception:
            log_internal_error("reading a failed call")
            info = None
        invocation.finish(info, exc)

    def _done(invocation: Invocation, result: Any, on_result: Callable[[Invocation, Any], Any]) -> Any:
        try:
            return on_result(invocation, result)
        except Exception:
            log_internal_error("reading a response")
            invocation.finish()
            return result

    def sync_wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        invocation = _begin(instance, args, kwargs)
        if invocation is None:
            return wrapped(*args, **kwargs)
        rewrite = invocation.rewrite
        token = attach(in_context(invocation.span, invocation.parent))
        current = _current.set(invocation)
        try:
            result = wrapped(
                *(args if rewrite.args is None else rewrite.args),
                **(kwargs if rewrite.kwargs is None else rewrite.kwargs),
            )
        except BaseException as exc:
            _failed(invocation, exc)
            raise
        finally:
            _current.reset(current)
            detach(token)
        return _done(invocation, result, adapter.on_result)

    async def async_wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        invocation = _begin(instance, args, kwargs)
        if invocation is None:
            return await wrapped(*args, **kwargs)
        rewrite = invocation.rewrite
        token = attach(in_context(invocation.span, invocation.parent))
        current = _current.set(invocation)
        try:
            result = await wrapped(
                *(args if rewrite.args is None else rewrite.args),
                **(kwargs if rewrite.kwargs is None else rewrite.kwargs),
            )
        except BaseException as exc:
            _failed(invocation, exc)
            raise
        finally:
            _current.reset(current)
            detach(token)
        return _done(invocation, result, adapter.on_async_result)

    return sync_wrapper, async_wrapper


def make_telemetry(
    settings: Settings,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: Any = None,
) -> Telemetry:
    tracer = trace.get_tracer(SCOPE_NAME, __version__, tracer_provider)
    logger.debug("genai-cost telemetry created (settings=%s)", settings)
    return Telemetry(tracer, create_instruments(meter_provider), settings)
