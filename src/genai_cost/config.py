"""Configuration from OTEL_* environment variables: ``Settings.from_env()`` is the one reader.

Every knob is a ``Settings`` field, so code and environment say the same thing: the instrumentors,
the cost span processor and the tag context all receive a ``Settings``. A value that cannot be read
(``ture``) is logged once, naming the variable, and the default is used: a typo in the environment
never raises into the app.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from genai_cost import semconv as sc

logger = logging.getLogger("genai_cost")

PREFIX: Final = "OTEL_INSTRUMENTATION_GENAI_COST_"

# Put user.id and session.id on metrics too (high cardinality; spans always carry them).
METRIC_USER_ATTRIBUTES: Final = PREFIX + "METRIC_USER_ATTRIBUTES"
# Ask for stream usage on the app's behalf where the server accepts the option (the extra chunk is hidden).
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
# Calls the store writer keeps in memory while the store is down or slow; beyond, calls are dropped
# (and counted). About 2 KB each.
DB_BUFFER: Final = PREFIX + "DB_BUFFER"
DEFAULT_DB_BUFFER: Final = 20_000
# Also write the cost under other backends' names: "langfuse,logfire,openinference,openlit".
COMPAT: Final = PREFIX + "COMPAT"

# Budgets file (YAML or JSON): limits checked before each call is sent (genai_cost/budget).
BUDGETS_FILE: Final = PREFIX + "BUDGETS_FILE"
# The budgets' ledger (SQLite); default: budgets.db beside the usage store.
BUDGETS_LEDGER: Final = PREFIX + "BUDGETS_LEDGER"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting that cannot be read; the message names the variable."""


def parse_flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r}: expected true or false")


def env_flag(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """A boolean variable; an unreadable value is logged and ``default`` is used."""
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None:
        return default
    try:
        return parse_flag(name, raw)
    except ConfigError as exc:
        _warn_once(f"genai-cost: {exc}; using the default ({str(default).lower()})")
        return default


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    # Settings are read by each instrumentor, the processor and the CLI: one line per problem.
    if message not in _warned:
        _warned.add(message)
        logger.warning("%s", message)


def parse_provider_hosts(raw: str | None) -> dict[str, str]:
    """Parse ``host[:port][/path]=provider`` pairs separated by commas. Raises ConfigError."""
    rules: dict[str, str] = {}
    if not raw:
        return rules
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, provider = item.partition("=")
        if not sep or not host.strip() or not provider.strip():
            raise ConfigError(f"{PROVIDER_HOSTS}: {item!r} is not of the form host=provider")
        rules[host.strip().lower()] = provider.strip()
    return rules


def env_count(name: str, default: int, environ: Mapping[str, str]) -> int:
    """A whole number >= 1; an unreadable value is logged and ``default`` is used."""
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1:
        _warn_once(f"genai-cost: {name}={raw!r}: expected a whole number, 1 or more; using {default}")
        return default
    return value


def _env_provider_hosts(environ: Mapping[str, str]) -> dict[str, str]:
    try:
        return parse_provider_hosts(environ.get(PROVIDER_HOSTS))
    except ConfigError as exc:
        _warn_once(f"genai-cost: {exc}; ignoring {PROVIDER_HOSTS}")
        return {}


def parse_compat(raw: str | None) -> tuple[frozenset[str], list[str]]:
    """The known compatibility families named in ``raw`` (comma separated, any case), and the unknown
    names."""
    known: set[str] = set()
    unknown: list[str] = []
    for item in (raw or "").split(","):
        name = item.strip().lower()
        if name in sc.COMPAT_FAMILIES:
            known.add(name)
        elif name:
            unknown.append(item.strip())
    return frozenset(known), unknown


def _env_compat(environ: Mapping[str, str]) -> frozenset[str]:
    families, unknown = parse_compat(environ.get(COMPAT))
    for name in unknown:
        _warn_once(
            f"genai-cost: {COMPAT}: unknown family {name!r} ignored (known: {', '.join(sc.COMPAT_FAMILIES)})"
        )
    return families


@dataclass(slots=True)
class Settings:
    metric_user_attributes: bool = False
    stream_usage: bool = True
    estimate_usage: bool = False
    cost_enabled: bool = True
    baggage: bool = False
    provider_hosts: dict[str, str] = field(default_factory=dict)
    prices_file: str | None = None  # price override file
    prices_refresh: bool = False
    db_path: str | None = None  # the local store (None: the user's data directory)
    store_buffer: int = DEFAULT_DB_BUFFER  # calls held in memory while the store is unavailable
    compat: frozenset[str] = frozenset()  # compatibility attribute families (semconv.COMPAT_FAMILIES)
    budgets_file: str | None = None
    budgets_ledger: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            metric_user_attributes=env_flag(METRIC_USER_ATTRIBUTES, False, env),
            stream_usage=env_flag(STREAM_USAGE, True, env),
            estimate_usage=env_flag(ESTIMATE_USAGE, False, env),
            cost_enabled=env_flag(COST_ENABLED, True, env),
            baggage=env_flag(BAGGAGE, False, env),
            provider_hosts=_env_provider_hosts(env),
            prices_file=env.get(PRICES_FILE) or None,
            prices_refresh=env_flag(PRICES_REFRESH, False, env),
            db_path=env.get(DB_PATH) or None,
            store_buffer=env_count(DB_BUFFER, DEFAULT_DB_BUFFER, env),
            compat=_env_compat(env),
            budgets_file=env.get(BUDGETS_FILE) or None,
            budgets_ledger=env.get(BUDGETS_LEDGER) or None,
        )
