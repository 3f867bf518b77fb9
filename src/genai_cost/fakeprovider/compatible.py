"""OpenAI-compatible providers the fake imitates: DeepSeek, OpenRouter, Together, Fireworks, Azure OpenAI.

They speak OpenAI's chat format with the differences that matter for billing, so each is the OpenAI
format with its reply adjusted:

- **DeepSeek** splits the prompt into ``prompt_cache_hit_tokens`` / ``prompt_cache_miss_tokens``.
- **OpenRouter** states the call's cost itself, ``usage.cost`` in USD (JSON, and the last stream chunk,
  which always carries the usage), and names the upstream ``provider``. The cost is the fake's own:
  tokens at the rates in ``OPENROUTER_RATES``, recorded in the ledger as ``provider_cost``.
- **Together** and **Fireworks** answer as OpenAI does.
- **Perplexity** bills tokens plus a fee per request and states it as ``usage.cost``, a breakdown
  with its ``total_cost`` (rates in ``PERPLEXITY_RATES``; recorded as ``provider_cost``).
- **LiteLLM's proxy** answers as OpenAI does and states the cost it charged in the
  ``x-litellm-response-cost`` header (recorded in the ledger as ``provider_cost``).
- **Azure OpenAI** serves ``/openai/deployments/<deployment>/chat/completions?api-version=...``,
  answers with the model's dated name (``gpt-4o-mini-2024-07-18``), opens a stream with its prompt
  filter chunk (empty id, no choices), and rejects ``stream_options`` on api-versions before
  2024-09-01-preview with the 400 Azure sends.

A client reaches one through the marker of its base URL (``/genai-cost-fake/<name>``, see server.py).
"""

from __future__ import annotations

import re
from typing import Any

from genai_cost.fakeprovider.exchange import Reply, Request, Route
from genai_cost.fakeprovider.openai_api import OpenAIFormat
from genai_cost.fakeprovider.rules import Tokens

# USD per million tokens (input, cached input, output) the fake OpenRouter bills at, as OpenRouter's
# model pages listed them (openrouter.ai/google/gemini-2.5-flash, .../openai/gpt-4o-mini); any other
# model is billed at the last entry's rates.
OPENROUTER_RATES: dict[str, tuple[float, float, float]] = {
    "google/gemini-2.5-flash": (0.30, 0.075, 2.50),
    "openai/gpt-4o-mini": (0.15, 0.075, 0.60),
    "*": (1.00, 0.25, 2.00),
}

# Perplexity, USD per million tokens (input, output) and per thousand requests at the low search
# context size, docs.perplexity.ai/guides/pricing.
PERPLEXITY_RATES: dict[str, tuple[float, float, float]] = {
    "sonar": (1.00, 1.00, 5.00),
    "sonar-pro": (3.00, 15.00, 6.00),
    "*": (1.00, 1.00, 5.00),
}

# Azure's first API version that accepts stream_options.
AZURE_STREAM_OPTIONS_SINCE = "2024-09-01"
# What an Azure deployment reports as its model: the model's dated name.
AZURE_MODELS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}
_OPENROUTER_UPSTREAM = {
    "google/gemini-2.5-flash": "Google AI Studio",
    "openai/gpt-4o-mini": "OpenAI",
}


def openrouter_cost(model: str, tokens: Tokens) -> float:
    """What the fake OpenRouter states as a call's cost (USD)."""
    per_input, per_cached, per_output = OPENROUTER_RATES.get(model, OPENROUTER_RATES["*"])
    uncached = tokens.input_tokens - tokens.cache_read_tokens
    return (
        uncached * per_input + tokens.cache_read_tokens * per_cached + tokens.output_tokens * per_output
    ) / 1e6


class CompatibleFormat(OpenAIFormat):
    """The OpenAI chat format as one OpenAI-compatible provider speaks it (``name``)."""

    # True: a stream always ends with a usage chunk, asked for or not (OpenRouter, Perplexity).
    usage_always = False

    def __init__(self, name: str) -> None:
        super().__init__()
        self.provider = name

    def routes(self) -> list[Route]:
        return [Route(re.compile(r"/v1/chat/completions"), "chat.completions", self.chat_completions)]

    def chat_completions(self, request: Request) -> Reply:
        if self.usage_always:
            body = {**request.body, "stream_options": {"include_usage": True}}
            request = Request(
                request.method, request.path, request.query, request.headers, body, request.params
            )
        reply = super().chat_completions(request)
        if self.provider == "deepseek":
            for usage in _usages(reply):
                cached = usage["prompt_tokens_details"]["cached_tokens"]
                usage["prompt_cache_hit_tokens"] = cached
                usage["prompt_cache_miss_tokens"] = usage["prompt_tokens"] - cached
        return reply


