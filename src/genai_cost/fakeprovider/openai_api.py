"""OpenAI's wire format (chat completions, completions, Responses, embeddings), and Groq's variant.

Groq speaks the OpenAI format under ``/openai/v1`` with two differences that matter for billing: a
stream carries its usage in ``x_groq.usage`` on the final chunk and never in a ``usage`` chunk
(``stream_options`` is ignored), and JSON usage adds ``queue_time``/``prompt_time``/... timings. One
class serves both, switched by ``groq=True``.
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any

from genai_cost.fakeprovider import rules
from genai_cost.fakeprovider.exchange import (
    Reply,
    Request,
    Route,
    SSEEvent,
    new_id,
    now,
    retry_after_headers,
)
from genai_cost.fakeprovider.rules import Tokens

_ERRORS: dict[int, tuple[str, str | None]] = {  # status -> (error.type, error.code)
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}

_DEFAULT_COMPLETIONS_MAX_TOKENS = 16  # the legacy completions endpoint's own default

# Models OpenAI answers under another name than the one asked for: the response's model is one no
# price list knows (a recorded davinci-002 completion came back as this).
SERVED_AS = {"davinci-002": "davinci:2023-07-21-v2"}


# Priced units beyond tokens (audio, speech, images; OpenAIFormat.transcription and after).
# Billing facts these formats carry: OpenAI's whisper-1 bills whole seconds of audio, reported as
# ``usage: {"type": "duration", "seconds": N}`` (json and verbose_json; a translation's json has no
# usage); gpt-4o-transcribe bills tokens (``usage.type == "tokens"``, audio tokens apart); Groq reports
# no usage, only verbose_json's ``duration`` (it bills at least 10 s). Speech bills the input's
# characters; DALL-E bills per image, gpt-image-1 by tokens.
AUDIO_TOKENS_PER_SECOND = 10  # gpt-4o-transcribe's audio tokens, in these fake bills
IMAGE_OUTPUT_TOKENS = 1056  # gpt-image-1, one 1024x1024 medium-quality image


class OpenAIFormat:
    def __init__(self, *, groq: bool = False) -> None:
        self.groq = groq
        self.provider = "groq" if groq else "openai"
        self._prefix = "/groq/openai/v1" if groq else "/v1"

    # -- routing ---------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        p = re.escape(self._prefix)
        routes = [
            Route(re.compile(rf"{p}/chat/completions"), "chat.completions", self.chat_completions),
            Route(re.compile(rf"{p}/responses"), "responses", self.responses),
        ]
        routes += [  # audio: Groq's and OpenAI's
            Route(re.compile(rf"{p}/audio/transcriptions"), "audio.transcriptions", self.transcription),
            Route(re.compile(rf"{p}/audio/translations"), "audio.translations", self.transcription),
        ]
        if not self.groq:
            routes += [
                Route(re.compile(rf"{p}/completions"), "completions", self.completions),
                Route(re.compile(rf"{p}/embeddings"), "embeddings", self.embeddings),
                Route(re.compile(rf"{p}/audio/speech"), "audio.speech", self.speech),
                Route(re.compile(rf"{p}/images/generations"), "images.generations", self.images),
            ]
        return routes

    def is_stream(self, endpoint: str, request: Request) -> bool:
        return bool(request.body.get("stream"))

    def model_of(self, request: Request) -> str:
        return str(request.body.get("model") or "")

    # -- usage -----------------------------------------------------------------------------------
    def expected_tokens(self, endpoint: str, body: dict[str, Any], model: str) -> Tokens:
        text = rules.prompt_text(body)
        if endpoint == "embeddings":
            return Tokens(input_tokens=text.tokens)
        out = rules.output_budget(text, self._cap(endpoint, body))
        # Only OpenAI's chat usage has an audio breakdown (Groq's and the Responses API's have none).
        audio = text.audio_tokens if endpoint == "chat.completions" and not self.groq else 0
        return Tokens(
            input_tokens=text.tokens,
            output_tokens=out,
            cache_read_tokens=rules.cached_half(text, text.tokens),
            reasoning_tokens=out // 2 if rules.is_openai_reasoning_model(model) else 0,
            input_audio_tokens=audio,
        )

    @staticmethod
    def _cap(endpoint: str, body: dict[str, Any]) -> Any:
        if endpoint == "responses":
            return body.get("max_output_tokens")
        if endpoint == "completions":
            return body.get("max_tokens") or _DEFAULT_COMPLETIONS_MAX_TOKENS
        return body.get("max_completion_tokens") or body.get("max_tokens")

    def _plan(self, endpoint: str, request: Request) -> tuple[str, Tokens, list[str], bool]:
        """(model, tokens, visible deltas, cut short by the cap?) for a generating request."""
        body = request.body
        model = self.model_of(request)
        tokens = self.expected_tokens(endpoint, body, model)
        text = rules.prompt_text(body)
        uncapped = rules.output_budget(text)
        visible = tokens.output_tokens - tokens.reasoning_tokens
        served = SERVED_AS.get(model, model)
        return served, tokens, rules.deltas(visible, text.digest), tokens.output_tokens < uncapped

    def _chat_usage(self, t: Tokens) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": t.input_tokens,
            "completion_tokens": t.output_tokens,
            "total_tokens": t.input_tokens + t.output_tokens,
        }
        if self.groq:
            # Groq reports timings, and the details objects only when they are non-zero.
            prompt_time = round(t.input_tokens * 0.00005, 6)
            completion_time = round(t.output_tokens * 0.002, 6)
            usage.update(
                queue_time=0.012,
                prompt_time=prompt_time,
                completion_time=completion_time,
                total_time=round(prompt_time + completion_time, 6),
            )
            if t.cache_read_tokens:
                usage["prompt_tokens_details"] = {"cached_tokens": t.cache_read_tokens}
            if t.reasoning_tokens:
                usage["completion_tokens_details"] = {"reasoning_tokens": t.reasoning_tokens}
            return usage
        usage["prompt_tokens_details"] = {
            "cached_tokens": t.cache_read_tokens,
            "audio_tokens": t.input_audio_tokens,
        }
        usage["completion_tokens_details"] = {
            "reasoning_tokens": t.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
        return usage

    def _headers(self) -> dict[str, str]:
        return {"x-request-id": new_id("req_")}

    # -- service tier ----------------------------------------------------------------------------
    @staticmethod
    def served_tier(request: Request) -> str:
        """The tier the response states: the one the request asked for ("auto" or none: "default"),
        any value sent back as is, so a test can see an unknown tier through."""
        tier = request.body.get("service_tier")
        return tier if isinstance(tier, str) and tier != "auto" else "default"

    # -- chat completions ------------------------------------------------------------------------
    def chat_completions(self, request: Request) -> Reply:
        model, tokens, parts, capped = self._plan("chat.completions", request)
        tier = self.served_tier(request)
        served = {} if self.groq else {"service_tier": tier}
        finish = "length" if capped else "stop"
        response_id = new_id("chatcmpl-", 28)
        created = now()
        base = {"id": response_id, "object": "chat.completion", "created": created, "model": model}
        fingerprint = "fp_fake0001"
        groq_request_id = new_id("req_")
        if not self.is_stream("chat.completions", request):
            body = {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(parts), "refusal": None},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
                "usage": self._chat_usage(tokens),
                "system_fingerprint": fingerprint,
            }
            if self.groq:
                body["x_groq"] = {"id": groq_request_id}
            else:
                body["service_tier"] = tier
            return Reply(
                model=model,
                response_id=response_id,
                body=body,
                tokens=tokens,
                headers=self._headers(),
                served=served,
            )

        include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
        include_usage = include_usage and not self.groq  # Groq ignores stream_options
        chunk_base = {**base, "object": "chat.completion.chunk", "system_fingerprint": fingerprint}
        if not self.groq:
            chunk_base["service_tier"] = tier  # on every chunk, as OpenAI sends it
        if include_usage:
            chunk_base["usage"] = None  # OpenAI sends a null usage on every chunk but the last

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**chunk_base, "choices": [choice]}

        first = chunk({"role": "assistant", "content": "", "refusal": None})
        if self.groq:
            first["x_groq"] = {"id": groq_request_id}
        events: list[SSEEvent] = [(None, first)]
        events += [(None, chunk({"content": part})) for part in parts]
        last = chunk({}, finish)
        if self.groq:
            last["x_groq"] = {"id": groq_request_id, "usage": self._chat_usage(tokens)}
        events.append((None, last))
        if include_usage:
            events.append((None, {**chunk_base, "choices": [], "usage": self._chat_usage(tokens)}))
        events.append((None, "[DONE]"))
        reported = self.groq or include_usage
        return Reply(
            model=model,
            response_id=response_id,
            events=events,
            tokens=tokens if reported else None,
            headers=self._headers(),
            served=served if reported else {},
        )

    # -- legacy completions ----------------------------------------------------------------------
    def completions(self, request: Request) -> Reply:
        model, tokens, parts, capped = self._plan("completions", request)
        finish = "length" if capped else "stop"
        response_id = new_id("cmpl-", 28)
        base = {"id": response_id, "object": "text_completion", "created": now(), "model": model}
        usage = {
            "prompt_tokens": tokens.input_tokens,
            "completion_tokens": tokens.output_tokens,
            "total_tokens": tokens.input_tokens + tokens.output_tokens,
        }
        if not self.is_stream("completions", request):
            choice = {"text": "".join(parts), "index": 0, "logprobs": None, "finish_reason": finish}
            body = {**base, "choices": [choice], "usage": usage}
            return Reply(
                model=model, response_id=response_id, body=body, tokens=tokens, headers=self._headers()
            )
        include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))

        def chunk(text: str, finish_reason: str | None = None) -> dict[str, Any]:
            return {
                **base,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}],
            }

        events: list[SSEEvent] = [(None, chunk(part)) for part in parts]
        events.append((None, chunk("", finish)))
        if include_usage:
            events.append((None, {**base, "choices": [], "usage": usage}))
        events.append((None, "[DONE]"))
        return Reply(
            model=model,
            response_id=response_id,
            events=events,
            tokens=tokens if include_usage else None,
            headers=self._headers(),
            events_before_failure=1,
        )

    # -- Responses API ---------------------------------------------------------------------------
    def responses(self, request: Request) -> Reply:
        model, tokens, parts, _ = self._plan("responses", request)
        body = request.body
        tier = self.served_tier(request)
        response_id = new_id("resp_", 48)
        message_id = new_id("msg_", 48)
        text = "".join(parts)
        reasoning_item = (
            {"type": "reasoning", "id": new_id("rs_", 48), "summary": []} if tokens.reasoning_tokens else None
        )
        message = {
            "type": "message",
            "id": message_id,
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
        tool_items = [_tool_call_item(kind) for kind in rules.responses_tool_calls(body)]
        units = _responses_units(tool_items)
        output = [*tool_items, *([reasoning_item] if reasoning_item else []), message]
        usage = {
            "input_tokens": tokens.input_tokens,
            "input_tokens_details": {"cached_tokens": tokens.cache_read_tokens, "cache_write_tokens": 0},
            "output_tokens": tokens.output_tokens,
            "output_tokens_details": {"reasoning_tokens": tokens.reasoning_tokens},
            "total_tokens": tokens.input_tokens + tokens.output_tokens,
        }
        created = now()

        def snapshot(status: str, out: list[Any], use: Any) -> dict[str, Any]:
            return {
                "id": response_id,
                "object": "response",
                "created_at": created,
                "status": status,
                "completed_at": created if status == "completed" else None,
                "error": None,
                "incomplete_details": None,
                "instructions": body.get("instructions"),
                "max_output_tokens": body.get("max_output_tokens"),
                "model": model,
                "output": out,
                "parallel_tool_calls": True,
                "previous_response_id": body.get("previous_response_id"),
                "reasoning": {"effort": None, "summary": None},
                "service_tier": tier,
                "store": True,
                "temperature": 1.0,
                "text": {"format": {"type": "text"}},
                "tool_choice": "auto",
                "tools": [],
                "top_p": 1.0,
                "truncation": "disabled",
                "usage": use,
                "user": None,
                "metadata": {},
            }

        if not self.is_stream("responses", request):
            return Reply(
                model=model,
                response_id=response_id,
                body=snapshot("completed", output, usage),
                tokens=tokens,
                units=units,
                headers=self._headers(),
                served={"service_tier": tier},
            )

        raw: list[dict[str, Any]] = [
            {"type": "response.created", "response": snapshot("in_progress", [], None)},
            {"type": "response.in_progress", "response": snapshot("in_progress", [], None)},
        ]
        index = 0
        for item in tool_items:  # built-in tool calls come first, each added then done
            added = {**item, "status": "in_progress"}
            raw.append({"type": "response.output_item.added", "output_index": index, "item": added})
            raw.append({"type": "response.output_item.done", "output_index": index, "item": item})
            index += 1
        if reasoning_item:
            raw.append({"type": "response.output_item.added", "output_index": index, "item": reasoning_item})
            raw.append({"type": "response.output_item.done", "output_index": index, "item": reasoning_item})
            index += 1
        where = {"item_id": message_id, "output_index": index, "content_index": 0}
        empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        raw.append(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**message, "status": "in_progress", "content": []},
            }
        )
        raw.append({"type": "response.content_part.added", **where, "part": empty_part})
        raw += [{"type": "response.output_text.delta", **where, "delta": p, "logprobs": []} for p in parts]
        raw.append({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
        raw.append({"type": "response.content_part.done", **where, "part": message["content"][0]})
        raw.append({"type": "response.output_item.done", "output_index": index, "item": message})
        raw.append({"type": "response.completed", "response": snapshot("completed", output, usage)})
        events: list[SSEEvent] = [(e["type"], {**e, "sequence_number": n}) for n, e in enumerate(raw)]
        first_delta = next(i for i, e in enumerate(raw) if e["type"] == "response.output_text.delta")
        return Reply(
            model=model,
            response_id=response_id,
            events=events,
            tokens=tokens,
            units=units,
            headers=self._headers(),
            events_before_failure=first_delta + 1,
            served={"service_tier": tier},
        )

    # -- embeddings ------------------------------------------------------------------------------
    def embeddings(self, request: Request) -> Reply:
        body = request.body
        model = self.model_of(request)
        tokens = self.expected_tokens("embeddings", body, model)
        raw_input = body.get("input")
        if isinstance(raw_input, list) and raw_input and not all(isinstance(x, int) for x in raw_input):
            items = raw_input
        else:
            items = [raw_input]
        dims = body.get("dimensions") or (3072 if "large" in model else 1536)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for i, item in enumerate(items):
            vector = rules.embedding(int(dims), rules.prompt_text(item).digest)
            data.append(
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": rules.embedding_base64(vector) if as_base64 else vector,
                }
            )
        reply_body = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens.input_tokens, "total_tokens": tokens.input_tokens},
        }
        return Reply(model=model, body=reply_body, tokens=tokens, headers=self._headers())

    # -- errors ----------------------------------------------------------------------------------
    def error_type(self, status: int) -> str:
        kind, code = _ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
        return code or kind

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind, code = _ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def error_headers(self, status: int, retry_after: float | None) -> dict[str, str]:
        headers = {**self._headers(), **retry_after_headers(retry_after)}
        if status == 429:
            reset = f"{retry_after if retry_after is not None else 1}s"
            headers.update(
                {
                    "x-ratelimit-limit-requests": "500",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": reset,
                    "x-ratelimit-limit-tokens": "200000",
                    "x-ratelimit-remaining-tokens": "0",
                    "x-ratelimit-reset-tokens": reset,
                }
            )
        return headers

    def stream_error(self, endpoint: str, status: int, message: str, sent: int) -> list[SSEEvent]:
        if endpoint == "responses":
            kind = self.error_type(status)
            event = {
                "type": "error",
                "code": kind,
                "message": message,
                "param": None,
                "sequence_number": sent,
            }
            return [("error", event)]
        return [(None, self.error_body(status, message))]

    # --- priced units: audio transcription and translation, speech, images ---
    def transcription(self, request: Request) -> Reply:
        body = request.body
        model = self.model_of(request)
        translate = request.path.rstrip("/").endswith("/translations")
        if not isinstance(body.get("file_bytes"), int):
            return Reply(model=model, status=400, body=self.error_body(400, "file: Field required"))
        duration = rules.audio_seconds(body["file_bytes"])
        words = rules.words(8 + body["file_bytes"] % 17, body["file_bytes"])
        text = " ".join(words)
        response_format = body.get("response_format") or "json"
        headers = self._headers()
        if response_format == "text":  # no usage at all on the wire
            return Reply(model=model, body=text, content_type="text/plain", headers=headers)
        tokens: Tokens | None = None
        units: rules.Units | None = None
        reply: dict[str, Any] = {"text": text}
        if self.groq:
            units = rules.Units(audio_seconds=duration)
            reply["x_groq"] = {"id": new_id("req_", 26)}
        elif model.startswith("whisper"):
            seconds = math.ceil(duration)  # whole seconds, as billed
            units = rules.Units(audio_seconds=float(seconds))
            if not (translate and response_format == "json"):
                reply["usage"] = {"type": "duration", "seconds": seconds}
        else:  # gpt-4o-transcribe and its kin: tokens
            audio = math.ceil(duration * AUDIO_TOKENS_PER_SECOND)
            prompt = (
                rules.prompt_text({"prompt": body.get("prompt") or ""}).tokens if body.get("prompt") else 0
            )
            tokens = Tokens(input_tokens=audio + prompt, output_tokens=len(words), input_audio_tokens=audio)
            reply["usage"] = {
                "type": "tokens",
                "input_tokens": tokens.input_tokens,
                "input_token_details": {"text_tokens": prompt, "audio_tokens": audio},
                "output_tokens": tokens.output_tokens,
                "total_tokens": tokens.input_tokens + tokens.output_tokens,
            }
        if response_format == "verbose_json":
            reply = {
                "task": "translate" if translate else "transcribe",
                "language": "english",
                "duration": duration,
                "segments": [],
                **reply,
            }
        return Reply(model=model, body=reply, tokens=tokens, units=units, headers=headers)

    def speech(self, request: Request) -> Reply:
        body = request.body
        model = self.model_of(request)
        text = body.get("input")
        if not isinstance(text, str):
            return Reply(model=model, status=400, body=self.error_body(400, "input: Field required"))
        audio = b"ID3" + bytes(len(text))  # a stand-in for the audio, as long as the text
        units = rules.Units(input_characters=len(text))
        return Reply(model=model, body=audio, units=units, content_type="audio/mpeg", headers=self._headers())

    def images(self, request: Request) -> Reply:
        body = request.body
        model = self.model_of(request) or "dall-e-2"
        n = body.get("n")
        count = n if isinstance(n, int) else 1
        prompt = rules.prompt_text({"prompt": body.get("prompt") or ""})
        image = base64.b64encode(b"\x89PNG fake").decode()
        reply: dict[str, Any] = {"created": now(), "data": [{"b64_json": image} for _ in range(count)]}
        if model.startswith("gpt-image"):  # billed by tokens: the images are output tokens
            tokens = Tokens(input_tokens=prompt.tokens, output_tokens=IMAGE_OUTPUT_TOKENS * count)
            reply["usage"] = {
                "input_tokens": tokens.input_tokens,
                "input_tokens_details": {"text_tokens": tokens.input_tokens, "image_tokens": 0},
                "output_tokens": tokens.output_tokens,
                "total_tokens": tokens.input_tokens + tokens.output_tokens,
            }
            return Reply(model=model, body=reply, tokens=tokens, headers=self._headers())
        # DALL-E bills per image by size and quality, the API's defaults when not asked (DALL-E 2 has
        # one quality); the reply states neither. The ledger keeps what each image was billed at.
        size = body.get("size") or "1024x1024"
        quality = body.get("quality") if model == "dall-e-3" and body.get("quality") else "standard"
        return Reply(
            model=model,
            body=reply,
            units=rules.Units(images=count),
            headers=self._headers(),
            served={"image_option": f"{size}/{quality}"},
        )


# --- priced units: Responses built-in tool calls ---
def _tool_call_item(kind: str) -> dict[str, Any]:
    """One completed built-in tool call output item, as the Responses API sends it."""
    if kind == "web_search_call":
        return {
            "type": kind,
            "id": new_id("ws_", 48),
            "status": "completed",
            "action": {"type": "search", "query": "genai-cost"},
        }
    if kind == "file_search_call":
        return {
            "type": kind,
            "id": new_id("fs_", 48),
            "status": "completed",
            "queries": ["genai-cost"],
            "results": None,
        }
    return {
        "type": kind,
        "id": new_id("ci_", 48),
        "status": "completed",
        "code": "print(1)",
        "container_id": new_id("cntr_", 48),
        "outputs": None,
    }


def _responses_units(items: list[dict[str, Any]]) -> rules.Units:
    kinds = [item["type"] for item in items]
    return rules.Units(
        web_search_calls=kinds.count("web_search_call"),
        file_search_calls=kinds.count("file_search_call"),
        code_execution_calls=kinds.count("code_interpreter_call"),
    )
