"""The genai-prices side: finding a model in its data and compiling its prices into a ``Schedule``.

genai-prices is imported here only, and only when a price is first needed (its import and data
take a few hundred milliseconds; ``import genai_cost`` must not pay that). The bundled snapshot is
used unless the user opted in to a network refresh (``start_refresh``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from genai_cost.pricing.rates import (
    ALWAYS,
    FROM_TIMESTAMP,
    NO_UNIT_RATES,
    TIME_OF_DAY,
    Banded,
    Period,
    Rates,
    Schedule,
    UnitRates,
)
from genai_cost.pricing.served import missing
from genai_cost.providers import OPENAI_COMPATIBLE, PRICES_IDS

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ModelInfo, ModelPrice, Provider

logger = logging.getLogger("genai_cost")

# gen_ai.provider.name (and the older gen_ai.system) values -> genai-prices provider ids.
PROVIDER_IDS: dict[str, str] = PRICES_IDS

# For OpenAI-compatible servers of unknown providers: after genai-prices' own model-name rules
# (gpt-* -> openai, claude -> anthropic, gemini -> google, ...), look in the model makers' own
# price lists, in this order. Resellers (openrouter, together, ...) are left out on purpose: their
# prices differ from the maker's and a guess among them would be a made-up number.
FIRST_PARTY = ("openai", "anthropic", "google", "groq", "mistral", "deepseek", "x-ai", "cohere", "moonshotai")

_VERSION_SUFFIX = re.compile(r"-\d{3}$")  # Vertex stable versions: gemini-2.0-flash-001

# genai-prices ModelPrice keys we price (per million tokens), by Rates field.
_TOKEN_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "cache_write_5m_mtok": "cache_write_5m",
    "cache_write_1h_mtok": "cache_write_1h",
    "output_reasoning_mtok": "reasoning",
    "input_audio_mtok": "input_audio",
}
_REQUESTS_KEY = "requests_kcount"  # USD per thousand requests

# --- priced units beyond tokens ---
# genai-prices keys priced per use -> (UnitRates field, how many units the key's price is for).
# Audio: the first of its keys present wins (genai-prices gives both the same rate).
_UNIT_KEYS = {
    "web_searches_kcount": ("web_search_calls", 1000.0),
    "storage_searches_kcount": ("file_search_calls", 1000.0),  # OpenAI's file search
    "code_executions_kcount": ("code_execution_calls", 1000.0),
    "input_audio_hours": ("audio_seconds", 3600.0),
    "audio_hours": ("audio_seconds", 3600.0),
    "input_mchars": ("input_characters", 1_000_000.0),
}
# Per-use rates genai-prices 0.2.3 lacks, from the provider's price list; genai-prices' own rate wins.
# Anthropic's web fetch tool costs nothing beyond the tokens of the fetched content:
# https://docs.claude.com/en/docs/agents-and-tools/tool-use/web-fetch-tool ("no additional charges").
_MISSING_UNIT_RATES: dict[str, dict[str, float]] = {"anthropic": {"web_fetch_calls": 0.0}}
# Groq bills a transcription shorter than 10 s as 10 s (genai-prices ModelInfo.calc_price does the
# same for these models).
_AUDIO_MINIMUM_SECONDS = {("groq", "whisper-large-v3"): 10.0, ("groq", "whisper-large-v3-turbo"): 10.0}


def _unit_rates(price: ModelPrice, provider_id: str, model_id: str) -> UnitRates | None:
    found: dict[str, Any] = {}  # UnitRates fields: USD per unit
    for key, (name, per) in _UNIT_KEYS.items():
        value = getattr(price, key, None)
        if value is not None and name not in found:
            found[name] = float(value) / per
    for name, rate in _MISSING_UNIT_RATES.get(provider_id, {}).items():
        found.setdefault(name, rate)
    if not found:
        return None
    return UnitRates(**found, audio_minimum_seconds=_AUDIO_MINIMUM_SECONDS.get((provider_id, model_id), 0.0))


# Long-context prices genai-prices 0.2.3 lacks, from the provider's published price list. Used only
# while genai-prices has no bands of its own for the model (once it does, its data wins).
# Claude Sonnet 4 with the 1M-context beta: above 200k prompt tokens every token costs $6 input,
# $22.50 output, and the cache multipliers apply on top (0.1x read, 1.25x 5-minute write, 2x 1-hour
# write). https://docs.claude.com/en/docs/about-claude/pricing#long-context-pricing and, for
# Vertex AI, https://cloud.google.com/vertex-ai/generative-ai/pricing (same long-context rates).
_SONNET_4_LONG_CONTEXT = (
    200_000,
    {"input": 6.0, "output": 22.5, "cache_read": 0.6, "cache_write": 7.5, "cache_write_1h": 12.0},
)
_MISSING_BANDS: dict[tuple[str, str], tuple[int, dict[str, float]]] = {
    ("anthropic", "claude-sonnet-4-0"): _SONNET_4_LONG_CONTEXT,
    ("google", "claude-4-sonnet"): _SONNET_4_LONG_CONTEXT,
}

# Per-image prices genai-prices 0.2.3 lacks (it has no DALL-E model at all): USD per image by
# "<size>/<quality>" (Usage.image_option), OpenAI's list prices, https://openai.com/api/pricing/
# (DALL·E 3 and DALL·E 2; DALL-E 2 has one quality, "standard"). Used only while genai-prices has no
# price for the model (``find_model`` finds none).
_MISSING_IMAGE_RATES: dict[tuple[str, str], dict[str, float]] = {
    ("openai", "dall-e-3"): {
        "1024x1024/standard": 0.040,
        "1024x1792/standard": 0.080,
        "1792x1024/standard": 0.080,
        "1024x1024/hd": 0.080,
        "1024x1792/hd": 0.120,
        "1792x1024/hd": 0.120,
    },
    ("openai", "dall-e-2"): {
        "256x256/standard": 0.016,
        "512x512/standard": 0.018,
        "1024x1024/standard": 0.020,
    },
}


def compile_missing(provider: str | None, model: str) -> Schedule | None:
    """The list price of a model genai-prices does not know, from the tables above (None: unknown)."""
    rates = _MISSING_IMAGE_RATES.get((PROVIDER_IDS.get(provider or "", provider or ""), model.lower()))
    if rates is None:
        return None
    units = UnitRates(image_rates=tuple(rates.items()))
    return Schedule.constant(Banded(Rates(None, None, units=units)), f"list price per image {model}")


_lock = threading.Lock()
_updater: Any = None


def snapshot() -> DataSnapshot:
    """The price data in use: the bundled snapshot, or a refreshed one once fetched."""
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot()


def start_refresh() -> None:
    """Opt-in: fetch fresh prices in genai-prices' background thread (hourly). Idempotent."""
    global _updater
    with _lock:
        if _updater is not None:
            return
        from genai_prices import UpdatePrices

        _updater = UpdatePrices()
        _updater.start()
        logger.info("genai-cost: price data refresh from the network is on (genai-prices UpdatePrices)")


