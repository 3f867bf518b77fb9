"""The price book against published list prices (USD per million tokens, written here by hand).

Every expected number below is computed from the provider's own price page, cited next to it, not
from genai-prices. Where genai-prices 0.2.3 lacks a published price, the book's correction is tested
the same way (Claude Sonnet 4 above 200k tokens).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from genai_cost import config
from genai_cost.pricing import PriceBook, PriceOverrideError, configure_pricing, get_price_book
from genai_cost.pricing import book as book_module
from genai_cost.usage import Cost, Usage

M = 1_000_000


def usd(*parts: tuple[int, float]) -> float:
    """Sum of tokens x USD-per-million-token price."""
    return sum(tokens * price for tokens, price in parts) / M


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook()


def total(book: PriceBook, provider: str, model: str, usage: Usage, when: float | None = None) -> float:
    cost = book.price(provider, model, usage, when)
    assert cost is not None, f"{provider}/{model} has no price"
    return cost.total


def ts(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


# --- Groq ----------------------------------------------------------------------------------------
# https://groq.com/pricing: Llama 3.3 70B Versatile 128k, $0.59 input / $0.79 output.


def test_groq_llama_3_3_70b(book: PriceBook) -> None:
    usage = Usage(input_tokens=27_500, output_tokens=6_000)
    expected = usd((27_500, 0.59), (6_000, 0.79))
    assert total(book, "groq", "llama-3.3-70b-versatile", usage) == pytest.approx(expected, rel=1e-12)
    # An OpenAI-compatible server of unknown name serving the same model name resolves to Groq's price.
    assert total(book, "my-gateway", "llama-3.3-70b-versatile", usage) == pytest.approx(expected, rel=1e-12)


# --- Gemini --------------------------------------------------------------------------------------
# https://ai.google.dev/gemini-api/docs/pricing, Gemini 2.5 Flash (paid tier): input $0.30 (text/
# image/video), output $2.50 *including thinking tokens*, context caching $0.03 (text/image/video).


def test_gemini_2_5_flash_plain_and_aliases(book: PriceBook) -> None:
    usage = Usage(input_tokens=17_500, output_tokens=8_200)
    expected = usd((17_500, 0.30), (8_200, 2.50))
    for model in ("gemini-2.5-flash", "models/gemini-2.5-flash"):
        assert total(book, "gcp.gemini", model, usage) == pytest.approx(expected, rel=1e-12)
    # The seed app's table charged 0.075/0.30 (Gemini 1.5 Flash rates): 3.8x too little.
    assert expected == pytest.approx(0.02575)


def test_gemini_2_5_flash_thinking_is_output(book: PriceBook) -> None:
    # output_tokens includes the 4,000 thought tokens (Usage contract); they bill at the output rate.
    usage = Usage(input_tokens=10_000, output_tokens=5_000, reasoning_tokens=4_000)
    assert total(book, "gcp.gemini", "gemini-2.5-flash", usage) == pytest.approx(
        usd((10_000, 0.30), (5_000, 2.50)), rel=1e-12
    )


def test_gemini_2_5_flash_cached(book: PriceBook) -> None:
    usage = Usage(input_tokens=10_000, output_tokens=1_000, cache_read_tokens=8_000)
    cost = book.price("gcp.gemini", "gemini-2.5-flash", usage)
    assert cost is not None
    assert cost.input == pytest.approx(usd((2_000, 0.30)), rel=1e-12)
    assert cost.cache_read == pytest.approx(usd((8_000, 0.03)), rel=1e-12)
    assert cost.total == pytest.approx(usd((2_000, 0.30), (8_000, 0.03), (1_000, 2.50)), rel=1e-12)


@dataclass(slots=True)
class AudioUsage(Usage):
    """Usage with the audio part of the prompt, as a Gemini adapter can report it."""

    input_audio_tokens: int | None = None


def test_gemini_2_5_flash_audio_input(book: PriceBook) -> None:
    # Audio input is $1.00 per 1M on Gemini 2.5 Flash (text/image/video $0.30): a transcription
    # prompt of 8,000 audio + 2,000 text tokens.
    usage = AudioUsage(input_tokens=10_000, output_tokens=1_500, input_audio_tokens=8_000)
    expected = usd((2_000, 0.30), (8_000, 1.00), (1_500, 2.50))
    assert total(book, "gcp.gemini", "gemini-2.5-flash", usage) == pytest.approx(expected, rel=1e-12)
    import genai_prices

    library = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=10_000, output_tokens=1_500, input_audio_tokens=8_000),
        "gemini-2.5-flash",
        provider_id="google",
    )
    assert float(library.total_price) == pytest.approx(expected, rel=1e-12)
    # Models without an audio price bill audio as input.
    assert total(book, "openai", "gpt-4o-mini", usage) == pytest.approx(usd((10_000, 0.15), (1_500, 0.60)))


def test_audio_from_span_attributes_priced_at_audio_rates(book: PriceBook) -> None:
    # The real Usage field, read back from the semconv attribute the adapters set.
    from genai_cost import semconv as sc

    attrs = {
        sc.GEN_AI_USAGE_INPUT_TOKENS: 10_000,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 1_500,
        sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS: 8_000,
    }
    usage = Usage.from_attributes(attrs)
    assert usage.input_audio_tokens == 8_000 and usage.to_attributes() == attrs
    # Gemini 2.5 Flash (above): $0.30 text, $1.00 audio input, $2.50 output.
    expected = usd((2_000, 0.30), (8_000, 1.00), (1_500, 2.50))
    assert total(book, "gcp.gemini", "gemini-2.5-flash", usage) == pytest.approx(expected, rel=1e-12)
    # gpt-audio, https://platform.openai.com/docs/pricing: $2.50 text input, $32.00 audio input, $10.00
    # text output per 1M tokens.
    expected = usd((2_000, 2.50), (8_000, 32.00), (1_500, 10.00))
    assert total(book, "openai", "gpt-audio", usage) == pytest.approx(expected, rel=1e-12)


# Gemini 2.5 Pro: input $1.25 (prompts <= 200k) / $2.50 (> 200k); output $10 / $15; caching
# $0.125 / $0.25. The whole request is billed at the higher rate once the prompt exceeds 200k.


def test_gemini_2_5_pro_long_context(book: PriceBook) -> None:
    short = Usage(input_tokens=200_000, output_tokens=1_000)
    assert total(book, "gcp.gemini", "gemini-2.5-pro", short) == pytest.approx(
        usd((200_000, 1.25), (1_000, 10.0)), rel=1e-12
    )
    long = Usage(input_tokens=250_000, output_tokens=1_000, cache_read_tokens=100_000)
    assert total(book, "gcp.gemini", "gemini-2.5-pro", long) == pytest.approx(
        usd((150_000, 2.50), (100_000, 0.25), (1_000, 15.0)), rel=1e-12
    )


# --- Anthropic -----------------------------------------------------------------------------------
# https://docs.claude.com/en/docs/about-claude/pricing: Claude Sonnet 4.5 and Sonnet 4: base input
# $3, 5-minute cache writes $3.75, 1-hour cache writes $6, cache hits $0.30, output $15. Long
# context (1M window, prompt > 200k input tokens incl. cache reads/writes): input $6, output $22.50,
# and the cache multipliers on top: 5m write $7.50, 1h write $12, cache hit $0.60.

SONNETS = [
    ("claude-sonnet-4-5", "anthropic"),
    ("claude-sonnet-4-5-20250929", "anthropic"),
    ("claude-sonnet-4-20250514", "anthropic"),
    ("claude-sonnet-4-0", "anthropic"),
    ("claude-sonnet-4-5@20250929", "gcp.vertex_ai"),
]


@pytest.mark.parametrize(("model", "provider"), SONNETS)
def test_claude_sonnet_plain(book: PriceBook, model: str, provider: str) -> None:
    usage = Usage(input_tokens=1_455, output_tokens=845)
    assert total(book, provider, model, usage) == pytest.approx(usd((1_455, 3.0), (845, 15.0)), rel=1e-12)


@pytest.mark.parametrize(("model", "provider"), SONNETS[:4])
def test_claude_sonnet_cache_read_and_writes(book: PriceBook, model: str, provider: str) -> None:
    # 1,000 uncached + 20,000 read + 5,000 written (3,000 with a 5-minute TTL, 2,000 with 1 hour).
    usage = Usage(
        input_tokens=26_000,
        output_tokens=500,
        cache_read_tokens=20_000,
        cache_creation_tokens=5_000,
        cache_creation_5m_tokens=3_000,
        cache_creation_1h_tokens=2_000,
    )
    cost = book.price(provider, model, usage)
    assert cost is not None
    assert cost.input == pytest.approx(usd((1_000, 3.0)), rel=1e-12)
    assert cost.cache_read == pytest.approx(usd((20_000, 0.30)), rel=1e-12)
    assert cost.cache_write == pytest.approx(usd((3_000, 3.75), (2_000, 6.0)), rel=1e-12)
    assert cost.output == pytest.approx(usd((500, 15.0)), rel=1e-12)
    assert cost.total == pytest.approx(cost.input + cost.cache_read + cost.cache_write + cost.output)

    # Without the TTL split, writes are 5-minute writes (Anthropic's default TTL).
    unsplit = Usage(
        input_tokens=26_000, output_tokens=500, cache_read_tokens=20_000, cache_creation_tokens=5_000
    )
    assert total(book, provider, model, unsplit) == pytest.approx(
        usd((1_000, 3.0), (20_000, 0.30), (5_000, 3.75), (500, 15.0)), rel=1e-12
    )


@pytest.mark.parametrize(("model", "provider"), SONNETS[:4])
def test_claude_sonnet_long_context(book: PriceBook, model: str, provider: str) -> None:
    at_limit = Usage(input_tokens=200_000, output_tokens=2_000)
    assert total(book, provider, model, at_limit) == pytest.approx(
        usd((200_000, 3.0), (2_000, 15.0)), rel=1e-12
    )
    # 300k prompt: 240k uncached, 50k cache hits, 10k written (1h): every token at long-context rates.
    usage = Usage(
        input_tokens=300_000,
        output_tokens=2_000,
        cache_read_tokens=50_000,
        cache_creation_tokens=10_000,
        cache_creation_1h_tokens=10_000,
    )
    assert total(book, provider, model, usage) == pytest.approx(
        usd((240_000, 6.0), (50_000, 0.60), (10_000, 12.0), (2_000, 22.5)), rel=1e-12
    )


# Claude 3.7 Sonnet: $3 input / $15 output, $3.75 cache write, $0.30 cache hit (same page).
def test_claude_3_7_sonnet(book: PriceBook) -> None:
    usage = Usage(input_tokens=3_823, output_tokens=171)
    expected = usd((3_823, 3.0), (171, 15.0))
    assert total(book, "anthropic", "claude-3-7-sonnet-20250219", usage) == pytest.approx(expected, rel=1e-12)
    # The seed app charged it at Claude Opus prices ($15/$75): five times too much.
    assert usd((3_823, 15.0), (171, 75.0)) == pytest.approx(5 * expected)
    cached = Usage(
        input_tokens=10_000, output_tokens=100, cache_read_tokens=6_000, cache_creation_tokens=3_000
    )
    assert total(book, "anthropic", "claude-3-7-sonnet-latest", cached) == pytest.approx(
        usd((1_000, 3.0), (6_000, 0.30), (3_000, 3.75), (100, 15.0)), rel=1e-12
    )


# Claude 3 Haiku: $0.25 input / $1.25 output, $0.30 cache write, $0.03 cache hit (same page).
def test_claude_3_haiku(book: PriceBook) -> None:
    usage = Usage(
        input_tokens=12_000, output_tokens=900, cache_read_tokens=4_000, cache_creation_tokens=6_000
    )
    assert total(book, "anthropic", "claude-3-haiku-20240307", usage) == pytest.approx(
        usd((2_000, 0.25), (4_000, 0.03), (6_000, 0.30), (900, 1.25)), rel=1e-12
    )


# --- OpenAI --------------------------------------------------------------------------------------
# https://openai.com/api/pricing (standard tier, per 1M tokens).


def test_gpt_4o_and_dated_snapshots(book: PriceBook) -> None:
    # gpt-4o / gpt-4o-2024-08-06: $2.50 input, $1.25 cached input, $10 output.
    usage = Usage(input_tokens=5_000, output_tokens=700, cache_read_tokens=2_048)
    expected = usd((2_952, 2.50), (2_048, 1.25), (700, 10.0))
    for model in ("gpt-4o", "gpt-4o-2024-08-06"):
        assert total(book, "openai", model, usage) == pytest.approx(expected, rel=1e-12)
    # The May 2024 snapshot kept its launch price: $5 input, $15 output, no cache discount.
    assert total(book, "openai", "gpt-4o-2024-05-13", Usage(input_tokens=5_000, output_tokens=700)) == (
        pytest.approx(usd((5_000, 5.0), (700, 15.0)), rel=1e-12)
    )
    # Azure OpenAI lists the same global rates.
    assert total(book, "azure.ai.openai", "gpt-4o", usage) == pytest.approx(expected, rel=1e-12)


def test_gpt_4o_mini(book: PriceBook) -> None:
    # $0.15 input, $0.075 cached input, $0.60 output.
    usage = Usage(input_tokens=3_000, output_tokens=400, cache_read_tokens=1_024)
    for model in ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"):
        assert total(book, "openai", model, usage) == pytest.approx(
            usd((1_976, 0.15), (1_024, 0.075), (400, 0.60)), rel=1e-12
        )


def test_gpt_3_5_turbo(book: PriceBook) -> None:
    # gpt-3.5-turbo-0125: $0.50 input, $1.50 output.
    usage = Usage(input_tokens=842, output_tokens=184)
    for model in ("gpt-3.5-turbo", "gpt-3.5-turbo-0125"):
        assert total(book, "openai", model, usage) == pytest.approx(usd((842, 0.50), (184, 1.50)), rel=1e-12)


def test_reasoning_models_bill_reasoning_as_output(book: PriceBook) -> None:
    # o4-mini: $1.10 input, $0.275 cached, $4.40 output; reasoning tokens are output tokens.
    usage = Usage(input_tokens=2_000, output_tokens=3_000, cache_read_tokens=1_000, reasoning_tokens=2_500)
    assert total(book, "openai", "o4-mini", usage) == pytest.approx(
        usd((1_000, 1.10), (1_000, 0.275), (3_000, 4.40)), rel=1e-12
    )
    # gpt-5: $1.25 input, $0.125 cached, $10 output.
    assert total(book, "openai", "gpt-5-2025-08-07", usage) == pytest.approx(
        usd((1_000, 1.25), (1_000, 0.125), (3_000, 10.0)), rel=1e-12
    )


def test_price_in_force_at_the_time_of_the_call(book: PriceBook) -> None:
    # o3 launched at $10 input / $40 output and was cut to $2 / $8 on 2025-06-10.
    usage = Usage(input_tokens=10_000, output_tokens=2_000)
    before = total(book, "openai", "o3", usage, when=ts("2025-05-01T12:00:00"))
    after = total(book, "openai", "o3", usage, when=ts("2025-07-01T12:00:00"))
    assert before == pytest.approx(usd((10_000, 10.0), (2_000, 40.0)), rel=1e-12)
    assert after == pytest.approx(usd((10_000, 2.0), (2_000, 8.0)), rel=1e-12)
    assert total(book, "openai", "o3", usage) == pytest.approx(after)  # now


def test_cost_parts_and_attributes(book: PriceBook) -> None:
    cost = book.price("openai", "gpt-4o-mini", Usage(input_tokens=1_000, output_tokens=200))
    assert cost == Cost(total=usd((1_000, 0.15), (200, 0.60)), input=0.00015, output=0.00012)
    attrs = cost.to_attributes()
    assert attrs["gen_ai.usage.cost.amount"] == pytest.approx(0.00027)
    assert attrs["gen_ai.usage.cost.currency"] == "USD"
    assert attrs["gen_ai.usage.cost.source"] == "local"


def test_output_only_and_missing_counts(book: PriceBook) -> None:
    # None means "not reported": priced as nothing, never an error.
    assert total(book, "openai", "gpt-4o-mini", Usage(output_tokens=1_000)) == pytest.approx(
        usd((1_000, 0.60))
    )
    assert total(book, "openai", "gpt-4o-mini", Usage(input_tokens=0, output_tokens=0)) == 0.0


def test_input_reported_without_cache_tokens(book: PriceBook) -> None:
    # Some instrumentations report Anthropic's raw input_tokens (cache excluded). When the cache
    # parts exceed the input, the input is taken as the uncached part rather than going negative.
    usage = Usage(input_tokens=100, output_tokens=10, cache_read_tokens=5_000)
    assert total(book, "anthropic", "claude-3-haiku", usage) == pytest.approx(
        usd((100, 0.25), (5_000, 0.03), (10, 1.25)), rel=1e-12
    )


# --- agreement with genai-prices (same data, same token split) -----------------------------------


@pytest.mark.parametrize(
    ("gp_provider", "provider", "model"),
    [
        ("openai", "openai", "gpt-4o"),
        ("openai", "openai", "o3"),
        ("anthropic", "anthropic", "claude-sonnet-4-5"),
        ("anthropic", "anthropic", "claude-3-5-haiku-latest"),
        ("google", "gcp.gemini", "gemini-2.5-pro"),
        ("google", "gcp.gemini", "gemini-1.5-flash"),
        ("deepseek", "deepseek", "deepseek-chat"),
        ("groq", "groq", "llama-3.1-8b-instant"),
        ("mistral", "mistral_ai", "mistral-large-latest"),
    ],
)
def test_agrees_with_calc_price(book: PriceBook, gp_provider: str, provider: str, model: str) -> None:
    import genai_prices

    mixes = [
        dict(input_tokens=1_234, output_tokens=567),
        dict(input_tokens=250_000, output_tokens=3_000, cache_read_tokens=40_000),
        dict(input_tokens=90_000, output_tokens=10, cache_read_tokens=30_000, cache_write_tokens=20_000),
        dict(input_tokens=9_000, output_tokens=100, cache_write_tokens=4_000, cache_write_1h_tokens=1_000),
    ]
    for when in ("2025-03-01T03:00:00", "2025-08-01T20:00:00", "2026-11-01T10:00:00"):
        moment = datetime.fromisoformat(when).replace(tzinfo=UTC)
        for mix in mixes:
            expected = genai_prices.calc_price(
                genai_prices.Usage(**mix), model, provider_id=gp_provider, genai_request_timestamp=moment
            ).total_price
            usage = Usage(
                input_tokens=mix["input_tokens"],
                output_tokens=mix["output_tokens"],
                cache_read_tokens=mix.get("cache_read_tokens"),
                cache_creation_tokens=mix.get("cache_write_tokens"),
                cache_creation_1h_tokens=mix.get("cache_write_1h_tokens"),
            )
            assert total(book, provider, model, usage, moment.timestamp()) == pytest.approx(
                float(expected), rel=1e-9, abs=1e-15
            ), (model, when, mix)


# --- unknown models ------------------------------------------------------------------------------


def test_unknown_model_is_none_and_warns_once(book: PriceBook, caplog: pytest.LogCaptureFixture) -> None:
    usage = Usage(input_tokens=10, output_tokens=10)
    with caplog.at_level(logging.WARNING, logger="genai_cost"):
        for _ in range(5):
            assert book.price("openai", "my-own-llm-v9", usage) is None
            book.warn_unpriced("openai", "my-own-llm-v9")
        book.warn_unpriced("ollama", "llama3")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "my-own-llm-v9" in warnings[0].getMessage()
    assert "llama3" in warnings[1].getMessage()
    # A self-hosted model name that is nobody's list price stays unpriced (no made-up cost).
    assert book.price("ollama", "llama3", usage) is None
    assert book.price("openai", None, usage) is None


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(book_module, "CACHE_SIZE", 50)
    fresh = PriceBook()
    usage = Usage(input_tokens=1, output_tokens=1)
    for index in range(120):
        fresh.price("openai", f"unknown-model-{index}", usage)
    assert len(fresh._cache) <= 50
    assert fresh.price("openai", "gpt-4o", usage) is not None


def test_hot_path_is_microseconds(book: PriceBook) -> None:
    usage = Usage(
        input_tokens=26_000, output_tokens=500, cache_read_tokens=20_000, cache_creation_tokens=5_000
    )
    book.price("anthropic", "claude-sonnet-4-5-20250929", usage)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(2_000):
            book.price("anthropic", "claude-sonnet-4-5-20250929", usage)
        best = min(best, (time.perf_counter() - started) / 2_000)
    # ~2-4 us on the dev machine; the bound leaves room for a busy CI runner.
    assert best < 30e-6, f"{best * 1e6:.1f} us per call"


def test_import_does_not_load_genai_prices() -> None:
    code = (
        "import sys, genai_cost, genai_cost.pricing, genai_cost.processor\n"
        "assert 'genai_prices' not in sys.modules, 'genai_prices imported at import time'\n"
        "from genai_cost.pricing import get_price_book\n"
        "get_price_book()\n"
        "assert 'genai_prices' not in sys.modules, 'genai_prices imported by get_price_book()'\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    result = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": src}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_no_refresh_without_opt_in(book: PriceBook) -> None:
    from genai_cost.pricing import library

    book.price("openai", "gpt-4o", Usage(input_tokens=1, output_tokens=1))
    assert library._updater is None  # no background network fetch unless PRICES_REFRESH is on


# --- overrides -----------------------------------------------------------------------------------

GOOD_YAML = """\
version: 1
models:
  # A fine-tuned model: OpenAI bills fine-tuned gpt-4o-mini at $0.30 / $1.20.
  - model: ft:gpt-4o-mini-2024-07-18:acme::*
    provider: openai
    input: 0.30
    output: 1.20
    cache_read: 0.15
  # A self-hosted model with a long-context band.
  - model: acme-llm
    input: 0.10
    output: 0.40
    request: 0.001
    long_context:
      above: 100000
      input: 0.20
  # An Azure deployment named by the user, billed as gpt-4o.
  - model: prod-chat
    provider: azure.ai.openai
    same_as: gpt-4o
