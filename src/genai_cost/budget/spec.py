"""Budgets as data: the budgets file (YAML or JSON) and the same schema given in code, validated once.

    budgets:
      - name: monthly-total          # unique
        limit_usd: 500               # or limit_tokens: 1000000 (input + output)
        window: month                # day | month | rolling:24h | total; timezone: Europe/Paris
        per: user                    # global (default) | feature | user | session | model | provider | tag:<key>
        match: {feature: resume_analysis}   # only calls whose tags / model / provider match (globs)
        action: raise                # raise (default) | warn
        unpriced: block              # USD budgets: block (default) | allow a model with no price
                                     # (a warn budget lets it through either way, uncounted)
        default_max_output_tokens: 4096     # the output allowance of a call that sets no max

Errors are ``BudgetFileError``s naming the file, the line and the field, like the price file's
(both read through ``pricing/located.py``). Budgets given in code are checked by the same code, with
``<code>`` for the file and no line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from genai_cost import semconv as sc
from genai_cost.budget.errors import BudgetFileError
from genai_cost.pricing import located
from genai_cost.pricing.located import Node, join_field, kind_of

USD = "USD"
TOKENS = "tokens"
DEFAULT_MAX_OUTPUT_TOKENS = 4096  # the output allowance of a call whose request sets no maximum
TOP_KEYS = ("version", "budgets")
BUDGET_KEYS = (
    "name",
    "limit_usd",
    "limit_tokens",
    "window",
    "timezone",
    "per",
    "match",
    "action",
    "unpriced",
    "default_max_output_tokens",
)
# per: / match: names -> where the value comes from (a tag attribute, or the request).
_TAG_KEYS = {"feature": sc.FEATURE_NAME, "user": sc.USER_ID, "session": sc.SESSION_ID}
_REQUEST_KEYS = ("model", "provider")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# A rolling window is summed over this many buckets: a bucket half out of the window still counts
# whole, so the guard errs on the side of refusing (by at most 1/ROLLING_BUCKETS of the window).
ROLLING_BUCKETS = 96


@dataclass(frozen=True, slots=True)
class Window:
    kind: str  # "day" | "month" | "rolling" | "total"
    seconds: float = 0.0  # rolling only
    timezone: str = "UTC"
    spelled: str = field(default="", compare=False)  # a rolling window's duration as the user wrote it

    @property
    def label(self) -> str:
        if self.kind == "rolling":
            return f"rolling {self.spelled or _format_duration(self.seconds)}"
        if self.kind == "total":
            return "total"
        return f"{self.kind} ({self.timezone})"

    def bucket(self, now: float) -> int:
        """The key spend at ``now`` is counted under: the calendar window's start, a rolling
        window's bucket start, 0 for ``total``."""
        if self.kind == "total":
            return 0
        if self.kind == "rolling":
            size = self.seconds / ROLLING_BUCKETS
            return int(math.floor(now / size) * size)
        return int(self.start(now))

    def since(self, now: float) -> int:
        """Buckets at or after this key are in the window at ``now``."""
        if self.kind == "rolling":
            return self.bucket(now - self.seconds)
        return self.bucket(now)

    def start(self, now: float) -> float:
        """Start of the calendar window holding ``now`` (unix seconds)."""
        if self.kind == "total":
            return 0.0
        if self.kind == "rolling":
            return now - self.seconds
        moment = datetime.fromtimestamp(now, ZoneInfo(self.timezone))
        moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.kind == "month":
            moment = moment.replace(day=1)
        return moment.timestamp()

    def end(self, now: float) -> float | None:
        """When the calendar window holding ``now`` ends (None: never, or continuously for rolling)."""
        if self.kind in ("total", "rolling"):
            return None
        zone = ZoneInfo(self.timezone)
        start = datetime.fromtimestamp(self.start(now), zone)
        if self.kind == "day":
            following = (start + timedelta(days=1, hours=2)).replace(hour=0)  # +2h: DST-safe
        else:
            following = (start + timedelta(days=32)).replace(day=1)
        return following.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