def model_refs(model: str) -> list[str]:
    """The names to try for a model, most literal first."""
    ref = model.strip().lower()
    refs = [ref]

    def add(candidate: str) -> None:
        if candidate and candidate not in refs:
            refs.append(candidate)

    if "models/" in ref:  # Gemini API "models/gemini-2.5-flash", Vertex ".../publishers/google/models/x"
        add(ref.rsplit("models/", 1)[1])
    for candidate in list(refs):
        if "@" in candidate:  # Vertex partner models: claude-3-5-sonnet-v2@20241022
            add(candidate.split("@", 1)[0])
    for candidate in list(refs):
        add(_VERSION_SUFFIX.sub("", candidate))
    for candidate in list(refs):
        if "/" in candidate:  # "openai/gpt-4o" through a router
            add(candidate.split("/", 1)[1])
    return refs


def provider_id_for_url(url: str) -> str | None:
    """The genai-prices provider whose API URL pattern matches a client base URL, or None."""
    for candidate in snapshot().providers:
        if candidate.api_pattern and re.match(candidate.api_pattern, url):
            return candidate.id
    return None


def _find_provider(snap: DataSnapshot, provider: str) -> tuple[Provider | None, bool]:
    """The genai-prices provider for one of our provider names, and whether the name is its own
    (ours in PROVIDER_IDS, or its id) rather than a loose match of genai-prices' ("contains ...")."""
    from genai_prices.data_snapshot import find_provider_by_id

    name = provider.strip().lower()
    if name == OPENAI_COMPATIBLE:
        return None, False  # genai-prices' loose matching would take it for "openai" ("contains openai")
    prices_id = PROVIDER_IDS.get(name, name)
    found = find_provider_by_id(snap.providers, prices_id)
    return found, found is not None and (name in PROVIDER_IDS or found.id == prices_id)


