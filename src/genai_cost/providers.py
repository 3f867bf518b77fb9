"""The provider registry, and which provider a client talks to, from its base URL.

``PROVIDERS`` is the one table of the providers genai-cost knows: their ``gen_ai.provider.name``, the
hosts that identify them, and their id in genai-prices. Detection, pricing and the docs read it.
``SDKS`` is the table of the SDKs we instrument (package, supported versions, the provider of a
client at an unknown host); the instrumentors and the packaging test read it.

Detection is by base URL, not by which SDK made the call: the OpenAI SDK pointed at api.groq.com is
Groq, and pricing it as OpenAI would be wrong. A host the table does not know is looked up in
genai-prices' own provider URL patterns (DeepSeek, OpenRouter, Together, Fireworks, Mistral, xAI,
...; see ``_from_price_data``); its ``gen_ai.provider.name`` is the semconv value where ``PROVIDERS``
has one, else the genai-prices provider id.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from genai_cost import semconv as sc

OPENAI_COMPATIBLE = "openai_compatible"


@dataclass(frozen=True, slots=True)
class Provider:
    name: str  # gen_ai.provider.name
    prices_id: str  # the provider's id in genai-prices
    # Host suffixes; one starting with "." matches subdomains (and "<x>-<suffix>" hosts).
    hosts: tuple[str, ...] = ()
    # Other gen_ai.provider.name / gen_ai.system values other instrumentations use for it.
    aliases: tuple[str, ...] = ()


PROVIDERS: tuple[Provider, ...] = (
    Provider(sc.PROVIDER_OPENAI, "openai", ("api.openai.com",)),
    Provider(sc.PROVIDER_GROQ, "groq", ("api.groq.com",)),
    Provider(sc.PROVIDER_ANTHROPIC, "anthropic", ("api.anthropic.com",)),
    Provider(sc.PROVIDER_GEMINI, "google", ("generativelanguage.googleapis.com",), ("gcp.gen_ai", "gemini")),
    Provider(sc.PROVIDER_VERTEX_AI, "google", ("aiplatform.googleapis.com",), ("vertex_ai",)),
    Provider(
        sc.PROVIDER_AZURE_OPENAI,
        "azure",
        (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"),
        ("azure.ai.inference", "az.ai.openai", "az.ai.inference"),
    ),
    Provider(sc.PROVIDER_AWS_BEDROCK, "aws"),  # bedrock-runtime.<region>.amazonaws.com, see _detect
    Provider("mistral_ai", "mistral"),
    Provider("x_ai", "x-ai", aliases=("xai",)),
    Provider("deepseek", "deepseek"),
    Provider("perplexity", "perplexity"),
    Provider("cohere", "cohere"),
)

# gen_ai.provider.name (and its aliases) -> genai-prices provider id.
PRICES_IDS: dict[str, str] = {name: p.prices_id for p in PROVIDERS for name in (p.name, *p.aliases)}
# genai-prices provider id -> gen_ai.provider.name (the first provider of an id: google is gcp.gemini).
NAMES: dict[str, str] = {p.prices_id: p.name for p in reversed(PROVIDERS)}


def name_for_prices_id(prices_id: str) -> str:
    """The ``gen_ai.provider.name`` of a genai-prices provider: the semconv value where one exists
    (mistral -> mistral_ai, x-ai -> x_ai), else the genai-prices id itself (openrouter, together)."""
    return NAMES.get(prices_id, prices_id)


@dataclass(frozen=True, slots=True)
class Sdk:
    package: str  # import name
    requirement: str  # supported versions (tested: see README)
    default_provider: str  # a client at a host no rule knows


SDKS: dict[str, Sdk] = {
    "openai": Sdk("openai", "openai >= 1.66, < 4", OPENAI_COMPATIBLE),
    "anthropic": Sdk("anthropic", "anthropic >= 0.50, < 3", sc.PROVIDER_ANTHROPIC),
    "groq": Sdk("groq", "groq >= 0.20, < 2", sc.PROVIDER_GROQ),
    "google-genai": Sdk("google.genai", "google-genai >= 1.8, < 4", sc.PROVIDER_GEMINI),
}

# genai_cost.fakeprovider's base URLs for the OpenAI SDK hold /genai-cost-fake/<provider>: a user's
# own tests against it see that provider (stream usage asked for, its list prices), with no setting.
# <provider> is one of _FAKE_PROVIDERS or a genai-prices provider id (deepseek, openrouter, azure, ...).
_FAKE_PROVIDER = re.compile(r"/genai-cost-fake/([a-z][a-z0-9_.-]*)(?=/|$)")
_FAKE_PROVIDERS = {
    "openai": sc.PROVIDER_OPENAI,
    "groq": sc.PROVIDER_GROQ,
    "anthropic": sc.PROVIDER_ANTHROPIC,
    "gemini": sc.PROVIDER_GEMINI,
    "vertex_ai": sc.PROVIDER_VERTEX_AI,
}

# (host suffix, provider), from PROVIDERS.
_KNOWN_HOSTS: tuple[tuple[str, str], ...] = tuple((host, p.name) for p in PROVIDERS for host in p.hosts)


@dataclass(frozen=True, slots=True)
class Endpoint:
    provider: str
    address: str | None
    port: int | None


def _split(url: Any) -> tuple[str, int | None, str]:
    # httpx.URL, httpx2.URL and str all render to the same text.
    parts = urlsplit(str(url))
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None
    return host, port, parts.path or "/"


def _rule_matches(rule: str, host: str, port: int | None, path: str) -> bool:
    hostport, _, prefix = rule.partition("/")
    rule_host, _, rule_port = hostport.partition(":")
    if rule_host != host:
        return False
    if rule_port and str(port) != rule_port:
        return False
    return not prefix or path.lstrip("/").startswith(prefix.strip("/"))


_cache: dict[tuple[str, str, frozenset[tuple[str, str]] | None], Endpoint] = {}
_CACHE_SIZE = 256


def detect(url: Any, default: str, rules: dict[str, str] | None = None) -> Endpoint:
    """Provider, server.address and server.port for a client base URL.

    ``rules`` (from OTEL_INSTRUMENTATION_GENAI_COST_PROVIDER_HOSTS) map ``host[:port][/path]`` to a
    provider and win over the built-in table; the longest matching rule wins. Answers are cached:
    this runs on every call of SDKs whose clients we cannot key on (google-genai).
    """
    key = (str(url), default, frozenset(rules.items()) if rules else None)
    found = _cache.get(key)
    if found is None:
        found = _detect(key[0], default, rules)
        if len(_cache) < _CACHE_SIZE:
            _cache[key] = found
    return found


def _detect(url: str, default: str, rules: dict[str, str] | None) -> Endpoint:
    host, port, path = _split(url)
    if rules:
        matches = [r for r in rules if _rule_matches(r, host, port, path)]
        if matches:
            return Endpoint(rules[max(matches, key=len)], host or None, port)
    fake = _FAKE_PROVIDER.search(path)
    if fake is not None:
        name = fake.group(1)
        return Endpoint(_FAKE_PROVIDERS.get(name) or name_for_prices_id(name), host or None, port)
    if host.startswith("bedrock-runtime.") and host.endswith(".amazonaws.com"):
        return Endpoint(sc.PROVIDER_AWS_BEDROCK, host, port)
    for suffix, provider in _KNOWN_HOSTS:
        if (
            host == suffix
            or (suffix.startswith(".") and host.endswith(suffix))
            or host.endswith("-" + suffix)
        ):
            return Endpoint(provider, host, port)
    found = _from_price_data(url, host)
    return Endpoint(found or default, host or None, port)


def _from_price_data(url: str, host: str) -> str | None:
    """The provider whose genai-prices API URL pattern matches ``url``, for a host the table does not
    know. Local and private hosts (vLLM, Ollama, a proxy) match no public pattern: they are not looked
    up, so a client of one never loads genai-prices (about 0.3 s) for nothing. Others load it here, at
    the client's first call, which its first priced call would do anyway; the answer is cached."""
    if not host or "." not in host or host.endswith((".local", ".internal", ".localhost")):
        return None
    try:
        ipaddress.ip_address(host)
        return None  # an address: every pattern names a host
    except ValueError:
        pass
    try:
        from genai_cost.pricing.library import provider_id_for_url

        prices_id = provider_id_for_url(url)
    except Exception:  # the price data failed to load: detection must never break a call
        return None
    return None if prices_id is None else name_for_prices_id(prices_id)
