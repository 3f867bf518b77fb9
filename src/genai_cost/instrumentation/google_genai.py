"""google-genai adapter: ``generate_content`` (and its stream), ``count_tokens``, ``embed_content``.

Why public methods, not one ``request`` method as for the Stainless SDKs: google-genai has no single
funnel that sees both the call and the parsed response. Its ``BaseApiClient.request`` returns raw JSON
before the SDK converts it (with different converters for the Gemini API and Vertex AI), streams are
generators built above it, and automatic continuation and automatic function calling loop above it
too. So, as the official OpenTelemetry google-genai instrumentation does, we wrap the public methods of
``google.genai.models.Models`` and ``AsyncModels`` with wrapt: one span per call the app makes, reading
the SDK's own typed responses. These methods have had the same shape since google-genai 1.0; 1.8 is
the first release that keeps ``thoughts_token_count`` and ``tool_use_prompt_token_count`` (older ones
drop them, under-counting thinking models), hence the lower bound.

Usage normalisation (``usage_metadata``), per the API reference (``total_token_count`` is the sum of
prompt, candidates, tool-use prompt and thoughts tokens):
- input = ``prompt_token_count`` (already includes ``cached_content_token_count``)
  + ``tool_use_prompt_token_count`` (tool results fed back to the model: billed as input, outside the
  prompt count); the tool-use part also stays visible on its own attribute.
- output = ``candidates_token_count`` + ``thoughts_token_count`` (thoughts are billed as output);
  thoughts are also the reasoning tokens; cached content tokens are the cache reads.
- audio input = the ``AUDIO`` entries of ``prompt_tokens_details`` and ``tool_use_prompt_tokens_details``
  (lists of ``ModalityTokenCount``, there since google-genai 1.8), a part of the input billed at its
  own rate ($1.00 vs $0.30 per million on 2.5 Flash). A video's audio track is reported by Gemini as
  AUDIO too. Left unset when no AUDIO entry is reported. Known limit: cached audio
  (``cache_tokens_details``) is not read apart. It stays inside this count and inside the cache reads,
  and the price book has no cached-audio rate yet ($0.10 on 2.5 Flash), so a call whose audio was
  served from the cache is mispriced (the audio surcharge lands on cache-read tokens).
- A stream's chunks carry cumulative usage: the last one wins, never a sum. When automatic function
  calling makes several requests inside one stream, each request's final usage is added once
  (google-genai 1.8 keeps the first request's chunks from the app, so there it is not counted). The app
  gets what the SDK gives it, a generator (sync) or an async generator (``await``-ed, async), yielding
  the SDK's own chunk objects.
- ``count_tokens`` costs nothing: its count goes on the span as a pre-estimate, not into the token
  metric nor the price (``CallSpec.billable``).
- ``embed_content`` may carry no usage (the Gemini API often sends none): then no token numbers are
  recorded and the gap is marked, never a zero.

Automatic function calling: with Python functions among its tools, non-stream ``generate_content``
sends one request per round of calls and returns the last response only, whose usage is that
request's alone. Every request goes through the private ``Models._generate_content``, so that method
is wrapped too, lightly: for a call that may loop (``CallSpec.on_start`` registers its span), each
request's usage is kept, and the span gets their sum. On an SDK without that method the span keeps
the last request's usage, as before.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import reduce
from typing import Any

import wrapt
from opentelemetry import trace

from genai_cost import semconv as sc
from genai_cost._internal import log_internal_error
from genai_cost.config import Settings
from genai_cost.instrumentation import providers, streams
from genai_cost.instrumentation.base import GenAICostInstrumentor
from genai_cost.instrumentation.core import CallSpec, Invocation, Telemetry, make_wrappers
from genai_cost.instrumentation.fields import (
    SAMPLING_PARAMS,
    ParamTable,
    as_int,
    as_number,
    as_str,
    choice_count,
    fields_of,
    get,
    read_params,
)
from genai_cost.usage import Usage

ResponseReader = Callable[[Any], tuple[Usage | None, dict[str, Any]]]

_OUTPUT_TYPES = {"application/json": "json", "text/plain": "text"}


def _output_type(mime_type: Any) -> str | None:
    return _OUTPUT_TYPES.get(mime_type) if type(mime_type) is str else None


def _stop(value: Any) -> tuple[str, ...] | None:
    # isinstance, not type(): a typed config may hold list or str subclasses.
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


# GenerateContentConfig field -> (span attribute, converter).
_PARAMS: ParamTable = {
    **SAMPLING_PARAMS,
    "top_k": (sc.GEN_AI_REQUEST_TOP_K, as_number),
    "max_output_tokens": (sc.GEN_AI_REQUEST_MAX_TOKENS, as_int),
    "stop_sequences": (sc.GEN_AI_REQUEST_STOP_SEQUENCES, _stop),
    "candidate_count": (sc.GEN_AI_REQUEST_CHOICE_COUNT, choice_count),
    "response_mime_type": (sc.GEN_AI_OUTPUT_TYPE, _output_type),
}
_MODEL_PREFIXES = ("models/", "publishers/", "projects/")


# --- request --------------------------------------------------------------------------------------
def model_name(model: Any) -> str | None:
    """``models/gemini-x`` and Vertex resource names (``.../models/gemini-x``) -> ``gemini-x``."""
    name = as_str(model)
    if name and name.startswith(_MODEL_PREFIXES):
        return name.rpartition("models/")[2] or name
    return name


def read_config(config: Any) -> dict[str, Any]:
    """Request attributes from a ``GenerateContentConfig`` or its dict form (never the contents)."""
    if config is None:
        return {}
    fields = fields_of(config)
    if not isinstance(fields, dict):  # not a model nor a dict: read the fields one by one
        fields = {key: fields.get(key) for key in _PARAMS}
    return read_params(fields, _PARAMS)


def endpoint(models: Any, config: Any, rules: dict[str, str]) -> providers.Endpoint:
    """Gemini API or Vertex AI from the client's flag; server.address from its base URL.

    A per-call ``config.http_options.base_url`` wins over the client's, as it does in the SDK.
    """
    client = models._api_client
    default = sc.PROVIDER_VERTEX_AI if getattr(client, "vertexai", False) else sc.PROVIDER_GEMINI
    base_url = get(get(config, "http_options"), "base_url") or get(
        getattr(client, "_http_options", None), "base_url"
    )
    return providers.detect(base_url or "", default, rules)


# --- response -------------------------------------------------------------------------------------
def modality_tokens(details: Any, modality: str) -> int | None:
    """The tokens of one modality in a ``list[ModalityTokenCount]`` (or its dict form); None if absent."""
    if not isinstance(details, list):
        return None
    total: int | None = None
    for entry in details:
        kind = get(entry, "modality")
        # MediaModality is a str enum ("AUDIO"); the dict form carries the plain string.
        if str(getattr(kind, "value", kind)).upper() == modality:
            count = as_int(get(entry, "token_count"))
            total = (total or 0) + (count or 0)
    return total


def _audio_tokens(meta: Any) -> int | None:
    prompt = modality_tokens(meta.get("prompt_tokens_details"), "AUDIO")
    tool_use = modality_tokens(meta.get("tool_use_prompt_tokens_details"), "AUDIO")
    return None if prompt is None and tool_use is None else (prompt or 0) + (tool_use or 0)


def content_usage(usage_metadata: Any) -> Usage | None:
    """Normalise ``usage_metadata`` (see the module docstring). Absent counts inside it are zero."""
    if usage_metadata is None:
        return None
    meta = fields_of(usage_metadata)
    prompt = as_int(meta.get("prompt_token_count"))
    candidates = as_int(meta.get("candidates_token_count"))
    thoughts = as_int(meta.get("thoughts_token_count"))
    if prompt is None and candidates is None and thoughts is None:
        return None
    tool_use = as_int(meta.get("tool_use_prompt_token_count"))
    return Usage(
        input_tokens=(prompt or 0) + (tool_use or 0),
        output_tokens=(candidates or 0) + (thoughts or 0),
        cache_read_tokens=as_int(meta.get("cached_content_token_count")),
        reasoning_tokens=thoughts,
        tool_use_prompt_tokens=tool_use,
        input_audio_tokens=_audio_tokens(meta),
    )


def _add(a: Usage | None, b: Usage | None) -> Usage | None:
    if a is None or b is None:
        return a or b

    def plus(x: int | None, y: int | None) -> int | None:
        return None if x is None and y is None else (x or 0) + (y or 0)

    return Usage(
        input_tokens=plus(a.input_tokens, b.input_tokens),
        output_tokens=plus(a.output_tokens, b.output_tokens),
        cache_read_tokens=plus(a.cache_read_tokens, b.cache_read_tokens),
        reasoning_tokens=plus(a.reasoning_tokens, b.reasoning_tokens),
        tool_use_prompt_tokens=plus(a.tool_use_prompt_tokens, b.tool_use_prompt_tokens),
        input_audio_tokens=plus(a.input_audio_tokens, b.input_audio_tokens),
    )


def _finish_reason(candidate: Any) -> str | None:
    reason = get(candidate, "finish_reason")
    if reason is None:
        return None
    # FinishReason is a str enum ("STOP"); unknown values arrive as plain strings.
    return str(getattr(reason, "value", reason)).lower()


def _response_attributes(
    response_id: str | None, model: str | None, reasons: list[str] | tuple[str, ...]
) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if response_id:
        attributes[sc.GEN_AI_RESPONSE_ID] = response_id
    if model:
        attributes[sc.GEN_AI_RESPONSE_MODEL] = model_name(model)
    if reasons:
        attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(reasons)
    return attributes


def read_content_response(response: Any) -> tuple[Usage | None, dict[str, Any]]:
    fields = fields_of(response)
    reasons = [r for c in fields.get("candidates") or () if (r := _finish_reason(c))]
    attributes = _response_attributes(
        as_str(fields.get("response_id")), as_str(fields.get("model_version")), reasons
    )
    return content_usage(fields.get("usage_metadata")), attributes


def read_count_tokens_response(response: Any) -> tuple[Usage | None, dict[str, Any]]:
    total = as_int(get(response, "total_tokens"))
    if total is None:
        return None, {}
    return Usage(
        input_tokens=total, cache_read_tokens=as_int(get(response, "cached_content_token_count"))
    ), {}


def read_embed_response(response: Any) -> tuple[Usage | None, dict[str, Any]]:
    tokens = as_int(get(get(response, "usage_metadata"), "prompt_token_count"))
    if tokens is None:  # Vertex AI reports a token count per embedding instead
        counts = [get(get(e, "statistics"), "token_count") for e in get(response, "embeddings") or ()]
        if counts and all(type(c) in (int, float) for c in counts):
            tokens = int(sum(counts))
    if tokens is None:
        return None, {sc.GENAI_COST_USAGE_MISSING: True}
    return Usage(input_tokens=tokens), {}


class ContentStreamState:
    """Chunks of ``generate_content_stream``: counts, ids and finish reasons, never text.

    Usage is cumulative within one request, so the latest replaces the previous. A chunk after a
    finished request starts another (automatic function calling): the finished request's usage is
    kept and the new one's added once it is known. A request has finished once a candidate reports
    a finish reason; a later chunk with the same response id still belongs to it (other candidates).
    SDKs before 1.29 surface no response id: a request has then finished once every candidate of a
    chunk has. (Automatic continuation keeps finish reasons clear between its hops and already sums
    their usage.)
    """

    __slots__ = ("done", "finish_reasons", "finished", "finished_id", "model", "response_id", "usage")

    def __init__(self) -> None:
        self.done: Usage | None = None  # usage of the requests already finished
        self.usage: Usage | None = None  # latest usage of the current request
        self.finished = False  # the current request has finished
        self.finished_id: str | None = None
        self.response_id: str | None = None
        self.model: str | None = None
        self.finish_reasons: list[str] = []

    def process(self, chunk: Any) -> bool:
        response_id = as_str(get(chunk, "response_id"))
        if self.finished and (response_id is None or response_id != self.finished_id):
            self.done, self.usage, self.finished = _add(self.done, self.usage), None, False
        if response_id:
            self.response_id = response_id
        model = as_str(get(chunk, "model_version"))
        if model:
            self.model = model
        usage = content_usage(get(chunk, "usage_metadata"))
        if usage is not None:
            self.usage = usage
        candidates = get(chunk, "candidates") or ()
        reasons = [reason for candidate in candidates if (reason := _finish_reason(candidate))]
        if reasons:
            self.finish_reasons.extend(reasons)
            if response_id is not None or len(reasons) == len(candidates):
                self.finished, self.finished_id = True, response_id
        return True

    def result(self) -> tuple[Usage | None, dict[str, Any]]:
        attributes = _response_attributes(self.response_id, self.model, self.finish_reasons)
        return _add(self.done, self.usage), attributes


# --- automatic function calling ---------------------------------------------------------------------
# Span of a call that may loop -> usage of each request it sent so far. Weak keys: an entry left by a
# call that raised goes with its span.
_REQUESTS: weakref.WeakKeyDictionary[Any, list[Usage | None]] = weakref.WeakKeyDictionary()
_REQUEST_METHOD = "_generate_content"  # what the SDK's function-calling loop calls once per request


def may_call_functions(config: Any) -> bool:
    """Python functions among the tools: the SDK may then call them and send more requests."""
    tools = get(config, "tools")
    return isinstance(tools, list) and any(callable(tool) for tool in tools)


def _watch_requests(span: trace.Span) -> None:
    _REQUESTS[span] = []


def _note_request(response: Any) -> None:
    if not _REQUESTS:  # no call that may loop is in flight: the usual case costs one check
        return
    try:
        requests = _REQUESTS.get(trace.get_current_span())
        if requests is not None:
            requests.append(content_usage(get(response, "usage_metadata")))
    except Exception:
        log_internal_error("reading a function-calling request")


def _request_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    response = wrapped(*args, **kwargs)
    _note_request(response)
    return response


async def _async_request_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    response = await wrapped(*args, **kwargs)
    _note_request(response)
    return response


def _all_requests(span: trace.Span, usage: Usage | None) -> Usage | None:
    """The summed usage of every request the call sent, when there was more than one."""
    requests = _REQUESTS.pop(span, None)
    if requests is None or len(requests) < 2:
        return usage
    return reduce(_add, requests)


# --- the adapter ------------------------------------------------------------------------------------
class GoogleGenAIAdapter:
    """One public method of ``Models``/``AsyncModels``: how to describe and read its calls."""

    def __init__(
        self,
        operation: str,
        settings: Settings,
        read_response: ResponseReader | None,
        stream: bool = False,
        billable: bool = True,
    ) -> None:
        self.operation = operation
        self.settings = settings
        self.read_response = read_response
        self.stream = stream
        self.billable = billable
        # Non-stream generate_content: the one call that returns only its last request's response.
        self.loops = operation == sc.OP_GENERATE_CONTENT and not stream

    def describe(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallSpec | None:
        config = kwargs.get("config")
        found = endpoint(instance, config, self.settings.provider_hosts)
        attributes = read_config(config) if self.operation == sc.OP_GENERATE_CONTENT else {}
        return CallSpec(
            operation=self.operation,
            provider=found.provider,
            request_model=model_name(kwargs.get("model")),
            attributes=attributes,
            server_address=found.address,
            server_port=found.port,
            stream=self.stream,
            read_response=self.read_response,
            billable=self.billable,
            on_start=_watch_requests if self.loops and may_call_functions(config) else None,
        )

    def is_stream(self, result: Any) -> bool:
        return self.stream

    def on_result(self, invocation: Invocation, result: Any) -> Any:
        if self.stream:
            if not hasattr(result, "__next__"):  # not the generator we know: keep the app working
                invocation.finish(None)
                return result
            return streams.track_generator(result, invocation, ContentStreamState())
        return self._finish(invocation, result)

    def on_async_result(self, invocation: Invocation, result: Any) -> Any:
        if self.stream:
            if not hasattr(result, "__anext__"):
                invocation.finish(None)
                return result
            return streams.track_async_generator(result, invocation, ContentStreamState())
        return self._finish(invocation, result)

    def _finish(self, invocation: Invocation, result: Any) -> Any:
        usage, attributes = self.read_response(result) if self.read_response else (None, None)
        if _REQUESTS and self.loops:
            usage = _all_requests(invocation.span, usage)
        invocation.finish(usage, attributes)
        return result


# Public method name -> (operation, response reader, stream, billable).
_METHODS: dict[str, tuple[str, ResponseReader | None, bool, bool]] = {
    "generate_content": (sc.OP_GENERATE_CONTENT, read_content_response, False, True),
    "generate_content_stream": (sc.OP_GENERATE_CONTENT, None, True, True),
    "count_tokens": (sc.OP_COUNT_TOKENS, read_count_tokens_response, False, False),
    "embed_content": (sc.OP_EMBEDDINGS, read_embed_response, False, True),
}


def _is_ours(attribute: Any) -> bool:
    return getattr(getattr(attribute, "_self_wrapper", None), "__genai_cost__", False) is True


class GoogleGenAIInstrumentor(GenAICostInstrumentor):
    """Instruments google-genai: ``client.models`` and ``client.aio.models`` (sync and async)."""

    requirement = "google-genai >= 1.8, < 4"
    hook_module = "google.genai.models"

    def _patch(self, telemetry: Telemetry, settings: Settings) -> None:
        from google.genai import models

        wrappers: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
            _REQUEST_METHOD: (_request_wrapper, _async_request_wrapper)
        }
        for name, (operation, reader, stream, billable) in _METHODS.items():
            adapter = GoogleGenAIAdapter(operation, settings, reader, stream, billable)
            wrappers[name] = make_wrappers(adapter, telemetry, adapter.on_result, adapter.on_async_result)
        for name, (sync_wrapper, async_wrapper) in wrappers.items():
            for cls, wrapper in ((models.Models, sync_wrapper), (models.AsyncModels, async_wrapper)):
                current = cls.__dict__.get(name)
                if current is None or _is_ours(current):
                    continue  # an SDK without this method, or already ours: never twice
                wrapper.__genai_cost__ = True  # type: ignore[attr-defined]
                setattr(cls, name, wrapt.FunctionWrapper(current, wrapper))

    def _unpatch(self) -> None:
        from google.genai import models

        for cls in (models.Models, models.AsyncModels):
            for name in (*_METHODS, _REQUEST_METHOD):
                current = cls.__dict__.get(name)
                if current is not None and _is_ours(current):
                    setattr(cls, name, current.__wrapped__)  # the SDK's own function object
