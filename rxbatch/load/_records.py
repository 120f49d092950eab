"""From a line's bytes to a record, or to a dead letter that says why not.

A line is strict UTF-8 holding one JSON object with at least one key
(control characters inside strings are taken as they are).
Values are never silently changed on the way to SQLite:

* ``NaN`` is refused (SQLite would store it as NULL); ``Infinity`` and
  ``-Infinity`` are stored as REAL infinities, which SQLite keeps exactly; a
  number too large for a 64-bit float (``1e400``, which Python would read as
  infinity) is refused, and so is an integer beyond SQLite's 64 bits (when
  the row is bound).
* Nested objects and arrays are stored as JSON text, UTF-8 as written
  (``{"city": "東京"}``), so ``LIKE``, full-text search and ``json_extract``
  work on them; non-finite numbers inside them are refused (JSON has none).
"""

from __future__ import annotations

import json
import json.scanner
import math
from dataclasses import dataclass
from typing import Any

from ._lines import TooLong

__all__ = ["DeadLetter", "Infinity", "cell", "fold", "overflowed", "parse", "parse_lines", "shown"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A line that could not be loaded: where it was, why, and what it said.

    ``text`` is the line as read; bytes that are not UTF-8 are shown escaped
    (``\\xff``).

    Example:
        >>> DeadLetter(7, "not a JSON object: list", "[1, 2]").to_json()
        '{"line": 7, "reason": "not a JSON object: list", "text": "[1, 2]"}'
    """

    line: int
    reason: str
    text: str

    def to_json(self) -> str:
        """One JSON line for the dead-letter file."""
        return json.dumps(
            {"line": self.line, "reason": self.reason, "text": self.text}, ensure_ascii=False
        )


class Infinity(float):
    """A float read from the literal ``Infinity`` or ``-Infinity``, not from an overflow."""

    __slots__ = ()


def _constant(name: str) -> float:
    if name == "NaN":
        raise ValueError("NaN cannot be stored: SQLite turns it into NULL")
    return Infinity(name.replace("Infinity", "inf"))


# strict=False: a raw control character (a tab, a \r) inside a string is
# taken as it is, not refused: the value is stored exactly as written.
_decode = json.JSONDecoder(parse_constant=_constant, strict=False).decode
_INF, _NINF = math.inf, -math.inf
_scan = json.scanner.make_scanner(_decode.__self__)  # type: ignore[attr-defined]


def _whole_object(line: tuple[int, int, bytes | TooLong]) -> Any:
    """The JSON value a line holds when it is nothing else: no whitespace around it.

    Raises (StopIteration, ValueError, …) for anything else: that line is
    then parsed again by ``parse``, which says what is wrong.
    """
    text = line[2].decode("utf-8")  # type: ignore[union-attr]
    value, end = _scan(text, 0)
    if end != len(text):
        raise ValueError("more than one value")
    return value


def shown(raw: bytes | TooLong) -> str:
    """The line's text for a dead letter: invalid UTF-8 bytes escaped."""
    if isinstance(raw, TooLong):
        return raw.head.decode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def parse(number: int, raw: bytes | TooLong) -> dict[str, Any] | DeadLetter:
    """Parse one line into a record, or a dead letter saying why it cannot be one.

    Example:
        >>> parse(3, b'{"id": 1}')
        {'id': 1}
        >>> parse(4, b"[1]").reason
        'not a JSON object: list'
        >>> parse(5, b'{"a": "\\xff"}').text
        '{"a": "\\\\xff"}'
    """
    if type(raw) is not bytes:
        assert isinstance(raw, TooLong)
        return DeadLetter(
            number,
            f"line too long: {raw.length:,} bytes (the limit is {len(raw.head):,}; "
            "the text shows its beginning)",
            shown(raw),
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return DeadLetter(
            number, f"not valid UTF-8: {error.reason} at byte {error.start}", shown(raw)
        )
    try:
        record = _decode(text)
    except RecursionError:
        return DeadLetter(number, "invalid JSON: nested too deeply", text)
    except ValueError as error:
        return DeadLetter(number, f"invalid JSON: {error}", text)
    if type(record) is not dict:
        return DeadLetter(number, f"not a JSON object: {type(record).__name__}", text)
    if not record:
        return DeadLetter(number, "empty JSON object: no columns", text)
    return record


def parse_lines(
    lines: list[tuple[int, int, bytes | TooLong]],
) -> tuple[list[tuple[int, bytes | TooLong, dict[str, Any]]], list[DeadLetter]]:
    """Parse a batch of lines: the records (with line number and bytes), and the dead letters.

    Every line is first parsed in one pass that assumes all are good; only a
    batch holding a bad line is parsed again line by line (``parse``).

    Example:
        >>> records, letters = parse_lines([(1, 9, b'{"a": 1}'), (2, 13, b"oops")])
        >>> records, [letter.line for letter in letters]
        ([(1, b'{"a": 1}', {'a': 1})], [2])
    """
    try:
        records = list(map(_whole_object, lines))
    except (AttributeError, ValueError, RecursionError, StopIteration):  # a bad line: see which
        records = []
    if len(records) == len(lines) and set(map(type, records)) == {dict} and all(records):
        return [(n, raw, r) for (n, _, raw), r in zip(lines, records, strict=True)], []
    good: list[tuple[int, bytes | TooLong, dict[str, Any]]] = []
    letters: list[DeadLetter] = []
    for number, _, raw in lines:
        record = parse(number, raw)
        if isinstance(record, DeadLetter):
            letters.append(record)
        else:
            good.append((number, raw, record))
    return good, letters


def cell(value: Any) -> Any:
    """A record's value as SQLite stores it: nested objects and arrays as JSON text.

    Raises:
        ValueError: a nested value holds a non-finite number (JSON has none).
        RecursionError: a nested value is nested too deeply.

    Example:
        >>> cell({"city": "東京", "n": [1, 2]})
        '{"city": "東京", "n": [1, 2]}'
        >>> cell(7)
        7
    """
    if type(value) is dict or type(value) is list:
        try:
            return json.dumps(value, ensure_ascii=False, allow_nan=False)
        except ValueError:
            raise ValueError(
                "a nested value holds NaN or Infinity, which JSON text cannot hold"
            ) from None
    return value


def overflowed(row: tuple[Any, ...]) -> bool:
    """Whether ``row`` holds an infinity that came from a number too large, not a literal."""
    if _INF not in row and _NINF not in row:
        return False
    return any(type(v) is float and math.isinf(v) for v in row)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(name: str) -> str:
    """A column name as SQLite compares it: ASCII letters case-insensitive, the rest exact.

    Example:
        >>> fold("UserID"), fold("Ä")
        ('userid', 'Ä')
    """
    return name.translate(_ASCII_LOWER)
