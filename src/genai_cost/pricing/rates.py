"""Compiled prices and the hot-path arithmetic: usage -> Cost with plain float maths.

A model's prices are compiled once (from genai-prices or an override) into a ``Schedule``: the
prices in force over time (``periods``), each split by prompt size (``Banded``: base rates plus
long-context bands), each a flat ``Rates`` of USD per million tokens. Pricing one call is then a
few comparisons and multiplications, no Decimal, no lookups.

How tokens are split follows genai-prices (``decompose.compute_leaf_values``), so both agree to the
last digit: a part with its own price is taken out of its parent count, a part without one is
billed at its parent's price (cache reads of a model with no cache price are plain input).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field, replace
from typing import Any

from genai_cost.usage import Cost, Usage

PER = 1_000_000.0  # prices are per million tokens
DAY = 86_400.0

# Period kinds (when a price applies).
ALWAYS = 0
FROM_TIMESTAMP = 1  # from a date on (a price change)
TIME_OF_DAY = 2  # a daily UTC window (off-peak prices)


# --- priced units beyond tokens ---------------------------------------------------------------------
# The Usage fields billed per use, each with a UnitRates field of the same name (USD per one unit).
UNITS = (
    "web_search_calls",
    "web_fetch_calls",
    "code_execution_calls",
    "file_search_calls",
    "images",
    "audio_seconds",
    "input_characters",
)


@dataclass(slots=True, frozen=True)
class UnitRates:
    """USD per one unit (a tool call, an image, a second of audio, a character). ``None``: no rate
    known, so a call using that unit is priced for the rest and marked partial."""

    web_search_calls: float | None = None
    web_fetch_calls: float | None = None
    code_execution_calls: float | None = None
    file_search_calls: float | None = None
    images: float | None = None
    audio_seconds: float | None = None
    input_characters: float | None = None
    audio_minimum_seconds: float = 0.0  # a shorter recording is billed as this long (Groq: 10 s)
    # USD per image by "<size>/<quality>" (Usage.image_option: DALL-E's price depends on both); an
    # image of an option not listed here costs ``images``, or has no rate when that is None too.
    image_rates: tuple[tuple[str, float], ...] = ()

    def scaled(self, factor: float) -> UnitRates:
        changed: dict[str, Any] = {n: v * factor for n in UNITS if (v := getattr(self, n)) is not None}
        if self.image_rates:
            changed["image_rates"] = tuple((option, rate * factor) for option, rate in self.image_rates)
        return dataclasses.replace(self, **changed)

    def merged(self, over: UnitRates) -> UnitRates:
        """These rates with ``over``'s known ones in their place (an override file's rates). Its image
        rates by option are added to these; its one image rate for any option replaces them all."""
        changed: dict[str, Any] = {n: v for n in UNITS if (v := getattr(over, n)) is not None}
        if over.audio_minimum_seconds:
            changed["audio_minimum_seconds"] = over.audio_minimum_seconds
        if over.image_rates:
            changed["image_rates"] = tuple({**dict(self.image_rates), **dict(over.image_rates)}.items())
        elif over.images is not None:
            changed["image_rates"] = ()
        return dataclasses.replace(self, **changed)

    def image_rate(self, option: str | None) -> float | None:
        """USD per image of ``option`` ("1024x1024/hd"), else the rate for any option (None: none)."""
        for listed, rate in self.image_rates:
            if listed == option:
                return rate
        return self.images

    def cost(self, usage: Usage) -> tuple[float, str | None]:
        """(USD for the units ``usage`` reports, the units that have no rate or None)."""
        total = 0.0
        missing: list[str] = []
        for name in UNITS:
            used = getattr(usage, name)
            if not used:
                continue
            rate = self.image_rate(usage.image_option) if name == "images" else getattr(self, name)
            if rate is None:  # an image's size and quality is named: the rate is missing for it alone
                missing.append(
                    f"images {usage.image_option}" if name == "images" and usage.image_option else name
                )
                continue
            if name == "audio_seconds" and used < self.audio_minimum_seconds:
                used = self.audio_minimum_seconds
            total += used * rate
        return total, (", ".join(missing) if missing else None)


NO_UNIT_RATES = UnitRates()


@dataclass(slots=True, frozen=True)
class Rates:
    """USD per million tokens. ``None``: no separate price, billed at the parent's price."""

    input: float | None
    output: float | None
    cache_read: float | None = None
    cache_write: float | None = None  # writes of unknown TTL and Anthropic's default 5-minute ones
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None
    reasoning: float | None = None
    request: float = 0.0  # USD per call, not per million
    input_audio: float | None = None  # audio input (Gemini: $1.00 vs $0.30 text on 2.5 Flash)
    units: UnitRates = NO_UNIT_RATES  # per-use prices beyond tokens

    def scaled(self, factor: float) -> Rates:
        def mul(value: float | None) -> float | None:
            return None if value is None else value * factor

        return Rates(
            mul(self.input),
            mul(self.output),
            mul(self.cache_read),
            mul(self.cache_write),
            mul(self.cache_write_5m),
            mul(self.cache_write_1h),
            mul(self.reasoning),
            self.request * factor,
            mul(self.input_audio),
            self.units.scaled(factor),
        )

    def cost(self, usage: Usage) -> Cost:
        inp = usage.input_tokens or 0
        out = usage.output_tokens or 0
        read_cost = write_cost = 0.0
        taken = 0  # input tokens billed under a cache price
        cache_read = usage.cache_read_tokens
        if cache_read and self.cache_read is not None:
            read_cost = cache_read * self.cache_read
            taken = cache_read
        writes = usage.cache_creation_tokens or 0
        w5 = usage.cache_creation_5m_tokens
        w1 = usage.cache_creation_1h_tokens
        if writes or w5 or w1:  # most calls write no cache: skip the TTL split
            w5 = w5 or 0
            w1 = w1 or 0
            if writes < w5 + w1:  # only the TTL split was reported
                writes = w5 + w1
            written = 0
            if self.cache_write_1h is not None:
                write_cost += w1 * self.cache_write_1h
                written += w1
            if self.cache_write_5m is not None:
                write_cost += w5 * self.cache_write_5m
                written += w5
            if self.cache_write is not None:
                write_cost += (writes - written) * self.cache_write
                written = writes
            taken += written
        uncached = inp - taken
        if uncached < 0:
            # The instrumentation reported input without its cache tokens (pre-semconv Anthropic
            # style): the reported number is then the uncached part.
            uncached = inp
        input_cost = uncached * self.input if self.input is not None else 0.0
        if self.input_audio is not None:
            # Read only when the model prices audio apart (the audio part of the prompt).
            audio = usage.input_audio_tokens or 0
            if 0 < audio <= uncached:
                input_cost += audio * (self.input_audio - (self.input or 0.0))

        output_cost = 0.0
        if self.output is not None:
            reasoning = usage.reasoning_tokens
            if reasoning and self.reasoning is not None:
                plain = out - reasoning
                if plain < 0:  # reasoning reported outside the output count
                    plain = out
                output_cost = plain * self.output + reasoning * self.reasoning
            else:
                output_cost = out * self.output

        input_usd = input_cost / PER
        output_usd = output_cost / PER
        read_usd = read_cost / PER
        write_usd = write_cost / PER
        if (  # most calls use none of these units: then the Cost is made as before, no extra work
            usage.web_search_calls is None
            and usage.file_search_calls is None
            and usage.web_fetch_calls is None
            and usage.code_execution_calls is None
            and usage.images is None
            and usage.audio_seconds is None
            and usage.input_characters is None
        ):
            return Cost(
                input_usd + output_usd + read_usd + write_usd + self.request,
                input_usd,
                output_usd,
                read_usd,
                write_usd,
            )
        tools_usd, partial = self.units.cost(usage)
        return Cost(
            input_usd + output_usd + read_usd + write_usd + self.request + tools_usd,
            input_usd,
            output_usd,
            read_usd,
            write_usd,
            tools=tools_usd,
            partial=partial,
        )


