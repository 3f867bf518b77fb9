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

Automatic function calling (``gemini_afc.py``): non-stream ``generate_content`` may send one request
per round of function calls and return the last response only; every request's usage is summed.

Calls the SDK rejects before sending anything (a TypeError, a ValidationError of the arguments) are
not provider requests: the SDK's API client's request methods are wrapped to mark a call as sent, and
a call that raised before that is marked ``genai_cost.request.not_sent`` and left out of the metrics
and the store, as the Stainless SDKs' own argument errors are (they raise before ``request``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from genai_cost import providers
from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation import gemini_afc, streams
from genai_cost.instrumentation.base import GenAICostInstrumentor, Patch
from genai_cost.instrumentation.contract import Request, ResponseInfo, ResponseReader, Rewrite
from genai_cost.instrumentation.core import Invocation, Telemetry, current_invocation, make_wrappers
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
from genai_cost.providers import SDKS
from genai_cost.usage import Usage, plus, served_value

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
        # Vertex AI states the tier served as a traffic type ("ON_DEMAND_FLEX", ...); the Gemini API
        # states none (its responses carry no tier: such calls are priced standard).
        service_tier=served_value(meta.get("traffic_type")),
    )


def _finish_reason(candidate: Any) -> str | None:
    reason = get(candidate, "finish_reason")
    if reason is None:
        return None
    # FinishReason is a str enum ("STOP"); unknown values arrive as plain strings.
    return str(getattr(reason, "value", reason)).lower()


def _model(model: str | None) -> str | None:
    return model_name(model) if model else None


def read_content_response(response: Any) -> ResponseInfo:
    fields = fields_of(response)
    candidates = fields.get("candidates") or ()
    reasons = tuple(r for c in candidates if (r := _finish_reason(c)))
    model = _model(as_str(fields.get("model_version")))
    usage = content_usage(fields.get("usage_metadata"))
    if usage is not None and reasons:
        usage.web_search_calls = grounded_searches(candidates, model)
    return ResponseInfo(usage, as_str(fields.get("response_id")), model, reasons)


# --- priced units: grounding with Google Search ---
def grounded_searches(candidates: Any, model: str | None) -> int | None:
    """What grounding with Google Search bills, from the candidates' ``grounding_metadata``: Gemini 3
    models bill each web search query, earlier ones each grounded prompt (one per request, however
    many queries). None when the response was not grounded. Read only from a response's last chunk
    (the one with a finish reason, which carries the metadata), so streams pay nothing per chunk."""
    queries = 0
    grounded = False
    for candidate in candidates:
        found = get(get(candidate, "grounding_metadata"), "web_search_queries")
        if found:
            grounded = True
            queries += len(found)
    if not grounded:
        return None
    return queries if model is not None and "gemini-3" in model else 1


def read_count_tokens_response(response: Any) -> ResponseInfo:
    total = as_int(get(response, "total_tokens"))
    if total is None:
        return ResponseInfo()
    return ResponseInfo(
        Usage(input_tokens=total, cache_read_tokens=as_int(get(response, "cached_content_token_count")))
    )


def read_embed_response(response: Any) -> ResponseInfo:
    tokens = as_int(get(get(response, "usage_metadata"), "prompt_token_count"))
    if tokens is None:  # Vertex AI reports a token count per embedding instead
        counts = [get(get(e, "statistics"), "token_count") for e in get(response, "embeddings") or ()]
        if counts and all(type(c) in (int, float) and c >= 0 for c in counts):
            tokens = int(sum(counts))
    if tokens is None:
        return ResponseInfo(attributes={sc.GENAI_COST_USAGE_MISSING: True})
    return ResponseInfo(Usage(input_tokens=tokens))


