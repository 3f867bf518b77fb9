"""A call's worst case, before it is sent: input tokens from the request's text, output from its max.

Input: every character of every string the SDK call received (messages, system prompt, tool
schemas, and a few characters of model name and URL), divided by 4 and rounded up; binary data
(``bytes``: audio, images, files) counts one token per 4 bytes. Providers count fewer tokens than
characters / 4 for English text, so this errs on the high side; for media it is far higher than what
the provider bills (a second of audio is ~32 tokens), which makes a budget refuse early near its
limit. Nothing is kept: the walk counts lengths only.

Output: the request's ``max_tokens`` / ``max_completion_tokens`` / ``max_output_tokens`` (as the
adapters read it into ``gen_ai.request.max_tokens``) times the number of choices, else the budget's
``default_max_output_tokens``. Embeddings have no output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_cost import semconv as sc
from genai_cost.instrumentation.contract import Request

CHARS_PER_TOKEN = 4
_MAX_DEPTH = 24  # request bodies are shallow; this bounds a walk through an unexpected object
_NO_OUTPUT = frozenset({sc.OP_EMBEDDINGS})
_NOTHING = frozenset({type(None), bool, int, float})  # no text: the common case, answered first


def text_chars(value: Any, depth: int = 0) -> int:
    """Characters of text (and bytes of data) in a call's arguments: strings, bytes, mappings,
    sequences and pydantic models (the SDKs' request options and typed contents)."""
    kind = type(value)
    if kind in _NOTHING or depth > _MAX_DEPTH:
        return 0
    if kind is str or kind is bytes or kind is bytearray:
        return len(value)
    if kind is dict:
        return sum(text_chars(v, depth + 1) for v in value.values())
    if kind is list or kind is tuple:
        return sum(text_chars(v, depth + 1) for v in value)
    if isinstance(value, str):  # enums and other str subclasses
        return len(value)
    if isinstance(value, Mapping):
        return sum(text_chars(v, depth + 1) for v in value.values())
    if hasattr(kind, "__pydantic_fields__") or hasattr(kind, "__fields__"):  # pydantic v2 / v1 models
        fields = getattr(value, "__dict__", None)
        if type(fields) is dict:
            return sum(text_chars(v, depth + 1) for v in fields.values())
    return 0


def input_tokens(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return -(-(text_chars(args) + text_chars(kwargs)) // CHARS_PER_TOKEN)


def has_output(request: Request) -> bool:
    return request.operation not in _NO_OUTPUT


def output_tokens(request: Request, default: int) -> int:
    if request.operation in _NO_OUTPUT:
        return 0
    attributes = request.attributes
    limit = attributes.get(sc.GEN_AI_REQUEST_MAX_TOKENS)
    if type(limit) is not int:
        limit = default
    choices = attributes.get(sc.GEN_AI_REQUEST_CHOICE_COUNT)
    return limit * (choices if type(choices) is int and choices > 1 else 1)
