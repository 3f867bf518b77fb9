"""The budget guard on all four SDKs, sync/async x stream/non-stream, judged by the fake ledger."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import genai_cost
from budget_calls import MODELS, MODES, PROMPT, SDKS, call, instrument_all
from genai_cost import feature
from genai_cost import semconv as sc
from genai_cost.budget import setup, state
from genai_cost.budget.ledger import Claim
from genai_cost.pricing.book import get_price_book
from genai_cost.usage import Usage


@pytest.fixture
def instrumented(otel: Any, fake_server: Any) -> Iterator[Any]:
    done = instrument_all(otel)
    yield otel
    for instrumentor in done:
        instrumentor.uninstrument()
    setup.clear()


def billed_usd(server: Any) -> float:
    """What the fake server billed, priced by the price book (its ledger counts tokens on its own)."""
    ours = {fake: provider for provider, fake, _ in MODELS.values()}
    total = 0.0
    for billed in server.ledger:
        cost = get_price_book().price(ours[billed.provider], billed.model, billed.normalized())
        assert cost is not None
        total += cost.total
    return total


def spent(name: str, scope: str = "") -> tuple[float, float]:
    guard = state.guard
    assert guard is not None
    budget = next(b for b in guard.budgets if b.name == name)
    import time

    now = time.time()
    claim = Claim(name, scope, 0, budget.window.since(now), budget.limit, 0.0, True)
    (level,) = guard.ledger.levels([claim], now)
    return level.spent, level.reserved


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sdk", SDKS)
def test_a_call_is_reserved_then_settled_to_what_the_provider_billed(
    instrumented: Any, fake_server: Any, tmp_path: Path, sdk: str, mode: str
) -> None:
    genai_cost.configure_budgets([{"name": "all", "limit_usd": 10}], ledger=tmp_path / "b.db")
    call(fake_server, sdk, mode)
    assert len(fake_server.ledger) == 1
    used, reserved = spent("all")
    assert used == pytest.approx(billed_usd(fake_server), rel=1e-9)
    assert used > 0
    assert reserved == 0.0  # settled: nothing held after the call


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sdk", SDKS)
def test_a_call_over_the_limit_is_refused_before_it_is_sent(
    instrumented: Any, fake_server: Any, tmp_path: Path, sdk: str, mode: str
) -> None:
    genai_cost.configure_budgets([{"name": "tiny", "limit_usd": 0.000001}], ledger=tmp_path / "b.db")
    with pytest.raises(genai_cost.BudgetExceeded) as caught:
        call(fake_server, sdk, mode)
    assert fake_server.ledger == []  # no request reached the provider
    error = caught.value
    assert (error.budget, error.scope, error.limit, error.unit) == ("tiny", "", 0.000001, "USD")
    assert error.spent == 0.0 and error.reserved == 0.0
    assert error.estimate is not None and error.estimate > error.limit
    assert PROMPT not in str(error)
    (span,) = instrumented.finished()
    attrs = span.attributes
    assert attrs[sc.ERROR_TYPE] == "BudgetExceeded"
    assert attrs[sc.GENAI_COST_NOT_SENT] is True
    assert attrs[sc.GENAI_COST_BUDGET_NAME] == "tiny"
    assert span.status.is_ok is False
    assert instrumented.metric_sum(sc.METRIC_BUDGET_BLOCKED, {sc.GENAI_COST_BUDGET_NAME: "tiny"}) == 1
    assert instrumented.metric_points(sc.METRIC_OPERATION_DURATION) == []  # not a provider call
    assert spent("tiny") == (0.0, 0.0)


def test_calls_stop_at_the_limit_and_spend_matches_the_ledger(
    instrumented: Any, fake_server: Any, tmp_path: Path
) -> None:
    limit = 0.0004
    genai_cost.configure_budgets([{"name": "cap", "limit_usd": limit}], ledger=tmp_path / "b.db")
    made = 0
    with pytest.raises(genai_cost.BudgetExceeded) as caught:
        for i in range(1000):
            call(fake_server, "openai", "sync", prompt=f"{PROMPT} {i}")
            made += 1
    assert made == len(fake_server.ledger) > 3
    billed = billed_usd(fake_server)
    assert billed <= limit
    assert spent("cap") == (pytest.approx(billed, rel=1e-9), 0.0)
    # Refused only because the next call's worst case no longer fits.
    error = caught.value
    assert error.spent == pytest.approx(billed, rel=1e-9)
    assert error.estimate is not None and billed + error.estimate > limit


def test_per_user_token_budgets_count_each_user_apart(
    instrumented: Any, fake_server: Any, tmp_path: Path
) -> None:
    genai_cost.configure_budgets(
        [{"name": "per-user", "per": "user", "limit_tokens": 400, "match": {"feature": "chat"}}],
        ledger=tmp_path / "b.db",
    )
    with feature("chat", user_id="ann"), pytest.raises(genai_cost.BudgetExceeded) as caught:
        for _ in range(100):
            call(fake_server, "anthropic", "sync")
    error = caught.value
    assert (error.budget, error.scope, error.unit, error.limit) == ("per-user", "ann", "tokens", 400)
    ann = fake_server.ledger
    assert len(ann) >= 2
    ann_tokens = sum(b.normalized().input_tokens + b.normalized().output_tokens for b in ann)
    assert spent("per-user", "ann") == (ann_tokens, 0.0)
    assert error.spent == ann_tokens <= 400 < ann_tokens + error.estimate
    with feature("chat", user_id="bob"):
        call(fake_server, "anthropic", "sync")  # bob has his own 400 tokens
    call(fake_server, "anthropic", "sync")  # outside the feature: the budget does not apply
    assert len(fake_server.ledger) == len(ann) + 2
    assert 0 < spent("per-user", "bob")[0] < 400
    assert spent("per-user", "")[0] == 0


def test_warn_lets_calls_through_logs_once_and_marks_the_span(
    instrumented: Any, fake_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    genai_cost.configure_budgets(
        [{"name": "soft", "limit_usd": 0.000005, "action": "warn", "window": "day"}], ledger=tmp_path / "b.db"
    )
    with caplog.at_level(logging.WARNING, "genai_cost"):
        for _ in range(3):
            call(fake_server, "groq", "sync")
    assert len(fake_server.ledger) == 3
    assert len([r for r in caplog.records if "'soft'" in r.getMessage()]) == 1
    assert all(s.attributes[sc.GENAI_COST_BUDGET_WARNED] == ("soft",) for s in instrumented.finished())


def test_an_unpriced_model_is_refused_under_a_usd_budget_unless_allowed(
    instrumented: Any, fake_server: Any, tmp_path: Path
) -> None:
    genai_cost.configure_budgets([{"name": "usd", "limit_usd": 100}], ledger=tmp_path / "b.db")
    with pytest.raises(genai_cost.BudgetExceeded, match="no price is known") as caught:
        call(fake_server, "openai", "sync", model="my-finetune-xyz")
    assert caught.value.estimate is None
    assert fake_server.ledger == []
    genai_cost.configure_budgets(
        [{"name": "usd", "limit_usd": 100, "unpriced": "allow"}], ledger=tmp_path / "b.db"
    )
    call(fake_server, "openai", "sync", model="my-finetune-xyz")
    assert len(fake_server.ledger) == 1
    assert spent("usd") == (0.0, 0.0)


def test_a_failed_call_releases_its_reservation(instrumented: Any, fake_server: Any, tmp_path: Path) -> None:
    import openai

    genai_cost.configure_budgets([{"name": "all", "limit_usd": 1}], ledger=tmp_path / "b.db")
    fake_server.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        call(fake_server, "openai", "sync")
    assert spent("all") == (0.0, 0.0)


def test_a_stream_without_usage_keeps_its_worst_case(
    instrumented: Any, fake_server: Any, tmp_path: Path
) -> None:
    """A stream the provider reports no usage for is never counted as free."""
    import openai

    genai_cost.configure_budgets([{"name": "all", "limit_usd": 1}], ledger=tmp_path / "b.db")
    client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=64,
        stream=True,
        stream_options={"include_usage": False},
    )
    for _ in stream:
        pass
    used, reserved = spent("all")
    assert reserved == 0.0
    # Counted at its worst case: at least the prompt and all 64 output tokens the request allowed.
    floor = get_price_book().price(
        "openai", "gpt-4o-mini", Usage(input_tokens=len(PROMPT) // 4, output_tokens=64)
    )
    assert floor is not None and used >= floor.total > 0


def test_a_crashed_process_reservation_expires(tmp_path: Path) -> None:
    from genai_cost.budget.ledger import SQLiteLedger

    ledger = SQLiteLedger(tmp_path / "b.db")
    claim = Claim("b", "", 0, 0, 1.0, 0.8, True)
    assert ledger.reserve([claim], now=1000.0, ttl=60).ids is not None  # never settled: "crashed"
    assert ledger.reserve([claim], now=1030.0, ttl=60).ids is None  # still held
    outcome = ledger.reserve([claim], now=1061.0, ttl=60)
    assert outcome.ids is not None  # the first one lapsed
    assert outcome.levels[0].reserved == 0.0


def test_an_invalid_budgets_file_refuses_every_call(
    otel: Any, fake_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text("budgets:\n  - name: a\n    limit_usd: lots\n")
    with caplog.at_level(logging.ERROR, "genai_cost"):
        done = instrument_all(otel, budgets_file=str(path), budgets_ledger=str(tmp_path / "b.db"))
    try:
        assert f"{path}:3: budgets[0].limit_usd: expected a number" in caplog.text
        with pytest.raises(genai_cost.BudgetExceeded, match="limit_usd"):
            call(fake_server, "openai", "sync")
        assert fake_server.ledger == []
    finally:
        for instrumentor in done:
            instrumentor.uninstrument()
        setup.clear()


def test_no_budget_no_ledger(instrumented: Any, fake_server: Any, tmp_path: Path) -> None:
    assert state.guard is None
    call(fake_server, "openai", "sync")
    assert len(fake_server.ledger) == 1
    assert list(tmp_path.iterdir()) == []


async def test_asyncio_tasks_never_overspend(instrumented: Any, fake_server: Any, tmp_path: Path) -> None:
    import asyncio

    import openai

    limit = 0.001
    genai_cost.configure_budgets(
        [{"name": "tasks", "limit_usd": limit, "window": "total"}], ledger=tmp_path / "b.db"
    )
    client = openai.AsyncOpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)

    async def until_refused(task: int) -> int:
        made = 0
        try:
            for i in range(1000):
                await client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": f"{PROMPT} {task}-{i}"}],
                    max_tokens=64,
                )
                made += 1
        except genai_cost.BudgetExceeded:
            return made
        raise AssertionError("never refused")

    made = await asyncio.gather(*(until_refused(task) for task in range(30)))
    await client.close()
    assert sum(made) == len(fake_server.ledger) > 10
    billed = billed_usd(fake_server)
    assert billed <= limit
    assert spent("tasks") == (pytest.approx(billed, rel=1e-9), 0.0)


def test_a_broken_ledger_never_breaks_the_app(
    instrumented: Any,
    fake_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error in the guard (here: the ledger path is a directory) is logged; the call goes on."""
    import genai_cost._internal as internal

    monkeypatch.setattr(internal, "RAISE_INTERNAL_ERRORS", False)
    (tmp_path / "ledger-is-a-directory").mkdir()
    genai_cost.configure_budgets([{"name": "all", "limit_usd": 1}], ledger=tmp_path / "ledger-is-a-directory")
    with caplog.at_level(logging.WARNING, "genai_cost"):
        call(fake_server, "openai", "sync")
        call(fake_server, "anthropic", "async-stream")
    assert len(fake_server.ledger) == 2
    assert "internal error in checking budgets" in caplog.text
    assert all(sc.ERROR_TYPE not in span.attributes for span in instrumented.finished())