@dataclass(frozen=True, slots=True)
class Budget:
    name: str
    limit: float
    unit: str  # USD | TOKENS
    window: Window = Window("month")
    per: str = "global"  # global | feature | user | session | model | provider | tag:<key>
    match: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (key, patterns): every key must match
    action: str = "raise"  # raise | warn
    unpriced: str = "block"  # block | allow (USD budgets)
    default_max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    where: str = "<code>"

    def matches(self, values: Callable[[str], Any]) -> bool:
        """``values(key)`` gives a match key's value for the call (a tag, the model, the provider)."""
        for key, patterns in self.match:
            value = values(key)
            if value is None or not any(fnmatchcase(str(value), p) for p in patterns):
                return False
        return True

    @property
    def scope_key(self) -> str | None:
        """The match/value key whose value separates this budget's counts (None: global)."""
        return None if self.per == "global" else self.per


def value_key(name: str) -> str:
    """A ``per:``/``match:`` name -> the key a call's values are looked up under (see guard.py)."""
    if name in _TAG_KEYS:
        return _TAG_KEYS[name]
    if name.startswith("tag:"):
        return name[4:]
    return name  # model, provider


# --- reading ----------------------------------------------------------------------------------------


def load_budgets(path: str | Path) -> tuple[Budget, ...]:
    """Read and validate a budgets file; raise BudgetFileError on any problem."""
    validator = _Validator(str(path))
    return validator.document(validator.read(Path(path)))


def budgets_from_code(budgets: Sequence[Budget | Mapping[str, Any]]) -> tuple[Budget, ...]:
    """Budgets given in code: ``Budget`` objects or dicts in the file's schema (checked alike)."""
    validator = _Validator("<code>")
    out: list[Budget] = []
    for index, item in enumerate(budgets):
        out.append(item if isinstance(item, Budget) else validator.budget(_node(item), f"budgets[{index}]"))
    validator.unique(out)
    return tuple(out)


def _node(value: Any) -> Node:
    if isinstance(value, Mapping):
        return Node({str(k): (0, _node(v)) for k, v in value.items()}, 0)
    if isinstance(value, (list, tuple)):
        return Node([_node(v) for v in value], 0)
    return Node(value, 0)


def parse_duration(text: str) -> float | None:
    match = _DURATION.match(text)
    if match is None:
        return None
    return float(match.group(1)) * _UNITS[match.group(2)]


def _format_duration(seconds: float) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


