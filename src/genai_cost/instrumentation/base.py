"""What every genai-cost instrumentor shares: the SDK check, settings, telemetry, and the one patcher.

``opentelemetry-instrument`` calls ``instrument(skip_dep_check=True)``, so ``instrumentation_dependencies``
is not consulted there: ``_instrument`` checks its own SDK and version and returns quietly when the SDK
is absent or out of range (an app with only openai installed gets the openai instrumentor alone).

Patching: every method we wrap goes through ``patch_method``. Our wrapper is a wrapt
``FunctionWrapper`` marked as ours; a method that already has our wrapper anywhere in its chain is
not wrapped again, and another vendor's wrapper never stops us (nor do we look at whose it is).
``unpatch`` restores the method only when our wrapper is the outermost one; under another vendor's
wrapper it switches ours to pass-through instead, so their wrapper stays exactly as it was.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from packaging.requirements import Requirement

from genai_cost import context
from genai_cost._internal import log_internal_error, logger
from genai_cost.config import Settings
from genai_cost.instrumentation.core import Telemetry, make_telemetry
from genai_cost.pricing import get_price_book
from genai_cost.processor import install

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
_OURS = "__genai_cost__"


def sdk_version_ok(requirement: str) -> bool:
    req = Requirement(requirement)
    try:
        version = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    if req.specifier.contains(version, prereleases=True):
        return True
    logger.warning(
        "genai-cost: %s %s is not supported (%s); not instrumenting it", req.name, version, requirement
    )
    return False


# --- the one patcher -------------------------------------------------------------------------------
@dataclass(slots=True)
class _Switch:
    on: bool = True


def _our_wrapper(current: Any) -> Any:
    """Our wrapper function (switched on) in ``current``'s wrapper chain, or None."""
    while (wrapper := getattr(current, "_self_wrapper", None)) is not None:  # a wrapt FunctionWrapper
        switch = getattr(wrapper, _OURS, None)
        if switch is not None and switch.on:
            return wrapper
        current = current.__wrapped__
    return None


def patch_method(owner: type, name: str, wrapper: Wrapper) -> bool:
    """Wrap ``owner.name`` (defined on ``owner`` itself) with ``wrapper``; False if absent or ours."""
    current = owner.__dict__.get(name)
    if current is None or _our_wrapper(current) is not None:
        return False
    # (A wrapper of ours switched off under another vendor's stays as it is: a new one goes on top,
    # with this instrument() call's tracer and meter.)
    switch = _Switch()

    def ours_or_pass_through(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if switch.on:
            return wrapper(wrapped, instance, args, kwargs)
        return wrapped(*args, **kwargs)

    setattr(ours_or_pass_through, _OURS, switch)
    setattr(owner, name, wrapt.FunctionWrapper(current, ours_or_pass_through))
    return True


def unpatch_method(owner: type, name: str) -> None:
    current = owner.__dict__.get(name)
    ours = _our_wrapper(current)
    if ours is None:
        return
    if getattr(current, "_self_wrapper", None) is ours:
        setattr(owner, name, current.__wrapped__)  # type: ignore[union-attr]  # ours is outermost: the method as it was
    else:
        getattr(ours, _OURS).on = False  # under another vendor's wrapper: leave theirs in place


# --- the instrumentor ------------------------------------------------------------------------------
Patch = tuple[type, str, Wrapper]


def _warm_prices() -> None:
    """Load the price data in the background once an SDK is patched, not on the first call's path."""

    def _load() -> None:
        try:
            get_price_book().preload()
        except Exception:
            log_internal_error("loading prices")

    threading.Thread(target=_load, name="genai-cost-prices", daemon=True).start()


class GenAICostInstrumentor(BaseInstrumentor):
    """Base of the per-SDK instrumentors. Subclasses set ``requirement`` and list their ``patches``.

    Patching waits for the app to import the SDK (a post-import hook on ``hook_module``), so an app
    pays no start-up time for SDKs it never imports, and instrumenting before the import works too.
    """

    requirement: str = ""
    hook_module: str = ""  # patch when this module is imported ("" = patch at instrument time)

    def instrumentation_dependencies(self) -> Collection[str]:
        return (self.requirement,)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        """(class, method name, wrapt wrapper) for every method to wrap; imports the SDK."""
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        settings: Settings = kwargs.get("settings") or Settings.from_env()
        if "provider_hosts" in kwargs:
            settings.provider_hosts = {**settings.provider_hosts, **kwargs["provider_hosts"]}
        context.configure(baggage=settings.baggage)
        if settings.budgets_file:  # validated now, at start-up (imported only then: sqlite3, zoneinfo)
            from genai_cost.budget import setup as budget_setup

            budget_setup.from_settings(settings)
        # The latest instrument() call's arguments; a hook registered earlier reads these.
        self._genai_cost_pending: tuple[Settings, dict[str, Any]] | None = (settings, kwargs)
        if self.hook_module:
            wrapt.register_post_import_hook(self._on_sdk_import, self.hook_module)
        else:
            self._on_sdk_import(None)

    def _on_sdk_import(self, _module: Any) -> None:
        pending = getattr(self, "_genai_cost_pending", None)
        if pending is None or getattr(self, "_genai_cost_patched", None):  # [] after uninstrument
            return  # uninstrumented before the import, or already patched: never twice
        self._genai_cost_pending = None
        if not sdk_version_ok(self.requirement):
            return
        settings, kwargs = pending
        try:
            if settings.cost_enabled:
                _warm_prices()
                _install_cost_processor(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), settings)
            telemetry = make_telemetry(settings, kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
            patched: list[tuple[type, str]] = []
            self._genai_cost_patched = patched
            for owner, name, wrapper in self.patches(telemetry, settings):
                if patch_method(owner, name, wrapper):
                    patched.append((owner, name))
        except Exception:
            log_internal_error(f"instrumenting {self.requirement}")

    def _uninstrument(self, **kwargs: Any) -> None:
        self._genai_cost_pending = None
        for owner, name in getattr(self, "_genai_cost_patched", None) or ():
            unpatch_method(owner, name)
        self._genai_cost_patched = []


def _install_cost_processor(tracer_provider: Any, meter_provider: Any, settings: Settings) -> None:
    # Prices GenAI spans made by other instrumentations too (ours arrive already priced).
    try:
        install(tracer_provider, meter_provider, settings)
    except Exception:
        log_internal_error("installing the cost span processor")


__all__ = ["GenAICostInstrumentor", "patch_method", "sdk_version_ok", "unpatch_method"]
