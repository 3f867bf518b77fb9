"""Google's Gemini wire format as google-genai speaks it (Gemini API, and Vertex AI paths).

Paths are ``/{version}/models/{model}:{method}`` with any version segment (google-genai 3.x defaults to
``v1``, older releases to ``v1beta``), and Vertex's
``/{version}/projects/{p}/locations/{l}/publishers/google/models/{model}:{method}``. Billing facts this
format carries: ``promptTokenCount`` includes ``cachedContentTokenCount``; ``thoughtsTokenCount`` is
billed as output but sits outside ``candidatesTokenCount``; ``promptTokensDetails`` splits the prompt
by modality (TEXT, AUDIO, VIDEO); every chunk of a stream
(``:streamGenerateContent?alt=sse``) carries the usage so far, the last one the totals. Zero counts are
left out, as the API does. A request that declares functions (``functionDeclarations``) is answered
with a call to the first one, unless its last turn already answers a call: enough for google-genai's
automatic function calling to send a second request.
"""

from __future__ import annotations

import re
from typing import Any

from genai_cost.fakeprovider import rules
from genai_cost.fakeprovider.exchange import Reply, Request, Route, SSEEvent, new_id, retry_after_headers
from genai_cost.fakeprovider.rules import Tokens

_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_BUILT_IN_TOOLS = frozenset(
    {
        "googleSearch",
        "googleSearchRetrieval",
        "codeExecution",
        "urlContext",
        "computerUse",
        "fileSearch",
        "googleMaps",
    }
)
_METHODS = "generateContent|streamGenerateContent|countTokens|batchEmbedContents|embedContent"
_WORDS_PER_CHUNK = 4


