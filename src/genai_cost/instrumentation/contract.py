"""The adapter contract: what a provider adapter gives the core, and what the core gives back.

An adapter is data plus a few small functions (after Logfire's ``EndpointConfig``):
- ``describe`` turns an intercepted SDK call into a ``Request`` (immutable) or None (not ours);
- ``prepare`` may return a ``Rewrite``: new call arguments, a usage chunk to hide, an input estimate,
  a hook to run once the span has started. It never changes the ``Request``;
- ``on_result`` / ``on_async_result`` turn what the SDK returned into what the app gets (the same
  object; a stream or raw response is instrumented in place) and finish the call when it is complete;
  ``on_error`` reads what a call that raised was still billed for;
- response readers return one ``ResponseInfo``; the core writes its standard attributes once;
- a ``StreamState`` sees a stream's chunks, keeps counts and ids (never text) and gives a
  ``ResponseInfo`` at the end. Its ``every_chunk`` says which chunks it needs (set at construction,
  never changed); otherwise it sees chunks until ``started`` and then only the last few.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from genai_cost.usage import Usage

if TYPE_CHECKING:
    from genai_cost.instrumentation.core import Invocation


class Request(NamedTuple):
    """What an adapter says about one call before it is made. Immutable (a NamedTuple: it is made
    for every call, and a frozen dataclass costs a call per field to build)."""

    operation: str
    provider: str
    model: str | None
    attributes: Mapping[str, Any]  # request attributes, semconv names
    server_address: str | None = None
    server_port: int | None = None
    stream: bool = False
    raw: bool = False  # with_raw_response / with_streaming_response: the app parses later
    # False for calls that cost nothing (count_tokens): usage goes on the span as a pre-estimate,
    # not into the token metric nor the price.
    billable: bool = True
    endpoint: str | None = None  # the adapter's own key for the API operation (a URL path, a method)


class Rewrite(NamedTuple):
    """What an adapter changes about a call: every field is optional. Immutable."""

    args: tuple[Any, ...] | None = None  # the call's new positional arguments
    kwargs: dict[str, Any] | None = None  # the call's new keyword arguments
    # We asked for stream usage the app did not ask for: the usage-only chunk is ours, not the app's.
    hide_usage_chunk: bool = False
    # Estimated input tokens of a stream (only when the user opted in to estimates).
    estimated_input_tokens: int | None = None
    # Called once the span has started, before the SDK call.
    on_start: Callable[[Invocation], None] | None = None
    # Why the stream will carry no usage, when known before the call (put on the span if none comes).
    usage_missing_reason: str | None = None


NO_REWRITE = Rewrite()


@dataclass(slots=True)
class ResponseInfo:
    """What a response (or a finished stream) says: usage and the standard response attributes."""

    usage: Usage | None = None
    response_id: str | None = None
    model: str | None = None
    finish_reasons: tuple[str, ...] = ()
    attributes: dict[str, Any] | None = None  # extras, semconv or genai_cost names
    # The call's cost as the provider stated it in the response (OpenRouter usage.cost), USD: it wins
    # over our estimate (gen_ai.usage.cost.source=provider).
    provider_cost: float | None = None


ResponseReader = Callable[[Any], ResponseInfo]


class StreamState(Protocol):
    """Per-stream accumulator. Constructed as ``State(request, rewrite)``.

    ``every_chunk`` False: ``process`` sees chunks until ``started`` is true, then the core keeps only
    the last few (``streams.TAIL_CHUNKS``) and hands them to ``process`` when the stream ends, before
    ``result``: usage and finish reasons arrive in the last chunks. True: ``process`` sees every chunk
    (to hide one, to count text for an estimate, or when ends can come anywhere).
    """

    every_chunk: bool

    @property
    def started(self) -> bool:
        """The state has what the first chunks carry (ids, model)."""
        ...

    @property
    def complete(self) -> bool:
        """The provider finished the response (a final event, a finish reason for every choice)."""
        ...

    def process(self, chunk: Any) -> bool:
        """Look at one chunk; return False to hide it from the app (a usage chunk we asked for)."""
        ...

    def result(self) -> ResponseInfo: ...


class Adapter(Protocol):
    """A provider adapter, as the core uses it (see the module docstring)."""

    def describe(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request | None: ...

    def prepare(
        self, request: Request, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Rewrite | None: ...

    def on_result(self, invocation: Invocation, result: Any) -> Any: ...

    def on_async_result(self, invocation: Invocation, result: Any) -> Any: ...

    def on_error(self, invocation: Invocation, error: BaseException) -> ResponseInfo | None:
        """What a call that raised was still billed for (e.g. a response whose parsing failed)."""
        ...