discounts:
  - provider: anthropic
    percent: 20
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_override_file(tmp_path: Path, book: PriceBook) -> None:
    custom = PriceBook(write(tmp_path, "prices.yaml", GOOD_YAML))
    usage = Usage(input_tokens=10_000, output_tokens=1_000, cache_read_tokens=4_000)
    assert total(custom, "openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123", usage) == pytest.approx(
        usd((6_000, 0.30), (4_000, 0.15), (1_000, 1.20)), rel=1e-12
    )
    # The glob names one provider: another provider's model of that name is not matched.
    assert custom.price("groq", "ft:gpt-4o-mini-2024-07-18:acme::abc123", usage) is None
    # No provider given: any provider; a per-request fee; the band above 100k input tokens.
    plain = Usage(input_tokens=50_000, output_tokens=1_000)
    assert total(custom, "vllm", "ACME-LLM", plain) == pytest.approx(
        usd((50_000, 0.10), (1_000, 0.40)) + 0.001, rel=1e-12
    )
    long = Usage(input_tokens=150_000, output_tokens=1_000)
    assert total(custom, "vllm", "acme-llm", long) == pytest.approx(
        usd((150_000, 0.20), (1_000, 0.40)) + 0.001, rel=1e-12
    )
    # same_as: gpt-4o list price ($2.50 / $1.25 cached / $10).
    assert total(custom, "azure.ai.openai", "prod-chat", usage) == pytest.approx(
        usd((6_000, 2.50), (4_000, 1.25), (1_000, 10.0)), rel=1e-12
    )
    # 20% off Anthropic list prices (Claude 3.7 Sonnet $3 / $15).
    anthropic = Usage(input_tokens=1_000, output_tokens=1_000)
    assert total(custom, "anthropic", "claude-3-7-sonnet-20250219", anthropic) == pytest.approx(
        0.8 * usd((1_000, 3.0), (1_000, 15.0)), rel=1e-12
    )
    # Other providers keep list prices.
    assert total(custom, "openai", "gpt-4o-mini", anthropic) == total(
        book, "openai", "gpt-4o-mini", anthropic
    )
    assert "override" in (custom.describe("vllm", "acme-llm") or "")
    assert "discount" in (custom.describe("anthropic", "claude-3-haiku") or "")


