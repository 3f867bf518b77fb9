"""Streams end their span exactly once, however they stop, and cost little per chunk.

One shape for sync and async: ``iterate`` / ``aiterate`` read chunks through a ``StreamWatch`` and every
exit goes through ``StreamWatch.finish`` with an explicit ``Outcome``:
- COMPLETED: the stream was read to its end;
- ERROR: the SDK raised mid-stream, the app threw into it, or its task was cancelled;
- CLOSED: the app called ``close()`` (or left a ``with`` block);
- DROPPED: the app let go of it unfinished (``break`` then dropped, never read, still open at exit);
- UNPARSED: a raw response the app dropped without parsing.
Whether the response was cut short is decided by the data (``StreamState.complete``), not by the
exit path. Drops are noticed in garbage collection, where no telemetry may run: they are handed to
``deferred`` and finished on its worker, ending at the time the app last used the stream.

The app keeps the SDK's own stream object; we only swap the iterator it reads from, so ``isinstance``,
attributes, ``with`` and the SDK's helpers (text_stream, get_final_message, ...) are untouched.

Per chunk: a state that does not need ``every_chunk`` sees chunks until it has ``started``; after
that, chunks pass through C code (``zip`` with a clock, ``filterfalse`` over a bounded ``deque``'s
``append``) and only the last ``TAIL_CHUNKS`` are kept, with the time each was read; the state reads
them when the stream ends. Usage, finish and stop reasons all arrive in the last chunks.
"""

from __future__ import annotations

import enum
import inspect
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from itertools import filterfalse
from operator import itemgetter
from typing import Any

from genai_cost._internal import log_internal_error
from genai_cost.instrumentation import deferred
from genai_cost.instrumentation.contract import ResponseInfo, StreamState
from genai_cost.instrumentation.core import Invocation, running

# Chunks kept for the end of a stream once the state has started. OpenAI: last content chunk(s)
# and the usage chunk; Anthropic: message_delta, message_stop and stray pings; Responses: the final
# event.
TAIL_CHUNKS = 6

_clock = time.perf_counter
_chunk_of = itemgetter(0)


class Outcome(enum.Enum):
    COMPLETED = "completed"
    ERROR = "error"
    CLOSED = "closed"
    DROPPED = "dropped"
    UNPARSED = "unparsed"


class StreamWatch:
    """One instrumented stream: the adapter's state (guarded: a bug in it is logged and the chunk
    still reaches the app), the tail of chunks it has not seen yet, and when the app last read."""

    __slots__ = ("__weakref__", "_handed_off", "invocation", "iterator", "last_used", "state", "tail")

    def __init__(self, invocation: Invocation, state: StreamState | None) -> None:
        self.invocation = invocation
        self.state = state
        self.tail: deque[tuple[Any, float]] = deque(maxlen=TAIL_CHUNKS)
        self.last_used = _clock()
        self._handed_off = False
        self.iterator: weakref.ref[Any] | None = None  # our iterate()/aiterate() generator
        deferred.track(self)

    def read(self, chunk: Any) -> bool:
        """A chunk the app is about to get; False hides it."""
        self.last_used = now = _clock()
        self.invocation.first_chunk(now)
        try:
            return self.state.process(chunk)  # type: ignore[union-attr]
        except Exception:
            log_internal_error("reading a stream chunk")
            return True

    def tail_mode(self) -> bool:
        """The state has what it needs from the first chunks and only needs the last ones."""
        state = self.state
        try:
            return not state.every_chunk and state.started  # type: ignore[union-attr]
        except Exception:
            log_internal_error("reading a stream chunk")
            return False

    def _result(self) -> tuple[ResponseInfo | None, bool]:
        """The response info and whether it is complete, after the tail is read."""
        state = self.state
        if state is None:
            return None, True
        tail = self.tail
        try:
            if tail:
                self.last_used = tail[-1][1]
                for chunk, _ in tail:
                    state.process(chunk)
                tail.clear()
            return state.result(), state.complete
        except Exception:
            log_internal_error("reading stream usage")
            return None, False

    def finish(self, outcome: Outcome, error: BaseException | None = None) -> None:
        """End the call on the app's thread (or the worker, for drops). Idempotent."""
        deferred.untrack(self)
        invocation = self.invocation
        if invocation.done:
            return
        info, complete = self._result()
        end = self.last_used if outcome in (Outcome.DROPPED, Outcome.UNPARSED) else None
        invocation.finish(info, error, incomplete=not complete, end=end)

    def exited(self) -> None:
        """GeneratorExit reached our generator: an explicit ``close()`` / ``aclose()`` by the app, or
        the generator's finalizer. A finalizer runs after the generator's weak references are cleared,
        so a live reference means the app closed it, on its own thread: finish now."""
        iterator = self.iterator
        if iterator is not None and iterator() is not None:
            self.finish(Outcome.CLOSED)
        else:
            self.dropped()

    def dropped(self) -> None:
        """The app let go of the stream: facts only, the worker finishes it (GC-safe)."""
        if not self._handed_off:
            self._handed_off = True
            deferred.hand_off(self)

    def disarm(self) -> None:
        """Someone else finishes the call now (a raw response parsed into its result)."""
        self._handed_off = True
        deferred.untrack(self)

    def finish_dropped(self) -> None:
        self.finish(Outcome.UNPARSED if self.state is None else Outcome.DROPPED)


