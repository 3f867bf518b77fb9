"""Normalised token usage and cost: the data every adapter produces and the pricer consumes.

Adapters normalise once (Anthropic's cache tokens are added into the input; Gemini's thoughts are
added into the output), so nothing downstream needs to know which provider a number came from.

Each token kind is declared once, on its ``Usage`` field (``token(...)``): its span attribute, its
store column and its report header. Span attributes, reading them back, adding two usages, the store
row and the report columns are all derived from that declaration (``TOKEN_KINDS``). Units billed per
use beside the tokens (tool calls, images, audio seconds, characters) are declared the same way, in
their own block (``unit(...)``), and flow through the same derivations.

How the call was served (service tier, batch processing, speed, inference region: what the response
says; a DALL-E image's size and quality) is declared the same way, in its own block (``served(...)``,
``SERVED_DIMENSIONS``): optional strings that select price variants (pricing/served.py) or per-image
rates, on spans, in the store and (but the image's) in ``--by pricing``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from genai_cost import semconv as sc


def token(
    attribute: str, *, label: str | None = None, rank: int | None = None, column: str | None = None
) -> Any:
    """Declare a token kind: ``attribute`` on spans; ``column`` in the store (default: the field's
    name; a migration adds it); ``label``, its report column header (None: stored and in the report's
    JSON and CSV, not a table column); ``rank``, its place among the compact table's columns (see
    store/render.py; None: ``--wide`` only)."""
    meta = {"attribute": attribute, "label": label, "rank": rank, "column": column, "real": False}
    return field(default=None, metadata=meta)


def unit(attribute: str, *, real: bool = False) -> Any:
    """Declare a priced unit beyond tokens (tool calls, images, audio, characters): like ``token``,
    stored and in the report's JSON and CSV but not a table column; ``real``: a float (audio seconds),
    not a whole count."""
    meta = {"attribute": attribute, "label": None, "rank": None, "column": None, "real": real}
    return field(default=None, metadata=meta)


def served(attribute: str, *, column: str | None = None, grouped: bool = True) -> Any:
    """Declare a served dimension: a string the response states (``attribute`` on spans; ``column``
    in the store, default the field's name; a migration adds it). ``grouped``: part of ``--by
    pricing``'s group (the hourly totals' pricing key, made by m006 from the four dimensions then)."""
    meta = {"attribute": attribute, "column": column, "served": True, "grouped": grouped}
    return field(default=None, metadata=meta)


@dataclass(slots=True)
class Usage:
    """Token counts of one call, and how it was served. ``None`` means "not reported", never zero."""

    # all input, cached and cache-written included (semconv)
    input_tokens: int | None = token(sc.GEN_AI_USAGE_INPUT_TOKENS, label="input tok", rank=3)
    # all output, reasoning included
    output_tokens: int | None = token(sc.GEN_AI_USAGE_OUTPUT_TOKENS, label="output tok", rank=4)
    cache_read_tokens: int | None = token(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, label="cached tok", rank=6)
    # all cache writes, whatever their TTL
    cache_creation_tokens: int | None = token(
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    )
    cache_creation_5m_tokens: int | None = token(sc.GENAI_COST_CACHE_CREATION_5M_TOKENS)
    cache_creation_1h_tokens: int | None = token(sc.GENAI_COST_CACHE_CREATION_1H_TOKENS)
    reasoning_tokens: int | None = token(sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)
    tool_use_prompt_tokens: int | None = token(sc.GENAI_COST_TOOL_USE_PROMPT_TOKENS)
    # the audio part of input_tokens (cached audio included)
    input_audio_tokens: int | None = token(sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS)

    # --- how the call was served (issue 15): what the response says; None: not stated ---------------
    service_tier: str | None = served(sc.GENAI_COST_PRICING_SERVICE_TIER)
    processing: str | None = served(sc.GENAI_COST_PRICING_PROCESSING)  # "batch"
    speed: str | None = served(sc.GENAI_COST_PRICING_SPEED)
    inference_geo: str | None = served(sc.GENAI_COST_PRICING_INFERENCE_GEO)
    # A DALL-E call's "<size>/<quality>" ("1024x1024/hd"): it selects the per-image rate
    # (pricing/rates.py UnitRates.image_rates), not a genai-prices variant; not in --by pricing.
    image_option: str | None = served(sc.GENAI_COST_PRICING_IMAGE_OPTION, grouped=False)

    # --- priced units beyond tokens (billed per use; pricing/rates.py UnitRates) ---
    web_search_calls: int | None = unit(sc.GENAI_COST_WEB_SEARCH_CALLS)
    web_fetch_calls: int | None = unit(sc.GENAI_COST_WEB_FETCH_CALLS)
    code_execution_calls: int | None = unit(sc.GENAI_COST_CODE_EXECUTION_CALLS)
    file_search_calls: int | None = unit(sc.GENAI_COST_FILE_SEARCH_CALLS)
    images: int | None = unit(sc.GENAI_COST_IMAGES)
    audio_seconds: float | None = unit(sc.GENAI_COST_AUDIO_SECONDS, real=True)
    input_characters: int | None = unit(sc.GENAI_COST_INPUT_CHARACTERS)

    @property
    def empty(self) -> bool:
        """Nothing billable reported: no tokens, and none of the units a call without tokens is
        billed by (audio seconds, characters, images)."""
        return (
            self.input_tokens is None
            and self.output_tokens is None
            and self.audio_seconds is None
            and self.input_characters is None
            and self.images is None
        )

    def to_attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self.put_attributes(out)
        return out

    def put_attributes(self, out: dict[str, Any]) -> None:
        """Add the reported counts to ``out`` as span attributes (generated below, from TOKEN_KINDS)."""
        raise NotImplementedError  # replaced at import by _put_attributes_from(...), below

    def __add__(self, other: Usage) -> Usage:
        """Both calls' counts: a kind reported by either is their sum (absent counts as 0). A served
        dimension stated by either is kept; where both state different values, the first one's."""
        summed = Usage()
        for kind in TOKEN_KINDS:
            a, b = getattr(self, kind.name), getattr(other, kind.name)
            if a is not None or b is not None:
                setattr(summed, kind.name, (a or 0) + (b or 0))
        for dimension in SERVED_DIMENSIONS:
            value = getattr(self, dimension.name)
            setattr(summed, dimension.name, value if value is not None else getattr(other, dimension.name))
        return summed

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, Any]) -> Usage:
        """Read usage from span attributes, ours or another semconv instrumentation's.

        A count that is not a non-negative number (a misbehaving proxy's -5) is not reported."""
        usage = cls()
        for kind in TOKEN_KINDS:
            value = _read(attrs, kind.attribute, amount if kind.real else count)
            if value is not None:
                setattr(usage, kind.name, value)
        for dimension in SERVED_DIMENSIONS:
            text = _read(attrs, dimension.attribute, served_value)
            if text is not None:
                setattr(usage, dimension.name, text)
        return usage

    def served_label(self) -> str:
        """The served dimensions stated, as ``name=value`` words ('' when none): the ``--by pricing``
        group (store/rollup.py computes the same text in SQL)."""
        return " ".join(
            f"{d.column}={value}" for d in GROUPED_DIMENSIONS if (value := getattr(self, d.name)) is not None
        )


