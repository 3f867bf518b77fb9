"""The price book: (provider, model, usage, time) -> Cost, fast.

``price`` runs at the end of every instrumented call, sampled or not, so it is built for that: the
first call for a (provider, model, how it was served) resolves its prices (user override, else
genai-prices with the variant for the served tier, batch or speed, with any discount or uplift) and
compiles them into a ``Schedule``; every later call is one dict lookup and a few float operations.
The cache is bounded, since model names come from responses and are not ours to trust.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import threading
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from genai_cost import config
from genai_cost.pricing import library
from genai_cost.pricing.overrides import Overrides, PriceOverrideError, load_overrides
from genai_cost.pricing.rates import Banded, Rates, Schedule, UnitRates
from genai_cost.pricing.served import STANDARD, Served, price_context
from genai_cost.pricing.served import reason as partial_reason
from genai_cost.usage import Cost, Usage

logger = logging.getLogger("genai_cost")

CACHE_SIZE = 4096
_UNPRICED = object()  # cached "no price known" (None means "not looked up yet")
# Why every call is unpriced, when it is on purpose (PriceBook.unpriced_reason).
PRICE_FILE_INVALID = "price file invalid"


class PriceBook:
    """Prices LLM calls from genai-prices data and user overrides.

    Args:
        overrides_file: a YAML or JSON override file (see pricing/README.md); validated now.
        refresh: fetch fresh price data from the network in the background (opt-in).
    """

    # Set when the book prices nothing on purpose (the override file named by the environment is
    # malformed): every call is then unpriced for this reason, and no per-model warning is logged.
    unpriced_reason: str | None = None

    def __init__(self, overrides_file: str | Path | None = None, *, refresh: bool = False) -> None:
        self._overrides = Overrides()
        # (provider, model, service_tier, processing, speed, inference_geo) -> its prices
        self._cache: dict[tuple[str | None, ...], Schedule | object] = {}
        self._warned: set[tuple[str | None, str | None]] = set()
        self._lock = threading.Lock()
        self._library_ready = False
        self._refresh = refresh
        self._snapshot: object = None  # the genai-prices snapshot the cache was built from
        self._overrides_version = ""  # "+<file name>@<sha256 prefix>" of the override file in use
        self.version: str | None = None  # see price_version(); reset when the prices change
        if overrides_file:
            self.load_overrides(overrides_file)

    # --- hot path ------------------------------------------------------------------------------

    def price(
        self, provider: str | None, model: str | None, usage: Usage, when: float | None = None
    ) -> Cost | None:
        """The cost of one call, or None when no price is known for the model.

        ``usage`` follows genai_cost.usage.Usage (input includes cache reads and writes, output
        includes reasoning); ``when`` is the call's unix time in seconds (None: now), which selects
        the price in force then. How the call was served (``usage.service_tier``, ...) selects the
        variant; one without a rate gives the standard price, marked ``Cost.partial``.
        """
        if not model or self.unpriced_reason is not None:
            return None
        if self._refresh:
            self._check_snapshot()
        key = (provider, model, usage.service_tier, usage.processing, usage.speed, usage.inference_geo)
        schedule = self._cache.get(key)
        if schedule is None:
            schedule = self._resolve(provider, model, key[2:])
        if schedule is _UNPRICED:
            return None
        return schedule.cost(usage, when)  # type: ignore[attr-defined]

    def price_either(
        self,
        provider: str | None,
        model: str | None,
        request_model: str | None,
        usage: Usage,
        when: float | None = None,
    ) -> tuple[Cost | None, str | None]:
        """The cost of one call by its response's model, else by its request's (a response may name a
        model the price data does not know: ``davinci-002`` answered as ``davinci:2023-07-21-v2``), and
        the name that priced it (None when neither did)."""
        cost = self.price(provider, model, usage, when) if model else None
        if cost is None and request_model and request_model != model:
            cost = self.price(provider, request_model, usage, when)
            if cost is not None:
                return cost, request_model
        return cost, model if cost is not None else None

    def price_version(self) -> str:
        """Which prices this book applies: the genai-prices release (and the refreshed data's time when
        refreshed), plus the override file's name and content digest. Stored with every priced call.

        Also kept in ``version`` once computed: it is computed when a model's price is first resolved,
        so every call with a cost finds it there (one attribute load on the hot path)."""
        version = self.version
        if version is None:
            version = self.version = _library_version(self._snapshot) + self._overrides_version
        return version

    def warn_unpriced(self, provider: str | None, model: str | None) -> None:
        """Log a warning naming an unpriced model, once per (provider, model)."""
        key = (provider, model)
        if key in self._warned or self.unpriced_reason is not None:
            return
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning(
            "genai-cost: no price known for model %r (provider %r); its calls are recorded with tokens "
            "and genai_cost.unpriced=true but no cost. Add it to a price override file (%s) to price it.",
            model,
            provider,
            config.PRICES_FILE,
        )

    # --- set-up --------------------------------------------------------------------------------

    def load_overrides(self, path: str | Path) -> None:
        """Use the override file at ``path`` (replacing any loaded before). Raises PriceOverrideError."""
        overrides = load_overrides(path)
        if any(entry.same_as for entry in overrides.models):
            self._check_same_as(overrides)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
        with self._lock:
            self._overrides = overrides
            self._cache = {}
            self.unpriced_reason = None
            self._overrides_version = f"+{Path(path).name}@{digest}"
            self.version = None

    def clear_overrides(self) -> None:
        with self._lock:
            self._overrides = Overrides()
            self._cache = {}
            self._overrides_version = ""
            self.version = None

    def preload(self) -> None:
        """Load the genai-prices data now instead of at the first priced call (~0.3 s)."""
        self._ensure_library()

    @property
    def overrides(self) -> Overrides:
        return self._overrides

    def describe(self, provider: str | None, model: str) -> str | None:
        """Where the price of a model comes from (for logs, the CLI and tests), or None if unpriced."""
        if self.unpriced_reason is not None:
            return None
        schedule = self._cache.get((provider, model, *STANDARD)) or self._resolve(provider, model, STANDARD)
        return None if schedule is _UNPRICED else schedule.origin  # type: ignore[attr-defined]

    # --- resolution (once per provider and model) ----------------------------------------------

    def _resolve(self, provider: str | None, model: str, served: Served) -> Schedule | object:
        overrides = self._overrides
        schedule: Schedule | None
        context = price_context(served) if served != STANDARD else {}
        absent: list[tuple[str, str]] = []  # served entries the prices have no rate for
        entry = overrides.model_for(provider, model)
        if entry is not None and entry.schedule is not None:
            schedule = entry.schedule  # the user's own price, used as written; it has no variants
            absent = list(context.items())
        else:
            if entry is not None and entry.same_as is not None:
                target_provider, target_model = entry.same_as
                schedule, absent = self._library_schedule(target_provider or provider, target_model, context)
            else:
                schedule, absent = self._library_schedule(provider, model, context)
            if entry is not None and entry.units is not None:
                schedule = _with_unit_rates(schedule, entry.units, entry.where)
            discount = overrides.discount_for(provider, model)
            if schedule is not None and discount is not None:
                schedule = schedule.scaled(discount.factor, f"{schedule.origin}, discount {discount.where}")
        if schedule is not None and absent:
            schedule = self._uplifted(schedule, provider, model, absent)
        result: Schedule | object = schedule if schedule is not None else _UNPRICED
        self.price_version()  # before any cost from this book is handed out
        cache = self._cache
        if len(cache) >= CACHE_SIZE:
            # Drop the oldest entry (dicts keep insertion order); another thread may race us.
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):
                del cache[next(iter(cache))]
        cache[(provider, model, *served)] = result
        return result

    def _library_schedule(
        self, provider: str | None, model: str, context: dict[str, str] | None = None
    ) -> tuple[Schedule | None, list[tuple[str, str]]]:
        """The model's genai-prices schedule for ``context``, and the context entries it has no rate for."""
        self._ensure_library()
        found = library.find_model(provider, model)
        if found is None:  # a list price genai-prices lacks (DALL-E's per image), else none
            return library.compile_missing(provider, model), []
        if context:
            return library.compile_served(*found, context)
        return library.compile_model(*found), []

    def _uplifted(
        self, schedule: Schedule, provider: str | None, model: str, absent: list[tuple[str, str]]
    ) -> Schedule:
        """The override file's uplift for each served entry without a rate (a multiple of the price);
        what none covers stays at the standard rate and marks the schedule partial."""
        left = []
        for key, value in absent:
            uplift = self._overrides.uplift_for(provider, model, key, value)
            if uplift is None:
                left.append((key, value))
            else:
                origin = f"{schedule.origin}, {key}={value} x{uplift.factor:g} {uplift.where}"
                schedule = schedule.scaled(uplift.factor, origin)
        return dataclasses.replace(schedule, partial=partial_reason(left))

    def _ensure_library(self) -> None:
        if self._library_ready:
            return
        with self._lock:
            if self._library_ready:
                return
            import time

            started = time.perf_counter()
            if self._refresh:
                library.start_refresh()
            self._snapshot = library.snapshot()
            logger.debug("genai-cost: price data loaded in %.3f s", time.perf_counter() - started)
            self._library_ready = True

    def _check_snapshot(self) -> None:
        # With refresh on, genai-prices swaps its snapshot in the background: re-resolve then.
        if self._library_ready and library.snapshot() is not self._snapshot:
            with self._lock:
                self._snapshot = library.snapshot()
                self._cache = {}
                self.version = None

    def _check_same_as(self, overrides: Overrides) -> None:
        self._ensure_library()
        for entry in overrides.models:
            if entry.same_as is None:
                continue
            target_provider, target_model = entry.same_as
            if library.find_model(target_provider or entry.provider, target_model) is None:
                file, _, line = entry.where.rpartition(":")
                raise PriceOverrideError(
                    file, int(line), "same_as", f"no known price for model {target_model!r}"
                )


