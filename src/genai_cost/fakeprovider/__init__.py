"""A local fake of the OpenAI, Anthropic, Groq and Gemini HTTP APIs, for tests, examples and demos.

The real SDKs work against it unchanged, given only a base URL and a dummy key::

    from genai_cost.fakeprovider import FakeProviderServer

    with FakeProviderServer() as server:
        client = OpenAI(base_url=server.openai_base_url, api_key="test")
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        call = server.ledger[-1]  # BilledCall: what the server reported, e.g. call.input_tokens

Usage is a pure function of the request (see ``genai_cost.fakeprovider.rules``), so a test can know it
in advance with ``server.expected_usage(...)`` or read it back from ``server.ledger``. Errors, 429s with
``retry-after``, malformed bodies and broken streams come from ``server.fail_next(...)``.

Run it alone with ``python -m genai_cost.fakeprovider --port 0``.
"""

from __future__ import annotations

from genai_cost.fakeprovider.ledger import BilledCall
from genai_cost.fakeprovider.rules import Tokens
from genai_cost.fakeprovider.server import FakeProviderServer

__all__ = ["BilledCall", "FakeProviderServer", "Tokens"]
