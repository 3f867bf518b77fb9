"""The price book: what an LLM call cost, from genai-prices data and the user's overrides.

    from genai_cost.pricing import get_price_book
    cost = get_price_book().price("openai", "gpt-4o-mini", usage)   # Cost | None

Importing this package does not import genai-prices; its data is loaded on the first priced call.
The override file format is in README.md next to this file.
"""

from __future__ import annotations

from genai_cost.pricing.book import PRICE_FILE_INVALID, PriceBook, configure_pricing, get_price_book
from genai_cost.pricing.overrides import PriceOverrideError

__all__ = ["PRICE_FILE_INVALID", "PriceBook", "PriceOverrideError", "configure_pricing", "get_price_book"]
