"""Streams end their span exactly once, however they stop.

Drained, SDK error mid-stream, ``close()``, ``break`` then dropped (the generator's GeneratorExit),
task cancellation: each path reaches ``Invocation.finish`` and ``finish`` is idempotent. The app keeps
the SDK's own stream object; we only swap the iterator it reads from, so ``isinstance``, attributes,
``with`` and the SDK's helpers (text_stream, get_final_message, ...) are untouched.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from genai_cost._internal import log_internal_error
from genai_cost.instrumentation.core import Invocation, StreamState


def _end(
    invocation: Invocation, state: StreamState, error: BaseException | None = None, incomplete: bool = False
) -> None:
    if invocation._done:
        return
    try:
        usage, attributes = state.result()
    except Exception:
        log_internal_error("reading stream usage")
        usage, attributes = None, None
    invocation.finish(usage, attributes, error=error, incomplete=incomplete)


def _process(state: StreamState, item: Any) -> bool:
    try:
        return state.process(item)
    except Exception:
        log_internal_error("reading a stream chunk")
        return True


def iterate(inner: Iterator[Any], invocation: Invocation, state: StreamState) -> Iterator[Any]:
    """Yield what ``inner`` yields (minus chunks the state hides), finishing the span at the end."""
    first = True
    try:
        for item in inner:
            if first:
                invocation.first_chunk()
                first = False
            if state.process(item):
                yield item
    except GeneratorExit:
        _end(invocation, state, incomplete=True)
        close = getattr(inner, "close", None)
        if close is not None:
            close()  # release the HTTP connection now, not at garbage collection
        raise
    except BaseException as exc:
        _end(invocation, state, error=exc)
        raise
    else:
        _end(invocation, state)


async def aiterate(
    inner: AsyncIterator[Any], invocation: Invocation, state: StreamState
) -> AsyncIterator[Any]:
    first = True
    try:
        async for item in inner:
            if first:
                invocation.first_chunk()
                first = False
            if state.process(item):
                yield item
    except GeneratorExit:
        _end(invocation, state, incomplete=True)
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()
        raise
    except BaseException as exc:
        _end(invocation, state, error=exc)
        raise
    else:
        _end(invocation, state)


class _GuardedState:
    """Wraps an adapter's state so a bug in it is logged once and the chunk still reaches the app."""

    __slots__ = ("_state",)

    def __init__(self, state: StreamState) -> None:
        self._state = state

    def process(self, chunk: Any) -> bool:
        return _process(self._state, chunk)

    def result(self) -> tuple[Any, Any]:
        return self._state.result()


def guarded(state: StreamState) -> StreamState:
    return _GuardedState(state)


def finish_if_dropped(stream: Any, invocation: Invocation, state: StreamState) -> Any:
    """End the span when ``stream`` (a generator from ``iterate``/``aiterate``) is garbage collected.

    A generator dropped before its first ``next`` never runs its body, so no GeneratorExit ends the
    span. Weak-reference callbacks run before a generator's own finalizer, so a dropped half-read
    stream ends here too, with the usage seen so far; the generator's ``finally`` then only closes.
    """
    weakref.finalize(stream, _end, invocation, state, None, True)
    return stream


def instrument_stream(stream: Any, invocation: Invocation, state: StreamState, is_async: bool) -> Any:
    """Instrument a Stainless SDK stream (openai, anthropic, groq) in place and return it.

    These streams read from ``self._iterator``; ``close()`` only closes the HTTP response, so it is
    shadowed on the instance to finish the span too.
    """
    state = guarded(state)
    inner = getattr(stream, "_iterator", None)
    if inner is None:  # an SDK shape we do not know: keep the app working, end the span now
        invocation.finish(None)
        return stream
    original_close = stream.close
    if is_async:
        stream._iterator = aiterate(inner, invocation, state)

        async def aclose_and_finish() -> None:
            try:
                await original_close()
            finally:
                _end(invocation, state, incomplete=True)

        stream.close = aclose_and_finish
    else:
        stream._iterator = iterate(inner, invocation, state)

        def close_and_finish() -> None:
            try:
                original_close()
            finally:
                _end(invocation, state, incomplete=True)

        stream.close = close_and_finish
    return stream


def instrument_raw_response(
    response: Any, invocation: Invocation, on_parsed: Callable[[Invocation, Any], None]
) -> Any:
    """Instrument a raw response (``with_raw_response`` / ``with_streaming_response``) in place.

    Usage is read when the app parses it, never before (no side effects); if the app drops it
    unparsed, the span ends without usage.
    """
    original_parse = response.parse
    parsed = [False]
    # The async clients' legacy raw response (with_raw_response) still parses synchronously.
    if inspect.iscoroutinefunction(original_parse):

        async def aparse(*args: Any, **kwargs: Any) -> Any:
            result = await original_parse(*args, **kwargs)
            if parsed[0]:  # parse() caches: the first result is already instrumented
                return result
            parsed[0] = True
            try:
                on_parsed(invocation, result)
            except Exception:
                log_internal_error("reading a parsed raw response")
            return result

        response.parse = aparse
    else:

        def parse(*args: Any, **kwargs: Any) -> Any:
            result = original_parse(*args, **kwargs)
            if parsed[0]:
                return result
            parsed[0] = True
            try:
                on_parsed(invocation, result)
            except Exception:
                log_internal_error("reading a parsed raw response")
            return result

        response.parse = parse
    weakref.finalize(response, _abandon, invocation, parsed)
    return response


def _abandon(invocation: Invocation, parsed: list[bool]) -> None:
    # The raw response was dropped unparsed. (Parsed into a stream, the stream finishes the span.)
    if not parsed[0]:
        invocation.finish(None)
