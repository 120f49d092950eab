"""Reading a source as bytes and cutting it into lines.

Lines end at ``\\n`` only (a ``\\r`` before it belongs to the line end), so
``\\r``, U+2028, ``\\x1c`` or ``\\x0c`` inside a line never split it, and line
numbers match ``wc -l`` and editors. Each line carries the byte offset just
after it, which is what ``--resume`` records. A UTF-8 byte order mark at the
very start is skipped. A line longer than ``max_line_bytes`` is not held in
memory: its head is kept for the dead letter and the rest is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["CHUNK", "Line", "TooLong", "split_lines"]

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


def split_lines(
    read: Callable[[int], bytes],
    *,
    offset: int = 0,
    line: int = 0,
    max_line_bytes: int,
    on_blank: Callable[[], None],
) -> Iterator[Line]:
    """Yield the lines of the byte stream ``read`` returns, numbered after ``line``.

    ``read(n)`` returns up to ``n`` bytes, and ``b""`` at the end. ``offset``
    is the stream's position in its file (for a resumed file, where reading
    started; a byte order mark is only looked for at offset 0). Blank lines
    are not yielded: ``on_blank`` counts them. A last line without a line end
    is a line.

    Example:
        >>> import io
        >>> data = io.BytesIO(b'\\xef\\xbb\\xbf{"a": 1}\\r\\n\\n{"b": "x\\ry"}')
        >>> list(split_lines(data.read, max_line_bytes=100, on_blank=lambda: None))
        [(1, 13, b'{"a": 1}'), (3, 26, b'{"b": "x\\ry"}')]
    """
    pieces: list[bytes] = []  # the head of a line that spans chunks
    held = 0  # bytes in pieces
    length = 0  # bytes of that line so far, held or not
    at_start = offset == 0
    chunk = _first_chunk(read) if at_start else read(CHUNK)
    if at_start and chunk.startswith(BOM):
        chunk = chunk[len(BOM) :] or read(CHUNK)
        offset += len(BOM)
    while chunk:
        start = 0
        end = chunk.find(b"\n")
        while end >= 0:
            if length:  # the line began in an earlier chunk
                size = length + end - start
                room = max(0, max_line_bytes - held)
                text = b"".join(pieces) + chunk[start : min(end, start + room)]
                pieces, held, length = [], 0, 0
            else:
                size = end - start
                text = chunk[start:end]
            offset += size + 1
            line += 1
            start = end + 1
            end = chunk.find(b"\n", start)
            if size > max_line_bytes:
                yield line, offset, TooLong(text[:max_line_bytes], size)
            elif text.strip(_BLANK):
                yield line, offset, text[:-1] if text.endswith(b"\r") else text
            else:
                on_blank()
        rest = chunk[start:]
        if rest:
            length += len(rest)
            if held < max_line_bytes:
                kept = rest[: max_line_bytes - held]
                pieces.append(kept)
                held += len(kept)
        chunk = read(CHUNK)
    if length:
        offset += length
        line += 1
        text = b"".join(pieces)
        if length > max_line_bytes:
            yield line, offset, TooLong(text, length)
        elif text.strip(_BLANK):
            yield line, offset, text
        else:
            on_blank()


def _first_chunk(read: Callable[[int], bytes]) -> bytes:
    """The first chunk, holding at least the 3 bytes a byte order mark needs, if there are."""
    chunk = read(CHUNK)
    while chunk and len(chunk) < len(BOM) and BOM.startswith(chunk):
        more = read(len(BOM) - len(chunk))
        if not more:
            break
        chunk += more
    return chunk
