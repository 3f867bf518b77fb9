"""What the fake server billed: one ``BilledCall`` per request it served, kept in a thread-safe list."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genai_cost.fakeprovider.rules import Tokens, Units

if TYPE_CHECKING:
    from genai_cost.usage import Usage


@dataclass(frozen=True, slots=True)
class BilledCall:
    """One request the server answered, with the usage it reported in the provider's own terms.

    ``input_tokens``/``output_tokens`` are the provider's fields: OpenAI/Groq ``prompt_tokens`` (cached
    included) and ``completion_tokens`` (reasoning included); Anthropic ``input_tokens`` (cache reads
    and writes excluded) and ``output_tokens``; Gemini ``promptTokenCount`` (cached included) and
    ``candidatesTokenCount`` (thoughts excluded, those are ``reasoning_tokens``). ``input_audio_tokens``
    and ``input_video_tokens`` are parts of ``input_tokens`` (Gemini ``promptTokensDetails`` AUDIO and
    VIDEO, OpenAI chat ``prompt_tokens_details.audio_tokens``). ``normalized()`` turns
    them into semantic-convention totals. Count-tokens endpoints bill nothing: their answer is in
    ``counted_tokens`` and ``usage_reported`` is False.
    """

    # "openai" | "anthropic" | "groq" | "gemini" | "vertex_ai", or an OpenAI-compatible one of
    # compatible.py: "deepseek" | "openrouter" | "together" | "fireworks" | "azure"
    provider: str
    endpoint: str  # "chat.completions", "responses", "messages", "generateContent", ...
    model: str
    stream: bool
    status: int  # HTTP status sent (a mid-stream failure is a 200 with ``error`` set)
    response_id: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_5m_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    reasoning_tokens: int = 0
    tool_use_prompt_tokens: int = 0
    input_audio_tokens: int = 0
    input_video_tokens: int = 0
    usage_reported: bool = False  # False: the response carried no usage (errors, streams without it)
    counted_tokens: int | None = None  # the answer of a count-tokens endpoint
    error: str | None = None  # the provider's error type when the call failed, else None
    path: str = ""
    # The cost the response stated itself, USD (OpenRouter's usage.cost): what the provider billed.
    provider_cost: float | None = None
    # How the call was served, as the response stated it (None: not stated). ``processing`` is "batch"
    # for an Anthropic batch result (usage.service_tier "batch").
    service_tier: str | None = None
    processing: str | None = None
    speed: str | None = None
    inference_geo: str | None = None
    # A DALL-E call's images' "<size>/<quality>" ("1024x1792/hd"): what each image was billed at.
    image_option: str | None = None
    # --- priced units beyond tokens: what the server billed per use (rules.Units) ---
    web_search_calls: int = 0
    web_fetch_calls: int = 0
    code_execution_calls: int = 0
    file_search_calls: int = 0
    images: int = 0
    audio_seconds: float = 0.0
    input_characters: int = 0

    @property
    def tokens(self) -> Tokens:
        # BilledCall carries every Tokens field under the same name.
        return Tokens(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Tokens)})

    def normalized(self) -> Usage:
        """Semantic-convention totals: input includes cache reads and writes, output includes reasoning."""
        from genai_cost.usage import Usage  # lazy: the server itself needs nothing beyond the stdlib

        if not self.usage_reported:
            return Usage(image_option=self.image_option, **self._units())
        input_tokens = self.input_tokens
        output_tokens = self.output_tokens
        if self.provider == "anthropic":  # Anthropic's input_tokens leaves out the cache
            input_tokens += self.cache_read_tokens + self.cache_creation_tokens
        if self.provider in ("gemini", "vertex_ai"):
            # Candidates leave out the thoughts, and the prompt count leaves out tool-use prompt
            # tokens (total = prompt + candidates + tool use + thoughts); both are billed.
            output_tokens += self.reasoning_tokens
            input_tokens += self.tool_use_prompt_tokens
        return Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_creation_tokens=self.cache_creation_tokens,
            cache_creation_5m_tokens=self.cache_creation_5m_tokens,
            cache_creation_1h_tokens=self.cache_creation_1h_tokens,
            reasoning_tokens=self.reasoning_tokens,
            tool_use_prompt_tokens=self.tool_use_prompt_tokens,
            # No audio reported (or OpenAI's ever-present 0) is "not reported", as the adapters read it.
            input_audio_tokens=self.input_audio_tokens or None,
            service_tier=self.service_tier,
            processing=self.processing,
            speed=self.speed,
            inference_geo=self.inference_geo,
            **self._units(),
        )

    def _units(self) -> dict[str, Any]:
        """The units billed, as Usage fields (an unused unit is not reported)."""
        return {f.name: value for f in dataclasses.fields(Units) if (value := getattr(self, f.name))}


def billed(
    *,
    provider: str,
    endpoint: str,
    model: str,
    stream: bool,
    status: int,
    response_id: str = "",
    tokens: Tokens | None = None,
    usage_reported: bool = True,
    counted_tokens: int | None = None,
    error: str | None = None,
    path: str = "",
    provider_cost: float | None = None,
    served: Mapping[str, str] | None = None,
    units: Units | None = None,
) -> BilledCall:
    fields: dict[str, Any] = dataclasses.asdict(tokens) if tokens is not None and usage_reported else {}
    fields.update({key: served[key] for key in _SERVED if served and key in served})
    if units is not None:
        fields.update(dataclasses.asdict(units))
    return BilledCall(
        provider=provider,
        endpoint=endpoint,
        model=model,
        stream=stream,
        status=status,
        response_id=response_id,
        usage_reported=usage_reported and tokens is not None,
        counted_tokens=counted_tokens,
        error=error,
        path=path,
        provider_cost=provider_cost if usage_reported else None,
        **fields,
    )


_SERVED = ("service_tier", "processing", "speed", "inference_geo", "image_option")


class Ledger:
    """An append-only list shared by the handler threads; readers get a snapshot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[BilledCall] = []

    def append(self, call: BilledCall) -> None:
        with self._lock:
            self._calls.append(call)

    def replace(self, old: BilledCall, new: BilledCall) -> None:
        """Swap ``old`` (by identity) for ``new``, e.g. when the client hung up mid-stream."""
        with self._lock:
            for i, call in enumerate(self._calls):
                if call is old:
                    self._calls[i] = new
                    return

    def snapshot(self) -> list[BilledCall]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
