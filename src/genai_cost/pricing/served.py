"""How a call was served -> genai-prices' price context (the ``when`` of its price variants).

The response says how the call was served (``Usage.service_tier``, ``processing``, ``speed``,
``inference_geo``); genai-prices prices batch, service tiers and Anthropic's fast mode as variants of a
model's standard prices, chosen by a context such as ``{"service_tier": "flex"}``. Values meaning the
standard path select nothing. Any other value is looked up as is: where the data has no variant for it
(Anthropic's priority tier, an ``inference_geo`` uplift, a tier we have never seen), the call is priced
at the standard rate and marked partial (``missing``), never silently short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# The book's key for a call's served dimensions: (service_tier, processing, speed, inference_geo).
Served = tuple[str | None, str | None, str | None, str | None]
STANDARD: Served = (None, None, None, None)

# Values that mean standard prices, by dimension (lower case, as Usage keeps them).
_STANDARD_VALUES: dict[str, frozenset[str]] = {
    # OpenAI "default"/"auto"; Anthropic "standard"; Gemini "standard"/"unspecified"; Vertex traffic
    # types "on_demand" (pay as you go) and "traffic_type_unspecified".
    "service_tier": frozenset(
        {"default", "auto", "standard", "unspecified", "on_demand", "traffic_type_unspecified"}
    ),
    "processing": frozenset({"standard", "interactive"}),
    "speed": frozenset({"standard"}),
    # Anthropic: "global" is the default routing at standard prices.
    "inference_geo": frozenset({"global", "not_available"}),
}
# Vertex AI states the tier as a traffic type; genai-prices names the tier.
_TIER_NAMES = {"on_demand_flex": "flex", "on_demand_priority": "priority"}


def price_context(served: Served) -> dict[str, str]:
    """The genai-prices price context for a call's served dimensions ({} for the standard path)."""
    service_tier, processing, speed, inference_geo = served
    context: dict[str, str] = {}
    if processing is not None and processing not in _STANDARD_VALUES["processing"]:
        context["processing"] = processing
    if service_tier == "batch":  # Anthropic's usage.service_tier for a Message Batches result
        context["processing"] = "batch"
    elif service_tier is not None and service_tier not in _STANDARD_VALUES["service_tier"]:
        context["service_tier"] = _TIER_NAMES.get(service_tier, service_tier)
    if speed is not None and speed not in _STANDARD_VALUES["speed"]:
        context["speed"] = speed
    if inference_geo is not None and inference_geo not in _STANDARD_VALUES["inference_geo"]:
        context["inference_geo"] = inference_geo
    return context


def missing(context: Mapping[str, str], priced: Iterable[Mapping[str, str]]) -> list[tuple[str, str]]:
    """The context entries no variant prices (``priced``: the ``when`` of the variants that apply)."""
    whens = list(priced)
    return [(key, value) for key, value in context.items() if not any(w.get(key) == value for w in whens)]


def reason(absent: Iterable[tuple[str, str]]) -> str | None:
    """The partial-price reason (``genai_cost.cost.partial_reason``) for served entries without a rate,
    or None when there are none."""
    named = ", ".join(f"{key}={value}" for key, value in absent)
    return f"no rate for {named}: standard price" if named else None
