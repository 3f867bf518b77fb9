"""User price overrides: a YAML or JSON file of custom model prices and discounts.

The file format is documented in ``pricing/README.md``. Validation is strict: an unknown key, a
wrong type or a negative price is a ``PriceOverrideError`` naming the file, the line and the field,
raised when the file is loaded (at start-up), never a silently ignored line.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import translate
from pathlib import Path

from genai_cost.pricing import located
from genai_cost.pricing.located import LocatedError, Node, join_field, kind_of
from genai_cost.pricing.rates import Banded, Rates, Schedule, UnitRates

# Price fields of a model entry (USD per million tokens, except `request`: USD per call).
PRICE_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning")
# --- priced units beyond tokens ---
# Per-use price keys of a model entry -> (UnitRates field, how many units the price is for).
UNIT_FIELDS = {
    "web_search": ("web_search_calls", 1.0),  # USD per call
    "web_fetch": ("web_fetch_calls", 1.0),
    "code_execution": ("code_execution_calls", 1.0),
    "file_search": ("file_search_calls", 1.0),
    "image": ("images", 1.0),  # USD per image; or a mapping by "<size>/<quality>" (_image_rates)
    "audio_minute": ("audio_seconds", 60.0),  # USD per minute of audio
    "audio_hour": ("audio_seconds", 3600.0),
    "characters": ("input_characters", 1_000_000.0),  # USD per million characters
}
# An ``image`` mapping's keys: "<size>/<quality>", as Usage.image_option ("1024x1792/hd").
_IMAGE_OPTION = re.compile(r"\d+x\d+/[a-z0-9_-]+")
MODEL_KEYS = ("model", "provider", *PRICE_FIELDS, "request", "long_context", "same_as", *UNIT_FIELDS)
LONG_CONTEXT_KEYS = ("above", *PRICE_FIELDS)
SAME_AS_KEYS = ("model", "provider")
DISCOUNT_KEYS = ("provider", "model", "percent")
# An uplift prices a served dimension the data has no rate for (pricing/served.py) as a multiple of
# the model's price: one dimension and its value, as ``genai_cost.cost.partial_reason`` names them.
SERVED_KEYS = ("service_tier", "processing", "speed", "inference_geo")
UPLIFT_KEYS = ("provider", "model", *SERVED_KEYS, "factor")
TOP_KEYS = ("version", "models", "discounts", "uplifts")


class PriceOverrideError(LocatedError):
    """A malformed price override file. ``file``, ``line`` (1-based, or None) and ``field`` say where."""


def _pattern(text: str) -> Callable[[str], bool]:
    """Exact name, or a glob (``*``, ``?``, ``[...]``); case-insensitive either way."""
    lowered = text.lower()
    if any(ch in lowered for ch in "*?["):
        return re.compile(translate(lowered)).match  # type: ignore[return-value]
    return lowered.__eq__


@dataclass(frozen=True, slots=True)
class ModelOverride:
    model: str
    provider: str | None
    schedule: Schedule | None  # explicit prices, used as written
    same_as: tuple[str | None, str] | None  # (provider, model) of a known model: list price
    where: str  # "file:line", for messages
    _match: Callable[[str], bool]
    # Per-use rates added to the list price (an entry with no token prices) or to same_as's.
    units: UnitRates | None = None

    def matches(self, provider: str | None, model: str) -> bool:
        if self.provider is not None and (provider or "").lower() != self.provider:
            return False
        return bool(self._match(model.lower()))


@dataclass(frozen=True, slots=True)
class Discount:
    provider: str | None
    model: str | None
    factor: float  # 1 - percent / 100
    where: str
    _match: Callable[[str], bool] | None

    def matches(self, provider: str | None, model: str) -> bool:
        if self.provider is not None and (provider or "").lower() != self.provider:
            return False
        return self._match is None or bool(self._match(model.lower()))


@dataclass(frozen=True, slots=True)
class Uplift:
    provider: str | None
    key: str  # a served dimension (SERVED_KEYS)
    value: str
    factor: float  # the price of what was served, as a multiple of the model's price
    where: str
    _match: Callable[[str], bool] | None

    def matches(self, provider: str | None, model: str, key: str, value: str) -> bool:
        if (key, value) != (self.key, self.value):
            return False
        if self.provider is not None and (provider or "").lower() != self.provider:
            return False
        return self._match is None or bool(self._match(model.lower()))


@dataclass(frozen=True, slots=True)
class Overrides:
    models: tuple[ModelOverride, ...] = ()
    discounts: tuple[Discount, ...] = ()
    source: str | None = None
    uplifts: tuple[Uplift, ...] = ()

    def model_for(self, provider: str | None, model: str) -> ModelOverride | None:
        """The first entry (in file order) that matches."""
        for entry in self.models:
            if entry.matches(provider, model):
                return entry
        return None

    def discount_for(self, provider: str | None, model: str) -> Discount | None:
        for discount in self.discounts:
            if discount.matches(provider, model):
                return discount
        return None

    def uplift_for(self, provider: str | None, model: str, key: str, value: str) -> Uplift | None:
        """The first uplift (in file order) for this served dimension of this model."""
        for uplift in self.uplifts:
            if uplift.matches(provider, model, key, value):
                return uplift
        return None


def load_overrides(path: str | Path) -> Overrides:
    """Read and validate an override file; raise PriceOverrideError on any problem."""
    validator = _Validator(str(path))
    return validator.document(validator.read(Path(path)))


class _Validator(located.Checker):
    error = PriceOverrideError

    # --- document --------------------------------------------------------------------------------

    def document(self, root: Node | None) -> Overrides:
        if root is None:
            return Overrides(source=self.file)
        top = self.mapping(root, "", TOP_KEYS)
        if "version" in top:
            node = top["version"][1]
            if node.value != 1 or isinstance(node.value, bool):
                raise self.fail(node.line, "version", f"only version 1 is known, got {node.value!r}")
        models: list[ModelOverride] = []
        if "models" in top:
            for index, item in enumerate(self.sequence(top["models"][1], "models")):
                models.append(self.model(item, f"models[{index}]"))
        discounts: list[Discount] = []
        if "discounts" in top:
            for index, item in enumerate(self.sequence(top["discounts"][1], "discounts")):
                discounts.append(self.discount(item, f"discounts[{index}]"))
        uplifts: list[Uplift] = []
        if "uplifts" in top:
            for index, item in enumerate(self.sequence(top["uplifts"][1], "uplifts")):
                uplifts.append(self.uplift(item, f"uplifts[{index}]"))
        return Overrides(tuple(models), tuple(discounts), self.file, tuple(uplifts))

    def model(self, node: Node, field: str) -> ModelOverride:
        entry = self.mapping(node, field, MODEL_KEYS)
        if "model" not in entry:
            raise self.fail(node.line, join_field(field, "model"), "required key is missing")
        model = self.string(entry["model"][1], join_field(field, "model"))
        provider = self._provider(entry, field)
        where = f"{self.file}:{node.line}"
        priced = [key for key in (*PRICE_FIELDS, "request", "long_context") if key in entry]
        units = self._units(entry, field)

        if "same_as" in entry:
            if priced:
                line = entry[priced[0]][0]
                raise self.fail(line, join_field(field, priced[0]), "cannot be combined with same_as")
            same_as = self._same_as(entry["same_as"][1], join_field(field, "same_as"))
            return ModelOverride(model, provider, None, same_as, where, _pattern(model), units)
        if units is not None and not priced:
            # Per-use rates only: the model keeps its list price for tokens, plus these.
            return ModelOverride(model, provider, None, None, where, _pattern(model), units)

        for required in ("input", "output"):
            if required not in entry:
                raise self.fail(
                    node.line, join_field(field, required), "required key is missing (or use same_as)"
                )
        prices = {
            key: self.number(entry[key][1], join_field(field, key)) for key in PRICE_FIELDS if key in entry
        }
        request = (
            self.number(entry["request"][1], join_field(field, "request")) if "request" in entry else 0.0
        )
        base = _rates(prices, request)
        bands: list[tuple[int, Rates]] = []
        if "long_context" in entry:
            lc_node = entry["long_context"][1]
            lc_field = join_field(field, "long_context")
            items = lc_node.value if isinstance(lc_node.value, list) else [lc_node]
            for index, item in enumerate(items):
                item_field = f"{lc_field}[{index}]" if isinstance(lc_node.value, list) else lc_field
                bands.append(self._band(item, item_field, prices, request))
            bands.sort(key=lambda band: band[0])
            for (first, _), (second, _) in itertools.pairwise(bands):
                if first == second:
                    raise self.fail(lc_node.line, lc_field, f"two bands above {first} tokens")
        prices_banded = Banded(base, tuple(bands))
        if units is not None:
            prices_banded = prices_banded.with_units(units)
        schedule = Schedule.constant(prices_banded, f"override {where}")
        return ModelOverride(model, provider, schedule, None, where, _pattern(model), units)

    def _units(self, entry: dict[str, tuple[int, Node]], field: str) -> UnitRates | None:
        found: dict[str, float] = {}
        image_rates: tuple[tuple[str, float], ...] = ()
        for key, (name, per) in UNIT_FIELDS.items():
            if key not in entry:
                continue
            if name in found:  # audio_minute and audio_hour both
                line = entry[key][0]
                raise self.fail(line, join_field(field, key), "give audio_minute or audio_hour, not both")
            node = entry[key][1]
            if key == "image" and isinstance(node.value, dict):
                image_rates = self._image_rates(node, join_field(field, key))
                continue
            found[name] = self.number(node, join_field(field, key)) / per
        return UnitRates(**found, image_rates=image_rates) if found or image_rates else None

    def _image_rates(self, node: Node, field: str) -> tuple[tuple[str, float], ...]:
        """``image: {"1024x1792/hd": 0.12, ...}``: USD per image by size and quality."""
        rates: dict[str, float] = {}
        for key, (line, value) in self.mapping(node, field, None).items():
            option = str(key).strip().lower()
            if not _IMAGE_OPTION.fullmatch(option):
                problem = f"expected <width>x<height>/<quality> such as '1024x1024/hd', got {key!r}"
                raise self.fail(line, join_field(field, str(key)), problem)
            if option in rates:
                raise self.fail(line, join_field(field, str(key)), f"{option!r} is given twice")
            rates[option] = self.number(value, join_field(field, str(key)))
        if not rates:
            raise self.fail(node.line, field, "expected at least one <size>/<quality>: price")
        return tuple(rates.items())

    def _band(self, node: Node, field: str, base: dict[str, float], request: float) -> tuple[int, Rates]:
        band = self.mapping(node, field, LONG_CONTEXT_KEYS)
        if "above" not in band:
            raise self.fail(node.line, join_field(field, "above"), "required key is missing")
        above = band["above"][1]
        if isinstance(above.value, bool) or not isinstance(above.value, int) or above.value < 0:
            problem = f"expected a whole number of tokens, got {kind_of(above.value)}"
            raise self.fail(above.line, join_field(field, "above"), problem)
        prices = dict(base)  # a band repeats only what changes
        for key in PRICE_FIELDS:
            if key in band:
                prices[key] = self.number(band[key][1], join_field(field, key))
        return above.value, _rates(prices, request)

    def _provider(self, entry: dict[str, tuple[int, Node]], field: str) -> str | None:
        if "provider" not in entry:
            return None
        return self.string(entry["provider"][1], join_field(field, "provider")).lower()

    def _same_as(self, node: Node, field: str) -> tuple[str | None, str]:
        if isinstance(node.value, str):
            return None, self.string(node, field)
        target = self.mapping(node, field, SAME_AS_KEYS)
        if "model" not in target:
            raise self.fail(node.line, join_field(field, "model"), "required key is missing")
        return self._provider(target, field), self.string(target["model"][1], join_field(field, "model"))

    def discount(self, node: Node, field: str) -> Discount:
        entry = self.mapping(node, field, DISCOUNT_KEYS)
        if "percent" not in entry:
            raise self.fail(node.line, join_field(field, "percent"), "required key is missing")
        percent = self.number(entry["percent"][1], join_field(field, "percent"), maximum=100)
        provider = self._provider(entry, field)
        model = self.string(entry["model"][1], join_field(field, "model")) if "model" in entry else None
        if provider is None and model is None:
            raise self.fail(node.line, field, "give a provider, a model, or both (use model: '*' for all)")
        return Discount(
            provider, model, 1 - percent / 100, f"{self.file}:{node.line}", _pattern(model) if model else None
        )

    def uplift(self, node: Node, field: str) -> Uplift:
        entry = self.mapping(node, field, UPLIFT_KEYS)
        if "factor" not in entry:
            raise self.fail(node.line, join_field(field, "factor"), "required key is missing")
        factor = self.number(entry["factor"][1], join_field(field, "factor"))
        served = [key for key in SERVED_KEYS if key in entry]
        if len(served) != 1:
            raise self.fail(
                node.line, field, f"give one of {', '.join(SERVED_KEYS)} (the dimension and its value)"
            )
        key = served[0]
        value = self.string(entry[key][1], join_field(field, key)).strip().lower()
        provider = self._provider(entry, field)
        model = self.string(entry["model"][1], join_field(field, "model")) if "model" in entry else None
        return Uplift(
            provider, key, value, factor, f"{self.file}:{node.line}", _pattern(model) if model else None
        )


def _rates(prices: dict[str, float], request: float) -> Rates:
    return Rates(
        input=prices["input"],
        output=prices["output"],
        cache_read=prices.get("cache_read"),
        cache_write=prices.get("cache_write"),
        cache_write_1h=prices.get("cache_write_1h"),
        reasoning=prices.get("reasoning"),
        request=request,
    )