@pytest.mark.parametrize(
    ("window", "later", "still_counted"),
    [
        ({"window": "day"}, 86400, False),
        ({"window": "month"}, 86400, True),
        ({"window": "rolling:1h"}, 1800, True),
        ({"window": "rolling:1h"}, 3600 + 3600 / 96 + 1, False),
        ({"window": "total"}, 10 * 365 * 86400, True),
    ],
)
def test_spend_leaves_its_window(
    tmp_path: Path, window: dict[str, str], later: float, still_counted: bool
) -> None:
    from genai_cost.budget.ledger import SQLiteLedger
    from genai_cost.budget.spec import budgets_from_code

    (budget,) = budgets_from_code([{"name": "w", "limit_usd": 1, **window}])
    ledger = SQLiteLedger(tmp_path / "b.db")
    now = 1_767_225_600.0 + 3600  # 2026-01-01T01:00Z

    def claim(at: float) -> Claim:
        return Claim("w", "", budget.window.bucket(at), budget.window.since(at), 1.0, 0.25, True)

    outcome = ledger.reserve([claim(now)], now)
    assert outcome.ids is not None
    ledger.settle([claim(now)], outcome.ids, [0.25])
    (level,) = ledger.levels([claim(now + later)], now + later)
    assert level.spent == (0.25 if still_counted else 0.0)


