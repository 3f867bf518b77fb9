"""The deterministic rules the fake providers use to invent usage, text and vectors.

Everything here is a pure function of the request, so a test can know the numbers in advance and a
demo prints the same bill every run:

- **Input tokens** = ``max(1, C // 4)`` where ``C`` is the number of characters of all text in the
  request: message/content/part ``text``, ``system``/``instructions``/``systemInstruction``,
  ``prompt`` and ``input`` strings (token-id arrays count one token per id), plus ``258`` tokens per
  media part (image, audio, document, file: Gemini ``inlineData``/``fileData``, OpenAI ``image_url``/
  ``input_image``/``input_audio``/``input_file``, Anthropic ``image``/``document``), which is what Gemini
  bills for an image. Tool schemas and every other field count nothing.
- **Modalities** (what those input tokens are made of): a part whose MIME type (``mimeType``/
  ``mime_type`` of Gemini ``inlineData``/``fileData``) is ``audio/*``, or an OpenAI ``input_audio`` part,
  is ``258`` audio tokens; a ``video/*`` part is ``226`` video tokens plus ``32`` audio tokens for its
  sound track (one second at Gemini's 32 audio tokens per second), still ``258`` in all. Everything
  else (text, images, documents, file parts of unknown type) is text. Gemini reports them as
  ``promptTokensDetails`` entries (TEXT, AUDIO, VIDEO; zero entries left out), OpenAI chat as
  ``prompt_tokens_details.audio_tokens``. Cache reads take no modality apart (no ``cacheTokensDetails``).
- **Output tokens** = ``min(cap, 8 + H % 57)`` (8..64), ``H`` a SHA-256 of that same text and ``cap``
  the request's ``max_tokens`` / ``max_completion_tokens`` / ``max_output_tokens`` /
  ``generationConfig.maxOutputTokens`` when given. The reply is that many words, one token each,
  drawn from a fixed vocabulary: the prompt is never echoed.
- **Cache reads** (OpenAI, Groq, Gemini): a request with ``C >= 4096`` characters (or a Gemini
  ``cachedContent``) reports half its input tokens as cached, inside the input count as those
  providers do. **Anthropic**: a request carrying ``cache_control`` anywhere reports, of its ``T``
  input tokens, ``T // 2`` cache reads and ``T // 4`` cache writes (all 1h writes if any
  ``cache_control`` asks for ``ttl: "1h"``, else 5m writes); ``input_tokens`` is the rest.
- **Reasoning**: OpenAI/Groq models named ``o1*``, ``o3*``, ``o4*``, ``gpt-5*`` spend half their output
  on reasoning (inside completion tokens); Gemini models whose name contains ``2.5``, ``thinking`` or
  ``gemini-3`` report half their output budget as ``thoughtsTokenCount`` (outside
  ``candidatesTokenCount``), unless ``thinkingBudget`` is 0; Anthropic requests with ``thinking.type``
  "enabled"/"adaptive" spend half their output on a thinking block (inside ``output_tokens``).
- **Tool-use prompt** (Gemini): each built-in tool (googleSearch, codeExecution, urlContext, ...) in
  the request adds ``16`` ``toolUsePromptTokenCount`` tokens.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4
LONG_PROMPT_CHARS = 4096  # at or above this many characters, half the input is a cache read
OUTPUT_MIN = 8
OUTPUT_SPREAD = 57  # output tokens fall in OUTPUT_MIN .. OUTPUT_MIN + OUTPUT_SPREAD - 1
TOOL_USE_PROMPT_TOKENS_PER_TOOL = 16
MEDIA_PART_TOKENS = 258
VIDEO_AUDIO_TRACK_TOKENS = 32  # of a video part's 258: its sound track, reported as audio
_MEDIA_KEYS = frozenset({"inlineData", "inline_data", "fileData", "file_data"})
_MEDIA_TYPES = frozenset(
    {"image", "document", "image_url", "input_image", "input_audio", "input_file", "file", "audio"}
)

# Keys whose string values (or nested lists/objects) hold text that a provider would tokenize.
_TEXT_KEYS = frozenset(
    {
        "text",
        "content",
        "contents",
        "parts",
        "messages",
        "input",
        "prompt",
        "system",
        "instructions",
        "systemInstruction",
        "system_instruction",
        "requests",
        "instances",
        "output",  # function-call outputs fed back to the Responses API
    }
)

_VOCABULARY = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "amber",
    "cobalt",
    "ivory",
    "jade",
    "onyx",
    "ruby",
]

_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_GEMINI_THINKING_MARKERS = ("2.5", "thinking", "gemini-3")


@dataclass(frozen=True, slots=True)
class Tokens:
    """Usage as the provider counts it (see ``BilledCall`` for the meaning per provider)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_5m_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    reasoning_tokens: int = 0
    tool_use_prompt_tokens: int = 0
    input_audio_tokens: int = 0  # part of input_tokens
    input_video_tokens: int = 0  # part of input_tokens (Gemini only reports it)


