"""The small contract between the HTTP server and the wire-format modules.

A wire-format module turns a parsed ``Request`` into a ``Reply`` (a JSON document or a list of SSE
events, plus the usage it reports). The server owns sockets, routing, failure injection and the ledger,
so the format modules are pure data transformations.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from genai_cost.fakeprovider.rules import Tokens, Units

# (event name or None, data): data is a JSON document, or a str sent as is (OpenAI's "[DONE]").
SSEEvent = tuple[str | None, Any]


@dataclass
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: dict[str, Any]
    params: dict[str, str]  # named groups of the route pattern (model, version, method)
    raw: bytes = b""  # the body as sent, for routes that take bytes (file uploads)


@dataclass
class Reply:
    model: str
    response_id: str = ""
    status: int = 200
    body: Any = None  # a JSON document, for JSON replies
    events: list[SSEEvent] | None = None  # for SSE replies
    tokens: Tokens | None = None  # the usage this reply reports; None when it reports none
    counted_tokens: int | None = None
    units: Units | None = None  # units billed per use (tool calls, images, audio, characters)
    content_type: str = "application/json"  # of ``body`` (bytes or str for audio and text replies)
    headers: dict[str, str] = field(default_factory=dict)
    # For mid-stream failure injection: how many events go out before the error event.
    events_before_failure: int = 2
    # The cost the reply states itself (OpenRouter's usage.cost), USD; None when it states none.
    provider_cost: float | None = None
    # How this reply says the call was served (service_tier, processing, speed, inference_geo), for the
    # ledger: the billed dimensions beyond tokens.
    served: dict[str, str] = field(default_factory=dict)

    @property
    def stream(self) -> bool:
        return self.events is not None


Handler = Callable[[Request], Reply]


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    endpoint: str | None  # None: the endpoint is the route's ``method`` group (Gemini's ":generateContent")
    handler: Handler
    methods: frozenset[str] = frozenset({"POST"})
    # False for free side services (file storage): no JSON body parsing, no ledger, no failure injection.
    billed: bool = True


class WireFormat(Protocol):
    """One provider's wire format: its routes, and how it words errors."""

    provider: str

    def routes(self) -> list[Route]: ...

    def is_stream(self, endpoint: str, request: Request) -> bool: ...

    def model_of(self, request: Request) -> str: ...

    def error_body(self, status: int, message: str) -> dict[str, Any]: ...

    def error_type(self, status: int) -> str: ...

    def error_headers(self, status: int, retry_after: float | None) -> dict[str, str]: ...

    def stream_error(self, endpoint: str, status: int, message: str, sent: int) -> list[SSEEvent]: ...

    def expected_tokens(self, endpoint: str, body: dict[str, Any], model: str) -> Tokens: ...


def new_id(prefix: str, size: int = 24) -> str:
    return prefix + secrets.token_hex(size // 2)


def now() -> int:
    return int(time.time())


def retry_after_headers(retry_after: float | None) -> dict[str, str]:
    """``retry-after`` in seconds, plus ``retry-after-ms`` so SDKs can honour sub-second waits in tests."""
    if retry_after is None:
        return {}
    seconds = int(retry_after) if float(retry_after).is_integer() else retry_after
    return {"retry-after": str(seconds), "retry-after-ms": str(int(retry_after * 1000))}