def test_a_forked_child_counts_in_the_same_ledger(tmp_path: Path) -> None:
    import multiprocessing
    import threading

    from genai_cost.budget.ledger import SQLiteLedger

    ledger = SQLiteLedger(tmp_path / "b.db")
    claim = Claim("f", "", 0, 0, 1.0, 0.25, True)
    ledger.reserve([claim], 1000.0)  # the parent's connection is open, and its lock is held at the fork
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with ledger._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        child = multiprocessing.get_context("fork").Process(target=_child_reserves, args=(ledger, claim))
        child.start()
        child.join(30)
        assert child.exitcode == 0
    finally:
        release.set()
        holder.join()
    (level,) = ledger.levels([claim], 1000.0)
    assert level.reserved == 0.5  # the parent's and the child's


def _child_reserves(ledger: Any, claim: Claim) -> None:
    assert ledger.reserve([claim], 1000.0).ids is not None


def test_embeddings_settle_to_their_input(instrumented: Any, fake_server: Any, tmp_path: Path) -> None:
    import openai

    genai_cost.configure_budgets([{"name": "tok", "limit_tokens": 10_000}], ledger=tmp_path / "b.db")
    client = openai.OpenAI(api_key="k", base_url=fake_server.openai_base_url, max_retries=0)
    client.embeddings.create(model="text-embedding-3-small", input=[PROMPT, PROMPT + " again"])
    (billed,) = fake_server.ledger
    assert billed.input_tokens > 0
    assert spent("tok") == (billed.input_tokens, 0.0)  # exact: no output allowance for embeddings