class OpenRouterFormat(CompatibleFormat):
    usage_always = True

    def __init__(self) -> None:
        super().__init__("openrouter")

    def chat_completions(self, request: Request) -> Reply:
        reply = super().chat_completions(request)
        model = self.model_of(request)
        tokens = self.expected_tokens("chat.completions", request.body, model)
        cost = openrouter_cost(model, tokens)
        for usage in _usages(reply):
            usage["cost"] = cost
            usage["is_byok"] = False
            usage["cost_details"] = {"upstream_inference_cost": None}
        for document in _documents(reply):
            document["provider"] = _OPENROUTER_UPSTREAM.get(model, "OpenAI")
        reply.provider_cost = cost
        return reply


class PerplexityFormat(CompatibleFormat):
    """Perplexity: tokens plus a fee per request (by search context size), stated as the breakdown
    ``usage.cost`` with its ``total_cost``; the fake always ends a stream with its usage."""

    usage_always = True

    def __init__(self) -> None:
        super().__init__("perplexity")

    def chat_completions(self, request: Request) -> Reply:
        reply = super().chat_completions(request)
        model = self.model_of(request)
        tokens = self.expected_tokens("chat.completions", request.body, model)
        per_input, per_output, per_request = PERPLEXITY_RATES.get(model, PERPLEXITY_RATES["*"])
        cost = {
            "input_tokens_cost": tokens.input_tokens * per_input / 1e6,
            "output_tokens_cost": tokens.output_tokens * per_output / 1e6,
            "request_cost": per_request / 1000,
        }
        cost["total_cost"] = sum(cost.values())
        for usage in _usages(reply):
            usage["search_context_size"] = "low"
            usage["cost"] = cost
        reply.provider_cost = cost["total_cost"]
        return reply


class LiteLLMFormat(CompatibleFormat):
    """LiteLLM's proxy: OpenAI's format, with the cost it charged in the ``x-litellm-response-cost``
    header (the fake's: tokens at ``OPENROUTER_RATES``, as LiteLLM would price the model it routed to)."""

    def __init__(self) -> None:
        super().__init__("litellm")

    def chat_completions(self, request: Request) -> Reply:
        reply = super().chat_completions(request)
        model = self.model_of(request)
        cost = openrouter_cost(model, self.expected_tokens("chat.completions", request.body, model))
        reply.headers["x-litellm-response-cost"] = repr(cost)
        reply.provider_cost = cost
        return reply


class AzureFormat(OpenAIFormat):
    def __init__(self) -> None:
        super().__init__()
        self.provider = "azure"

    def routes(self) -> list[Route]:
        path = re.compile(r"/openai/deployments/(?P<deployment>[^/]+)/chat/completions")
        return [Route(path, "chat.completions", self.chat_completions)]

    def chat_completions(self, request: Request) -> Reply:
        version = request.query.get("api-version", "")
        if "stream_options" in request.body and version[:10] < AZURE_STREAM_OPTIONS_SINCE:
            body = {
                "error": {
                    "code": None,
                    "message": "Unrecognized request argument supplied: stream_options",
                    "param": None,
                    "type": "invalid_request_error",
                }
            }
            return Reply(model=self.model_of(request), status=400, body=body, headers=self._headers())
        reply = super().chat_completions(request)
        served = AZURE_MODELS.get(self.model_of(request))
        for document in _documents(reply):
            if served is not None:
                document["model"] = served
        if reply.events is not None:
            prompt_filter = {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
            }
            reply.events.insert(0, (None, prompt_filter))
        return reply


def _documents(reply: Reply) -> list[dict[str, Any]]:
    """The JSON body, or every JSON event of a stream."""
    if reply.events is None:
        return [reply.body] if isinstance(reply.body, dict) else []
    return [data for _, data in reply.events if isinstance(data, dict)]


def _usages(reply: Reply) -> list[dict[str, Any]]:
    return [doc["usage"] for doc in _documents(reply) if isinstance(doc.get("usage"), dict)]


# The providers reached at ``/v1/genai-cost-fake/<name>`` (Azure has its own route, see AzureFormat).
COMPATIBLE_PROVIDERS = ("deepseek", "openrouter", "together", "fireworks", "perplexity", "litellm", "x-ai")


def compatible_formats() -> list[OpenAIFormat]:
    """One format per OpenAI-compatible provider the fake imitates, each named by its marker."""
    return [
        CompatibleFormat("deepseek"),
        OpenRouterFormat(),
        CompatibleFormat("together"),
        CompatibleFormat("fireworks"),
        PerplexityFormat(),
        LiteLLMFormat(),
        CompatibleFormat("x-ai"),
        AzureFormat(),
    ]
