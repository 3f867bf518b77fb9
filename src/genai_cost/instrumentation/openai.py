"""OpenAI adapter: Chat Completions, Completions, Responses and Embeddings, as route data.

The OpenAI wire format is also what Groq speaks (the groq SDK and the OpenAI SDK on a Groq base URL),
so the chat routes here serve both; Groq's stream usage arrives in ``x_groq.usage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation.core import CallSpec
from genai_cost.instrumentation.fields import (
    SAMPLING_PARAMS,
    ParamTable,
    as_int,
    as_str,
    as_str_tuple,
    choice_count,
    fields_of,
    get,
    read_params,
)
from genai_cost.instrumentation.providers import OPENAI_COMPATIBLE
from genai_cost.instrumentation.stainless import Route, StainlessInstrumentor
from genai_cost.usage import Usage


def _stop(value: Any) -> tuple[str, ...] | None:
    return (value,) if type(value) is str else as_str_tuple(value)


# Request body key -> (span attribute, converter), for parameters shared by chat and completions.
_PARAMS: ParamTable = {
    **SAMPLING_PARAMS,
    "stop": (sc.GEN_AI_REQUEST_STOP_SEQUENCES, _stop),
    "n": (sc.GEN_AI_REQUEST_CHOICE_COUNT, choice_count),
}
_STREAM_USAGE_PROVIDERS = frozenset({sc.PROVIDER_OPENAI, sc.PROVIDER_AZURE_OPENAI})


def _common_request(
    body: Mapping[str, Any], max_tokens_keys: tuple[str, ...]
) -> tuple[str | None, dict[str, Any]]:
    attributes = read_params(body, _PARAMS)
    for key in max_tokens_keys:  # in order of preference, so not in the table
        value = as_int(body.get(key))
        if value is not None:
            attributes[sc.GEN_AI_REQUEST_MAX_TOKENS] = value
            break
    return as_str(body.get("model")), attributes


def _output_type(format_type: Any) -> str | None:
    if format_type in ("json_object", "json_schema"):
        return "json"
    return "text" if format_type == "text" else None


def read_chat_request(body: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    model, attributes = _common_request(body, ("max_completion_tokens", "max_tokens"))
    output_type = _output_type(get(body.get("response_format"), "type"))
    if output_type:
        attributes[sc.GEN_AI_OUTPUT_TYPE] = output_type
    return model, attributes


def read_completions_request(body: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    return _common_request(body, ("max_tokens",))


def read_responses_request(body: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    model, attributes = _common_request(body, ("max_output_tokens",))
    output_type = _output_type(get(get(body.get("text"), "format"), "type"))
    if output_type:
        attributes[sc.GEN_AI_OUTPUT_TYPE] = output_type
    return model, attributes


def read_embeddings_request(body: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    attributes: dict[str, Any] = {}
    encoding = as_str(body.get("encoding_format"))
    if encoding:
        attributes[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = (encoding,)
    return as_str(body.get("model")), attributes


# --- usage ------------------------------------------------------------------------------------------
def chat_usage(usage: Any) -> Usage | None:
    """Chat/Completions usage (OpenAI and Groq). prompt_tokens already includes cached tokens.

    ``prompt_tokens_details.audio_tokens`` (gpt-audio, gpt-4o-audio-preview) is the audio part of the
    prompt, billed at its own rate; every chat response carries it, mostly as 0, which is left unset.
    """
    if usage is None:
        return None
    fields = fields_of(usage)
    prompt_details = fields_of(fields.get("prompt_tokens_details"))
    audio = as_int(prompt_details.get("audio_tokens"))
    return Usage(
        input_tokens=as_int(fields.get("prompt_tokens")),
        output_tokens=as_int(fields.get("completion_tokens")),
        cache_read_tokens=as_int(prompt_details.get("cached_tokens")),
        reasoning_tokens=as_int(get(fields.get("completion_tokens_details"), "reasoning_tokens")),
        input_audio_tokens=audio if audio else None,
    )


def responses_usage(usage: Any) -> Usage | None:
    # The Responses API reports no audio breakdown (input_tokens_details has cached tokens only).
    if usage is None:
        return None
    return Usage(
        input_tokens=as_int(get(usage, "input_tokens")),
        output_tokens=as_int(get(usage, "output_tokens")),
        cache_read_tokens=as_int(get(get(usage, "input_tokens_details"), "cached_tokens")),
        reasoning_tokens=as_int(get(get(usage, "output_tokens_details"), "reasoning_tokens")),
    )


def _response_attributes(response: Any, finish_reasons: tuple[str, ...] | None) -> dict[str, Any]:
    fields = fields_of(response)
    attributes: dict[str, Any] = {}
    response_id = as_str(fields.get("id"))
    if response_id:
        attributes[sc.GEN_AI_RESPONSE_ID] = response_id
    model = as_str(fields.get("model"))
    if model:
        attributes[sc.GEN_AI_RESPONSE_MODEL] = model
    if finish_reasons:
        attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = finish_reasons
    return attributes


def _finish_reasons(choices: Any) -> tuple[str, ...]:
    return tuple(r for c in choices or () if (r := get(c, "finish_reason")))


def read_chat_response(response: Any) -> tuple[Usage | None, dict[str, Any]]:
    fields = fields_of(response)
    return chat_usage(fields.get("usage")), _response_attributes(
        response, _finish_reasons(fields.get("choices"))
    )


def read_responses_response(response: Any) -> tuple[Usage | None, dict[str, Any]]:
    status = as_str(get(response, "status"))
    return responses_usage(get(response, "usage")), _response_attributes(
        response, (status,) if status else None
    )


def read_embeddings_response(response: Any) -> tuple[Usage | None, dict[str, Any]]:
    usage = get(response, "usage")
    tokens = as_int(get(usage, "prompt_tokens"))
    return Usage(input_tokens=tokens) if tokens is not None else None, _response_attributes(response, None)


# --- streams ------------------------------------------------------------------------------------------
class ChatStreamState:
    """Chat/Completions chunks: usage from the final chunk (OpenAI) or ``x_groq.usage`` (Groq)."""

    __slots__ = (
        "estimated_input",
        "finish_reasons",
        "groq",
        "hide_usage_chunk",
        "output_chars",
        "response_id",
        "response_model",
        "usage",
        "watch_all",
        "watching",
    )

    def __init__(self, spec: CallSpec) -> None:
        self.usage: Any = None
        self.estimated_input = spec.estimated_input_tokens
        self.output_chars = 0
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.finish_reasons: list[str] = []
        self.groq = spec.provider == sc.PROVIDER_GROQ
        # True when we asked for usage on the app's behalf: the usage-only chunk is ours, not the app's.
        self.hide_usage_chunk = spec.asked_for_usage
        # Usage and (with one choice) the finish reason are in the last chunks: after the first chunk
        # (ids) the rest can pass untouched, unless a chunk is to be hidden, text counted, or several
        # choices may finish anywhere in the stream.
        self.watch_all = (
            self.hide_usage_chunk
            or self.estimated_input is not None
            or sc.GEN_AI_REQUEST_CHOICE_COUNT in spec.attributes
        )
        self.watching = True

    def process(self, chunk: Any) -> bool:
        if not self.response_id:  # Azure's first chunk (prompt filter results) has empty ids
            self.response_id = chunk.id
            self.response_model = chunk.model
            self.watching = self.watch_all
        choices = chunk.choices
        for choice in choices:
            reason = choice.finish_reason
            if reason:
                self.finish_reasons.append(reason)
            if self.estimated_input is not None:  # opted in: count characters, keep no text
                self.output_chars += len(get(get(choice, "delta"), "content") or get(choice, "text") or "")
        usage = chunk.usage
        if usage is not None:
            self.usage = usage
            if self.hide_usage_chunk and not choices:
                return False
        elif self.hide_usage_chunk:
            # Asking for usage made every chunk carry "usage": null; unset it so the app's view
            # (model_fields_set, to_json) is what it would have been without our request.
            chunk.__pydantic_fields_set__.discard("usage")
        elif self.groq:
            x_groq = get(chunk, "x_groq") or (chunk.model_extra or {}).get("x_groq")
            usage = get(x_groq, "usage")
            if usage is not None:
                self.usage = usage
        return True

    def result(self) -> tuple[Usage | None, dict[str, Any]]:
        attributes: dict[str, Any] = {}
        if self.response_id:
            attributes[sc.GEN_AI_RESPONSE_ID] = self.response_id
        if self.response_model:
            attributes[sc.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self.finish_reasons:
            attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(self.finish_reasons)
        usage = chat_usage(self.usage)
        if usage is None and self.estimated_input is not None:
            attributes[sc.GENAI_COST_USAGE_ESTIMATED] = True
            usage = Usage(
                input_tokens=self.estimated_input, output_tokens=-(-self.output_chars // _CHARS_PER_TOKEN)
            )
        return usage, attributes


class ResponsesStreamState:
    """Responses API events: usage arrives only with response.completed (or .incomplete/.failed)."""

    __slots__ = ("response", "watching")

    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def __init__(self, spec: CallSpec) -> None:
        self.response: Any = None
        self.watching = True  # until response.created; the final event is the stream's last

    def process(self, event: Any) -> bool:
        event_type = event.type
        if event_type in self._FINAL or (event_type == "response.created" and self.response is None):
            self.response = event.response
            self.watching = False
        return True

    def result(self) -> tuple[Usage | None, dict[str, Any]]:
        if self.response is None:
            return None, {}
        return read_responses_response(self.response)


# --- asking for stream usage on the app's behalf ---------------------------------------------------------
_CHARS_PER_TOKEN = 4  # the usual rule of thumb; estimates are marked as such on the span


def _text_chars(value: Any) -> int:
    """Characters of the text in a request body (messages, content parts, prompt), for estimates."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_text_chars(value.get(k)) for k in ("content", "text", "prompt", "messages", "input"))
    if isinstance(value, (list, tuple)):
        return sum(_text_chars(v) for v in value)
    return 0


