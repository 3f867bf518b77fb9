"""Read a YAML or JSON file into values that remember their line, so errors can name it.

YAML is read with PyYAML's composer (node marks carry lines), after a pass over its events that
refuses anchors and aliases. JSON is read by ``json`` first (its
syntax errors carry a line), then walked again here for the lines: PyYAML is not a JSON parser
(it rejects tabs and reads ``1e3`` as a string), so it is not used for JSON.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]  # not in typeshed
from pathlib import Path
from typing import Any


class FileFormatError(ValueError):
    """The file could not be read or parsed; carries the line when known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class LocatedError(ValueError):
    """A value in a file that is not what its schema wants: ``file:line: field: problem``. The price
    override file and the budgets file raise their own subclasses of it."""

    def __init__(self, file: str, line: int | None, field: str, problem: str) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.problem = problem
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


def join_field(field: str, key: str) -> str:
    """The dotted path of ``key`` under ``field``, as errors name it."""
    return f"{field}.{key}" if field else key


def kind_of(value: Any) -> str:
    """What a value is, for an error that says what was expected and what was found."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"a string ({value!r})"
    return f"{type(value).__name__} ({value!r})"


class Checker:
    """Reads a file through this module and checks the shapes of its values; every problem is an
    ``error`` (the subclass of LocatedError of the file's kind) naming file, line and field."""

    error: type[LocatedError] = LocatedError

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, line: int | None, field: str, problem: str) -> LocatedError:
        return self.error(self.file, line or None, field, problem)

    def read(self, path: Path) -> Node | None:
        try:
            return load(path)
        except FileFormatError as exc:
            raise self.fail(exc.line, "", str(exc)) from exc

    def mapping(self, node: Node, field: str, allowed: tuple[str, ...] | None) -> dict[str, tuple[int, Node]]:
        """A mapping whose keys are all in ``allowed`` (any keys when None)."""
        if not isinstance(node.value, dict):
            raise self.fail(node.line, field, f"expected a mapping, got {kind_of(node.value)}")
        for key, (key_line, _) in node.value.items():
            if allowed is not None and key not in allowed:
                raise self.fail(
                    key_line, join_field(field, key), f"unknown key {key!r} (allowed: {', '.join(allowed)})"
                )
        return node.value

    def sequence(self, node: Node, field: str) -> list[Node]:
        if not isinstance(node.value, list):
            raise self.fail(node.line, field, f"expected a list, got {kind_of(node.value)}")
        return node.value

    def string(self, node: Node, field: str) -> str:
        if not isinstance(node.value, str) or not node.value.strip():
            raise self.fail(node.line, field, f"expected a non-empty string, got {kind_of(node.value)}")
        return node.value.strip()

    def number(self, node: Node, field: str, *, maximum: float | None = None) -> float:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(node.line, field, f"expected a number, got {kind_of(value)}")
        if not math.isfinite(value) or value < 0:
            raise self.fail(node.line, field, f"expected a finite number >= 0, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.fail(node.line, field, f"expected a number <= {maximum:g}, got {value!r}")
        return float(value)


@dataclass(slots=True)
class Node:
    """A value with the 1-based line where it starts. Mappings hold ``{key: (key_line, Node)}``."""

    value: Any
    line: int


def load(path: Path) -> Node | None:
    """Parse a file by its suffix (.json: JSON, anything else: YAML). None for an empty file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"cannot read the file: {exc}", None) from exc
    if path.suffix.lower() == ".json":
        return _load_json(text)
    return _load_yaml(text)


# --- YAML ---------------------------------------------------------------------------------------


def _refuse_aliases(text: str) -> None:
    """Anchors and aliases (``&name``, ``*name``) are refused before the document is built: a few
    hundred bytes of nested aliases expand to billions of values, and an alias inside its own anchor
    never ends. A price file has no need for them."""
    import yaml

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            token = f"*{event.anchor}"
        elif isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            token = f"&{event.anchor}"
        else:
            continue
        raise FileFormatError(
            f"YAML anchors and aliases ({token}) are not allowed in a price file; write each value out",
            event.start_mark.line + 1,
        )


def _load_yaml(text: str) -> Node | None:
    import yaml

    try:
        _refuse_aliases(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise FileFormatError(f"YAML syntax error: {exc.problem or exc}", line) from exc
    except yaml.YAMLError as exc:
        raise FileFormatError(f"YAML error: {exc}", None) from exc
    if root is None:
        return None
    constructor = yaml.SafeLoader("")
    return _from_yaml(root, constructor)


def _from_yaml(node: Any, constructor: Any) -> Node:
    import yaml

    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, tuple[int, Node]] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise FileFormatError("a mapping key must be a plain name", key_line)
            key = str(constructor.construct_object(key_node))
            if key in mapping:
                raise FileFormatError(f"duplicate key {key!r}", key_line)
            mapping[key] = (key_line, _from_yaml(value_node, constructor))
        return Node(mapping, line)
    if isinstance(node, yaml.SequenceNode):
        return Node([_from_yaml(item, constructor) for item in node.value], line)
    try:
        return Node(constructor.construct_object(node), line)
    except yaml.YAMLError as exc:
        raise FileFormatError(f"bad value: {exc}", line) from exc


# --- JSON ---------------------------------------------------------------------------------------

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")
_SPACE = re.compile(r"[ \t\n\r]*")
_CONSTANTS = {
    "true": True,
    "false": False,
    "null": None,
    # json.loads accepts these; the validator then rejects them with their line.
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}


def _load_json(text: str) -> Node | None:
    if not text.strip():
        return None
    try:
        json.loads(text)  # syntax errors, with the line
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"JSON syntax error: {exc.msg} (column {exc.colno})", exc.lineno) from exc
    walker = _JsonWalker(text)
    node, _ = walker.value(_SPACE.match(text, 0).end())  # type: ignore[union-attr]
    return node


class _JsonWalker:
    """Walks text json.loads already accepted, recording lines (so it trusts the syntax)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def line(self, pos: int) -> int:
        from bisect import bisect_left

        return bisect_left(self.newlines, pos) + 1

    def skip(self, pos: int) -> int:
        return _SPACE.match(self.text, pos).end()  # type: ignore[union-attr]

    def value(self, pos: int) -> tuple[Node, int]:
        text, line = self.text, self.line(pos)
        char = text[pos]
        if char == "{":
            mapping: dict[str, tuple[int, Node]] = {}
            pos = self.skip(pos + 1)
            if text[pos] == "}":
                return Node(mapping, line), pos + 1
            while True:
                key_line = self.line(pos)
                key, pos = scanstring(text, pos + 1)
                pos = self.skip(self.skip(pos) + 1)  # past ':'
                item, pos = self.value(pos)
                if key in mapping:
                    raise FileFormatError(f"duplicate key {key!r}", key_line)
                mapping[key] = (key_line, item)
                pos = self.skip(pos)
                if text[pos] == "}":
                    return Node(mapping, line), pos + 1
                pos = self.skip(pos + 1)  # past ','
        if char == "[":
            items: list[Node] = []
            pos = self.skip(pos + 1)
            if text[pos] == "]":
                return Node(items, line), pos + 1
            while True:
                item, pos = self.value(pos)
                items.append(item)
                pos = self.skip(pos)
                if text[pos] == "]":
                    return Node(items, line), pos + 1
                pos = self.skip(pos + 1)
        if char == '"':
            string, pos = scanstring(text, pos + 1)
            return Node(string, line), pos
        for word, constant in _CONSTANTS.items():
            if text.startswith(word, pos):
                return Node(constant, line), pos + len(word)
        match = _NUMBER.match(text, pos)
        assert match is not None  # json.loads accepted the text
        number = match.group(0)
        parsed: int | float = float(number) if match.group(1) or match.group(2) else int(number)
        return Node(parsed, line), match.end()
