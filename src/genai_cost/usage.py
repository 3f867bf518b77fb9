"""Normalised token usage and cost: the data every adapter produces and the pricer consumes.

Adapters normalise once (Anthropic's cache tokens are added into the input; Gemini's thoughts are
added into the output), so nothing downstream needs to know which provider a number came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genai_cost import semconv as sc


@dataclass(slots=True)
class Usage:
    """Token counts of one call. ``None`` means "not reported", never zero."""

    input_tokens: int | None = None  # all input, cached and cache-written included (semconv)
    output_tokens: int | None = None  # all output, reasoning included
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None  # all cache writes, whatever their TTL
    cache_creation_5m_tokens: int | None = None
    cache_creation_1h_tokens: int | None = None
    reasoning_tokens: int | None = None
    tool_use_prompt_tokens: int | None = None
    input_audio_tokens: int | None = None  # the audio part of input_tokens (cached audio included)

    @property
    def empty(self) -> bool:
        return self.input_tokens is None and self.output_tokens is None

    def to_attributes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        self.put_attributes(out)
        return out

    def put_attributes(self, out: dict[str, Any]) -> None:
        """Add the reported counts to ``out`` as span attributes (semconv names)."""
        # Written out, not looped over (key, value) pairs: this runs at the end of every call.
        if self.input_tokens is not None:
            out[sc.GEN_AI_USAGE_INPUT_TOKENS] = self.input_tokens
        if self.output_tokens is not None:
            out[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = self.output_tokens
        if self.cache_read_tokens is not None:
            out[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = self.cache_read_tokens
        if self.cache_creation_tokens is not None:
            out[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = self.cache_creation_tokens
        if self.cache_creation_5m_tokens is not None:
            out[sc.GENAI_COST_CACHE_CREATION_5M_TOKENS] = self.cache_creation_5m_tokens
        if self.cache_creation_1h_tokens is not None:
            out[sc.GENAI_COST_CACHE_CREATION_1H_TOKENS] = self.cache_creation_1h_tokens
        if self.reasoning_tokens is not None:
            out[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = self.reasoning_tokens
        if self.tool_use_prompt_tokens is not None:
            out[sc.GENAI_COST_TOOL_USE_PROMPT_TOKENS] = self.tool_use_prompt_tokens
        if self.input_audio_tokens is not None:
            out[sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS] = self.input_audio_tokens

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, Any]) -> Usage:
        """Read usage from span attributes, ours or another semconv instrumentation's."""

        def _int(key: str) -> int | None:
            value = attrs.get(key)
            return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

        cache_creation = _int(sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
        if cache_creation is None:  # the anthropic SDK's own spans use this older name
            cache_creation = _int("gen_ai.usage.cache_write.input_tokens")
        return cls(
            input_tokens=_int(sc.GEN_AI_USAGE_INPUT_TOKENS),
            output_tokens=_int(sc.GEN_AI_USAGE_OUTPUT_TOKENS),
            cache_read_tokens=_int(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
            cache_creation_tokens=cache_creation,
            cache_creation_5m_tokens=_int(sc.GENAI_COST_CACHE_CREATION_5M_TOKENS),
            cache_creation_1h_tokens=_int(sc.GENAI_COST_CACHE_CREATION_1H_TOKENS),
            reasoning_tokens=_int(sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
            tool_use_prompt_tokens=_int(sc.GENAI_COST_TOOL_USE_PROMPT_TOKENS),
            input_audio_tokens=_int(sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS),
        )


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a call per field
class Cost:
    """The price of one call in USD, with its parts. ``total`` is what is billed. A value: not
    changed once made."""

    total: float
    input: float = 0.0  # uncached input
    output: float = 0.0  # output, reasoning included
    cache_read: float = 0.0
    cache_write: float = 0.0
    currency: str = sc.COST_CURRENCY_USD

    def to_attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self.put_attributes(out)
        return out

    def put_attributes(self, out: dict[str, Any]) -> None:
        """Add the cost and its parts to ``out`` as span attributes."""
        out[sc.GEN_AI_USAGE_COST_AMOUNT] = self.total
        out[sc.GEN_AI_USAGE_COST_CURRENCY] = self.currency
        out[sc.GEN_AI_USAGE_COST_SOURCE] = sc.COST_SOURCE_LOCAL
        out[sc.GENAI_COST_INPUT_AMOUNT] = self.input
        out[sc.GENAI_COST_OUTPUT_AMOUNT] = self.output
        out[sc.GENAI_COST_CACHE_READ_AMOUNT] = self.cache_read
        out[sc.GENAI_COST_CACHE_WRITE_AMOUNT] = self.cache_write
