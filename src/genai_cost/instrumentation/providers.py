"""Which provider a client talks to, from its base URL (not from which SDK made the call).

The OpenAI SDK pointed at api.groq.com is Groq: pricing it as OpenAI would be wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from genai_cost import semconv as sc

OPENAI_COMPATIBLE = "openai_compatible"

# (host suffix, provider). A suffix starting with "." matches subdomains.
_KNOWN_HOSTS: tuple[tuple[str, str], ...] = (
    ("api.openai.com", sc.PROVIDER_OPENAI),
    ("api.groq.com", sc.PROVIDER_GROQ),
    ("api.anthropic.com", sc.PROVIDER_ANTHROPIC),
    ("generativelanguage.googleapis.com", sc.PROVIDER_GEMINI),
    ("aiplatform.googleapis.com", sc.PROVIDER_VERTEX_AI),
    (".openai.azure.com", sc.PROVIDER_AZURE_OPENAI),
    (".cognitiveservices.azure.com", sc.PROVIDER_AZURE_OPENAI),
    (".services.ai.azure.com", sc.PROVIDER_AZURE_OPENAI),
)


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
    if host.startswith("bedrock-runtime.") and host.endswith(".amazonaws.com"):
        return Endpoint(sc.PROVIDER_AWS_BEDROCK, host, port)
    for suffix, provider in _KNOWN_HOSTS:
        if (
            host == suffix
            or (suffix.startswith(".") and host.endswith(suffix))
            or host.endswith("-" + suffix)
        ):
            return Endpoint(provider, host, port)
    return Endpoint(default, host or None, port)