class GeminiFormat:
    def __init__(self, *, vertex: bool = False) -> None:
        self.vertex = vertex
        self.provider = "vertex_ai" if vertex else "gemini"

    def routes(self) -> list[Route]:
        if self.vertex:
            pattern = (
                r"/(?P<version>[^/]+)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
                rf"/publishers/google/models/(?P<model>[^/:]+):(?P<method>{_METHODS}|predict)"
            )
        else:
            pattern = rf"(?:/(?P<version>v[^/]*))?/models/(?P<model>[^/:]+):(?P<method>{_METHODS})"
        return [Route(re.compile(pattern), None, self.handle)]

    def is_stream(self, endpoint: str, request: Request) -> bool:
        return endpoint == "streamGenerateContent"

    def model_of(self, request: Request) -> str:
        return request.params.get("model", "")

    # -- usage -----------------------------------------------------------------------------------
    def expected_tokens(self, endpoint: str, body: dict[str, Any], model: str) -> Tokens:
        text = rules.prompt_text(body)
        if endpoint in ("countTokens",):
            return Tokens()
        if endpoint in ("batchEmbedContents", "embedContent", "predict"):
            return Tokens(input_tokens=text.tokens)
        config = body.get("generationConfig") or {}
        out = rules.output_budget(text, config.get("maxOutputTokens"))
        thinking = config.get("thinkingConfig") or config.get("thinking_config") or {}
        # Proto JSON accepts both spellings, and google-genai 3.x sends the snake_case one here.
        budget = thinking.get("thinkingBudget", thinking.get("thinking_budget"))
        thoughts = out // 2 if rules.is_gemini_thinking_model(model) and budget != 0 else 0
        tools = [tool for tool in body.get("tools") or [] if isinstance(tool, dict)]
        built_in = sum(1 for tool in tools for key in tool if key in _BUILT_IN_TOOLS)
        return Tokens(
            input_tokens=text.tokens,
            output_tokens=out - thoughts,
            cache_read_tokens=rules.cached_half(text, text.tokens, force=bool(body.get("cachedContent"))),
            reasoning_tokens=thoughts,
            tool_use_prompt_tokens=rules.TOOL_USE_PROMPT_TOKENS_PER_TOOL * built_in,
            input_audio_tokens=text.audio_tokens,
            input_video_tokens=text.video_tokens,
        )

    @staticmethod
    def _prompt_details(total: int, audio: int, video: int) -> list[dict[str, Any]]:
        """``promptTokensDetails``: one entry per modality present (see ``rules``)."""
        details = []
        text = total - audio - video
        if text > 0 or not (audio or video):
            details.append({"modality": "TEXT", "tokenCount": text})
        if audio:
            details.append({"modality": "AUDIO", "tokenCount": audio})
        if video:
            details.append({"modality": "VIDEO", "tokenCount": video})
        return details

    @staticmethod
    def _usage(t: Tokens, candidates: int) -> dict[str, Any]:
        usage: dict[str, Any] = {"promptTokenCount": t.input_tokens}
        if candidates:
            usage["candidatesTokenCount"] = candidates
        usage["totalTokenCount"] = t.input_tokens + candidates + t.reasoning_tokens + t.tool_use_prompt_tokens
        if t.cache_read_tokens:
            usage["cachedContentTokenCount"] = t.cache_read_tokens
        if t.reasoning_tokens:
            usage["thoughtsTokenCount"] = t.reasoning_tokens
        if t.tool_use_prompt_tokens:
            usage["toolUsePromptTokenCount"] = t.tool_use_prompt_tokens
        usage["promptTokensDetails"] = GeminiFormat._prompt_details(
            t.input_tokens, t.input_audio_tokens, t.input_video_tokens
        )
        return usage

    # -- handlers --------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        method = request.params["method"]
        if method in ("generateContent", "streamGenerateContent"):
            return self.generate(request, stream=method == "streamGenerateContent")
        if method == "countTokens":
            return self.count_tokens(request)
        if method == "predict":
            return self.predict(request)
        return self.embed(request, batch=method == "batchEmbedContents")

    def generate(self, request: Request, *, stream: bool) -> Reply:
        body = request.body
        model = self.model_of(request)
        if not isinstance(body.get("contents"), list):
            return Reply(model=model, status=400, body=self.error_body(400, "contents is required"))
        endpoint = "streamGenerateContent" if stream else "generateContent"
        tokens = self.expected_tokens(endpoint, body, model)
        text = rules.prompt_text(body)
        capped = tokens.output_tokens + tokens.reasoning_tokens < rules.output_budget(text)
        finish = "MAX_TOKENS" if capped else "STOP"
        response_id = new_id("", 22)
        words = rules.deltas(tokens.output_tokens, text.digest)

        call = _function_call(body)
        # Vertex states the tier served as usageMetadata.trafficType (the Gemini API states none).
        traffic = _TRAFFIC_TYPES.get(str(body.get("serviceTier") or "").lower(), "ON_DEMAND")
        served = {"service_tier": traffic.lower()} if self.vertex else {}
        grounding = _grounding(body)
        units = _grounding_units(model, grounding)

        def response(parts: list[str], candidates: int, finish_reason: str | None) -> dict[str, Any]:
            content = [{"functionCall": call}] if call else [{"text": "".join(parts)}]
            candidate: dict[str, Any] = {"content": {"parts": content, "role": "model"}}
            if finish_reason:
                candidate["finishReason"] = finish_reason
                if grounding is not None:  # with the last chunk, as the API sends it
                    candidate["groundingMetadata"] = grounding
            candidate["index"] = 0
            usage = self._usage(tokens, candidates)
            if self.vertex:
                usage["trafficType"] = traffic
            return {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }

        if not stream:
            return Reply(
                model=model,
                response_id=response_id,
                body=response(words, len(words), finish),
                tokens=tokens,
                served=served,
                units=units,
            )
        events: list[SSEEvent] = []
        if call:  # a function call comes whole, in one chunk
            events.append((None, response(words, len(words), finish)))
        else:
            for start in range(0, len(words), _WORDS_PER_CHUNK):
                chunk = words[start : start + _WORDS_PER_CHUNK]
                done = start + _WORDS_PER_CHUNK >= len(words)
                events.append((None, response(chunk, start + len(chunk), finish if done else None)))
        return Reply(
            model=model,
            response_id=response_id,
            events=events,
            tokens=tokens,
            events_before_failure=1,
            served=served,
            units=units,
        )

    def count_tokens(self, request: Request) -> Reply:
        body = request.body
        model = self.model_of(request)
        # The SDK sends {"contents": ...}; a full request may come wrapped in generateContentRequest.
        text = rules.prompt_text(body.get("generateContentRequest") or body)
        counted = text.tokens
        details = self._prompt_details(counted, text.audio_tokens, text.video_tokens)
        reply = {"totalTokens": counted, "promptTokensDetails": details}
        return Reply(model=model, body=reply, counted_tokens=counted)

    def embed(self, request: Request, *, batch: bool) -> Reply:
        body = request.body
        model = self.model_of(request)
        requests = body.get("requests") if batch else [body]
        if not isinstance(requests, list):
            return Reply(model=model, status=400, body=self.error_body(400, "requests is required"))
        tokens = self.expected_tokens("batchEmbedContents", body, model)
        embeddings = []
        for item in requests:
            dims = item.get("outputDimensionality") or (3072 if "gemini-embedding" in model else 768)
            embeddings.append({"values": rules.embedding(int(dims), rules.prompt_text(item).digest)})
        usage = {"promptTokenCount": tokens.input_tokens, "totalTokenCount": tokens.input_tokens}
        reply = {"embeddings": embeddings} if batch else {"embedding": embeddings[0]}
        return Reply(model=model, body={**reply, "usageMetadata": usage}, tokens=tokens)

    def predict(self, request: Request) -> Reply:
        """Vertex text embeddings (``:predict`` with ``instances``), with per-instance token statistics."""
        body = request.body
        model = self.model_of(request)
        instances = body.get("instances")
        if not isinstance(instances, list):
            return Reply(model=model, status=400, body=self.error_body(400, "instances is required"))
        dims = (body.get("parameters") or {}).get("outputDimensionality") or 768
        predictions = []
        for item in instances:
            text = rules.prompt_text(item)
            values = rules.embedding(int(dims), text.digest)
            statistics = {"token_count": text.tokens, "truncated": False}
            predictions.append({"embeddings": {"values": values, "statistics": statistics}})
        tokens = self.expected_tokens("predict", body, model)
        chars = rules.prompt_text(body).chars
        reply = {"predictions": predictions, "metadata": {"billableCharacterCount": chars}}
        return Reply(model=model, body=reply, tokens=tokens)

    # -- errors ----------------------------------------------------------------------------------
    def error_type(self, status: int) -> str:
        return _STATUSES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": self.error_type(status)}}

    def error_headers(self, status: int, retry_after: float | None) -> dict[str, str]:
        return retry_after_headers(retry_after)

    def stream_error(self, endpoint: str, status: int, message: str, sent: int) -> list[SSEEvent]:
        return [(None, self.error_body(status, message))]


