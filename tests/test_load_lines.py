"""Cutting a byte stream into lines: ``\\n`` only, offsets exact, whatever the chunks."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from rxbatch.load._lines import BOM, TooLong, split_lines


def chunked(data: bytes, sizes: list[int]) -> Callable[[int], bytes]:
    """A ``read`` that hands ``data`` out in pieces of ``sizes`` (a pipe, say)."""
    stream, cycle = io.BytesIO(data), iter(sizes * (len(data) + 1))

    def read(size: int) -> bytes:
        return stream.read(min(size, next(cycle, size)))

    return read


def reference(data: bytes, limit: int) -> tuple[list[tuple[int, int, bytes | TooLong]], int]:
    """What the lines must be: split on \\n, one \\r dropped, blanks counted apart."""
    start = len(BOM) if data.startswith(BOM) else 0
    pieces = data[start:].split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()  # the data ended with a line end
    lines: list[tuple[int, int, bytes | TooLong]] = []
    blank, offset = 0, start
    for number, piece in enumerate(pieces, start=1):
        ended = offset + len(piece) < len(data)  # a \n follows: a \r before it is the line end's
        offset = min(len(data), offset + len(piece) + 1)
        if len(piece) > limit:
            lines.append((number, offset, TooLong(piece[:limit], len(piece))))
        elif piece.strip(b" \t\r"):
            lines.append((number, offset, piece[:-1] if ended and piece.endswith(b"\r") else piece))
        else:
            blank += 1
    return lines, blank


line_bytes = st.lists(
    st.sampled_from(
        [
            b"a",
            b"{",
            b"\n",
            b"\r",
            b"\r\n",
            b" ",
            b"\t",
            b"\xe2\x80\xa8",
            b"\x1c",
            b"\x0c",
            b"\xc2\xa0",
            b"\xff",
            BOM,
        ]
    ),
    max_size=60,
).map(b"".join)


@given(
    data=st.one_of(line_bytes, line_bytes.map(lambda d: BOM + d)),
    sizes=st.lists(st.integers(1, 7), min_size=1, max_size=5),
    limit=st.integers(1, 12),
)
def test_lines_offsets_and_blanks_match_a_split_on_newline(
    data: bytes, sizes: list[int], limit: int
) -> None:
    blanks: list[None] = []
    got = list(split_lines(chunked(data, sizes), max_line_bytes=limit,
                           on_blank=lambda: blanks.append(None)))  # fmt: skip
    expected, blank = reference(data, limit)
    assert got == expected
    assert len(blanks) == blank


def test_line_numbers_match_wc_l_with_separators_inside_lines() -> None:
    data = b'{"a": "x\ry"}\n{"b": "\xe2\x80\xa8"}\n\n{"c": "\x1c\x0c\xc2\xa0"}\r\n{"d": 1}'
    got = list(split_lines(chunked(data, [3]), max_line_bytes=1000, on_blank=lambda: None))
    assert [number for number, _, _ in got] == [1, 2, 4, 5]  # line 3 is blank
    assert data.count(b"\n") == 4  # wc -l: the last line has no line end, editors show 5
    assert got[2][2] == b'{"c": "\x1c\x0c\xc2\xa0"}'  # the \r of \r\n is the line end's
    assert got[-1][1] == len(data)


def test_a_long_line_is_not_held_whole() -> None:
    data = b"x" * 5_000_000 + b"\n" + b'{"a": 1}\n'
    stream = io.BytesIO(data)
    tracemalloc.start()
    try:
        got = list(split_lines(lambda n: stream.read(min(n, 65536)), max_line_bytes=1000,
                               on_blank=lambda: None))  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    first = got[0][2]
    assert isinstance(first, TooLong) and first.length == 5_000_000 and len(first.head) == 1000
    assert got[1] == (2, len(data), b'{"a": 1}')
    assert peak < 500_000  # a few chunks, not the 5 MB line


def test_a_bom_only_at_the_start_of_the_stream_is_skipped() -> None:
    data = BOM + b'{"a": 1}\n' + BOM + b'{"b": 2}\n'
    got = list(split_lines(chunked(data, [1]), max_line_bytes=100, on_blank=lambda: None))
    assert [text for _, _, text in got] == [b'{"a": 1}', BOM + b'{"b": 2}']
    resumed = list(split_lines(io.BytesIO(BOM + b"{}\n").read, offset=12, line=3,
                               max_line_bytes=100, on_blank=lambda: None))  # fmt: skip
    assert resumed == [(4, 18, BOM + b"{}")]  # mid-file: not a byte order mark
