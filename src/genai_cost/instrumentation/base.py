"""What every genai-cost instrumentor shares: the SDK check, settings, telemetry and pricing.

``opentelemetry-instrument`` calls ``instrument(skip_dep_check=True)``, so ``instrumentation_dependencies``
is not consulted there: ``_instrument`` checks its own SDK and version and returns quietly when the SDK
is absent or out of range (an app with only openai installed gets the openai instrumentor alone).
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from packaging.requirements import Requirement

from genai_cost._internal import log_internal_error, logger
from genai_cost.config import Settings
from genai_cost.instrumentation.core import Telemetry, make_telemetry
from genai_cost.pricing import get_price_book
from genai_cost.processor import install


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


def _warm_prices() -> None:
    """Load the price data in the background once an SDK is patched, not on the first call's path."""

    def _load() -> None:
        try:
            get_price_book().preload()
        except Exception:
            log_internal_error("loading prices")

    threading.Thread(target=_load, name="genai-cost-prices", daemon=True).start()


class GenAICostInstrumentor(BaseInstrumentor):
    """Base of the per-SDK instrumentors. Subclasses set ``requirement`` and implement patching.

    Patching waits for the app to import the SDK (a post-import hook on ``hook_module``), so an app
    pays no start-up time for SDKs it never imports, and instrumenting before the import works too.
    """

    requirement: str = ""
    hook_module: str = ""  # patch when this module is imported ("" = patch at instrument time)

    def instrumentation_dependencies(self) -> Collection[str]:
        return (self.requirement,)

    def _patch(self, telemetry: Telemetry, settings: Settings) -> None:
        raise NotImplementedError

    def _unpatch(self) -> None:
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        settings: Settings = kwargs.get("settings") or Settings.from_env()
        if "provider_hosts" in kwargs:
            settings.provider_hosts = {**settings.provider_hosts, **kwargs["provider_hosts"]}
        if settings.cost_enabled:
            get_price_book()  # a malformed price override file is a clear error now, not later
        # The latest instrument() call's arguments; a hook registered earlier reads these.
        self._genai_cost_pending: tuple[Settings, dict[str, Any]] | None = (settings, kwargs)
        if self.hook_module:
            wrapt.register_post_import_hook(self._on_sdk_import, self.hook_module)
        else:
            self._on_sdk_import(None)

    def _on_sdk_import(self, _module: Any) -> None:
        pending = getattr(self, "_genai_cost_pending", None)
        if pending is None or getattr(self, "_genai_cost_patched", False):
            return  # uninstrumented before the import, or already patched: never twice
        self._genai_cost_pending = None
        if not sdk_version_ok(self.requirement):
            return
        settings, kwargs = pending
        try:
            if settings.cost_enabled:
                _warm_prices()
                _install_cost_processor(kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
            telemetry = make_telemetry(settings, kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
            self._patch(telemetry, settings)
            self._genai_cost_patched = True
        except Exception:
            log_internal_error(f"instrumenting {self.requirement}")

    def _uninstrument(self, **kwargs: Any) -> None:
        self._genai_cost_pending = None
        if getattr(self, "_genai_cost_patched", False):
            self._unpatch()
            self._genai_cost_patched = False


def _install_cost_processor(tracer_provider: Any, meter_provider: Any) -> None:
    # Prices GenAI spans made by other instrumentations too (ours arrive already priced).
    try:
        install(tracer_provider, meter_provider)
    except Exception:
        log_internal_error("installing the cost span processor")


__all__ = ["GenAICostInstrumentor", "sdk_version_ok"]
