"""Groq adapter: the groq SDK speaks OpenAI's chat format under ``/openai/v1``, so it reuses openai.py.

Chat requests, responses and stream chunks are read by the OpenAI chat readers. Groq has no
``stream_options``: a stream's usage arrives in ``x_groq.usage`` on its last chunk, which the chat
stream state reads; nothing is asked on the app's behalf. Audio transcriptions and translations are
billed per audio second: a verbose_json response's ``duration`` is read as ``audio_seconds`` and
priced (a json or text response says nothing of the length: the span is marked usage missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import partial

from genai_cost.instrumentation import openai
from genai_cost.instrumentation.stainless import Route, StainlessInstrumentor
from genai_cost.providers import SDKS

# OpenAI's chat route (request, response, opt-in estimates); only the stream state always reads
# x_groq: the groq SDK talks Groq's format whatever host the provider rules name.
CHAT = replace(openai.CHAT, stream_state=partial(openai.ChatStreamState, groq=True))
AUDIO = openai.AUDIO  # verbose_json's duration (Groq bills at least 10 s; the price book knows)

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