def _with_unit_rates(schedule: Schedule | None, units: UnitRates, where: str) -> Schedule:
    """An override entry's per-use rates on top of the list price (alone when there is none: a model
    billed per image or per minute that genai-prices does not list)."""
    if schedule is None:
        return Schedule.constant(Banded(Rates(None, None, units=units)), f"override {where}")
    return schedule.with_units(units, f"{schedule.origin}, per-use rates {where}")


def _library_version(snapshot: object) -> str:
    try:
        version = f"genai-prices {package_version('genai-prices')}"
    except PackageNotFoundError:
        version = "genai-prices"
    if getattr(snapshot, "from_auto_update", False):  # refreshed data: its fetch time tells it apart
        version += f" refreshed {snapshot.timestamp:%Y-%m-%dT%H:%M}Z"  # type: ignore[attr-defined]
    return version


_book: PriceBook | None = None
_book_lock = threading.Lock()


def get_price_book() -> PriceBook:
    """The process-wide price book, created on first use from the environment. Never raises.

    OTEL_INSTRUMENTATION_GENAI_COST_PRICES_FILE names an override file, validated here: a malformed
    one is logged once, as one ``file:line: field: problem`` line, and gives a book that prices nothing
    (``unpriced_reason`` says why), so the instrumentation stays fully on and calls keep their tokens.
    OTEL_INSTRUMENTATION_GENAI_COST_PRICES_REFRESH=true allows a network refresh of the price data.
    """
    global _book
    book = _book
    if book is not None:
        return book
    with _book_lock:
        if _book is None:
            _book = _book_from_environment()
        return _book


def _book_from_environment() -> PriceBook:
    settings = config.Settings.from_env()  # a typo in PRICES_REFRESH is logged; bundled prices are used
    refresh = settings.prices_refresh
    try:
        return PriceBook(settings.prices_file, refresh=refresh)
    except PriceOverrideError as exc:
        logger.error(
            "genai-cost: %s; every call is recorded with its tokens but no cost (genai_cost.unpriced) "
            "until the file is fixed",
            exc,
        )
        book = PriceBook(refresh=refresh)
        book.unpriced_reason = PRICE_FILE_INVALID
        return book


def configure_pricing(overrides_file: str | Path | None = None, *, refresh: bool | None = None) -> PriceBook:
    """Set up the process-wide price book from code (arguments win over the environment)."""
    book = get_price_book()
    if refresh is not None:
        book._refresh = refresh
        if refresh and book._library_ready:
            library.start_refresh()
    if overrides_file is not None:
        book.load_overrides(overrides_file)
    return book


def _reset_price_book() -> None:
    """Forget the process-wide book (tests)."""
    global _book
    with _book_lock:
        _book = None
