"""One chat call per SDK and mode (sync/async x stream/non-stream) against the fake provider, for the
budget guard's tests: each returns when the app has read the whole answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anthropic
import groq
import openai
from google import genai
from google.genai import types

from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor
from genai_cost.instrumentation.groq import GroqInstrumentor
from genai_cost.instrumentation.openai import OpenAIInstrumentor

KEY = "test-SECRET-KEY-123"
PROMPT = "Summarise the candidate's resume in three bullet points please"
MAX_TOKENS = 64
# SDK -> (our provider name, the fake ledger's, a priced model).
MODELS = {
    "openai": (sc.PROVIDER_OPENAI, "openai", "gpt-4o-mini"),
    "anthropic": (sc.PROVIDER_ANTHROPIC, "anthropic", "claude-haiku-4-5"),
    "groq": (sc.PROVIDER_GROQ, "groq", "llama-3.1-8b-instant"),
    "google-genai": (sc.PROVIDER_GEMINI, "gemini", "gemini-2.0-flash"),
}
SDKS = tuple(MODELS)
MODES = ("sync", "async", "sync-stream", "async-stream")


def instrument_all(otel: Any = None, **extra: Any) -> list[Any]:
    """Every SDK instrumented, each told which provider the fake server's address stands for."""
    done = []
    providers = (
        {}
        if otel is None
        else {"tracer_provider": otel.tracer_provider, "meter_provider": otel.meter_provider}
    )
    for instrumentor, provider in (
        (OpenAIInstrumentor(), sc.PROVIDER_OPENAI),
        (AnthropicInstrumentor(), sc.PROVIDER_ANTHROPIC),
        (GroqInstrumentor(), sc.PROVIDER_GROQ),
        (GoogleGenAIInstrumentor(), sc.PROVIDER_GEMINI),
    ):
        hosts = {"127.0.0.1": provider}
        instrumentor.instrument(
            settings=Settings(cost_enabled=False, provider_hosts=hosts, **extra), **providers
        )
        done.append(instrumentor)
    return done


def _gemini(server: Any) -> genai.Client:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=server.gemini_base_url))


def _config() -> types.GenerateContentConfig:
    return types.GenerateContentConfig(max_output_tokens=MAX_TOKENS)


def call(server: Any, sdk: str, mode: str, model: str | None = None, prompt: str = PROMPT) -> None:
    """Make one call and read all of it (raises what the SDK or the guard raises)."""
    model = model or MODELS[sdk][2]
    stream = mode.endswith("stream")
    if mode.startswith("async"):
        asyncio.run(_async_call(server, sdk, stream, model, prompt))
        return
    messages: Any = [{"role": "user", "content": prompt}]
    if sdk == "google-genai":
        gemini = _gemini(server)  # held: a client that is collected closes its connections
        models = gemini.models
        if stream:
            for _ in models.generate_content_stream(model=model, contents=prompt, config=_config()):
                pass
        else:
            models.generate_content(model=model, contents=prompt, config=_config())
        return
    client: Any = _sync_client(server, sdk)
    create = client.messages.create if sdk == "anthropic" else client.chat.completions.create
    result = create(model=model, messages=messages, max_tokens=MAX_TOKENS, stream=stream)
    if stream:
        for _ in result:
            pass


def _sync_client(server: Any, sdk: str) -> Any:
    if sdk == "openai":
        return openai.OpenAI(api_key=KEY, base_url=server.openai_base_url, max_retries=0)
    if sdk == "groq":
        return groq.Groq(api_key=KEY, base_url=server.groq_base_url, max_retries=0)
    return anthropic.Anthropic(api_key=KEY, base_url=server.anthropic_base_url, max_retries=0)


async def _async_call(server: Any, sdk: str, stream: bool, model: str, prompt: str) -> None:
    if sdk == "google-genai":
        gemini = _gemini(server)
        models = gemini.aio.models
        if stream:
            async for _ in await models.generate_content_stream(
                model=model, contents=prompt, config=_config()
            ):
                pass
        else:
            await models.generate_content(model=model, contents=prompt, config=_config())
        return
    client: Any
    if sdk == "openai":
        client = openai.AsyncOpenAI(api_key=KEY, base_url=server.openai_base_url, max_retries=0)
    elif sdk == "groq":
        client = groq.AsyncGroq(api_key=KEY, base_url=server.groq_base_url, max_retries=0)
    else:
        client = anthropic.AsyncAnthropic(api_key=KEY, base_url=server.anthropic_base_url, max_retries=0)
    async with client:
        create: Callable[..., Any] = (
            client.messages.create if sdk == "anthropic" else client.chat.completions.create
        )
        result = await create(
            model=model, messages=[{"role": "user", "content": prompt}], max_tokens=MAX_TOKENS, stream=stream
        )
        if stream:
            async for _ in result:
                pass