def test_json_override_file_and_discount_by_model(tmp_path: Path) -> None:
    data = {
        "models": [{"model": "my-model", "input": 1, "output": 2}],
        "discounts": [{"provider": "openai", "model": "gpt-4o*", "percent": 10}],
    }
    custom = PriceBook(write(tmp_path, "prices.json", json.dumps(data, indent="\t")))
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    assert total(custom, "x", "my-model", usage) == pytest.approx(usd((1_000, 1.0), (1_000, 2.0)))
    assert total(custom, "openai", "gpt-4o-mini", usage) == pytest.approx(
        0.9 * usd((1_000, 0.15), (1_000, 0.60))
    )
    assert total(custom, "openai", "gpt-3.5-turbo", usage) == pytest.approx(usd((1_000, 0.50), (1_000, 1.50)))


@pytest.mark.parametrize(
    ("name", "text", "line", "field", "words"),
    [
        ("syntax.yaml", "models:\n  - model: a\n    input: [1, 2\n", 4, "", "YAML syntax error"),
        (
            "type.yaml",
            "models:\n  - model: a\n    input: cheap\n    output: 1\n",
            3,
            "models[0].input",
            "number",
        ),
        (
            "unknown.yaml",
            "models:\n  - model: a\n    input: 1\n    ouptut: 1\n",
            4,
            "models[0].ouptut",
            "unknown key",
        ),
        ("top.yaml", "model:\n  - model: a\n", 1, "model", "unknown key"),
        ("missing.yaml", "models:\n  - model: a\n    input: 1\n", 2, "models[0].output", "required"),
        ("negative.yaml", "models:\n  - {model: a, input: -1, output: 1}\n", 2, "models[0].input", ">= 0"),
        (
            "bool.yaml",
            "models:\n  - model: a\n    input: true\n    output: 1\n",
            3,
            "models[0].input",
            "boolean",
        ),
        ("list.yaml", "models:\n  model: a\n", 2, "models", "expected a list"),
        (
            "dup.yaml",
            "models:\n  - model: a\n    input: 1\n    input: 2\n    output: 1\n",
            4,
            "",
            "duplicate",
        ),
        (
            "percent.yaml",
            "discounts:\n  - provider: openai\n    percent: 120\n",
            3,
            "discounts[0].percent",
            "<= 100",
        ),
        (
            "both.yaml",
            "models:\n  - model: a\n    same_as: gpt-4o\n    input: 1\n",
            4,
            "models[0].input",
            "same_as",
        ),
        (
            "band.yaml",
            "models:\n  - model: a\n    input: 1\n    output: 1\n    long_context:\n      input: 2\n",
            6,
            "models[0].long_context.above",
            "required",
        ),
        ("syntax.json", '{"models": [\n  {"model": "a",\n   "input": 1,,\n}]}', 3, "", "JSON syntax error"),
        (
            "type.json",
            '{"models": [\n  {"model": "a",\n   "input": "1",\n   "output": 1}\n]}',
            3,
            "models[0].input",
            "number",
        ),
        ("unknown.json", '{\n  "models": [],\n  "extra": 1\n}', 3, "extra", "unknown key"),
        # per-use rates (priced units beyond tokens)
        (
            "unit_negative.yaml",
            "models:\n  - model: gpt-4o\n    web_search: -0.01\n",
            3,
            "models[0].web_search",
            ">= 0",
        ),
        (
            "unit_type.yaml",
            "models:\n  - model: tts-1\n    characters: fifteen\n",
            3,
            "models[0].characters",
            "number",
        ),
        (
            "audio_both.yaml",
            "models:\n  - model: whisper-1\n    audio_minute: 0.006\n    audio_hour: 0.36\n",
            4,
            "models[0].audio_hour",
            "not both",
        ),
        (
            "unit_typo.yaml",
            "models:\n  - model: dall-e-3\n    images: 0.04\n",
            3,
            "models[0].images",
            "unknown key",
        ),
        (
            "image_option.yaml",
            'models:\n  - model: dall-e-3\n    image:\n      "1024x1024/hd": 0.08\n      huge/hd: 0.2\n',
            5,
            "models[0].image.huge/hd",
            "<width>x<height>/<quality>",
        ),
        (
            "image_rate.yaml",
            'models:\n  - model: dall-e-3\n    image:\n      "1024x1024/hd": cheap\n',
            4,
            "models[0].image.1024x1024/hd",
            "number",
        ),
        (
            "image_empty.json",
            '{"models": [{"model": "dall-e-3",\n "image": {}}]}',
            2,
            "models[0].image",
            "at least one",
        ),
        (
            "nan.json",
            '{"models": [{"model": "a",\n "input": NaN, "output": 1}]}',
            2,
            "models[0].input",
            "finite",
        ),
    ],
)
def test_malformed_override_files(
    tmp_path: Path, name: str, text: str, line: int, field: str, words: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(PriceOverrideError) as info:
        PriceBook(path)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.file == str(path)
    assert error.line == line, str(error)
    assert error.field == field, str(error)
    assert words in str(error)
    assert str(error).startswith(f"{path}:{line}: ")


def _alias_bomb() -> str:
    # Nine levels of nine aliases each: 9**9 (387 million) scalars once expanded, from 400 bytes.
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\nmodels: *i\n"


def test_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "bomb.yaml", _alias_bomb())
    assert len(path.read_bytes()) < 500
    # In a child with a memory cap and a deadline: if this ever expands again, it fails, not hangs.
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "from genai_cost.pricing import PriceBook, PriceOverrideError\n"
        "try:\n    PriceBook(sys.argv[1])\nexcept PriceOverrideError as e:\n    print(e)\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert time.monotonic() - started < 10
    assert done.stdout == (
        f"{path}:1: YAML anchors and aliases (&a) are not allowed in a price file; write each value out\n"
    )


