"""Anthropic's Messages wire format: ``/v1/messages`` (JSON and SSE) and ``/v1/messages/count_tokens``.

Billing facts this format carries: ``usage.input_tokens`` leaves out cache reads and writes (they sit
beside it, with the writes split by TTL in ``cache_creation``); thinking (``thinking.type`` "enabled" or
"adaptive") is billed inside ``output_tokens``, and ``output_tokens_details.thinking_tokens`` says how
much; in a stream, ``message_start`` holds the input counts and a provisional ``output_tokens``, and
``message_delta`` holds the cumulative final ``output_tokens``. ``?beta=true`` (the SDK's
``client.beta``) is served the same way.
"""

from __future__ import annotations

import re
import time
from typing import Any

from genai_cost.fakeprovider import rules
from genai_cost.fakeprovider.exchange import Reply, Request, Route, SSEEvent, new_id, retry_after_headers
from genai_cost.fakeprovider.rules import Tokens

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class AnthropicFormat:
    provider = "anthropic"

    def routes(self) -> list[Route]:
        return [
            Route(re.compile(r"/v1/messages"), "messages", self.messages),
            Route(re.compile(r"/v1/messages/count_tokens"), "messages.count_tokens", self.count_tokens),
        ]

    def is_stream(self, endpoint: str, request: Request) -> bool:
        return endpoint == "messages" and bool(request.body.get("stream"))

    def model_of(self, request: Request) -> str:
        return str(request.body.get("model") or "")

    def expected_tokens(self, endpoint: str, body: dict[str, Any], model: str) -> Tokens:
        text = rules.prompt_text(body)
        total = text.tokens
        if endpoint == "messages.count_tokens":
            return Tokens()
        out = rules.output_budget(text, body.get("max_tokens"))
        thinking = out // 2 if (body.get("thinking") or {}).get("type") in ("enabled", "adaptive") else 0
        controls = [c for c in rules.find_key(body, "cache_control") if isinstance(c, dict)]
        if not controls:
            return Tokens(input_tokens=total, output_tokens=out, reasoning_tokens=thinking)
        read, write = total // 2, total // 4
        one_hour = any(c.get("ttl") == "1h" for c in controls)
        return Tokens(
            input_tokens=total - read - write,
            output_tokens=out,
            reasoning_tokens=thinking,
            cache_read_tokens=read,
            cache_creation_tokens=write,
            cache_creation_5m_tokens=0 if one_hour else write,
            cache_creation_1h_tokens=write if one_hour else 0,
        )

    @staticmethod
    def served(body: dict[str, Any]) -> dict[str, str]:
        """How the fake says the call was served: ``usage.service_tier`` "priority" or "batch" when the
        request's ``service_tier`` names one (the real API takes "auto"/"standard_only" and answers
        "batch" in Message Batches results; the fake lets a Messages test reach both), else "standard";
        ``usage.speed`` and ``usage.inference_geo`` as the request's ``speed`` and ``inference_geo``."""
        tier = body.get("service_tier")
        served = {"service_tier": tier if tier in ("priority", "batch") else "standard"}
        if tier == "batch":
            served["processing"] = "batch"
        for key in ("speed", "inference_geo"):
            if isinstance(body.get(key), str):
                served[key] = body[key]
        return served

    @staticmethod
    def _usage(t: Tokens, output_tokens: int, served: dict[str, str]) -> dict[str, Any]:
        usage = {
            "input_tokens": t.input_tokens,
            "cache_creation_input_tokens": t.cache_creation_tokens,
            "cache_read_input_tokens": t.cache_read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": t.cache_creation_5m_tokens,
                "ephemeral_1h_input_tokens": t.cache_creation_1h_tokens,
            },
            "output_tokens": output_tokens,
            **{key: value for key, value in served.items() if key != "processing"},
        }
        if t.reasoning_tokens:  # thinking is billed inside output_tokens; the detail says how much
            usage["output_tokens_details"] = {"thinking_tokens": t.reasoning_tokens}
        return usage

    def _invalid(self, model: str, message: str) -> Reply:
        return Reply(model=model, status=400, body=self.error_body(400, message), headers=self._headers())

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"request-id": new_id("req_")}

    def messages(self, request: Request) -> Reply:
        body = request.body
        model = self.model_of(request)
        if not isinstance(body.get("max_tokens"), int):
            return self._invalid(model, "max_tokens: Field required")
        if not isinstance(body.get("messages"), list):
            return self._invalid(model, "messages: Field required")
        tokens = self.expected_tokens("messages", body, model)
        served = self.served(body)
        units = rules.anthropic_server_tools(body)
        text = rules.prompt_text(body)
        thinking = rules.deltas(tokens.reasoning_tokens, text.digest + 1)
        parts = rules.deltas(tokens.output_tokens - tokens.reasoning_tokens, text.digest)
        stop_reason = "max_tokens" if tokens.output_tokens < rules.output_budget(text) else "end_turn"
        signature = new_id("sig", 32) if thinking else ""
        blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []  # (final block, stream deltas)
        if thinking:
            blocks.append(
                (
                    {"type": "thinking", "thinking": "".join(thinking), "signature": signature},
                    [{"type": "thinking_delta", "thinking": t} for t in thinking]
                    + [{"type": "signature_delta", "signature": signature}],
                )
            )
        blocks.append(
            ({"type": "text", "text": "".join(parts)}, [{"type": "text_delta", "text": p} for p in parts])
        )
        message_id = new_id("msg_01", 22)
        message = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block for block, _ in blocks],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {**self._usage(tokens, tokens.output_tokens, served), **_server_tool_use(units)},
        }
        if not self.is_stream("messages", request):
            return Reply(
                model=model,
                response_id=message_id,
                body=message,
                tokens=tokens,
                units=units,
                headers=self._headers(),
                served=served,
            )

        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": self._usage(tokens, 1, served),  # provisional, as the API sends it
        }
        final_usage: dict[str, Any] = {
            "input_tokens": tokens.input_tokens,
            "cache_creation_input_tokens": tokens.cache_creation_tokens,
            "cache_read_input_tokens": tokens.cache_read_tokens,
            "output_tokens": tokens.output_tokens,  # cumulative
            **_server_tool_use(units),
        }
        if tokens.reasoning_tokens:
            final_usage["output_tokens_details"] = {"thinking_tokens": tokens.reasoning_tokens}
        events: list[SSEEvent] = [("message_start", {"type": "message_start", "message": start})]
        for index, (block, deltas) in enumerate(blocks):
            empty = {
                key: ("" if isinstance(value, str) and key != "type" else value)
                for key, value in block.items()
            }
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": empty},
                )
            )
            if index == 0:
                events.append(("ping", {"type": "ping"}))
            events += [
                ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                for delta in deltas
            ]
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events += [
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": final_usage,
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return Reply(
            model=model,
            response_id=message_id,
            events=events,
            tokens=tokens,
            units=units,
            headers=self._headers(),
            events_before_failure=4,
            served=served,
        )

    def count_tokens(self, request: Request) -> Reply:
        model = self.model_of(request)
        if not isinstance(request.body.get("messages"), list):
            return self._invalid(model, "messages: Field required")
        counted = rules.prompt_text(request.body).tokens
        return Reply(
            model=model, body={"input_tokens": counted}, counted_tokens=counted, headers=self._headers()
        )

    # -- errors ----------------------------------------------------------------------------------
    def error_type(self, status: int) -> str:
        return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": self.error_type(status), "message": message},
            "request_id": new_id("req_"),
        }

    def error_headers(self, status: int, retry_after: float | None) -> dict[str, str]:
        headers = {**self._headers(), **retry_after_headers(retry_after)}
        if status == 429:
            wait = retry_after if retry_after is not None else 1
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + wait))
            headers.update(
                {
                    "anthropic-ratelimit-requests-limit": "50",
                    "anthropic-ratelimit-requests-remaining": "0",
                    "anthropic-ratelimit-requests-reset": reset,
                    "anthropic-ratelimit-input-tokens-limit": "30000",
                    "anthropic-ratelimit-input-tokens-remaining": "0",
                    "anthropic-ratelimit-input-tokens-reset": reset,
                }
            )
        return headers

    def stream_error(self, endpoint: str, status: int, message: str, sent: int) -> list[SSEEvent]:
        body = self.error_body(status, message)
        body.pop("request_id")
        return [("error", body)]


def _server_tool_use(units: rules.Units) -> dict[str, object]:
    """``usage.server_tool_use`` when the request had server tools (absent otherwise, as the API does)."""
    if not (units.web_search_calls or units.web_fetch_calls):
        return {}
    return {
        "server_tool_use": {
            "web_search_requests": units.web_search_calls,
            "web_fetch_requests": units.web_fetch_calls,
        }
    }