def find_model(provider: str | None, model: str) -> tuple[Provider, ModelInfo] | None:
    """The genai-prices model for our provider name and model name, or None.

    A provider named exactly (``openai``, ``groq``, ``openrouter``) prices from its own list only (with
    genai-prices' fallbacks: Azure -> OpenAI, ...): another maker's price for a name it does not list
    would be a guess. An unknown provider (an OpenAI-compatible server) or one genai-prices matched
    only loosely has the model matched across providers when its list does not hold it."""
    snap = snapshot()
    refs = model_refs(model)
    known, exact = _find_provider(snap, provider) if provider else (None, False)
    if known is not None:
        for ref in refs:
            info = known.find_model(ref, all_providers=snap.providers)
            if info is not None:
                return known, info
        if exact:
            return None
    return _find_across(snap, refs)


def _find_across(snap: DataSnapshot, refs: list[str]) -> tuple[Provider, ModelInfo] | None:
    """Genai-prices' model-name rules (deepseek* -> deepseek, claude -> anthropic, ...), then the
    makers' own lists (FIRST_PARTY)."""
    for ref in refs:
        for candidate in snap.providers:
            if candidate.model_match is not None and candidate.model_match.is_match(ref):
                info = candidate.find_model(ref, all_providers=snap.providers)
                if info is not None:
                    return candidate, info
        for provider_id in FIRST_PARTY:
            maker = _by_id(snap, provider_id)
            if maker is not None:
                info = maker.find_model(ref)
                if info is not None:
                    return maker, info
    return None


def _by_id(snap: DataSnapshot, provider_id: str) -> Provider | None:
    for candidate in snap.providers:
        if candidate.id == provider_id:
            return candidate
    return None


def compile_model(provider: Provider, info: ModelInfo) -> Schedule | None:
    """Compile a genai-prices model into a Schedule (None if it has no token prices)."""
    from genai_prices.types import ConditionalPrice, ModelPrice, StartDateConstraint, TimeOfDateConstraint

    origin = f"genai-prices {provider.id}/{info.id}"
    owner = _owner(provider, info)
    gap = _MISSING_BANDS.get((owner, info.id))
    if isinstance(info.prices, ModelPrice):
        prices = _banded(info.prices, gap, owner, info.id)
        return None if prices is None else Schedule.constant(prices, origin)
    periods: list[Period] = []
    for conditional in info.prices:
        assert isinstance(conditional, ConditionalPrice)
        prices = _banded(conditional.prices, gap, owner, info.id)
        if prices is None:
            return None
        constraint = conditional.constraint
        if constraint is None:
            periods.append(Period(ALWAYS, 0.0, 0.0, prices))
        elif isinstance(constraint, StartDateConstraint):
            start = datetime.combine(constraint.start_date, time(0), tzinfo=UTC).timestamp()
            periods.append(Period(FROM_TIMESTAMP, start, 0.0, prices))
        elif isinstance(constraint, TimeOfDateConstraint):
            start, end = _utc_seconds(constraint.start_time), _utc_seconds(constraint.end_time)
            periods.append(Period(TIME_OF_DAY, start, end, prices))
        else:  # a constraint kind this version does not know: refuse rather than guess
            logger.debug("genai-cost: %s has an unknown price constraint %r", origin, constraint)
            return None
    return Schedule.over_time(tuple(periods), origin)


