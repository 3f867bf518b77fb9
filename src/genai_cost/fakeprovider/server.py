"""The HTTP side of the fake providers: sockets, routing, SSE framing, failure injection and the ledger.

Standard library only (``http.server`` + ``json``), so it starts in milliseconds and can run inside any
test or demo. HTTP/1.1 with keep-alive, since the SDKs pool connections; streams use chunked transfer
encoding so a connection survives a finished stream, and can be cut in the middle of one on request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from genai_cost.fakeprovider.anthropic_api import AnthropicFormat
from genai_cost.fakeprovider.compatible import COMPATIBLE_PROVIDERS, compatible_formats
from genai_cost.fakeprovider.exchange import Reply, Request, Route, WireFormat
from genai_cost.fakeprovider.gemini_api import GeminiFormat
from genai_cost.fakeprovider.gemini_files import GeminiFiles
from genai_cost.fakeprovider.ledger import BilledCall, Ledger, billed
from genai_cost.fakeprovider.openai_api import OpenAIFormat
from genai_cost.fakeprovider.rules import Tokens

log = logging.getLogger(__name__)

MidStream = Literal["error", "cut"]
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_REASONS = {529: "Overloaded"}  # http.server knows no phrase for Anthropic's 529
MARKER = "genai-cost-fake"
_MARKER = re.compile(rf"/{MARKER}/([a-z][a-z0-9_.-]*)(?=/|$)")
_DEFAULT_MALFORMED = b'{"id": "broken", "object": "chat.completion", "choices": [{"index": 0, "mess'


@dataclass
class _Failure:
    status: int
    remaining: int
    path_contains: str | None
    retry_after: float | None
    body: Any
    mid_stream: MidStream | None

    def matches(self, raw_path: str, stream: bool) -> bool:
        if self.path_contains is not None and self.path_contains not in raw_path:
            return False
        return stream if self.mid_stream else True


class FakeProviderServer:
    """OpenAI, Anthropic, Groq and Gemini on one local port, with a ledger of what each call billed.

    ``chunk_delay`` (seconds) paces stream events, for tests of time-to-first-chunk or of a client that
    hangs up half way. Use as a context manager, or call ``start()``/``stop()``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, chunk_delay: float = 0.0) -> None:
        self.host = host
        self.chunk_delay = chunk_delay
        self._requested_port = port
        self._ledger = Ledger()
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        gemini = GeminiFormat()
        formats: list[WireFormat] = [
            OpenAIFormat(),
            OpenAIFormat(groq=True),
            AnthropicFormat(),
            gemini,
            GeminiFormat(vertex=True),
        ]
        # OpenAI-compatible providers, reached by the marker in their base URL only (they share paths).
        compatible: list[WireFormat] = list(compatible_formats())
        self._compatible = {fmt.provider: [(route, fmt) for route in fmt.routes()] for fmt in compatible}
        self._formats = {fmt.provider: fmt for fmt in [*formats, *compatible]}
        # Files come before the generic Gemini route; their errors are worded like Gemini's.
        self._routes: list[tuple[Route, WireFormat]] = [(route, gemini) for route in GeminiFiles().routes()]
        self._routes += [(route, fmt) for fmt in formats for route in fmt.routes()]
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeProviderServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self.host, self._requested_port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        # A short poll interval keeps stop() (and so every `with` block) fast.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-provider", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI's loop)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake provider server is not running; call start() or use `with`")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # The base URLs for the OpenAI SDK end in /genai-cost-fake/<provider>: genai-cost recognises that
    # marker as the provider the server imitates (any other local server the OpenAI SDK talks to is
    # "openai_compatible"), so OpenAI calls are `openai`, and their streams carry usage, with no setting.
    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1/{MARKER}/openai"

    @property
    def groq_base_url(self) -> str:
        return f"{self.url}/groq"  # the groq SDK appends /openai/v1/...

    @property
    def groq_openai_base_url(self) -> str:
        return f"{self.url}/groq/openai/v1/{MARKER}/groq"  # for the OpenAI SDK pointed at "Groq"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def gemini_base_url(self) -> str:
        return self.url

    @property
    def vertex_base_url(self) -> str:
        return self.url  # genai.Client(vertexai=True, ..., http_options=HttpOptions(base_url=...))

    def compatible_base_url(self, provider: str) -> str:
        """The OpenAI SDK's base URL for an OpenAI-compatible provider the fake imitates: deepseek,
        openrouter, together, fireworks (see compatible.py). genai-cost sees that provider."""
        return f"{self.url}/v1/{MARKER}/{provider}"

    @property
    def azure_endpoint(self) -> str:
        """``AzureOpenAI(azure_endpoint=...)`` for the fake Azure OpenAI (deployments route, api-version)."""
        return f"{self.url}/{MARKER}/azure"

    def base_urls(self) -> dict[str, str]:
        return {
            "openai": self.openai_base_url,
            "groq": self.groq_base_url,
            "groq_openai": self.groq_openai_base_url,
            "anthropic": self.anthropic_base_url,
            "gemini": self.gemini_base_url,
            "vertex_ai": self.vertex_base_url,
            # OpenAI-compatible providers (compatible.py), for the OpenAI SDK; Azure for AzureOpenAI.
            **{name: self.compatible_base_url(name) for name in COMPATIBLE_PROVIDERS},
            "azure_endpoint": self.azure_endpoint,
        }

    # -- ledger and control ----------------------------------------------------------------------
    @property
    def ledger(self) -> list[BilledCall]:
        """A snapshot of the calls served so far, oldest first."""
        return self._ledger.snapshot()

    def fail_next(
        self,
        status: int = 429,
        times: int = 1,
        path_contains: str | None = None,
        retry_after: float | None = 1,
        body: Any = None,
        mid_stream: bool | MidStream = False,
    ) -> None:
        """Make the next ``times`` matching requests fail.

        - ``status``: sent with the provider's own error envelope and headers (429 adds ``retry-after``,
          ``retry-after-ms`` and rate-limit headers). ``status=200`` sends a malformed JSON body.
        - ``path_contains``: only requests whose path (with query) contains this string.
        - ``retry_after``: seconds; a fraction such as 0.01 keeps SDK retries fast. None: no header.
        - ``body``: send this instead (a dict as JSON, str/bytes as they are).
        - ``mid_stream``: only streaming requests; the stream starts, sends the first text, then sends the
          provider's error event (True or "error") or drops the connection ("cut").
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        mode: MidStream | None = None
        if mid_stream:
            mode = "error" if mid_stream is True else mid_stream
            if mode not in ("error", "cut"):
                raise ValueError('mid_stream must be True, "error" or "cut"')
        failure = _Failure(status, times, path_contains, retry_after, body, mode)
        with self._lock:
            self._failures.append(failure)

    def reset(self) -> None:
        """Forget the ledger and any pending failures."""
        with self._lock:
            self._failures.clear()
        self._ledger.clear()

    def expected_usage(
        self, provider: str, endpoint: str, body: Mapping[str, Any], model: str | None = None
    ) -> Tokens:
        """The usage the server reports for a request ``body`` as it goes over the wire.

        ``model`` defaults to ``body["model"]`` (Gemini carries it in the path, so pass it there).
        """
        fmt = self._formats[provider]
        body = dict(body)
        return fmt.expected_tokens(endpoint, body, model if model is not None else str(body.get("model", "")))

    def _take_failure(self, raw_path: str, stream: bool) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.matches(raw_path, stream):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    return failure
        return None

    # -- serving ---------------------------------------------------------------------------------
    def _route(self, path: str, marker: str | None = None) -> tuple[Route, WireFormat, re.Match[str]] | None:
        for route, fmt in self._compatible.get(marker or "", []) + self._routes:
            match = route.pattern.fullmatch(path)
            if match is not None:
                return route, fmt, match
        return None

    def _serve(self, handler: _Handler, method: str) -> None:
        split = urlsplit(handler.path)
        # The provider marker of the OpenAI-SDK base URLs is an address, not part of the API: drop it
        # (it picks the OpenAI-compatible provider that answers, see compatible.py).
        marker = _MARKER.search(split.path)
        split = split._replace(path=_MARKER.sub("", split.path, count=1))
        path = split.path.rstrip("/") or "/"
        raw_body = handler.read_body()
        found = self._route(path, marker.group(1) if marker else None)
        if found is None:
            handler.send_json(404, _not_found(f"no fake provider route for {method} {split.path}", 404))
            return
        route, fmt, match = found
        if method not in route.methods:
            handler.send_json(405, _not_found(f"{method} is not served on {split.path}", 405))
            return
        endpoint = route.endpoint or match.group("method")
        params = {k: v for k, v in match.groupdict().items() if v is not None}
        headers = {key.lower(): value for key, value in handler.headers.items()}
        query = dict(parse_qsl(split.query))
        if not route.billed:
            body = _json_object(raw_body) or {}
            reply = route.handler(Request(method, split.path, query, headers, body, params, raw_body))
            handler.send_json(reply.status, reply.body if reply.body is not None else {}, reply.headers)
            return
        try:
            content_type = handler.headers.get("content-type", "")
            if content_type.startswith("multipart/form-data"):
                body = _form_fields(content_type, raw_body)  # audio uploads
            else:
                body = json.loads(raw_body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
        except ValueError as exc:
            handler.send_json(400, fmt.error_body(400, f"invalid JSON body: {exc}"))
            return
        request = Request(method, split.path, query, headers, body, params, raw_body)
        stream = fmt.is_stream(endpoint, request)
        model = fmt.model_of(request)
        common: dict[str, Any] = {
            "provider": fmt.provider,
            "endpoint": endpoint,
            "model": model,
            "stream": stream,
            "path": path,
        }

        failure = self._take_failure(split.path + (f"?{split.query}" if split.query else ""), stream)
        if failure is not None and failure.mid_stream is None:
            self._fail(handler, fmt, failure, common)
            return

        reply = route.handler(request)
        if reply.status != 200:
            error = fmt.error_type(reply.status)
            self._ledger.append(billed(**common, status=reply.status, usage_reported=False, error=error))
            handler.send_json(reply.status, reply.body, reply.headers)
            return
        if reply.events is None:
            self._ledger.append(self._record(reply, common))
            handler.send_json(200, reply.body, reply.headers, reply.content_type)
            return
        self._stream(handler, fmt, endpoint, reply, common, failure)

    def _record(self, reply: Reply, common: dict[str, Any]) -> BilledCall:
        return billed(
            **common,
            status=200,
            response_id=reply.response_id,
            tokens=reply.tokens,
            usage_reported=reply.tokens is not None,
            counted_tokens=reply.counted_tokens,
            provider_cost=reply.provider_cost,
            served=reply.served,
            units=reply.units,
        )

    def _fail(self, handler: _Handler, fmt: WireFormat, failure: _Failure, common: dict[str, Any]) -> None:
        status = failure.status
        error = "malformed_body" if status == 200 else fmt.error_type(status)
        self._ledger.append(billed(**common, status=status, usage_reported=False, error=error))
        headers = fmt.error_headers(status, failure.retry_after)
        if failure.body is not None:
            payload = failure.body
        elif status == 200:
            payload = _DEFAULT_MALFORMED
        else:
            payload = fmt.error_body(status, f"injected {status} from the genai-cost fake provider")
        handler.send_json(status, payload, headers)

    def _stream(
        self,
        handler: _Handler,
        fmt: WireFormat,
        endpoint: str,
        reply: Reply,
        common: dict[str, Any],
        failure: _Failure | None,
    ) -> None:
        events = reply.events or []
        if failure is not None:
            keep = max(1, min(reply.events_before_failure, len(events) - 1))
            events = events[:keep]
            error = "connection_cut" if failure.mid_stream == "cut" else fmt.error_type(failure.status)
            entry = billed(
                **common, status=200, response_id=reply.response_id, usage_reported=False, error=error
            )
        else:
            entry = self._record(reply, common)
        # Record first: a client may read the ledger as soon as it has parsed the last event.
        self._ledger.append(entry)
        try:
            handler.start_sse(reply.headers)
            for i, (name, data) in enumerate(events):
                if i and self.chunk_delay:
                    handler.pause(self.chunk_delay)
                handler.send_event(name, data)
            if failure is not None and failure.mid_stream == "cut":
                handler.cut()
                return
            if failure is not None:
                message = f"injected mid-stream {failure.status} from the genai-cost fake provider"
                for name, data in fmt.stream_error(endpoint, failure.status, message, len(events)):
                    handler.send_event(name, data)
            handler.end_sse()
        except _DISCONNECTS:
            handler.close_connection = True
            self._ledger.replace(
                entry,
                billed(
                    **common,
                    status=200,
                    response_id=reply.response_id,
                    usage_reported=False,
                    error="client_disconnected",
                ),
            )


def _form_fields(content_type: str, raw: bytes) -> dict[str, Any]:
    """A multipart/form-data body as a dict: text fields as strings, a file as its size in bytes
    under ``<name>_bytes`` (the audio's length is all a fake bill needs)."""
    message = BytesParser(policy=default_policy).parsebytes(
        b"content-type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        if part.get_filename() is not None:
            fields[f"{name}_bytes"] = len(payload)
        else:
            fields[name] = payload.decode()
    if not fields:
        raise ValueError("no form fields")
    return fields


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _not_found(message: str, status: int) -> dict[str, Any]:
    # One envelope every SDK can read: Anthropic's shape, plus OpenAI's/Google's code and status.
    return {
        "type": "error",
        "error": {"type": "not_found_error", "message": message, "code": status, "status": "NOT_FOUND"},
    }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 512  # listen backlog: tests open hundreds of connections at once
    owner: FakeProviderServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def track(self, conn: socket.socket, *, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client dropping a keep-alive connection is routine (SDKs close streams they abandon).
        if isinstance(sys.exc_info()[1], (*_DISCONNECTS, TimeoutError)):
            return
        log.exception("fake provider connection from %s failed", client_address)

    def close_connections(self) -> None:
        """Unblock handler threads parked on idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "genai-cost-fakeprovider"

    def setup(self) -> None:
        super().setup()
        # Many small SSE writes: without this, Nagle + delayed ACK add ~40 ms per stream.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        self.server.track(self.connection, alive=False)
        with contextlib.suppress(OSError):
            super().finish()

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            self.server.owner._serve(self, method)
        except _DISCONNECTS:
            self.close_connection = True
        except Exception as exc:  # a bug in the fake must show up as a 500, not a hung client
            log.exception("fake provider failed on %s %s", method, self.path)
            try:
                self.send_json(500, _not_found(f"fake provider error: {exc!r}", 500))
            except OSError:
                self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    # -- reading ---------------------------------------------------------------------------------
    def read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    # -- writing ---------------------------------------------------------------------------------
    def _status(self, status: int) -> None:
        self.send_response(status, _REASONS.get(status))

    def send_json(
        self,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload).encode()
        self._status(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def start_sse(self, headers: Mapping[str, str]) -> None:
        self._status(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def send_event(self, name: str | None, data: Any) -> None:
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        text = (f"event: {name}\n" if name else "") + f"data: {payload}\n\n"
        chunk = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    def end_sse(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def cut(self) -> None:
        """Drop the connection in the middle of the chunked body."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
