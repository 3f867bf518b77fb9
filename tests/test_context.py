"""Feature/user/session tags: nesting, decorators, asyncio tasks and threads without bleed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from genai_cost import current_tags, feature, with_current_context
from genai_cost import semconv as sc
from genai_cost.config import Settings
from genai_cost.instrumentation.openai import OpenAIInstrumentor

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def instrumented(otel: Any) -> Iterator[Any]:
    instrumentor = OpenAIInstrumentor()
    settings = Settings(cost_enabled=False, provider_hosts={"127.0.0.1": "openai"})
    instrumentor.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, settings=settings
    )
    yield otel
    instrumentor.uninstrument()


def test_nesting_inner_wins_outer_kept() -> None:
    assert current_tags() is None
    with feature("outer", user_id="u1", team="a"):
        with feature("inner", session_id="s1", team="b"):
            assert dict(current_tags() or {}) == {
                sc.FEATURE_NAME: "inner",
                sc.USER_ID: "u1",
                sc.SESSION_ID: "s1",
                "team": "b",
            }
        assert dict(current_tags() or {}) == {sc.FEATURE_NAME: "outer", sc.USER_ID: "u1", "team": "a"}
    assert current_tags() is None


def test_values_become_attribute_types() -> None:
    with feature("f", user_id=42, session_id=None, score=0.5, flag=True, obj=object):
        tags = current_tags() or {}
    assert tags[sc.USER_ID] == 42
    assert sc.SESSION_ID not in tags
    assert tags["score"] == 0.5 and tags["flag"] is True
    assert isinstance(tags["obj"], str)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        feature("")
    with pytest.raises(ValueError, match="reserved"):
        feature("f", **{"gen_ai.request.model": "x"})


def test_decorator_sync_and_async() -> None:
    @feature("sync_work", user_id="u")
    def work() -> Any:
        return dict(current_tags() or {})

    @feature("async_work")
    async def awork() -> Any:
        await asyncio.sleep(0)
        return dict(current_tags() or {})

    assert work()[sc.FEATURE_NAME] == "sync_work"
    assert asyncio.run(awork())[sc.FEATURE_NAME] == "async_work"
    assert current_tags() is None
    assert work.__name__ == "work"


def test_decorator_is_reentrant_across_threads() -> None:
    seen: list[Any] = []
    barrier = threading.Barrier(4)

    @feature("shared")
    def work(i: int) -> None:
        with feature("shared", user_id=i):
            barrier.wait()
            seen.append((i, (current_tags() or {})[sc.USER_ID]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == [(i, i) for i in range(4)]


def _check_no_bleed(spans: list[Any], expected: int) -> None:
    assert len(spans) == expected
    for span in spans:
        attrs = span.attributes
        # max_tokens encodes which task made the call; its tags must be that task's.
        index = attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] - 1
        assert attrs[sc.FEATURE_NAME] == f"feature-{index % 5}"
        assert attrs[sc.USER_ID] == f"user-{index}"
        assert attrs[sc.SESSION_ID] == f"session-{index}"


async def test_200_asyncio_tasks_no_bleed(instrumented: Any, fake_server: Any) -> None:
    client = openai.AsyncOpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)

    async def call(i: int) -> None:
        with feature(f"feature-{i % 5}", user_id=f"user-{i}", session_id=f"session-{i}"):
            await asyncio.sleep(0.001 * (i % 7))
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=i + 1)

    await asyncio.gather(*(call(i) for i in range(200)))
    _check_no_bleed(instrumented.finished(), 200)


def test_8_threads_no_bleed(instrumented: Any, fake_server: Any) -> None:
    client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)

    def call(i: int) -> None:
        with feature(f"feature-{i % 5}", user_id=f"user-{i}", session_id=f"session-{i}"):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=i + 1)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(call, range(80)))
    _check_no_bleed(instrumented.finished(), 80)


def test_with_current_context_carries_tags_into_pool(instrumented: Any, fake_server: Any) -> None:
    client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)

    def transcribe(_: int) -> None:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    with feature("transcription", session_id="interview-9"), ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(with_current_context(transcribe), range(5)))
        # Without the helper a pool thread has no tags:
        assert pool.submit(current_tags).result() is None
    spans = instrumented.finished()
    assert len(spans) == 5
    assert {(s.attributes[sc.FEATURE_NAME], s.attributes[sc.SESSION_ID]) for s in spans} == {
        ("transcription", "interview-9")
    }


def test_baggage_propagation_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import baggage

    from genai_cost import context

    context._baggage_enabled.cache_clear()
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_COST_BAGGAGE", "true")
    try:
        with feature("checkout", user_id="u9"):
            assert baggage.get_baggage(sc.FEATURE_NAME) == "checkout"
            assert baggage.get_baggage(sc.USER_ID) == "u9"
        # A downstream service that received the baggage sees the tags too.
        ctx = baggage.set_baggage(sc.FEATURE_NAME, "checkout")
        assert dict(current_tags(ctx) or {}) == {sc.FEATURE_NAME: "checkout"}
    finally:
        monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_COST_BAGGAGE")
        context._baggage_enabled.cache_clear()
    with feature("checkout"):
        assert baggage.get_baggage(sc.FEATURE_NAME) is None  # off by default