@pytest.mark.parametrize(
    ("text", "line", "shown"),
    [
        ("models: &m [*m]\n", 1, "&m"),  # refers to itself: endless
        ("models:\n  - &gpt {model: a, input: 1, output: 1}\n  - *gpt\n", 2, "&gpt"),
        ("models:\n  - model: a\n    input: 1\n    output: *price\n", 4, "*price"),  # undefined alias
    ],
)
def test_yaml_anchors_and_aliases_are_refused(tmp_path: Path, text: str, line: int, shown: str) -> None:
    path = write(tmp_path, "aliases.yaml", text)
    with pytest.raises(PriceOverrideError) as info:
        PriceBook(path)
    assert str(info.value).startswith(f"{path}:{line}: YAML anchors and aliases ({shown}")


def test_same_as_unknown_model_fails_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, "same.yaml", "models:\n  - model: a\n    same_as: gpt-99-ultra\n")
    with pytest.raises(
        PriceOverrideError, match=r"same\.yaml:2: same_as: no known price for model 'gpt-99-ultra'"
    ):
        PriceBook(path)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PriceOverrideError, match="cannot read"):
        PriceBook(tmp_path / "nope.yaml")


def test_empty_file_means_no_overrides(tmp_path: Path) -> None:
    custom = PriceBook(write(tmp_path, "empty.yaml", "# nothing yet\n"))
    assert custom.overrides.models == ()