async def test_a_stream_cancelled_mid_way_keeps_its_worst_case(instrumented: Any, tmp_path: Path) -> None:
    """The provider was generating (and bills): the cancelled stream's worst case is counted, nothing
    stays reserved."""
    import asyncio

    import openai

    from genai_cost.fakeprovider import FakeProviderServer

    genai_cost.configure_budgets([{"name": "all", "limit_usd": 1}], ledger=tmp_path / "b.db")
    with FakeProviderServer(chunk_delay=0.05) as slow:
        client = openai.AsyncOpenAI(api_key="k", base_url=slow.openai_base_url, max_retries=0)
        first = asyncio.Event()

        async def read() -> None:
            stream = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": PROMPT}],
                max_tokens=64,
                stream=True,
            )
            async for _ in stream:
                first.set()

        task = asyncio.create_task(read())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.close()
    used, reserved = spent("all")
    assert reserved == 0.0
    floor = get_price_book().price(
        "openai", "gpt-4o-mini", Usage(input_tokens=len(PROMPT) // 4, output_tokens=64)
    )
    assert floor is not None and used >= floor.total


def test_a_warn_budget_never_refuses_an_unpriced_model(
    instrumented: Any, fake_server: Any, tmp_path: Path
) -> None:
    genai_cost.configure_budgets(
        [{"name": "soft", "limit_usd": 1, "action": "warn"}], ledger=tmp_path / "b.db"
    )
    call(fake_server, "openai", "sync", model="my-finetune-xyz")
    assert len(fake_server.ledger) == 1
