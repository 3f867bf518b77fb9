"""Groq adapter: the groq SDK speaks OpenAI's chat format under ``/openai/v1``, so it reuses openai.py.

Chat requests, responses and stream chunks are read by the OpenAI chat readers. Groq has no
``stream_options``: a stream's usage arrives in ``x_groq.usage`` on its last chunk, which the chat
stream state reads; nothing is asked on the app's behalf. Audio transcriptions and translations are
billed per audio second, not per token, and their responses carry no token usage: their spans have
no token numbers (and so no token cost), only operation, model, timing and errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from genai_cost import semconv as sc
from genai_cost.instrumentation import openai
from genai_cost.instrumentation.contract import ResponseInfo
from genai_cost.instrumentation.fields import as_str
from genai_cost.instrumentation.stainless import Route, StainlessInstrumentor
from genai_cost.providers import SDKS


def read_audio_request(body: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    return as_str(body.get("model")), {}


def read_audio_response(response: Any) -> ResponseInfo:
    return ResponseInfo()  # billed per audio second; no token usage to report


# OpenAI's chat route (request, response, opt-in estimates); only the stream state always reads
# x_groq: the groq SDK talks Groq's format whatever host the provider rules name.
CHAT = replace(openai.CHAT, stream_state=partial(openai.ChatStreamState, groq=True))
AUDIO = Route(sc.OP_TRANSCRIPTION, read_audio_request, read_audio_response)

ROUTES: Mapping[str, Route] = {
    "/openai/v1/chat/completions": CHAT,
    "/openai/v1/audio/transcriptions": AUDIO,
    "/openai/v1/audio/translations": AUDIO,
}


class GroqInstrumentor(StainlessInstrumentor):
    """Instruments the groq SDK (sync and async chat completions, audio transcriptions)."""

    requirement = SDKS["groq"].requirement
    package = "groq"
    default_provider = SDKS["groq"].default_provider

    def routes(self) -> Mapping[str, Route]:
        return ROUTES