def test_env_var_and_code_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = write(tmp_path, "good.yaml", GOOD_YAML)
    bad = write(tmp_path, "bad.yaml", "models:\n  - model: a\n    input: 1\n    output: x\n")
    usage = Usage(input_tokens=1_000, output_tokens=0)
    monkeypatch.setattr(book_module, "_book", None)
    monkeypatch.setenv(config.PRICES_FILE, str(good))
    shared = get_price_book()
    assert get_price_book() is shared
    assert total(shared, "vllm", "acme-llm", usage) == pytest.approx(usd((1_000, 0.10)) + 0.001)
    # From code: replaces the file in use.
    configure_pricing(
        overrides_file=write(tmp_path, "other.yaml", "models:\n  - {model: acme-llm, input: 1, output: 1}\n")
    )
    assert total(shared, "vllm", "acme-llm", usage) == pytest.approx(usd((1_000, 1.0)))
    with pytest.raises(PriceOverrideError, match=r"bad\.yaml:4: models\[0\]\.output"):
        get_price_book().load_overrides(bad)
    monkeypatch.setattr(book_module, "_book", None)


def test_a_malformed_file_from_the_environment_leaves_every_call_unpriced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The book is made by the instrumentation, which must stay fully on: no exception, one clear line.
    bad = write(tmp_path, "bad.yaml", "models:\n  - model: a\n    input: 1\n    output: x\n")
    monkeypatch.setattr(book_module, "_book", None)
    monkeypatch.setenv(config.PRICES_FILE, str(bad))
    with caplog.at_level(logging.DEBUG, logger="genai_cost"):
        shared = get_price_book()
        assert get_price_book() is shared
        assert shared.unpriced_reason == "price file invalid"
        assert shared.price("openai", "gpt-4o-mini", Usage(1_000, 100)) is None  # a known model too
        assert shared.describe("openai", "gpt-4o-mini") is None
        shared.warn_unpriced("openai", "gpt-4o-mini")  # the error line already says why
        shared.preload()
    records = [r for r in caplog.records if r.name.startswith("genai_cost") and r.levelno >= logging.INFO]
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.ERROR, None)]  # no traceback
    assert records[0].getMessage() == (
        f"genai-cost: {bad}:4: models[0].output: expected a number, got a string ('x'); "
        "every call is recorded with its tokens but no cost (genai_cost.unpriced) until the file is fixed"
    )
    # Fixed from code, the same book prices again.
    configure_pricing(overrides_file=write(tmp_path, "good.yaml", GOOD_YAML))
    assert shared.unpriced_reason is None
    assert shared.price("openai", "gpt-4o-mini", Usage(1_000, 100)) is not None
    monkeypatch.setattr(book_module, "_book", None)