# --- served variants (issue 15: batch, service tiers, fast mode) ---------------------------------------
def compile_served(
    provider: Provider, info: ModelInfo, context: Mapping[str, str]
) -> tuple[Schedule | None, list[tuple[str, str]]]:
    """A model's prices for a served context (``served.price_context``): its variants that match the
    context applied over its standard prices, over time, as genai-prices' ``ModelInfo.get_prices`` does;
    and the context entries no variant prices (left at the standard rate).

    A variant or a standard price may start on a date: the schedule changes on each of those dates.
    """
    from genai_prices.types import ModelPrice, StartDateConstraint

    variants = [
        v for v in info.price_variants or () if all(context.get(k) == value for k, value in v.when.items())
    ]
    absent = missing(context, (v.when for v in variants))
    if not variants:
        return compile_model(provider, info), absent
    constraints = [v.constraint for v in variants if v.constraint is not None]
    if not isinstance(info.prices, ModelPrice):
        constraints += [c.constraint for c in info.prices if c.constraint is not None]
    if not all(isinstance(c, StartDateConstraint) for c in constraints):
        # Time-of-day windows and variants together: none in the data; standard rather than a guess.
        return compile_model(provider, info), list(context.items())
    owner = _owner(provider, info)
    gap = _MISSING_BANDS.get((owner, info.id))
    days = sorted({c.start_date for c in constraints if isinstance(c, StartDateConstraint)})

    def on(day: date | None) -> Banded | None:
        # Midday of the start date: every price starting that day is in force, none starting later.
        moment = datetime.combine(day, time(12), tzinfo=UTC) if day else datetime(1970, 1, 1, tzinfo=UTC)
        return _banded(info.get_prices(moment, dict(context)), gap, owner, info.id)

    first = on(None)
    if first is None:
        return None, absent
    periods = [Period(ALWAYS, 0.0, 0.0, first)]
    for day in days:
        prices = on(day)
        if prices is None:
            return None, absent
        start = datetime.combine(day, time(0), tzinfo=UTC).timestamp()
        periods.append(Period(FROM_TIMESTAMP, start, 0.0, prices))
    origin = f"genai-prices {provider.id}/{info.id} " + ",".join(f"{k}={v}" for k, v in context.items())
    return Schedule.over_time(tuple(periods), origin), absent


def _utc_seconds(value: time) -> float:
    if value.tzinfo is not None:
        value = datetime.combine(datetime(1970, 1, 1), value).astimezone(UTC).timetz()
    return float(value.hour * 3600 + value.minute * 60 + value.second)


def _owner(provider: Provider, info: ModelInfo) -> str:
    """The id of the provider whose list holds ``info`` (it may come through a fallback)."""
    if any(model is info for model in provider.models):
        return provider.id
    for fallback in provider.fallback_model_providers or ():
        owner = _by_id(snapshot(), fallback)
        if owner is not None and any(model is info for model in owner.models):
            return owner.id
    return provider.id


def _banded(
    price: ModelPrice,
    gap: tuple[int, dict[str, float]] | None = None,
    provider_id: str = "",
    model_id: str = "",
) -> Banded | None:
    from genai_prices.types import TieredPrices

    raw: dict[str, Any] = {}
    for key, field in _TOKEN_KEYS.items():
        value = getattr(price, key, None)
        if value is not None:
            raw[field] = value
    units = _unit_rates(price, provider_id, model_id)
    if "input" not in raw and "output" not in raw and units is None:
        return None  # priced by something we do not count (pages, pixels, ...)
    request = getattr(price, _REQUESTS_KEY, None)
    per_request = float(request) / 1000 if request is not None else 0.0

    thresholds = sorted({t.start for v in raw.values() if isinstance(v, TieredPrices) for t in v.tiers})

    def at(threshold: int | None) -> Rates:
        fields: dict[str, float] = {}
        for name, value in raw.items():
            if isinstance(value, TieredPrices):
                chosen = value.base
                if threshold is not None:
                    for tier in value.tiers:  # sorted ascending by genai-prices
                        if tier.start <= threshold:
                            chosen = tier.price
                fields[name] = float(chosen)
            else:
                fields[name] = float(value)
        return Rates(
            input=fields.get("input"),
            output=fields.get("output"),
            cache_read=fields.get("cache_read"),
            cache_write=fields.get("cache_write"),
            cache_write_5m=fields.get("cache_write_5m"),
            cache_write_1h=fields.get("cache_write_1h"),
            reasoning=fields.get("reasoning"),
            request=per_request,
            input_audio=fields.get("input_audio"),
            units=units if units is not None else NO_UNIT_RATES,
        )

    base = at(None)
    if not thresholds and gap is not None:
        threshold, band = gap
        known: dict[str, Any] = {
            name: value for name, value in band.items() if getattr(base, name) is not None
        }
        return Banded(base, ((threshold, dataclasses.replace(base, **known)),))
    return Banded(base, tuple((t, at(t)) for t in thresholds))
