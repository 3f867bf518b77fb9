"""OpenAI adapter: Chat Completions, Completions, Responses and Embeddings, as route data.

The OpenAI wire format is also what Groq speaks (the groq SDK and the OpenAI SDK on a Groq base URL),
so the chat routes here serve both; Groq's stream usage arrives in ``x_groq.usage``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from genai_cost import semconv as sc
from genai_cost.instrumentation.contract import Request, ResponseInfo, Rewrite
from genai_cost.instrumentation.fields import (
    SAMPLING_PARAMS,
    Fields,
    ParamTable,
    as_int,
    as_number,
    as_str,
    as_str_tuple,
    choice_count,
    fields_of,
    get,
    is_mapping,
    read_params,
)
from genai_cost.instrumentation.stainless import Call, Route, StainlessInstrumentor
from genai_cost.providers import SDKS
from genai_cost.usage import Usage, amount, served_value


def _stop(value: Any) -> tuple[str, ...] | None:
    return (value,) if type(value) is str else as_str_tuple(value)


# Request body key -> (span attribute, converter), for parameters shared by chat and completions.
_PARAMS: ParamTable = {
    **SAMPLING_PARAMS,
    "stop": (sc.GEN_AI_REQUEST_STOP_SEQUENCES, _stop),
    "n": (sc.GEN_AI_REQUEST_CHOICE_COUNT, choice_count),
}
# Where a stream without usage is asked for it (``stream_options.include_usage``): servers known to accept
# the option. Other OpenAI-compatible servers may answer 400 to an option they do not know; OpenRouter,
# Perplexity and Groq end a stream with usage unasked.
_STREAM_USAGE_PROVIDERS = frozenset({sc.PROVIDER_OPENAI, sc.PROVIDER_AZURE_OPENAI, "deepseek", "x_ai"})


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


def stated_cost(usage: Any) -> float | None:
    """The cost the provider put in the usage itself, USD: OpenRouter's ``usage.cost`` (JSON and a
    stream's last chunk), Perplexity's ``usage.cost.total_cost`` (its breakdown's total). Only a
    finite non-negative number counts."""
    if usage is None:
        return None
    value: Any
    if type(usage) is dict:
        value = usage.get("cost")
    else:  # read without fields.get: a missing name there costs an exception, and most calls have none
        extra = getattr(usage, "__pydantic_extra__", None)  # the SDK's usage type has no cost field
        value = extra.get("cost") if extra else None
        if value is None:
            value = getattr(usage, "__dict__", _NO_FIELDS).get("cost")
    if value is None:  # most responses state none
        return None
    if type(value) not in (int, float):
        value = get(value, "total_cost")
    return amount(value)


_NO_FIELDS: dict[str, Any] = {}


def _served(info: ResponseInfo, tier: Any) -> ResponseInfo:
    """Add the tier the response says served the call (``service_tier``: "default", "flex",
    "priority", ...) to its usage, which prices it, and to the span under the OpenAI semconv name."""
    value = served_value(tier)
    if value is not None:
        if info.usage is not None:
            info.usage.service_tier = value
        info.attributes = {**(info.attributes or {}), sc.OPENAI_RESPONSE_SERVICE_TIER: value}
    return info


def _finish_reasons(choices: Any) -> tuple[str, ...]:
    return tuple(r for c in choices or () if (r := as_str(get(c, "finish_reason"))))


def _info(response: Fields, usage: Usage | None, finish_reasons: tuple[str, ...] = ()) -> ResponseInfo:
    return ResponseInfo(usage, as_str(response.get("id")), as_str(response.get("model")), finish_reasons)


def read_chat_response(response: Any) -> ResponseInfo:
    fields = fields_of(response)
    usage = fields.get("usage")
    info = _info(fields, chat_usage(usage), _finish_reasons(fields.get("choices")))
    info.provider_cost = stated_cost(usage)
    return _served(info, fields.get("service_tier"))


def read_responses_response(response: Any) -> ResponseInfo:
    fields = fields_of(response)
    status = as_str(fields.get("status"))
    usage = responses_usage(fields.get("usage"))
    if usage is not None:
        _count_tool_calls(usage, fields.get("output"))
    return _served(_info(fields, usage, (status,) if status else ()), fields.get("service_tier"))


# --- priced units: Responses built-in tool calls ---
# Output item type -> the Usage field counting it. Web search and file search are billed per call;
# code interpreter per container session, which the response does not show: its calls are counted
# and priced only where a rate is given (else the call is marked partial).
_TOOL_CALL_ITEMS = {
    "web_search_call": "web_search_calls",
    "file_search_call": "file_search_calls",
    "code_interpreter_call": "code_execution_calls",
}


def _count_tool_calls(usage: Usage, output: Any) -> None:
    """Count the built-in tool calls among a response's output items (the final response of a
    stream carries them all, so streams need no per-event work)."""
    for item in output or ():
        name = _TOOL_CALL_ITEMS.get(get(item, "type"))
        if name is not None:
            setattr(usage, name, (getattr(usage, name) or 0) + 1)


def read_embeddings_response(response: Any) -> ResponseInfo:
    fields = fields_of(response)
    tokens = as_int(get(fields.get("usage"), "prompt_tokens"))
    return _info(fields, Usage(input_tokens=tokens) if tokens is not None else None)


# --- streams ------------------------------------------------------------------------------------------
class ChatStreamState:
    """Chat/Completions chunks: usage from the final chunk (OpenAI) or ``x_groq.usage`` (Groq).

    Usage and (with one choice) the finish reason are in the last chunks, so after the first chunk
    (ids) the rest can pass untouched, unless a chunk is to be hidden, text counted for an estimate,
    or several choices may finish anywhere in the stream.
    """

    __slots__ = (
        "choices",
        "estimated_input",
        "every_chunk",
        "finish_reasons",
        "groq",
        "hide_usage_chunk",
        "output_chars",
        "response_id",
        "response_model",
        "service_tier",
        "usage",
        "usage_missing_reason",
    )

    def __init__(self, request: Request, rewrite: Rewrite, *, groq: bool = False) -> None:
        self.usage: Any = None
        self.usage_missing_reason = rewrite.usage_missing_reason
        self.estimated_input = rewrite.estimated_input_tokens
        self.output_chars = 0
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.service_tier: Any = None  # every chunk states it: read on the first and the usage chunk
        self.finish_reasons: list[str] = []
        self.choices = request.attributes.get(sc.GEN_AI_REQUEST_CHOICE_COUNT, 1)
        self.groq = groq or request.provider == sc.PROVIDER_GROQ
        self.hide_usage_chunk = rewrite.hide_usage_chunk
        self.every_chunk = self.hide_usage_chunk or self.estimated_input is not None or self.choices != 1

    @property
    def started(self) -> bool:
        return bool(self.response_id)  # Azure's first chunk (prompt filter results) has empty ids

    @property
    def complete(self) -> bool:
        return len(self.finish_reasons) >= self.choices

    def process(self, chunk: Any) -> bool:
        if not self.response_id:
            self.response_id = chunk.id
            self.response_model = chunk.model
            self.service_tier = get(chunk, "service_tier")
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
            self.service_tier = get(chunk, "service_tier") or self.service_tier
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

    def result(self) -> ResponseInfo:
        info = ResponseInfo(
            chat_usage(self.usage),
            as_str(self.response_id),
            as_str(self.response_model),
            tuple(self.finish_reasons),
        )
        if self.usage is not None:
            info.provider_cost = stated_cost(self.usage)
        elif self.usage_missing_reason is not None:
            info.attributes = {sc.GENAI_COST_USAGE_MISSING_REASON: self.usage_missing_reason}
        if info.usage is None and self.estimated_input is not None:
            info.attributes = {**(info.attributes or {}), sc.GENAI_COST_USAGE_ESTIMATED: True}
            info.usage = Usage(
                input_tokens=self.estimated_input, output_tokens=-(-self.output_chars // _CHARS_PER_TOKEN)
            )
        return _served(info, self.service_tier) if self.service_tier is not None else info


class ResponsesStreamState:
    """Responses API events: usage arrives only with response.completed (or .incomplete/.failed)."""

    __slots__ = ("final", "response")

    every_chunk = False
    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def __init__(self, request: Request, rewrite: Rewrite) -> None:
        self.response: Any = None  # from response.created, then from the final event
        self.final = False

    @property
    def started(self) -> bool:
        return self.response is not None

    @property
    def complete(self) -> bool:
        return self.final

    def process(self, event: Any) -> bool:
        event_type = event.type
        if event_type in self._FINAL:
            self.response, self.final = event.response, True
        elif event_type == "response.created" and self.response is None:
            self.response = event.response
        return True

    def result(self) -> ResponseInfo:
        if self.response is None:
            return ResponseInfo()
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


def prepare_stream(call: Call, request: Request) -> tuple[Any | None, Rewrite | None]:
    """Opt-in input estimate, and stream usage asked for on the app's behalf."""
    if not request.stream:
        return None, None
    estimated = None
    if call.settings.estimate_usage:
        estimated = -(-_text_chars(call.body()) // _CHARS_PER_TOKEN)
    new_options, refused = ask_for_stream_usage(call, request)
    if new_options is None and estimated is None and refused is None:
        return None, None
    return new_options, Rewrite(
        hide_usage_chunk=new_options is not None,
        estimated_input_tokens=estimated,
        usage_missing_reason=refused,
    )


def ask_for_stream_usage(call: Call, request: Request) -> tuple[Any | None, str | None]:
    """New options with ``stream_options.include_usage`` for an OpenAI stream the app left without it,
    or None and why not when the server would reject the option (an old Azure api-version).

    Only for the servers in ``_STREAM_USAGE_PROVIDERS`` (others may reject the option), only
    when the app did not decide either way (in its body or its ``extra_body``), and not for a raw
    response: the app reads those events itself, where the extra chunk could not be hidden.
    """
    if not (request.stream and call.settings.stream_usage and request.provider in _STREAM_USAGE_PROVIDERS):
        return None, None
    if request.raw:
        return None, None
    stream_options = call.body().get("stream_options")
    if stream_options is not None and (
        not isinstance(stream_options, Mapping) or "include_usage" in stream_options
    ):
        return None, None
    if request.provider == sc.PROVIDER_AZURE_OPENAI:
        refused = azure_refuses_stream_options(call)
        if refused is not None:
            return None, refused
    options = call.options
    body = options.json_data if is_mapping(options.json_data) else {}
    new_body = {**body, "stream_options": {**(stream_options or {}), "include_usage": True}}
    return options.model_copy(update={"json_data": new_body}), None


# Azure OpenAI accepts stream_options from api-version 2024-09-01-preview on; older versions answer
# 400 "Unrecognized request argument supplied: stream_options". Versions are dates (YYYY-MM-DD, maybe
# "-preview"); the v1 API (no api-version, or "v1", "preview", "latest") accepts it.
_AZURE_STREAM_OPTIONS_SINCE = "2024-09-01"
_AZURE_DATED = re.compile(r"\d{4}-\d{2}-\d{2}")


def azure_refuses_stream_options(call: Call) -> str | None:
    """Why an Azure call's api-version would reject ``stream_options``, or None if it accepts it."""
    params = getattr(call.options, "params", None)
    version = params.get("api-version") if is_mapping(params) else None
    if version is None:
        default_query = getattr(call.client, "default_query", None)
        version = default_query.get("api-version") if is_mapping(default_query) else None
    if type(version) is not str or not _AZURE_DATED.match(version):
        return None
    if version[:10] >= _AZURE_STREAM_OPTIONS_SINCE:
        return None
    return (
        f"Azure OpenAI api-version {version} rejects stream_options (2024-09-01-preview and later "
        "accept it), so stream usage was not asked for"
    )


# --- priced units: audio, speech, images ---
def read_model_request(body: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Audio and image requests: only the model (an upload's other fields are not billed)."""
    return as_str(body.get("model")), {}


def read_audio_response(response: Any) -> ResponseInfo:
    """A transcription or translation: billed tokens (``usage.type == "tokens"``, gpt-4o-transcribe),
    billed seconds (``usage.type == "duration"``, whisper-1), else verbose_json's ``duration`` (Groq).
    A ``text``/``srt``/``vtt`` reply (a plain string) or a json one without usage says nothing of the
    audio's length: the span is then marked ``genai_cost.usage.missing``, never priced at zero."""
    fields = fields_of(response) if not isinstance(response, str) else {}
    usage = fields.get("usage")
    kind = get(usage, "type")
    found: Usage | None = None
    if kind == "tokens":
        found = Usage(
            input_tokens=as_int(get(usage, "input_tokens")),
            output_tokens=as_int(get(usage, "output_tokens")),
            input_audio_tokens=as_int(get(get(usage, "input_token_details"), "audio_tokens")) or None,
        )
    else:
        seconds = as_number(get(usage, "seconds")) if kind == "duration" else None
        if seconds is None:
            seconds = as_number(fields.get("duration"))
        if seconds is not None and seconds >= 0:
            found = Usage(audio_seconds=float(seconds))
    if found is None or found.empty:
        return ResponseInfo(attributes={sc.GENAI_COST_USAGE_MISSING: True})
    return ResponseInfo(found)


def read_speech_request(body: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Speech is billed by the characters sent: counted here, as a usage attribute of the request
    (the reply is audio); ``SPEECH.usage_from_request`` makes them the call's usage."""
    text = body.get("input")
    attributes = {sc.GENAI_COST_INPUT_CHARACTERS: len(text)} if isinstance(text, str) else {}
    return as_str(body.get("model")), attributes


def read_speech_response(response: Any) -> ResponseInfo:
    return ResponseInfo()  # audio bytes: the usage is the request's characters


# DALL-E bills per image by size and quality; its reply states neither, and it makes what is asked, so
# they are read from the request, with the API's defaults when absent (dall-e-2 has one quality).
_DALL_E_DEFAULTS = {"dall-e-3": ("1024x1024", "standard"), "dall-e-2": ("1024x1024", "standard")}


def read_images_request(body: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The model and, for DALL-E, the images' "<size>/<quality>" (``Usage.image_option``, merged into
    the reply's image count: ``IMAGES.usage_from_request``). gpt-image-1 bills tokens: nothing more."""
    model = as_str(body.get("model"))
    defaults = _DALL_E_DEFAULTS.get(model.lower()) if model else None
    if defaults is None:
        return model, {}
    size = served_value(body.get("size")) or defaults[0]
    quality = served_value(body.get("quality")) or defaults[1]
    return model, {sc.GENAI_COST_PRICING_IMAGE_OPTION: f"{size}/{quality}"}


def read_images_response(response: Any) -> ResponseInfo:
    """gpt-image-1 bills tokens (its usage; the images are output tokens); DALL-E bills per image."""
    fields = fields_of(response)
    usage = fields.get("usage")
    if usage is not None:
        return ResponseInfo(
            Usage(
                input_tokens=as_int(get(usage, "input_tokens")),
                output_tokens=as_int(get(usage, "output_tokens")),
            )
        )
    data = fields.get("data")
    return ResponseInfo(Usage(images=len(data)) if isinstance(data, list) else None)


AUDIO = Route(sc.OP_TRANSCRIPTION, read_model_request, read_audio_response)
SPEECH = Route(sc.OP_SPEECH, read_speech_request, read_speech_response, usage_from_request=True)
IMAGES = Route(
    sc.OP_IMAGE_GENERATION,
    read_images_request,
    read_images_response,
    usage_from_request=True,
    reply_usage=True,
)

CHAT = Route(sc.OP_CHAT, read_chat_request, read_chat_response, ChatStreamState, prepare_stream)
COMPLETIONS = Route(
    sc.OP_TEXT_COMPLETION, read_completions_request, read_chat_response, ChatStreamState, prepare_stream
)
RESPONSES = Route(sc.OP_CHAT, read_responses_request, read_responses_response, ResponsesStreamState)
EMBEDDINGS = Route(sc.OP_EMBEDDINGS, read_embeddings_request, read_embeddings_response)

ROUTES: Mapping[str, Route] = {
    "/chat/completions": CHAT,
    "/completions": COMPLETIONS,
    "/responses": RESPONSES,
    "/embeddings": EMBEDDINGS,
    "/audio/transcriptions": AUDIO,
    "/audio/translations": AUDIO,
    "/audio/speech": SPEECH,
    "/images/generations": IMAGES,
    "/images/edits": IMAGES,
}


class OpenAIInstrumentor(StainlessInstrumentor):
    """Instruments the openai SDK (sync and async, every resource going through its client)."""

    requirement = SDKS["openai"].requirement
    package = "openai"
    # The OpenAI SDK on a host we do not know: an OpenAI-compatible server (vLLM, a proxy, ...).
    default_provider = SDKS["openai"].default_provider

    def routes(self) -> Mapping[str, Route]:
        return ROUTES