class ContentStreamState:
    """Chunks of ``generate_content_stream``: counts, ids and finish reasons, never text.

    Usage is cumulative within one request, so the latest replaces the previous. A chunk after a
    finished request starts another (automatic function calling): the finished request's usage is
    kept and the new one's added once it is known. A request has finished once a candidate reports
    a finish reason; a later chunk with the same response id still belongs to it (other candidates).
    SDKs before 1.29 surface no response id: a request has then finished once every candidate of a
    chunk has. (Automatic continuation keeps finish reasons clear between its hops and already sums
    their usage.) Requests can end anywhere in the stream, so every chunk is read.
    """

    __slots__ = ("done", "finish_reasons", "finished", "finished_id", "model", "response_id", "usage")

    every_chunk = True

    def __init__(self, request: Request | None = None, rewrite: Rewrite | None = None) -> None:
        self.done: Usage | None = None  # usage of the requests already finished
        self.usage: Usage | None = None  # latest usage of the current request
        self.finished = False  # the current request has finished
        self.finished_id: str | None = None
        self.response_id: str | None = None
        self.model: str | None = None
        self.finish_reasons: list[str] = []

    @property
    def started(self) -> bool:
        return True

    @property
    def complete(self) -> bool:
        return self.finished

    def process(self, chunk: Any) -> bool:
        response_id = as_str(get(chunk, "response_id"))
        if self.finished and (response_id is None or response_id != self.finished_id):
            self.done, self.usage, self.finished = plus(self.done, self.usage), None, False
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
            if usage is not None:
                usage.web_search_calls = grounded_searches(candidates, model or self.model)
            if response_id is not None or len(reasons) == len(candidates):
                self.finished, self.finished_id = True, response_id
        return True

    def result(self) -> ResponseInfo:
        return ResponseInfo(
            plus(self.done, self.usage), self.response_id, _model(self.model), tuple(self.finish_reasons)
        )


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

    def describe(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request | None:
        config = kwargs.get("config")
        found = endpoint(instance, config, self.settings.provider_hosts)
        attributes = read_config(config) if self.operation == sc.OP_GENERATE_CONTENT else {}
        return Request(
            operation=self.operation,
            provider=found.provider,
            model=model_name(kwargs.get("model")),
            attributes=attributes,
            server_address=found.address,
            server_port=found.port,
            stream=self.stream,
            billable=self.billable,
        )

    def prepare(
        self, request: Request, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Rewrite | None:
        if self.stream:  # a stream's requests are sent while the app reads it
            return None
        if self.loops and gemini_afc.may_call_functions(kwargs.get("config")):
            return _WATCH_SENDING_AND_REQUESTS
        return _WATCH_SENDING

    def on_result(self, invocation: Invocation, result: Any) -> Any:
        if self.stream:
            if not hasattr(result, "__next__"):  # not the generator we know: keep the app working
                invocation.finish()
                return result
            return streams.track_generator(result, invocation, ContentStreamState())
        return self._finish(invocation, result)

    def on_async_result(self, invocation: Invocation, result: Any) -> Any:
        if self.stream:
            if not hasattr(result, "__anext__"):
                invocation.finish()
                return result
            return streams.track_async_generator(result, invocation, ContentStreamState())
        return self._finish(invocation, result)

    def on_error(self, invocation: Invocation, error: BaseException) -> ResponseInfo | None:
        gemini_afc.forget(invocation)
        return None

    def _finish(self, invocation: Invocation, result: Any) -> Any:
        info = self.read_response(result) if self.read_response else ResponseInfo()
        if self.loops:
            info.usage = gemini_afc.all_requests(invocation, info.usage, content_usage)
        invocation.finish(info)
        return result


def _not_sent_yet(invocation: Invocation) -> None:
    invocation.sent = False  # until the API client's request method runs (_sending)


def _not_sent_yet_and_watch_requests(invocation: Invocation) -> None:
    invocation.sent = False
    gemini_afc.watch(invocation)


_WATCH_SENDING = Rewrite(on_start=_not_sent_yet)
_WATCH_SENDING_AND_REQUESTS = Rewrite(on_start=_not_sent_yet_and_watch_requests)


def _sending(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    invocation = current_invocation()
    if invocation is not None:
        invocation.sent = True
    return wrapped(*args, **kwargs)


# Public method name -> (operation, response reader, stream, billable).
_METHODS: dict[str, tuple[str, ResponseReader | None, bool, bool]] = {
    "generate_content": (sc.OP_GENERATE_CONTENT, read_content_response, False, True),
    "generate_content_stream": (sc.OP_GENERATE_CONTENT, None, True, True),
    "count_tokens": (sc.OP_COUNT_TOKENS, read_count_tokens_response, False, False),
    "embed_content": (sc.OP_EMBEDDINGS, read_embed_response, False, True),
}
# The API client's methods that send a request (the same names since google-genai 1.8).
_SEND_METHODS = ("request", "request_streamed", "async_request", "async_request_streamed")


class GoogleGenAIInstrumentor(GenAICostInstrumentor):
    """Instruments google-genai: ``client.models`` and ``client.aio.models`` (sync and async)."""

    requirement = SDKS["google-genai"].requirement
    hook_module = "google.genai.models"

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        from google.genai import _api_client, models

        for name, (operation, reader, stream, billable) in _METHODS.items():
            adapter = GoogleGenAIAdapter(operation, settings, reader, stream, billable)
            sync_wrapper, async_wrapper = make_wrappers(adapter, telemetry)
            yield models.Models, name, sync_wrapper
            yield models.AsyncModels, name, async_wrapper
        yield models.Models, gemini_afc.REQUEST_METHOD, gemini_afc.request_wrapper
        yield models.AsyncModels, gemini_afc.REQUEST_METHOD, gemini_afc.async_request_wrapper
        for name in _SEND_METHODS:
            yield _api_client.BaseApiClient, name, _sending
