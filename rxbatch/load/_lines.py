"""Reading a source as bytes and cutting it into lines.

Lines end at ``\\n`` only (a ``\\r`` before it belongs to the line end), so
``\\r``, U+2028, ``\\x1c`` or ``\\x0c`` inside a line never split it, and line
numbers match ``wc -l`` and editors. Each line carries the byte offset just
after it, which is what ``--resume`` records. A UTF-8 byte order mark at the
very start is skipped. A line longer than ``max_line_bytes`` is not held in
memory: its head is kept for the dead letter and the rest is skipped.

Lines come in lists (``line_chunks``), so that what follows pays per read,
not per line: a list holds at most ``max_lines`` lines, and a shorter one
goes out whenever the next read would wait for input (a live pipe), so the
batching downstream sees every line that has arrived.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from operator import add, methodcaller

__all__ = ["CHUNK", "Line", "TooLong", "line_chunks", "split_lines", "would_wait"]

CHUNK = 1 << 20  # bytes per read
BOM = b"\xef\xbb\xbf"
_BLANK = b" \t\r"  # JSON whitespace; a line of nothing else is blank


@dataclass(frozen=True, slots=True)
class TooLong:
    """Stands for a line longer than the limit: its first bytes and its length."""

    head: bytes
    length: int


# line number (1-based), byte offset just after the line end, the line's bytes
Line = tuple[int, int, "bytes | TooLong"]


def line_chunks(
    read: Callable[[int], bytes],
    *,
    max_lines: int,
    max_line_bytes: int,
    on_blank: Callable[[], None],
    offset: int = 0,
    line: int = 0,
    waits: Callable[[], bool] | None = None,
    complete: Callable[[bytes], bool] | None = None,
) -> Iterator[list[Line]]:
    """Yield the lines of the byte stream ``read`` returns, in lists of at most ``max_lines``.

    ``read(n)`` returns up to ``n`` bytes, and ``b""`` at the end. ``offset``
    and ``line`` say where in its file the stream starts (a resumed file; a
    byte order mark is only looked for at offset 0). Blank lines are not
    yielded: ``on_blank`` counts them. A last line without a line end is a
    line, unless ``complete(text)`` says it is still being written (a log
    caught mid-line): then it is left for a later read. ``waits()`` tells
    whether the next read would wait for input; the lines held are yielded
    before such a read.

    Example:
        >>> import io
        >>> data = io.BytesIO(b'\\xef\\xbb\\xbf{"a": 1}\\r\\n\\n{"b": "x\\ry"}\\n{}')
        >>> list(line_chunks(data.read, max_lines=2, max_line_bytes=100, on_blank=lambda: None))
        [[(1, 13, b'{"a": 1}'), (3, 27, b'{"b": "x\\ry"}')], [(4, 29, b'{}')]]
    """
    held: list[Line] = []
    head: list[bytes] = []  # the start of a line that spans reads, up to the limit
    kept = 0  # bytes in head
    length = 0  # bytes of that line so far, kept or not
    at_start = offset == 0
    chunk = _first_chunk(read) if at_start else read(CHUNK)
    if at_start and chunk.startswith(BOM):
        chunk = chunk[len(BOM) :] or read(CHUNK)
        offset += len(BOM)
    while chunk:
        parts = chunk.split(b"\n")
        rest = parts.pop()
        if length and parts:  # the first part ends a line begun in an earlier read
            first = parts.pop(0)
            size = length + len(first)
            text = b"".join(head) + first[: max(0, max_line_bytes - kept)]
            head, kept, length = [], 0, 0
            offset, line = offset + size + 1, line + 1
            _keep(line, offset, text, size, max_line_bytes, held, on_blank)
        if _plain(parts, chunk, max_line_bytes):  # the common case, at C speed
            count = len(parts)
            ends = map(add, accumulate(map(len, parts)), range(offset + 1, offset + count + 1))
            held.extend(zip(range(line + 1, line + count + 1), ends, parts, strict=True))
            offset += sum(map(len, parts)) + count
            line += count
        else:
            for part in parts:
                offset, line = offset + len(part) + 1, line + 1
                _keep(line, offset, part, len(part), max_line_bytes, held, on_blank)
        while len(held) >= max_lines:
            yield held[:max_lines]
            held = held[max_lines:]
        if rest:
            length += len(rest)
            if kept < max_line_bytes:
                piece = rest[: max_line_bytes - kept]
                head.append(piece)
                kept += len(piece)
        if held and waits is not None and waits():
            yield held  # the input pauses: what arrived goes on now
            held = []
        chunk = read(CHUNK)
    if length:
        text = b"".join(head)
        if length > max_line_bytes or complete is None or complete(text):
            _keep(line + 1, offset + length, text, length, max_line_bytes, held, on_blank,
                  ended=False)  # fmt: skip
    if held:
        yield held


def _keep(
    number: int,
    offset: int,
    text: bytes,
    size: int,
    limit: int,
    held: list[Line],
    on_blank: Callable[[], None],
    *,
    ended: bool = True,
) -> None:
    """Add one line to ``held`` (too long: its head; blank: only counted)."""
    if size > limit:
        held.append((number, offset, TooLong(text[:limit], size)))
    elif text.strip(_BLANK):
        held.append((number, offset, text[:-1] if ended and text.endswith(b"\r") else text))
    else:
        on_blank()


def _plain(parts: list[bytes], chunk: bytes, limit: int) -> bool:
    """Whether ``parts`` are lines to keep as they are: no \r, none blank, none too long."""
    return (
        bool(parts)
        and b"\r" not in chunk
        and max(map(len, parts)) <= limit
        and all(map(methodcaller("strip", _BLANK), parts))
    )


def split_lines(
    read: Callable[[int], bytes],
    *,
    max_line_bytes: int,
    on_blank: Callable[[], None],
    offset: int = 0,
    line: int = 0,
) -> Iterator[Line]:
    """The lines of ``line_chunks`` one by one.

    Example:
        >>> import io
        >>> list(split_lines(io.BytesIO(b'{"a": 1}\\n\\n{}').read, max_line_bytes=100,
        ...                  on_blank=lambda: None))
        [(1, 9, b'{"a": 1}'), (3, 12, b'{}')]
    """
    for chunk in line_chunks(
        read, max_lines=1 << 16, max_line_bytes=max_line_bytes, on_blank=on_blank,
        offset=offset, line=line,
    ):  # fmt: skip
        yield from chunk


def would_wait(fd: int) -> Callable[[], bool]:
    """For a pipe, FIFO or terminal: whether reading ``fd`` now would wait for input."""

    def waits() -> bool:
        readable, _, _ = select.select([fd], [], [], 0)
        return not readable

    return waits


def _first_chunk(read: Callable[[int], bytes]) -> bytes:
    """The first chunk, holding at least the 3 bytes a byte order mark needs, if there are."""
    chunk = read(CHUNK)
    while chunk and len(chunk) < len(BOM) and BOM.startswith(chunk):
        more = read(len(BOM) - len(chunk))
        if not more:
            break
        chunk += more
    return chunk
