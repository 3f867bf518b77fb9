"""Streams end their span exactly once, however they stop, and cost (almost) nothing per chunk.

Drained, SDK error mid-stream, ``close()``, ``break`` then dropped (the generator's GeneratorExit),
dropped before the first read (a weak-reference callback), task cancellation: each path reaches
``Invocation.finish`` and ``finish`` is idempotent. The app keeps the SDK's own stream object; we only
swap the iterator it reads from, so ``isinstance``, attributes, ``with`` and the SDK's helpers
(text_stream, get_final_message, ...) are untouched.

Per chunk: a state looks at each chunk only while it is ``watching`` (the first chunk or event,
which has the ids; or every chunk when it must hide one or count text). After that, chunks pass
through C code (``filterfalse`` over a bounded ``deque``'s ``append``) and only the last
``TAIL_CHUNKS`` are kept; the state reads them when the stream ends. Usage, finish and stop reasons
all arrive in the last few chunks of a stream.

A finished stream holds no reference cycle of ours: it is freed by reference counting, as it is
without instrumentation, not left to the garbage collector.
"""

from __future__ import annotations

import inspect
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from itertools import filterfalse
from typing import Any

from genai_cost._internal import log_internal_error
from genai_cost.instrumentation.core import Invocation, StreamState

# Chunks kept for the end of a stream once the state stops watching. OpenAI: last content chunk(s)
# and the usage chunk; Anthropic: message_delta, message_stop and stray pings; Responses: the final
# event. Each kept chunk is read once at the end (about 0.3 us), so the tail is kept short.
TAIL_CHUNKS = 6


class Tracker:
    """An adapter's stream state, guarded (a bug in it is logged and the chunk still reaches the
    app), plus the tail of chunks it has not looked at yet, and the SDK stream it shadows a method
    of (held weakly), to take that shadow off when the stream ends."""

    __slots__ = ("_shadowing", "_state", "tail")

    def __init__(self, state: StreamState, shadowing: Any = None) -> None:
        self._state = state
        self.tail: deque[Any] = deque(maxlen=TAIL_CHUNKS)
        self._shadowing = None if shadowing is None else weakref.ref(shadowing)

    def release(self) -> None:
        """Take our ``close`` off the SDK stream: it refers to the stream, a cycle while in flight."""
        stream = self._shadowing() if self._shadowing is not None else None
        if stream is not None:
            self._shadowing = None
            vars(stream).pop("close", None)

    @property
    def watching(self) -> bool:
        return getattr(self._state, "watching", True)

    def process(self, chunk: Any) -> bool:
        try:
            return self._state.process(chunk)
        except Exception:
            log_internal_error("reading a stream chunk")
            return True

    def result(self) -> tuple[Any, Any]:
        for chunk in self.tail:
            self.process(chunk)
        self.tail.clear()
        return self._state.result()


def _end(
    invocation: Invocation, tracker: Tracker, error: BaseException | None = None, incomplete: bool = False
) -> None:
    tracker.release()
    if invocation._done:
        return
    try:
        usage, attributes = tracker.result()
    except Exception:
        log_internal_error("reading stream usage")
        usage, attributes = None, None
    invocation.finish(usage, attributes, error=error, incomplete=incomplete)


def iterate(inner: Iterator[Any], invocation: Invocation, tracker: Tracker) -> Iterator[Any]:
    """Yield what ``inner`` yields (minus chunks the state hides), finishing the span at the end."""
    try:
        first = True
        for item in inner:
            if first:
                invocation.first_chunk()
                first = False
            show = tracker.process(item)
            if show:
                yield item
            if not tracker.watching:
                yield from filterfalse(tracker.tail.append, inner)  # C speed: append returns None
                break
    except GeneratorExit:
        _end(invocation, tracker, incomplete=True)
        close = getattr(inner, "close", None)
        if close is not None:
            close()  # release the HTTP connection now, not at garbage collection
        raise
    except BaseException as exc:
        _end(invocation, tracker, error=exc)
        raise
    else:
        _end(invocation, tracker)


async def aiterate(inner: AsyncIterator[Any], invocation: Invocation, tracker: Tracker) -> AsyncIterator[Any]:
    try:
        first = True
        keep = tracker.tail.append
        async for item in inner:
            if first:
                invocation.first_chunk()
                first = False
                watching = True
            if watching:
                show = tracker.process(item)
                watching = tracker.watching
                if show:
                    yield item
            else:
                keep(item)
                yield item
    except GeneratorExit:
        _end(invocation, tracker, incomplete=True)
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()
        raise
    except BaseException as exc:
        _end(invocation, tracker, error=exc)
        raise
    else:
        _end(invocation, tracker)


# --- ending the span when the app drops what it was given --------------------------------------------
# weakref.ref -> what to call when its object is collected. The registry keeps each weak reference
# alive until then (a weak reference that dies with its object never calls back).
_watched: dict[weakref.ref[Any], tuple[Callable[..., None], Any, Any]] = {}


def _collected(ref: weakref.ref[Any]) -> None:
    entry = _watched.pop(ref, None)
    if entry is None:
        return
    callback, first, second = entry
    try:
        callback(first, second)
    except Exception:
        log_internal_error("ending the span of a dropped stream or response")


def _dropped(invocation: Invocation, tracker: Tracker) -> None:
    _end(invocation, tracker, incomplete=True)


def when_collected(obj: Any, callback: Callable[[Any, Any], None], first: Any, second: Any) -> None:
    """Call ``callback(first, second)`` when ``obj`` is garbage collected (cheaper than
    ``weakref.finalize``, which this runs for every stream)."""
    _watched[weakref.ref(obj, _collected)] = (callback, first, second)


