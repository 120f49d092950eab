"""Streaming file sources that read lazily, on their own thread.

Each subscription opens the file and reads it line by line on a thread of its
own, calling ``on_next`` for each line. Nothing is read ahead: when a
subscriber blocks in ``on_next`` (``fan_out(max_in_flight=...)`` does, when
full), reading waits, so memory stays flat whatever the file's size.
Disposal stops reading and closes the file.
"""

from __future__ import annotations

import codecs
import json
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import Disposable

__all__ = ["BadLineError", "read_jsonl", "read_lines"]

PathLike = str | os.PathLike[str]


class BadLineError(ValueError):
    """A line of a JSON-lines file is not valid JSON.

    Example:
        >>> str(BadLineError("events.jsonl", 3, "{oops", ValueError("Expecting value")))
        "events.jsonl:3: invalid JSON (Expecting value): '{oops'"
    """

    def __init__(self, path: str, line_number: int, line: str, error: Exception) -> None:
        self.path = path
        self.line_number = line_number
        self.line = line
        shown = line if len(line) <= 80 else line[:77] + "..."
        super().__init__(f"{path}:{line_number}: invalid JSON ({error}): {shown!r}")


def read_lines(path: PathLike, *, encoding: str = "utf-8") -> Observable[str]:
    """A cold observable of the lines of a text file, without their line endings.

    Args:
        path: The file, a ``str`` or ``os.PathLike``.
        encoding: The file's text encoding.

    Raises:
        TypeError: ``path`` is not a path. A missing or unreadable file is
            reported through ``on_error`` at subscription.

    Example:
        >>> import tempfile, pathlib
        >>> from reactivex import operators as ops
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "log.txt"
        >>> _ = file.write_text("first\\r\\nsecond\\nthird")
        >>> read_lines(file).pipe(ops.to_list()).run()
        ['first', 'second', 'third']
    """
    name = _check_path(path)
    _check_encoding(encoding)

    def lines(stop: threading.Event) -> Iterator[str]:
        with open(name, encoding=encoding) as file:  # universal newlines: \r\n -> \n
            for line in file:
                if stop.is_set():
                    return
                yield line[:-1] if line.endswith("\n") else line

    return _threaded(lines, f"rxbatch-read-lines {name}")


def read_jsonl(
    path: PathLike,
    *,
    encoding: str = "utf-8",
    on_bad_line: Callable[[int, str, Exception], None] | None = None,
) -> Observable[Any]:
    """A cold observable of the parsed values of a JSON-lines file.

    Blank lines are skipped. A line that is not valid JSON ends the stream
    with ``BadLineError`` (path, 1-based line number, the line) unless
    ``on_bad_line(line_number, line, error)`` is given: it receives the line
    and reading goes on. A bad line never silently disappears.

    Args:
        path: The file, a ``str`` or ``os.PathLike``.
        encoding: The file's text encoding.
        on_bad_line: Called for each malformed line instead of failing.

    Raises:
        TypeError: ``path`` is not a path, or ``on_bad_line`` is not callable.

    Example:
        >>> import tempfile, pathlib
        >>> from reactivex import operators as ops
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
        >>> _ = file.write_text('{"id": 1}\\n\\nnot json\\n[2]\\n')
        >>> bad = []
        >>> values = read_jsonl(file, on_bad_line=lambda n, line, e: bad.append(n))
        >>> values.pipe(ops.to_list()).run(), bad
        ([{'id': 1}, [2]], [3])
    """
    name = _check_path(path)
    _check_encoding(encoding)
    if on_bad_line is not None and not callable(on_bad_line):
        raise TypeError(f"on_bad_line must be callable or None, got {on_bad_line!r}")

    def values(stop: threading.Event) -> Iterator[Any]:
        with open(name, encoding=encoding) as file:
            for number, line in enumerate(file, start=1):
                if stop.is_set():
                    return
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError as error:
                    text = line.rstrip("\r\n")
                    if on_bad_line is None:
                        raise BadLineError(name, number, text, error) from error
                    on_bad_line(number, text, error)

    return _threaded(values, f"rxbatch-read-jsonl {name}")


def _check_path(path: object) -> str:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__} {path!r}")
    return os.fspath(path)


def _check_encoding(encoding: object) -> None:
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str, got {encoding!r}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"encoding {encoding!r} is not a known text encoding") from None


def _threaded(read: Callable[[threading.Event], Iterator[Any]], name: str) -> Observable[Any]:
    """A cold observable that runs ``read`` on a new daemon thread per subscription."""

    def subscribe(
        observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        stop = threading.Event()

        def run() -> None:
            try:
                for value in read(stop):
                    observer.on_next(value)
            except Exception as error:
                if not stop.is_set():
                    observer.on_error(error)
                return
            if not stop.is_set():
                observer.on_completed()

        threading.Thread(target=run, name=name, daemon=True).start()
        return Disposable(stop.set)

    return Observable(subscribe)