def iterate(inner: Iterator[Any], watch: StreamWatch) -> Iterator[Any]:
    """Yield what ``inner`` yields (minus chunks the state hides), finishing the call at the end."""
    try:
        read = watch.read
        for chunk in inner:
            if read(chunk):
                yield chunk
            if watch.tail_mode():
                break
        # The rest passes through C code; an exhausted ``inner`` ends this at once.
        yield from map(
            _chunk_of, filterfalse(watch.tail.append, zip(inner, iter(_clock, None), strict=False))
        )
    except GeneratorExit:
        watch.exited()  # maybe inside garbage collection: then it only hands over
        close = getattr(inner, "close", None)
        if close is not None:
            close()  # release the HTTP connection now
        raise
    except BaseException as exc:
        watch.finish(Outcome.ERROR, exc)
        raise
    else:
        watch.finish(Outcome.COMPLETED)


async def aiterate(inner: AsyncIterator[Any], watch: StreamWatch) -> AsyncIterator[Any]:
    """``iterate`` for async streams (same shape; the tail is kept chunk by chunk)."""
    try:
        read, keep = watch.read, watch.tail.append
        tail_mode = False
        async for chunk in inner:
            if tail_mode:
                keep((chunk, _clock()))
                yield chunk
                continue
            if read(chunk):
                yield chunk
            tail_mode = watch.tail_mode()
    except GeneratorExit:
        watch.exited()
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()
        raise
    except BaseException as exc:
        watch.finish(Outcome.ERROR, exc)
        raise
    else:
        watch.finish(Outcome.COMPLETED)


# --- noticing drops -----------------------------------------------------------------------------------
# weakref -> the watch to hand off when its object is collected. The registry keeps each weak
# reference alive until then (a weak reference that dies with its object never calls back).
_watched: dict[weakref.ref[Any], StreamWatch] = {}


def _collected(ref: weakref.ref[Any]) -> None:
    watch = _watched.pop(ref, None)  # runs inside garbage collection: no telemetry here
    if watch is not None:
        watch.dropped()


def hand_off_when_collected(obj: Any, watch: StreamWatch) -> None:
    """Hand the call over when ``obj`` is collected, if nothing finished it before.

    A generator dropped before its first ``next`` never runs its body, so no GeneratorExit reaches
    ``iterate``: the weak reference notices it.
    """
    _watched[weakref.ref(obj, _collected)] = watch


def track_generator(stream: Iterator[Any], invocation: Invocation, state: StreamState) -> Iterator[Any]:
    """Instrument a stream the SDK gives as a plain generator (google-genai): a generator of ours."""
    watch = StreamWatch(invocation, state)
    wrapped = iterate(stream, watch)
    watch.iterator = weakref.ref(wrapped)
    hand_off_when_collected(wrapped, watch)
    return wrapped


def track_async_generator(
    stream: AsyncIterator[Any], invocation: Invocation, state: StreamState
) -> AsyncIterator[Any]:
    watch = StreamWatch(invocation, state)
    wrapped = aiterate(stream, watch)
    watch.iterator = weakref.ref(wrapped)
    hand_off_when_collected(wrapped, watch)
    return wrapped