def finish_when_collected(obj: Any, invocation: Invocation, tracker: Tracker) -> None:
    """End the span when ``obj`` is garbage collected, if nothing ended it before.

    A generator dropped before its first ``next`` never runs its body, so no GeneratorExit ends the
    span. Weak-reference callbacks run before a generator's own finalizer, so a dropped half-read
    stream ends here too, with the usage seen so far; the generator then only closes.
    """
    when_collected(obj, _dropped, invocation, tracker)


def track_generator(stream: Iterator[Any], invocation: Invocation, state: StreamState) -> Iterator[Any]:
    """Instrument a stream the SDK gives as a plain generator (google-genai): a generator of ours."""
    tracker = Tracker(state)
    wrapped = iterate(stream, invocation, tracker)
    finish_when_collected(wrapped, invocation, tracker)
    return wrapped


def track_async_generator(
    stream: AsyncIterator[Any], invocation: Invocation, state: StreamState
) -> AsyncIterator[Any]:
    tracker = Tracker(state)
    wrapped = aiterate(stream, invocation, tracker)
    finish_when_collected(wrapped, invocation, tracker)
    return wrapped


# --- Stainless SDK streams and raw responses (openai, anthropic, groq) ----------------------------------
class _CloseAndFinish:
    """Shadows a stream's ``close()``: the SDK's close (it only closes the HTTP response), then the span.

    Holds the stream: ``create(stream=True).close()`` on a temporary must still find it. The cycle
    this makes (stream -> its ``close`` -> stream) lasts until the stream ends, when the tracker
    takes the shadow off; a stream dropped unfinished is left to the garbage collector, whose weak
    reference callback then ends the span.
    """

    __slots__ = ("_invocation", "_stream", "_tracker")

    def __init__(self, stream: Any, invocation: Invocation, tracker: Tracker) -> None:
        self._stream = stream
        self._invocation = invocation
        self._tracker = tracker

    def __call__(self) -> None:
        try:
            type(self._stream).close(self._stream)
        finally:
            _end(self._invocation, self._tracker, incomplete=True)


class _AsyncCloseAndFinish(_CloseAndFinish):
    __slots__ = ()

    async def __call__(self) -> None:  # type: ignore[override]
        try:
            await type(self._stream).close(self._stream)
        finally:
            _end(self._invocation, self._tracker, incomplete=True)


def instrument_stream(stream: Any, invocation: Invocation, state: StreamState, is_async: bool) -> Any:
    """Instrument a Stainless SDK stream (openai, anthropic, groq) in place and return it.

    These streams read from ``self._iterator``; ``close()`` only closes the HTTP response, so it is
    shadowed on the instance to finish the span too.
    """
    inner = getattr(stream, "_iterator", None)
    if inner is None:  # an SDK shape we do not know: keep the app working, end the span now
        invocation.finish(None)
        return stream
    tracker = Tracker(state, stream)
    if is_async:
        stream._iterator = aiterate(inner, invocation, tracker)
        stream.close = _AsyncCloseAndFinish(stream, invocation, tracker)
    else:
        stream._iterator = iterate(inner, invocation, tracker)
        stream.close = _CloseAndFinish(stream, invocation, tracker)
    finish_when_collected(stream, invocation, tracker)
    return stream


class _ParseAndRead:
    """Shadows a raw response's ``parse()``: the SDK's parse, then usage is read from the first result.

    Holds the response (``with_raw_response.create(...).parse()`` parses a temporary). ``parse()``
    caches its result, so after the first call the shadow is taken off, which also ends the cycle.
    """

    __slots__ = ("_invocation", "_on_parsed", "_response", "parsed")

    def __init__(
        self, response: Any, invocation: Invocation, on_parsed: Callable[[Invocation, Any], None]
    ) -> None:
        self._response = response
        self._invocation = invocation
        self._on_parsed = on_parsed
        self.parsed = [False]  # shared with the watch for a response dropped unparsed

    def _read(self, result: Any) -> Any:
        if not self.parsed[0]:
            self.parsed[0] = True
            vars(self._response).pop("parse", None)
            try:
                self._on_parsed(self._invocation, result)
            except Exception:
                log_internal_error("reading a parsed raw response")
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._read(type(self._response).parse(self._response, *args, **kwargs))


class _AsyncParseAndRead(_ParseAndRead):
    __slots__ = ()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._read(await type(self._response).parse(self._response, *args, **kwargs))


def instrument_raw_response(
    response: Any, invocation: Invocation, on_parsed: Callable[[Invocation, Any], None]
) -> Any:
    """Instrument a raw response (``with_raw_response`` / ``with_streaming_response``) in place.

    Usage is read when the app parses it, never before (no side effects); if the app drops it
    unparsed, the span ends without usage. (Parsed into a stream, the stream finishes the span.)
    """
    # The async clients' legacy raw response (with_raw_response) still parses synchronously.
    shadow_type = _AsyncParseAndRead if inspect.iscoroutinefunction(type(response).parse) else _ParseAndRead
    shadow = shadow_type(response, invocation, on_parsed)
    response.parse = shadow
    when_collected(response, _abandoned, invocation, shadow.parsed)
    return response


def _abandoned(invocation: Invocation, parsed: list[bool]) -> None:
    if not parsed[0]:  # dropped unparsed; parsed, its result (a stream too) ends the span
        invocation.finish(None)
