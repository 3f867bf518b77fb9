"""Read values from SDK response models and plain dicts alike.

Usage can arrive as a typed model (``chunk.usage``) or as a plain dict (Groq's ``x_groq`` through
the OpenAI SDK lands in ``model_extra``); adapters read both the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeGuard

from genai_cost import semconv as sc


class Fields(Protocol):
    def get(self, name: str, /) -> Any: ...


_EMPTY: dict[str, Any] = {}


# (class, name) -> is ``name`` found on the class (a property, a slot, a method)?
_ON_CLASS: dict[tuple[type, str], bool] = {}


def get(obj: Any, name: str) -> Any:
    """``obj.name`` or ``obj[name]`` for a dict, None when absent.

    Runs a dozen times per call, so a pydantic model's field is read from its ``__dict__`` (v1 and v2
    keep fields there) and a name the model lacks is answered from its extras without going through
    pydantic's ``__getattr__``, which raises and catches an AttributeError for every miss.
    """
    if obj is None:
        return None
    if type(obj) is dict:
        return obj.get(name)
    try:
        return obj.__dict__[name]
    except (AttributeError, KeyError):
        pass
    key = (type(obj), name)
    on_class = _ON_CLASS.get(key)
    if on_class is None:
        on_class = _ON_CLASS[key] = hasattr(key[0], name)
    if on_class:
        return getattr(obj, name, None)
    extra = getattr(obj, "__pydantic_extra__", None)  # pydantic v2 with extra="allow"
    return extra.get(name) if type(extra) is dict else None


def fields_of(obj: Any) -> Fields:
    """An SDK model's fields (or a dict) as a mapping, to read several with ``.get``.

    Pydantic models (v1 and v2) keep their fields in ``__dict__`` and unknown ones sent by a newer
    API in ``__pydantic_extra__`` (v2; v1 keeps them in ``__dict__`` too). Anything else is read
    attribute by attribute.
    """
    if obj is None:
        return _EMPTY
    if type(obj) is dict:
        return obj
    values = getattr(obj, "__dict__", None)
    if type(values) is not dict:
        return _Attributes(obj)
    extra = getattr(obj, "__pydantic_extra__", None)
    return {**values, **extra} if extra else values


class _Attributes:
    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def get(self, name: str, /) -> Any:
        return getattr(self._obj, name, None)


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, without the ABC check for the usual plain dict."""
    return type(value) is dict or isinstance(value, Mapping)


def as_int(value: Any) -> int | None:
    """A count (tokens, max_tokens): a non-negative int. A misbehaving proxy's -5 is not reported."""
    return value if type(value) is int and value >= 0 else None


def as_number(value: Any) -> float | int | None:
    return value if type(value) in (int, float) else None


def as_str(value: Any) -> str | None:
    return value if type(value) is str else None


def as_str_tuple(value: Any) -> tuple[str, ...] | None:
    """A list or tuple of strings as a tuple (a span attribute value); anything else: None."""
    if value and type(value) in (list, tuple) and all(type(item) is str for item in value):
        return tuple(value)
    return None


# Request body key -> (span attribute, converter that returns None for a value not to record).
ParamTable = Mapping[str, tuple[str, Callable[[Any], Any]]]

# Sampling parameters named alike by OpenAI's API and Gemini's config.
SAMPLING_PARAMS: ParamTable = {
    "temperature": (sc.GEN_AI_REQUEST_TEMPERATURE, as_number),
    "top_p": (sc.GEN_AI_REQUEST_TOP_P, as_number),
    "frequency_penalty": (sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, as_number),
    "presence_penalty": (sc.GEN_AI_REQUEST_PRESENCE_PENALTY, as_number),
    "seed": (sc.GEN_AI_REQUEST_SEED, as_number),
}


def read_params(body: Mapping[str, Any], table: ParamTable) -> dict[str, Any]:
    """The span attributes for the request parameters in ``body`` that ``table`` names.

    Loops over the keys both have, found by a set intersection done in C, not over every parameter
    the table knows: a request body holds the one or two the call set. (A config model holds every
    field, mostly None, which is skipped before any conversion.)
    """
    attributes: dict[str, Any] = {}
    for key in table.keys() & body.keys():
        value = body[key]
        if value is not None:
            name, convert = table[key]
            value = convert(value)
            if value is not None:
                attributes[name] = value
    return attributes


def choice_count(value: Any) -> int | None:
    """``n``/``candidate_count``: recorded only when it asks for more than one choice."""
    return value if type(value) is int and value != 1 else None