def test_a_bad_refresh_flag_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setattr(book_module, "_book", None)
    monkeypatch.delenv(config.PRICES_FILE, raising=False)
    monkeypatch.setenv(config.PRICES_REFRESH, "ture")
    with caplog.at_level(logging.WARNING, logger="genai_cost"):
        book = get_price_book()
    assert book.unpriced_reason is None and book._refresh is False
    assert [r.getMessage() for r in caplog.records] == [
        f"genai-cost: {config.PRICES_REFRESH}='ture': expected true or false; using the default (false)"
    ]
    monkeypatch.setattr(book_module, "_book", None)


def test_refreshed_snapshot_replaces_cached_prices() -> None:
    # What the opt-in refresh does when genai-prices' background fetch lands: a new snapshot.
    # (The fetch itself needs the network, so the new snapshot is made here from the bundled one.)
    import copy

    from genai_prices import data_snapshot
    from genai_prices.types import ModelPrice

    fresh = PriceBook()
    fresh._refresh = True  # as with PRICES_REFRESH=true, minus the network thread
    usage = Usage(input_tokens=M, output_tokens=0)
    assert total(fresh, "openai", "gpt-3.5-turbo", usage) == pytest.approx(0.50)
    providers = copy.deepcopy(data_snapshot.get_snapshot().providers)
    openai = next(p for p in providers if p.id == "openai")
    model = next(m for m in openai.models if m.id == "gpt-3.5-turbo")
    model.prices = ModelPrice(input_mtok=Decimal("0.40"), output_mtok=Decimal("1.20"))
    data_snapshot.set_custom_snapshot(data_snapshot.DataSnapshot(providers, from_auto_update=True))
    try:
        assert total(fresh, "openai", "gpt-3.5-turbo", usage) == pytest.approx(0.40)
    finally:
        data_snapshot.set_custom_snapshot(None)
    assert total(fresh, "openai", "gpt-3.5-turbo", usage) == pytest.approx(0.50)