@dataclass(frozen=True, slots=True)
class PromptText:
    """The text of a request, reduced to what the rules need."""

    chars: int
    digest: int
    media_parts: int = 0  # all media parts, audio and video ones included
    audio_parts: int = 0
    video_parts: int = 0

    @property
    def tokens(self) -> int:
        return max(1, self.chars // CHARS_PER_TOKEN + MEDIA_PART_TOKENS * self.media_parts)

    @property
    def audio_tokens(self) -> int:
        return MEDIA_PART_TOKENS * self.audio_parts + VIDEO_AUDIO_TRACK_TOKENS * self.video_parts

    @property
    def video_tokens(self) -> int:
        return (MEDIA_PART_TOKENS - VIDEO_AUDIO_TRACK_TOKENS) * self.video_parts

    @property
    def long(self) -> bool:
        return self.chars >= LONG_PROMPT_CHARS


def prompt_text(*nodes: Any) -> PromptText:
    """Collect the text of request parts (a JSON body or pieces of it) into a ``PromptText``."""
    pieces: list[str] = []
    media: list[str] = []
    for node in nodes:
        _collect(node, pieces, media)
    digest = int.from_bytes(hashlib.sha256("\x00".join(pieces).encode()).digest()[:8], "big")
    return PromptText(
        chars=sum(len(p) for p in pieces),
        digest=digest,
        media_parts=len(media),
        audio_parts=media.count("audio"),
        video_parts=media.count("video"),
    )


def _media_kind(part: dict[str, Any]) -> str:
    """``audio``, ``video`` or ``other`` for a media part, from its type or MIME type."""
    if part.get("type") in ("input_audio", "audio"):
        return "audio"
    for key in _MEDIA_KEYS:
        data = part.get(key)
        if isinstance(data, dict):
            mime = data.get("mimeType") or data.get("mime_type")
            if isinstance(mime, str):
                major = mime.partition("/")[0].lower()
                if major in ("audio", "video"):
                    return major
    return "other"


def _collect(node: Any, out: list[str], media: list[str]) -> None:
    # Only reached for values under a text key (or a whole body), so every string here is text.
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, list):
        if node and all(isinstance(x, int) and not isinstance(x, bool) for x in node):
            out.append("x" * (CHARS_PER_TOKEN * len(node)))  # token ids: one token each
            return
        for item in node:
            _collect(item, out, media)
    elif isinstance(node, dict):
        if node.get("type") in _MEDIA_TYPES or not _MEDIA_KEYS.isdisjoint(node):
            media.append(_media_kind(node))
        for key, value in node.items():
            if key in _TEXT_KEYS:
                _collect(value, out, media)


def output_budget(text: PromptText, cap: Any = None) -> int:
    """How many output tokens a request gets (reasoning included)."""
    derived = OUTPUT_MIN + text.digest % OUTPUT_SPREAD
    if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0:
        return min(cap, derived)
    return derived