def _read(attrs: Mapping[str, Any], attribute: str, convert: Callable[[Any], Any]) -> Any:
    """``attribute``'s value through ``convert``, else the first of its older names that converts."""
    value = convert(attrs.get(attribute))
    if value is None:
        for alias in _ATTRIBUTE_ALIASES.get(attribute, ()):
            value = convert(attrs.get(alias))
            if value is not None:
                break
    return value


def plus(a: Usage | None, b: Usage | None) -> Usage | None:
    """``a + b`` where either may be missing (None)."""
    if a is None or b is None:
        return a if b is None else b
    return a + b


def count(value: Any) -> int | None:
    """A token count from an attribute value: a non-negative int (floats truncated), else None."""
    if type(value) is int:
        return value if value >= 0 else None
    if type(value) is float and value >= 0 and value == value and value != float("inf"):
        return int(value)
    return None


def served_value(value: Any) -> str | None:
    """A served dimension from a response or attribute value: a non-empty string, lower case, stripped
    (OpenAI says "flex", Vertex "ON_DEMAND_FLEX"; one spelling per value for grouping and pricing)."""
    if type(value) is not str:
        value = getattr(value, "value", None)  # an SDK enum member
        if type(value) is not str:
            return None
    value = value.strip().lower()
    return value or None


def amount(value: Any) -> float | None:
    """A non-negative finite number from an attribute or response value (audio seconds, a stated cost),
    else None."""
    if type(value) is int:
        return float(value) if value >= 0 else None
    if type(value) is float and value >= 0 and value == value and value != float("inf"):
        return value
    return None


@dataclass(frozen=True, slots=True)
class TokenKind:
    name: str  # the Usage field
    attribute: str  # span attribute
    column: str  # store column
    label: str | None  # report table column header; None: not a table column
    rank: int | None  # place in the compact report table (None: --wide only)
    real: bool = False  # a float (audio seconds), not a whole count


TOKEN_KINDS: tuple[TokenKind, ...] = tuple(
    TokenKind(
        f.name,
        f.metadata["attribute"],
        f.metadata["column"] or f.name,
        f.metadata["label"],
        f.metadata["rank"],
        f.metadata["real"],
    )
    for f in fields(Usage)
    if not f.metadata.get("served")
)


