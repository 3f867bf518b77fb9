"""Read values from SDK response models and plain dicts alike.

Usage can arrive as a typed model (``chunk.usage``) or as a plain dict (Groq's ``x_groq`` through
the OpenAI SDK lands in ``model_extra``); adapters read both the same way.
"""

from __future__ import annotations

from typing import Any


def get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if type(obj) is dict:
        return obj.get(name)
    return getattr(obj, name, None)


def as_int(value: Any) -> int | None:
    return value if type(value) is int else None


def as_number(value: Any) -> float | int | None:
    return value if type(value) in (int, float) else None


def as_str(value: Any) -> str | None:
    return value if type(value) is str else None
