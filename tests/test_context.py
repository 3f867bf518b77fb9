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

    context.configure(baggage=True)
    try:
        with feature("checkout", user_id="u9"):
            assert baggage.get_baggage(sc.FEATURE_NAME) == "checkout"
            assert baggage.get_baggage(sc.USER_ID) == "u9"
        # A downstream service that received the baggage sees the tags too.
        ctx = baggage.set_baggage(sc.FEATURE_NAME, "checkout")
        assert dict(current_tags(ctx) or {}) == {sc.FEATURE_NAME: "checkout"}
    finally:
        context.configure(baggage=False)
    with feature("checkout"):
        assert baggage.get_baggage(sc.FEATURE_NAME) is None  # off by default


# --- generators, shared instances, clashing tags (the adversarial probe's findings) ----------------------
def _feature_name() -> Any:
    tags = current_tags()
    return None if tags is None else tags.get(sc.FEATURE_NAME)


def test_decorated_generator_tags_each_step_not_the_caller() -> None:
    @feature("streaming_answer")
    def answer() -> Iterator[Any]:
        yield _feature_name()
        yield _feature_name()
        return

    steps = answer()
    assert next(steps) == "streaming_answer"
    assert _feature_name() is None  # while the generator is suspended, the caller's tags apply
    with feature("caller"):
        assert next(steps) == "streaming_answer"
        assert _feature_name() == "caller"
    assert list(steps) == []
    assert _feature_name() is None


async def test_decorated_async_generator_tags_each_step() -> None:
    @feature("async_answer")
    async def answer() -> Any:
        for _ in range(2):
            await asyncio.sleep(0)
            yield _feature_name()

    seen = [name async for name in answer()]
    assert seen == ["async_answer", "async_answer"]
    assert _feature_name() is None


def test_decorated_generator_closed_early_leaves_no_tags() -> None:
    @feature("gen")
    def gen() -> Iterator[int]:
        yield 1
        yield 2

    steps = gen()
    next(steps)
    steps.close()
    assert _feature_name() is None


def test_decorated_generator_calls_are_tagged(instrumented: Any, fake_server: Any) -> None:
    client = openai.OpenAI(api_key="sk-test", base_url=fake_server.openai_base_url, max_retries=0)

    @feature("batch_summaries", user_id="u7")
    def summaries(n: int) -> Iterator[str]:
        for _ in range(n):
            yield client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).id

    with feature("outer_page"):
        for _ in summaries(2):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # the caller's own call
    names = sorted(span.attributes[sc.FEATURE_NAME] for span in instrumented.finished())
    assert names == ["batch_summaries", "batch_summaries", "outer_page", "outer_page"]


def test_one_instance_shared_by_overlapping_threads(caplog: pytest.LogCaptureFixture) -> None:
    shared = feature("search")
    entered, release = threading.Barrier(2), threading.Event()
    seen: dict[str, Any] = {}

    def worker(name: str, leave_first: bool) -> None:
        with feature(name):
            with shared:
                entered.wait()
                if not leave_first:
                    release.wait()
            seen[name] = _feature_name()  # after leaving `shared`, back to this thread's own tag
            if leave_first:
                release.set()

    threads = [
        threading.Thread(target=worker, args=("a", True)),
        threading.Thread(target=worker, args=("b", False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": "a", "b": "b"}
    assert _feature_name() is None
    assert "Failed to detach context" not in caplog.text


async def test_one_instance_shared_by_interleaved_tasks() -> None:
    shared = feature("search")

    async def task(name: str, pause: float) -> Any:
        with feature(name):
            with shared:
                await asyncio.sleep(pause)
            return _feature_name()

    assert await asyncio.gather(task("a", 0.01), task("b", 0.0)) == ["a", "b"]


def test_extra_tags_cannot_override_the_explicit_arguments(caplog: pytest.LogCaptureFixture) -> None:
    clash = {sc.FEATURE_NAME: "forged", sc.USER_ID: "forged", sc.SESSION_ID: "forged"}
    with feature("real", user_id="u1", session_id="s1", **clash):
        assert dict(current_tags() or {}) == {sc.FEATURE_NAME: "real", sc.USER_ID: "u1", sc.SESSION_ID: "s1"}
    assert "ignored" in caplog.text
