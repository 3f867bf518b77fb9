"""Business tags (feature, user, session, extras) carried on the OpenTelemetry context.

The OpenTelemetry context lives in contextvars, so tags follow asyncio tasks by themselves; threads
need ``with_current_context``. Tags are stored as a ready-made attribute dict so the instrumentation
only copies it onto the span (no work per call beyond a dict lookup).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from opentelemetry import baggage
from opentelemetry import context as otel_context

from genai_cost import config
from genai_cost import semconv as sc

_TAGS_KEY = otel_context.create_key("genai_cost.tags")
_BAGGAGE_KEYS = (sc.FEATURE_NAME, sc.USER_ID, sc.SESSION_ID)
_RESERVED_PREFIXES = ("gen_ai.", "genai_cost.", "server.", "error.")

F = TypeVar("F", bound=Callable[..., Any])
AttributeValue = str | bool | int | float


def _attribute_value(value: Any) -> AttributeValue:
    return value if isinstance(value, (str, bool, int, float)) else str(value)


def current_tags(ctx: otel_context.Context | None = None) -> Mapping[str, AttributeValue] | None:
    """The tags in force (innermost ``feature`` wins), or None outside any ``feature``."""
    tags = (ctx if ctx is not None else otel_context.get_current()).get(_TAGS_KEY)
    if tags is None and _baggage_enabled():
        return _tags_from_baggage(ctx)
    return cast("Mapping[str, AttributeValue] | None", tags)


def _tags_from_baggage(ctx: otel_context.Context | None) -> Mapping[str, AttributeValue] | None:
    # A downstream service gets the caller's tags as W3C baggage when the caller opted in.
    found = {key: value for key in _BAGGAGE_KEYS if (value := baggage.get_baggage(key, ctx)) is not None}
    return cast("Mapping[str, AttributeValue]", found) if found else None


@functools.lru_cache(maxsize=1)
def _baggage_enabled() -> bool:
    return config.env_flag(config.BAGGAGE, False)


class feature:
    """Tag every GenAI call made inside with a business feature, user, session and extra tags.

    Use as a context manager or as a decorator of sync or async functions. Nested uses merge:
    the inner value wins for a key both set, the outer's other tags are kept.
    """

    __slots__ = ("_tags", "_tokens")

    def __init__(self, name: str, user_id: Any = None, session_id: Any = None, **tags: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("feature name must be a non-empty string")
        own: dict[str, AttributeValue] = {sc.FEATURE_NAME: name}
        if user_id is not None:
            own[sc.USER_ID] = _attribute_value(user_id)
        if session_id is not None:
            own[sc.SESSION_ID] = _attribute_value(session_id)
        for key, value in tags.items():
            if key.startswith(_RESERVED_PREFIXES):
                raise ValueError(f"tag {key!r} uses a reserved attribute namespace")
            if value is not None:
                own[key] = _attribute_value(value)
        self._tags = own
        self._tokens: list[object] = []

    @property
    def tags(self) -> Mapping[str, AttributeValue]:
        return dict(self._tags)

    def __enter__(self) -> feature:
        ctx = otel_context.get_current()
        outer = cast("dict[str, AttributeValue] | None", otel_context.get_value(_TAGS_KEY, ctx))
        merged = {**outer, **self._tags} if outer else self._tags
        ctx = otel_context.set_value(_TAGS_KEY, merged, ctx)
        if _baggage_enabled():
            for key in _BAGGAGE_KEYS:
                if key in self._tags:
                    ctx = baggage.set_baggage(key, str(self._tags[key]), ctx)
        self._tokens.append(otel_context.attach(ctx))
        return self

    def __exit__(self, *exc_info: object) -> None:
        otel_context.detach(self._tokens.pop())  # type: ignore[arg-type]

    def __call__(self, func: F) -> F:
        # Each call enters its own copy, so a decorated function is safe to run concurrently.
        tags = self._tags
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with _from_tags(tags):
                    return await func(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _from_tags(tags):
                return func(*args, **kwargs)

        return cast(F, wrapper)


def _from_tags(tags: dict[str, AttributeValue]) -> feature:
    copy = feature.__new__(feature)
    copy._tags = tags
    copy._tokens = []
    return copy


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