# --- Stainless SDK streams and raw responses (openai, anthropic, groq) ----------------------------------
# The watch of an instrumented SDK stream, on the stream itself. It refers to no app object, so it
# makes no reference cycle; the SDK's ``close`` (patched once per class, see stainless.py) finds it.
WATCH_ATTRIBUTE = "_genai_cost_watch"


def instrument_stream(stream: Any, invocation: Invocation, state: StreamState, is_async: bool) -> Any:
    """Instrument a Stainless SDK stream (openai, anthropic, groq) in place and return it.

    These streams read from ``self._iterator``; ``close()`` only closes the HTTP response, so the
    patched ``close`` finishes the call too (``closed``).
    """
    inner = getattr(stream, "_iterator", None)
    if inner is None:  # an SDK shape we do not know: keep the app working, end the span now
        invocation.finish()
        return stream
    watch = StreamWatch(invocation, state)
    stream._iterator = iterator = aiterate(inner, watch) if is_async else iterate(inner, watch)
    watch.iterator = weakref.ref(iterator)
    setattr(stream, WATCH_ATTRIBUTE, watch)
    hand_off_when_collected(stream, watch)
    return stream


def closed(stream: Any) -> None:
    """The app closed an SDK stream: finish its call now, on the app's thread."""
    watch = getattr(stream, "__dict__", {}).get(WATCH_ATTRIBUTE)
    if watch is not None:
        watch.finish(Outcome.CLOSED)


class _ParseAndRead:
    """Shadows a raw response's ``parse()``: the SDK's parse, then usage is read from the first result.

    Holds the response (``with_raw_response.create(...).parse()`` parses a temporary). ``parse()``
    caches its result, so after the first call the shadow is taken off, which also ends the cycle
    (response -> its ``parse`` -> response) that lasts until then.
    """

    __slots__ = ("_on_parsed", "_response", "_watch")

    def __init__(
        self, response: Any, watch: StreamWatch, on_parsed: Callable[[Invocation, Any], None]
    ) -> None:
        self._response = response
        self._watch: StreamWatch | None = watch
        self._on_parsed = on_parsed

    def _read(self, result: Any) -> Any:
        watch = self._watch
        if watch is not None:
            self._watch = None
            vars(self._response).pop("parse", None)
            watch.disarm()
            try:
                self._on_parsed(watch.invocation, result)
            except Exception:
                log_internal_error("reading a parsed raw response")
        return result

    def _failed(self, error: BaseException) -> None:
        # The app's parse of a billed response failed (structured output): the call still counts.
        watch = self._watch
        if watch is not None:
            self._watch = None
            watch.disarm()
            watch.invocation.finish(watch.invocation.billed, error)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        watch = self._watch
        if watch is None:
            return type(self._response).parse(self._response, *args, **kwargs)
        try:
            with running(watch.invocation):
                result = type(self._response).parse(self._response, *args, **kwargs)
        except BaseException as exc:
            self._failed(exc)
            raise
        return self._read(result)


class _AsyncParseAndRead(_ParseAndRead):
    __slots__ = ()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        watch = self._watch
        if watch is None:
            return await type(self._response).parse(self._response, *args, **kwargs)
        try:
            with running(watch.invocation):
                result = await type(self._response).parse(self._response, *args, **kwargs)
        except BaseException as exc:
            self._failed(exc)
            raise
        return self._read(result)


def instrument_raw_response(
    response: Any, invocation: Invocation, on_parsed: Callable[[Invocation, Any], None]
) -> Any:
    """Instrument a raw response (``with_raw_response`` / ``with_streaming_response``) in place.

    Usage is read when the app parses it, never before (no side effects); if the app drops it
    unparsed, the call ends without usage. (Parsed into a stream, the stream finishes the call.)
    """
    # The async clients' legacy raw response (with_raw_response) still parses synchronously.
    shadow_type = _AsyncParseAndRead if inspect.iscoroutinefunction(type(response).parse) else _ParseAndRead
    watch = StreamWatch(invocation, None)
    response.parse = shadow_type(response, watch, on_parsed)
    hand_off_when_collected(response, watch)
    return response