def test_openai_compatible_matches_the_model_across_providers(book: PriceBook) -> None:
    # genai-prices' loose provider matching takes "openai_compatible" for openai ("contains openai"),
    # which lists neither model: they are matched across providers instead.
    usage = Usage(input_tokens=12, output_tokens=89)
    # deepseek-chat, api-docs.deepseek.com/quick_start/pricing: $0.27 in, $1.10 out (00:30-16:30 UTC).
    at_noon = datetime(2025, 6, 2, 12, 0, tzinfo=UTC).timestamp()
    assert total(book, "openai_compatible", "deepseek-chat", usage, at_noon) == pytest.approx(
        0.00010114, rel=1e-9
    )
    # gemini-2.5-flash through a router's name, ai.google.dev/gemini-api/docs/pricing: $0.30 in, $2.50 out.
    assert total(book, "openai_compatible", "google/gemini-2.5-flash", usage) == pytest.approx(
        (12 * 0.30 + 89 * 2.50) / 1e6, rel=1e-9
    )
    # A provider named exactly prices from its own list only.
    assert book.price("groq", "deepseek-chat", usage) is None


def test_price_either_falls_back_to_the_request_model(book: PriceBook) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=500)
    cost, priced_by = book.price_either("openai", "davinci:2023-07-21-v2", "davinci-002", usage)
    assert priced_by == "davinci-002"
    assert cost is not None and cost.total == pytest.approx(1_500 * 2.00 / 1e6)  # $2/M in and out
    cost, priced_by = book.price_either("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", usage)
    assert priced_by == "gpt-4o-mini-2024-07-18"  # the response's model, when known, wins
    assert book.price_either("openai", "nope-1", "nope-2", usage) == (None, None)