@dataclass(slots=True, frozen=True)
class Banded:
    """Rates by prompt size: ``bands`` are (threshold, rates) ascending; a band applies to the whole
    call when its total input tokens (cache reads and writes included) exceed the threshold."""

    base: Rates
    bands: tuple[tuple[int, Rates], ...] = ()

    def rates_for(self, input_tokens: int | None) -> Rates:
        rates = self.base
        if self.bands and input_tokens:
            for threshold, band in self.bands:
                if input_tokens > threshold:
                    rates = band
                else:
                    break
        return rates

    def scaled(self, factor: float) -> Banded:
        return Banded(self.base.scaled(factor), tuple((t, r.scaled(factor)) for t, r in self.bands))

    def with_units(self, units: UnitRates) -> Banded:
        def add(rates: Rates) -> Rates:
            return dataclasses.replace(rates, units=rates.units.merged(units))

        return Banded(add(self.base), tuple((t, add(r)) for t, r in self.bands))


@dataclass(slots=True, frozen=True)
class Period:
    kind: int
    start: float  # FROM_TIMESTAMP: unix seconds; TIME_OF_DAY: UTC seconds of the day
    end: float  # TIME_OF_DAY only
    prices: Banded

    def active(self, when: float) -> bool:
        if self.kind == ALWAYS:
            return True
        if self.kind == FROM_TIMESTAMP:
            return when >= self.start
        second = when % DAY
        if self.end < self.start:  # the window crosses midnight
            return second >= self.start or second < self.end
        return self.start <= second < self.end