@dataclass(frozen=True, slots=True)
class ServedDimension:
    name: str  # the Usage field
    attribute: str  # span attribute
    column: str  # store column
    grouped: bool = True  # part of --by pricing's group


SERVED_DIMENSIONS: tuple[ServedDimension, ...] = tuple(
    ServedDimension(f.name, f.metadata["attribute"], f.metadata["column"] or f.name, f.metadata["grouped"])
    for f in fields(Usage)
    if f.metadata.get("served")
)
# The served dimensions of ``--by pricing``'s group (``served_label``, SERVED_LABEL_SQL).
GROUPED_DIMENSIONS = tuple(d for d in SERVED_DIMENSIONS if d.grouped)


# Every Usage field's store column, in field order (token kinds and served dimensions alike), so the
# values of a row's columns build its Usage positionally: ``Usage(*values)``.
STORED_COLUMNS: tuple[str, ...] = tuple(f.metadata["column"] or f.name for f in fields(Usage))
STORED_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Usage))

# The ``--by pricing`` group of a stored call, in SQL: the same text as ``Usage.served_label`` (values
# are stored stripped, so TRIM only takes off the last separator); NULL for the standard path.
SERVED_LABEL_SQL = (
    "NULLIF(TRIM("
    + " || ".join(f"COALESCE('{d.column}=' || {d.column} || ' ', '')" for d in GROUPED_DIMENSIONS)
    + "), '')"
)


def _put_attributes_from(kinds: tuple[TokenKind | ServedDimension, ...]) -> Any:
    """``Usage.put_attributes`` written out, one ``if`` per kind: it runs at the end of every call,
    where a loop over the kinds costs several times more (the way dataclasses make ``__init__``)."""
    lines = ["def put_attributes(self, out):"]
    for index, kind in enumerate(kinds):
        lines += [
            f"    value = self.{kind.name}",
            "    if value is not None:",
            f"        out[_k[{index}]] = value",
        ]
    namespace: dict[str, Any] = {"_k": tuple(kind.attribute for kind in kinds)}
    exec("\n".join(lines), namespace)
    function = namespace["put_attributes"]
    function.__doc__ = Usage.put_attributes.__doc__
    function.__qualname__ = "Usage.put_attributes"
    return function


Usage.put_attributes = _put_attributes_from(TOKEN_KINDS + SERVED_DIMENSIONS)  # type: ignore[method-assign]

# Names other instrumentations still send for a kind: the anthropic SDK's own spans use the older
# cache-write name; pre-1.27 conventions named input and output prompt and completion tokens.
_ATTRIBUTE_ALIASES: dict[str, tuple[str, ...]] = {
    sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: (sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,),
    sc.GEN_AI_USAGE_INPUT_TOKENS: (sc.GEN_AI_USAGE_PROMPT_TOKENS,),
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: (sc.GEN_AI_USAGE_COMPLETION_TOKENS,),
    # OpenAI instrumentations state the served tier under the semconv name (and its older spelling).
    sc.GENAI_COST_PRICING_SERVICE_TIER: (
        sc.OPENAI_RESPONSE_SERVICE_TIER,
        sc.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER,
    ),
}


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a call per field
class Cost:
    """The price of one call in USD, with its parts. ``total`` is what is billed. A value: not
    changed once made."""

    total: float
    input: float = 0.0  # uncached input
    output: float = 0.0  # output, reasoning included
    cache_read: float = 0.0
    cache_write: float = 0.0
    currency: str = sc.COST_CURRENCY_USD
    # --- priced units beyond tokens ---
    tools: float = 0.0  # tool calls, images, audio, characters (billed per use)
    partial: str | None = None  # what has no rate ("web_fetch_calls"): the total is short of it
    # The provider stated the total (the bill) and no parts: the parts above are not known.
    stated: bool = False

    def to_attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self.put_attributes(out)
        return out

    def put_attributes(self, out: dict[str, Any]) -> None:
        """Add the cost and its parts to ``out`` as span attributes."""
        out[sc.GEN_AI_USAGE_COST_AMOUNT] = self.total
        out[sc.GEN_AI_USAGE_COST_CURRENCY] = self.currency
        out[sc.GEN_AI_USAGE_COST_SOURCE] = sc.COST_SOURCE_LOCAL
        out[sc.GENAI_COST_INPUT_AMOUNT] = self.input
        out[sc.GENAI_COST_OUTPUT_AMOUNT] = self.output
        out[sc.GENAI_COST_CACHE_READ_AMOUNT] = self.cache_read
        out[sc.GENAI_COST_CACHE_WRITE_AMOUNT] = self.cache_write
        if self.tools:
            out[sc.GENAI_COST_TOOLS_AMOUNT] = self.tools
        if self.partial is not None:
            out[sc.GENAI_COST_PARTIAL] = True
            out[sc.GENAI_COST_PARTIAL_REASON] = self.partial