def prepare_stream(options: Any, spec: CallSpec, settings: Settings) -> Any | None:
    if spec.stream and settings.estimate_usage:
        spec.estimated_input_tokens = -(-_text_chars(options.json_data) // _CHARS_PER_TOKEN)
    return ask_for_stream_usage(options, spec, settings)


def ask_for_stream_usage(options: Any, spec: CallSpec, settings: Settings) -> Any | None:
    """Add ``stream_options.include_usage`` to an OpenAI stream request the app left without it.

    Only for OpenAI itself (other OpenAI-compatible servers may reject the option), only when the
    app did not decide either way, and the extra chunk is then hidden from the app.
    """
    if not (spec.stream and settings.stream_usage and spec.provider in _STREAM_USAGE_PROVIDERS):
        return None
    body = options.json_data
    stream_options = body.get("stream_options")
    if stream_options is not None and (
        not isinstance(stream_options, Mapping) or "include_usage" in stream_options
    ):
        return None
    new_body = {**body, "stream_options": {**(stream_options or {}), "include_usage": True}}
    spec.asked_for_usage = True
    return options.model_copy(update={"json_data": new_body})


def _chat_stream_state(spec: CallSpec) -> ChatStreamState:
    return ChatStreamState(spec)


CHAT = Route(sc.OP_CHAT, read_chat_request, read_chat_response, _chat_stream_state, prepare_stream)
COMPLETIONS = Route(
    sc.OP_TEXT_COMPLETION,
    read_completions_request,
    read_chat_response,
    _chat_stream_state,
    prepare_stream,
)
RESPONSES = Route(sc.OP_CHAT, read_responses_request, read_responses_response, ResponsesStreamState)
EMBEDDINGS = Route(sc.OP_EMBEDDINGS, read_embeddings_request, read_embeddings_response)

ROUTES: Mapping[str, Route] = {
    "/chat/completions": CHAT,
    "/completions": COMPLETIONS,
    "/responses": RESPONSES,
    "/embeddings": EMBEDDINGS,
}


class OpenAIInstrumentor(StainlessInstrumentor):
    """Instruments the openai SDK (sync and async, every resource going through its client)."""

    requirement = "openai >= 1.66, < 4"
    package = "openai"
    # The OpenAI SDK on a host we do not know: an OpenAI-compatible server (vLLM, a proxy, ...).
    default_provider = OPENAI_COMPATIBLE

    def routes(self) -> Mapping[str, Route]:
        return ROUTES