# The request's serviceTier -> the traffic type Vertex answers with (anything else: pay as you go).
_TRAFFIC_TYPES = {"flex": "ON_DEMAND_FLEX", "priority": "ON_DEMAND_PRIORITY"}


def _function_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """A call to the first declared function, or None: no functions, or the last turn answers one."""
    declared = [
        declaration
        for tool in body.get("tools") or ()
        if isinstance(tool, dict)
        for declaration in tool.get("functionDeclarations") or tool.get("function_declarations") or ()
        if isinstance(declaration, dict) and declaration.get("name")
    ]
    if not declared:
        return None
    contents = body.get("contents") or ()
    last = contents[-1] if contents and isinstance(contents[-1], dict) else {}
    for part in last.get("parts") or ():
        if isinstance(part, dict) and ("functionResponse" in part or "function_response" in part):
            return None
    return {"name": declared[0]["name"], "args": {}}


# --- priced units: grounding with Google Search ---
# A request with a googleSearch tool is grounded: its last candidate carries ``groundingMetadata`` with
# GROUNDING_QUERIES web search queries. Billed as Google bills it: Gemini 3 models per search query,
# earlier models per grounded prompt (https://ai.google.dev/gemini-api/docs/pricing, free tiers aside).
GROUNDING_QUERIES = ("genai-cost", "genai-cost pricing")


def _grounding(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools") or ()
    if not any(isinstance(t, dict) and ("googleSearch" in t or "google_search" in t) for t in tools):
        return None
    return {
        "webSearchQueries": list(GROUNDING_QUERIES),
        "groundingChunks": [{"web": {"uri": "https://example.com/genai-cost", "title": "example.com"}}],
    }


def _grounding_units(model: str, grounding: dict[str, Any] | None) -> rules.Units | None:
    if grounding is None:
        return None
    per_query = "gemini-3" in model
    return rules.Units(web_search_calls=len(grounding["webSearchQueries"]) if per_query else 1)