def words(count: int, seed: int) -> list[str]:
    """``count`` words, one token each, chosen from a fixed vocabulary."""
    return [_VOCABULARY[(seed + 7 * i) % len(_VOCABULARY)] for i in range(max(0, count))]


def reply_text(count: int, seed: int) -> str:
    return " ".join(words(count, seed))


def deltas(count: int, seed: int) -> list[str]:
    """The reply split into stream deltas, one word each; joined they equal ``reply_text``."""
    return [w if i == 0 else " " + w for i, w in enumerate(words(count, seed))]


def is_openai_reasoning_model(model: str) -> bool:
    name = model.lower().rsplit("/", 1)[-1]
    return name.startswith(_REASONING_PREFIXES)


def is_gemini_thinking_model(model: str) -> bool:
    name = model.lower()
    return any(marker in name for marker in _GEMINI_THINKING_MARKERS)


def cached_half(text: PromptText, input_tokens: int, *, force: bool = False) -> int:
    return input_tokens // 2 if (text.long or force) else 0


def find_key(node: Any, key: str) -> Iterable[Any]:
    """Every value stored under ``key`` anywhere in a JSON document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from find_key(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from find_key(item, key)


def embedding(dimensions: int, seed: int) -> list[float]:
    """A unit vector of ``dimensions`` floats derived from ``seed`` (exact in float32)."""
    raw = [((seed >> (i % 48)) ^ (i * 2654435761)) % 2001 - 1000 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    # Round-trip through float32 so the float and base64 encodings carry the same numbers.
    values = [v / norm for v in raw]
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *values)))


def embedding_base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


# --- priced units beyond tokens ------------------------------------------------------------------
# - **Server tools** (Anthropic ``tools`` of type ``web_search_*`` / ``web_fetch_*``): each such tool
#   is used ``max_uses`` times when given, else once; the counts are reported in
#   ``usage.server_tool_use``.
# - **Built-in tools** (OpenAI Responses ``tools`` of type ``web_search*``, ``file_search``,
#   ``code_interpreter``): each is called once, one output item of type ``*_call`` each.
# - **Audio** (transcriptions, translations): a recording lasts one second per ``AUDIO_BYTES_PER_SECOND``
#   bytes of the uploaded file (at least 0.5 s), rounded to milliseconds.
# - **Speech**: the ``input`` text's characters; **images**: ``n`` (default 1).


@dataclass(frozen=True, slots=True)
class Units:
    """Units billed per use, beside the tokens (see ``BilledCall``)."""

    web_search_calls: int = 0
    web_fetch_calls: int = 0
    code_execution_calls: int = 0
    file_search_calls: int = 0
    images: int = 0
    audio_seconds: float = 0.0
    input_characters: int = 0


AUDIO_BYTES_PER_SECOND = 1000


def anthropic_server_tools(body: dict[str, Any]) -> Units:
    searches = fetches = 0
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        kind = str(tool.get("type") or "")
        max_uses = tool.get("max_uses")
        uses = max_uses if isinstance(max_uses, int) else 1
        if kind.startswith("web_search"):
            searches += uses
        elif kind.startswith("web_fetch"):
            fetches += uses
    return Units(web_search_calls=searches, web_fetch_calls=fetches)


# OpenAI Responses built-in tool type -> the output item type of one call.
RESPONSES_TOOL_ITEMS = {
    "web_search": "web_search_call",
    "web_search_preview": "web_search_call",
    "file_search": "file_search_call",
    "code_interpreter": "code_interpreter_call",
}


def responses_tool_calls(body: dict[str, Any]) -> list[str]:
    """The output item types of the built-in tool calls a Responses request makes, in order."""
    return [
        RESPONSES_TOOL_ITEMS[str(tool.get("type"))]
        for tool in body.get("tools") or ()
        if isinstance(tool, dict) and str(tool.get("type")) in RESPONSES_TOOL_ITEMS
    ]


def audio_seconds(size: int) -> float:
    return round(max(size / AUDIO_BYTES_PER_SECOND, 0.5), 3)