@dataclass(slots=True, frozen=True)
class Schedule:
    """The prices of one model over time. ``fixed`` is set when they never change (the usual case)."""

    periods: tuple[Period, ...]
    fixed: Banded | None
    origin: str  # where the price came from, for logs and debugging
    # The one rate set of a model whose prices never change nor depend on prompt size (most models):
    # then pricing a call is Rates.cost alone.
    simple: Rates | None = field(init=False, default=None)
    # Why these rates are short of what was served (a tier with no rate: see pricing/served.py).
    partial: str | None = None

    def __post_init__(self) -> None:
        if self.fixed is not None and not self.fixed.bands:
            object.__setattr__(self, "simple", self.fixed.base)

    @classmethod
    def constant(cls, prices: Banded, origin: str) -> Schedule:
        return cls((Period(ALWAYS, 0.0, 0.0, prices),), prices, origin)

    @classmethod
    def over_time(cls, periods: tuple[Period, ...], origin: str) -> Schedule:
        if len(periods) == 1 and periods[0].kind == ALWAYS:
            return cls.constant(periods[0].prices, origin)
        return cls(periods, None, origin)

    def prices_at(self, when: float | None) -> Banded:
        if self.fixed is not None:
            return self.fixed
        if when is None:
            when = time.time()
        # The last period in force wins; if none is, the first applies (as in genai-prices).
        for period in reversed(self.periods):
            if period.active(when):
                return period.prices
        return self.periods[0].prices

    def cost(self, usage: Usage, when: float | None) -> Cost:
        if self.simple is not None:
            cost = self.simple.cost(usage)
        else:
            prices = self.fixed if self.fixed is not None else self.prices_at(when)
            cost = prices.rates_for(usage.input_tokens).cost(usage)
        if self.partial is not None:  # a served tier with no rate, beside any unit with none
            cost.partial = self.partial if cost.partial is None else f"{self.partial}; {cost.partial}"
        return cost

    def scaled(self, factor: float, origin: str) -> Schedule:
        periods = tuple(Period(p.kind, p.start, p.end, p.prices.scaled(factor)) for p in self.periods)
        scaled = Schedule.over_time(periods, origin)
        return scaled if self.partial is None else replace(scaled, partial=self.partial)

    def with_units(self, units: UnitRates, origin: str) -> Schedule:
        """These prices with an override file's per-use rates added (or in place of the known ones)."""
        periods = tuple(Period(p.kind, p.start, p.end, p.prices.with_units(units)) for p in self.periods)
        priced = Schedule.over_time(periods, origin)
        return priced if self.partial is None else replace(priced, partial=self.partial)
