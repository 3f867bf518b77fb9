"""Business tags (feature, user, session, extras) carried on the OpenTelemetry context.

The OpenTelemetry context lives in contextvars, so tags follow asyncio tasks by themselves; threads
need ``with_current_context``. Tags are stored as a ready-made attribute dict so the instrumentation
only copies it onto the span (no work per call beyond a dict lookup).

Generators: ``@feature`` on a generator or async generator function tags the calls its body makes,
step by step: the tags are in force while the generator runs, not while it is suspended at a
``yield`` (then the caller's own tags apply). A ``with feature(...)`` block written inside a
generator's body around a ``yield`` follows plain contextvars rules instead: it is in force for the
code that runs between entering and leaving it in that context, which includes the caller's code
while the generator is suspended; use the decorator to get per-step tags.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from opentelemetry import baggage
from opentelemetry import context as otel_context

from genai_cost import semconv as sc

logger = logging.getLogger("genai_cost")

_TAGS_KEY = otel_context.create_key("genai_cost.tags")
_BAGGAGE_KEYS = (sc.FEATURE_NAME, sc.USER_ID, sc.SESSION_ID)
_RESERVED_PREFIXES = ("gen_ai.", "genai_cost.", "server.", "error.")

F = TypeVar("F", bound=Callable[..., Any])
AttributeValue = str | bool | int | float

_baggage = False


def configure(*, baggage: bool) -> None:
    """Set from ``Settings`` by the instrumentors (OTEL_INSTRUMENTATION_GENAI_COST_BAGGAGE)."""
    global _baggage
    _baggage = baggage


def _attribute_value(value: Any) -> AttributeValue:
    return value if isinstance(value, (str, bool, int, float)) else str(value)


def current_tags(ctx: otel_context.Context | None = None) -> Mapping[str, AttributeValue] | None:
    """The tags in force (innermost ``feature`` wins), or None outside any ``feature``."""
    tags = (ctx if ctx is not None else otel_context.get_current()).get(_TAGS_KEY)
    if tags is None and _baggage:
        return _tags_from_baggage(ctx)
    return cast("Mapping[str, AttributeValue] | None", tags)


def _tags_from_baggage(ctx: otel_context.Context | None) -> Mapping[str, AttributeValue] | None:
    # A downstream service gets the caller's tags as W3C baggage when the caller opted in.
    found = {key: value for key in _BAGGAGE_KEYS if (value := baggage.get_baggage(key, ctx)) is not None}
    return cast("Mapping[str, AttributeValue]", found) if found else None


_warned_clash: set[str] = set()


def _own_tags(name: Any, user_id: Any, session_id: Any, tags: Mapping[str, Any]) -> dict[str, AttributeValue]:
    if not isinstance(name, str) or not name:
        raise ValueError("feature name must be a non-empty string")
    own: dict[str, AttributeValue] = {}
    for key, value in tags.items():
        if key.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"tag {key!r} uses a reserved attribute namespace")
        if key in _BAGGAGE_KEYS:
            # feature(..., **{"user.id": x}): the explicit arguments win; say so once.
            if key not in _warned_clash:
                _warned_clash.add(key)
                logger.warning(
                    "genai-cost: tag %r passed as an extra tag is ignored; use feature()'s name, "
                    "user_id or session_id argument",
                    key,
                )
            continue
        if value is not None:
            own[key] = _attribute_value(value)
    own[sc.FEATURE_NAME] = name
    if user_id is not None:
        own[sc.USER_ID] = _attribute_value(user_id)
    if session_id is not None:
        own[sc.SESSION_ID] = _attribute_value(session_id)
    return own


# The ``with feature(...)`` blocks open in the current thread or task, innermost last, with their
# detach tokens: each thread and task has its own, so one instance shared by several of them never
# undoes another's entry. (One module-level variable: contexts keep every variable set in them.)
_open_entries: ContextVar[tuple[tuple[feature, object], ...]] = ContextVar("genai_cost_features", default=())


def _enter(tags: dict[str, AttributeValue]) -> object:
    """Attach a context with ``tags`` merged over the current ones; returns the detach token."""
    ctx = otel_context.get_current()
    outer = cast("dict[str, AttributeValue] | None", otel_context.get_value(_TAGS_KEY, ctx))
    merged = {**outer, **tags} if outer else tags
    ctx = otel_context.set_value(_TAGS_KEY, merged, ctx)
    if _baggage:
        for key in _BAGGAGE_KEYS:
            if key in tags:
                ctx = baggage.set_baggage(key, str(tags[key]), ctx)
    return otel_context.attach(ctx)


class feature:
    """Tag every GenAI call made inside with a business feature, user, session and extra tags.

    Use as a context manager or as a decorator of sync or async functions, generators included.
    Nested uses merge: the inner value wins for a key both set, the outer's other tags are kept. One
    instance may be entered by several threads or tasks at once: each keeps its own entry.
    """

    __slots__ = ("_tags",)

    def __init__(self, name: str, user_id: Any = None, session_id: Any = None, **tags: Any) -> None:
        self._tags = _own_tags(name, user_id, session_id, tags)

    @property
    def tags(self) -> Mapping[str, AttributeValue]:
        return dict(self._tags)

    def __enter__(self) -> feature:
        token = _enter(self._tags)
        _open_entries.set((*_open_entries.get(), (self, token)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        entries = _open_entries.get()
        for index in range(len(entries) - 1, -1, -1):
            instance, token = entries[index]
            if instance is self:
                _open_entries.set(entries[:index] + entries[index + 1 :])
                otel_context.detach(token)  # type: ignore[arg-type]
                return
        # Not entered in this thread or task: nothing of ours to undo here.

    def __call__(self, func: F) -> F:
        tags = self._tags
        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            def async_gen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                return _tagged_async_steps(func(*args, **kwargs), tags)

            return cast(F, async_gen_wrapper)
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                return _tagged_steps(func(*args, **kwargs), tags)

            return cast(F, gen_wrapper)
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _enter(tags)
                try:
                    return await func(*args, **kwargs)
                finally:
                    otel_context.detach(token)  # type: ignore[arg-type]

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _enter(tags)
            try:
                return func(*args, **kwargs)
            finally:
                otel_context.detach(token)  # type: ignore[arg-type]

        return cast(F, wrapper)


def _tagged_steps(gen: Generator[Any, Any, Any], tags: dict[str, AttributeValue]) -> Iterator[Any]:
    """Run each step of ``gen`` with ``tags`` in force; between steps, the caller's tags apply."""
    send_value: Any = None
    thrown: BaseException | None = None
    while True:
        token = _enter(tags)
        try:
            value = gen.throw(thrown) if thrown is not None else gen.send(send_value)
        except StopIteration as stop:
            return stop.value
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        thrown = None
        try:
            send_value = yield value
        except GeneratorExit:
            token = _enter(tags)
            try:
                gen.close()
            finally:
                otel_context.detach(token)  # type: ignore[arg-type]
            raise
        except BaseException as exc:
            thrown = exc


async def _tagged_async_steps(
    agen: AsyncGenerator[Any, Any], tags: dict[str, AttributeValue]
) -> AsyncIterator[Any]:
    send_value: Any = None
    thrown: BaseException | None = None
    asend, athrow = agen.asend, agen.athrow
    while True:
        token = _enter(tags)
        try:
            value = await (athrow(thrown) if thrown is not None else asend(send_value))
        except StopAsyncIteration:
            return
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        thrown = None
        try:
            send_value = yield value
        except GeneratorExit:
            token = _enter(tags)
            try:
                await agen.aclose()
            finally:
                otel_context.detach(token)  # type: ignore[arg-type]
            raise
        except BaseException as exc:
            thrown = exc


def with_current_context(func: F) -> F:
    """Bind ``func`` to the current context (tags included), for thread pools and callbacks.

    ``executor.submit(with_current_context(work), item)`` runs ``work`` with the caller's tags.
    """
    ctx = otel_context.get_current()

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = otel_context.attach(ctx)
        try:
            return func(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return cast(F, wrapper)
