"""Configuration from OTEL_* environment variables, read once at instrument time.

Every knob has a keyword twin on the instrumentors, so code and environment say the same thing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Final

PREFIX: Final = "OTEL_INSTRUMENTATION_GENAI_COST_"

# Standard GenAI switch: prompts and completions are recorded only when this is true.
CAPTURE_MESSAGE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# Put user.id and session.id on metrics too (high cardinality; spans always carry them).
METRIC_USER_ATTRIBUTES: Final = PREFIX + "METRIC_USER_ATTRIBUTES"
# Ask OpenAI for stream usage on the app's behalf (the extra chunk is hidden from the app).
STREAM_USAGE: Final = PREFIX + "STREAM_USAGE"
# Estimate tokens of streams that report no usage (marked as estimated); off by default.
ESTIMATE_USAGE: Final = PREFIX + "ESTIMATE_USAGE"
# Extra host -> provider rules: "llm.internal=openai,my-proxy:8443=anthropic".
PROVIDER_HOSTS: Final = PREFIX + "PROVIDER_HOSTS"
# Price overrides file (YAML or JSON).
PRICES_FILE: Final = PREFIX + "PRICES_FILE"
# Allow a network refresh of the price data at start-up (off: the bundled snapshot is used).
PRICES_REFRESH: Final = PREFIX + "PRICES_REFRESH"
# Price spans and record the cost metric (on by default).
COST_ENABLED: Final = PREFIX + "COST"
# Also propagate feature/user/session to downstream services as W3C baggage.
BAGGAGE: Final = PREFIX + "BAGGAGE"
# Path of the local SQLite store written by the `genai_cost` traces exporter.
DB_PATH: Final = PREFIX + "DB"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r}: expected true or false")


def parse_provider_hosts(raw: str | None) -> dict[str, str]:
    """Parse ``host[:port]=provider`` pairs separated by commas."""
    rules: dict[str, str] = {}
    if not raw:
        return rules
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, provider = item.partition("=")
        if not sep or not host.strip() or not provider.strip():
            raise ValueError(f"{PROVIDER_HOSTS}: {item!r} is not of the form host=provider")
        rules[host.strip().lower()] = provider.strip()
    return rules


@dataclass(slots=True)
class Settings:
    capture_content: bool = False
    metric_user_attributes: bool = False
    stream_usage: bool = True
    estimate_usage: bool = False
    cost_enabled: bool = True
    baggage: bool = False
    provider_hosts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            capture_content=env_flag(CAPTURE_MESSAGE_CONTENT, False),
            metric_user_attributes=env_flag(METRIC_USER_ATTRIBUTES, False),
            stream_usage=env_flag(STREAM_USAGE, True),
            estimate_usage=env_flag(ESTIMATE_USAGE, False),
            cost_enabled=env_flag(COST_ENABLED, True),
            baggage=env_flag(BAGGAGE, False),
            provider_hosts=parse_provider_hosts(os.environ.get(PROVIDER_HOSTS)),
        )