class _Validator(located.Checker):
    error = BudgetFileError

    def document(self, root: Node | None) -> tuple[Budget, ...]:
        if root is None:
            return ()
        top = self.mapping(root, "", TOP_KEYS)
        if "version" in top:
            node = top["version"][1]
            if node.value != 1 or isinstance(node.value, bool):
                raise self.fail(node.line, "version", f"only version 1 is known, got {node.value!r}")
        if "budgets" not in top:
            raise self.fail(root.line, "budgets", "required key is missing")
        items = top["budgets"][1]
        if not isinstance(items.value, list):
            raise self.fail(items.line, "budgets", f"expected a list, got {kind_of(items.value)}")
        budgets = [self.budget(item, f"budgets[{i}]") for i, item in enumerate(items.value)]
        self.unique(budgets)
        return tuple(budgets)

    def unique(self, budgets: Sequence[Budget]) -> None:
        seen: dict[str, str] = {}
        for index, budget in enumerate(budgets):
            if budget.name in seen:
                line = int(budget.where.rpartition(":")[2] or 0) if budget.where != "<code>" else None
                raise self.fail(
                    line, f"budgets[{index}].name", f"{budget.name!r} is already used at {seen[budget.name]}"
                )
            seen[budget.name] = budget.where

    def choice(self, node: Node, field: str, choices: tuple[str, ...]) -> str:
        value = self.string(node, field)
        if value not in choices:
            raise self.fail(node.line, field, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def budget(self, node: Node, field: str) -> Budget:
        entry = self.mapping(node, field, BUDGET_KEYS)
        get = entry.get
        if "name" not in entry:
            raise self.fail(node.line, join_field(field, "name"), "required key is missing")
        name = self.string(entry["name"][1], join_field(field, "name"))
        limits = [key for key in ("limit_usd", "limit_tokens") if key in entry]
        if len(limits) != 1:
            line = entry[limits[1]][0] if len(limits) > 1 else node.line
            raise self.fail(
                line, join_field(field, "limit_usd"), "give exactly one of limit_usd and limit_tokens"
            )
        limit_node = entry[limits[0]][1]
        limit = limit_node.value
        if (
            isinstance(limit, bool)
            or not isinstance(limit, (int, float))
            or not math.isfinite(limit)
            or limit < 0
        ):
            raise self.fail(
                limit_node.line, join_field(field, limits[0]), f"expected a number >= 0, got {kind_of(limit)}"
            )
        unit = USD if limits[0] == "limit_usd" else TOKENS
        window = self.window(entry, field)
        per = "global"
        if (found := get("per")) is not None:
            per = self.per(found[1], join_field(field, "per"))
        match: list[tuple[str, tuple[str, ...]]] = []
        if (found := get("match")) is not None:
            for key, (key_line, value) in self.mapping(found[1], join_field(field, "match"), None).items():
                match.append(
                    (
                        self.match_key(key, key_line, join_field(field, f"match.{key}")),
                        self.patterns(value, join_field(field, f"match.{key}")),
                    )
                )
        action = "raise"
        if (found := get("action")) is not None:
            action = self.choice(found[1], join_field(field, "action"), ("raise", "warn"))
        unpriced = "block"
        if (found := get("unpriced")) is not None:
            unpriced = self.choice(found[1], join_field(field, "unpriced"), ("block", "allow"))
        default_out = DEFAULT_MAX_OUTPUT_TOKENS
        if (found := get("default_max_output_tokens")) is not None:
            value = found[1].value
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise self.fail(
                    found[1].line,
                    join_field(field, "default_max_output_tokens"),
                    f"expected a whole number >= 0, got {kind_of(value)}",
                )
            default_out = value
        where = f"{self.file}:{node.line}" if node.line else self.file
        return Budget(
            name, float(limit), unit, window, per, tuple(match), action, unpriced, default_out, where
        )

    def window(self, entry: dict[str, tuple[int, Node]], field: str) -> Window:
        timezone = "UTC"
        if "timezone" in entry:
            tz_node = entry["timezone"][1]
            timezone = self.string(tz_node, join_field(field, "timezone"))
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise self.fail(
                    tz_node.line, join_field(field, "timezone"), f"unknown time zone {timezone!r}"
                ) from None
        if "window" not in entry:
            return Window("month", timezone=timezone)
        node = entry["window"][1]
        wfield = join_field(field, "window")
        if isinstance(node.value, dict):  # window: {rolling: 24h}
            rolling = self.mapping(node, wfield, ("rolling",))
            if "rolling" not in rolling:
                raise self.fail(node.line, join_field(wfield, "rolling"), "required key is missing")
            return self.rolling(rolling["rolling"][1], join_field(wfield, "rolling"))
        text = self.string(node, wfield)
        if text.startswith("rolling:"):
            return self.rolling(Node(text[len("rolling:") :].strip(), node.line), wfield)
        if text not in ("day", "month", "total"):
            raise self.fail(
                node.line, wfield, f"expected day, month, total or rolling:<duration>, got {text!r}"
            )
        if text == "total" and "timezone" in entry:
            raise self.fail(
                entry["timezone"][0], join_field(field, "timezone"), "a total window has no time zone"
            )
        return Window(text, timezone=timezone)

    def rolling(self, node: Node, field: str) -> Window:
        text = node.value if isinstance(node.value, str) else None
        seconds = parse_duration(text) if text else None
        if seconds is None or seconds < 60:
            raise self.fail(
                node.line,
                field,
                f"expected a duration of 1 minute or more such as 24h, 30m, 7d, got {kind_of(node.value)}",
            )
        return Window("rolling", seconds, spelled=str(text).strip())

    def per(self, node: Node, field: str) -> str:
        value = self.string(node, field)
        if value in ("global", *_TAG_KEYS, *_REQUEST_KEYS):
            return value
        if value.startswith("tag:") and value[4:].strip():
            return "tag:" + value[4:].strip()
        raise self.fail(
            node.line,
            field,
            f"expected global, feature, user, session, model, provider or tag:<key>, got {value!r}",
        )

    def match_key(self, key: str, line: int, field: str) -> str:
        if key in _TAG_KEYS or key in _REQUEST_KEYS or (key.startswith("tag:") and key[4:]):
            return key
        raise self.fail(
            line, field, f"unknown match key {key!r} (feature, user, session, model, provider or tag:<key>)"
        )

    def patterns(self, node: Node, field: str) -> tuple[str, ...]:
        if isinstance(node.value, list):
            if not node.value:
                raise self.fail(node.line, field, "expected at least one value")
            return tuple(self.string(item, field) for item in node.value)
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return (str(node.value),)
        return (self.string(node, field),)
