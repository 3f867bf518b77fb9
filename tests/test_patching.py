"""One patcher, one marker: never twice, and side by side with another vendor's wrapt wrapper of the
same SDK method (real openai SDK against the fake server)."""

from __future__ import annotations

from typing import Any

import openai
import wrapt
from openai import _base_client

from genai_cost.config import Settings
from genai_cost.instrumentation.openai import OpenAIInstrumentor

MESSAGES = [{"role": "user", "content": "hi"}]


def _vendor_wrapper(calls: list[str]) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        calls.append("vendor")
        return wrapped(*args, **kwargs)

    return wrapper


def _instrument(otel: Any) -> OpenAIInstrumentor:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        settings=Settings(cost_enabled=False, provider_hosts={"127.0.0.1/v1": "openai"}),
    )
    return instrumentor


def test_another_vendor_wrapped_first_stays_and_does_not_stop_us(otel: Any, fake_server: Any) -> None:
    original = _base_client.SyncAPIClient.__dict__["request"]
    calls: list[str] = []
    wrapt.wrap_function_wrapper(_base_client, "SyncAPIClient.request", _vendor_wrapper(calls))
    theirs = _base_client.SyncAPIClient.__dict__["request"]
    try:
        instrumentor = _instrument(otel)
        client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert calls == ["vendor"] and len(otel.finished()) == 1  # both ran
        instrumentor.uninstrument()
        assert _base_client.SyncAPIClient.__dict__["request"] is theirs  # theirs, exactly as it was
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert calls == ["vendor", "vendor"] and len(otel.finished()) == 1
    finally:
        _base_client.SyncAPIClient.request = original  # type: ignore[method-assign]


def test_another_vendor_wrapped_after_us_is_kept_when_we_uninstrument(otel: Any, fake_server: Any) -> None:
    original = _base_client.SyncAPIClient.__dict__["request"]
    calls: list[str] = []
    instrumentor = _instrument(otel)
    try:
        wrapt.wrap_function_wrapper(_base_client, "SyncAPIClient.request", _vendor_wrapper(calls))
        theirs = _base_client.SyncAPIClient.__dict__["request"]
        client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
        instrumentor.uninstrument()  # ours is under theirs: switched off, theirs left in place
        assert _base_client.SyncAPIClient.__dict__["request"] is theirs
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert calls == ["vendor"] and otel.finished() == []  # theirs runs, ours no longer does
        instrumentor = _instrument(otel)  # instrumenting again works on top of theirs
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert calls == ["vendor", "vendor"] and len(otel.finished()) == 1
    finally:
        instrumentor.uninstrument()
        _base_client.SyncAPIClient.request = original  # type: ignore[method-assign]


def test_instrumenting_twice_wraps_once(otel: Any, fake_server: Any) -> None:
    first = _instrument(otel)
    try:
        before = _base_client.SyncAPIClient.__dict__["request"]
        OpenAIInstrumentor()._instrument(
            tracer_provider=otel.tracer_provider, settings=Settings(cost_enabled=False)
        )  # a second path to the same SDK (BaseInstrumentor itself would refuse a second instrument())
        assert _base_client.SyncAPIClient.__dict__["request"] is before
        client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert len(otel.finished()) == 1
    finally:
        first.uninstrument()
