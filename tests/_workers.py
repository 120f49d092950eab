"""Module-level functions, so that process pools and Dask can pickle them."""

from __future__ import annotations

import os
import threading


def square(x: int) -> int:
    return x * x


def pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def fail_on_odd(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd: {x}")
    return x


def fails_then_squares(task: tuple[str, int]) -> int:
    """Item ``x`` fails its first ``x % 4`` attempts, then returns ``x * x``.

    Attempts are counted with files in a directory, so they add up across
    worker processes (and retries that land on another worker).
    """
    directory, x = task
    attempt = 1
    while True:
        try:
            os.close(os.open(os.path.join(directory, f"{x}-{attempt}"), os.O_CREAT | os.O_EXCL))
            break
        except FileExistsError:
            attempt += 1
    if attempt <= x % 4:
        raise ValueError(f"item {x} failed attempt {attempt}")
    return x * x


class _RefusesToUnpickle:
    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (_refuse, ())


def _refuse() -> None:
    raise RuntimeError("this object cannot be rebuilt here")


class UnpicklableError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


class NeedsCode(Exception):
    """Pickles, but cannot be unpickled: ``code`` is not in ``args``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Unprintable(Exception):
    """Cannot be pickled, and its ``str()`` raises too."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def awkward_results(x: int) -> object:
    """3: a lock (cannot be pickled); 5: raises an exception that cannot be
    pickled; 6: an object that pickles but cannot be unpickled; 7: raises an
    exception that cannot be unpickled; 8: raises one that cannot be pickled
    or printed; else x."""
    if x == 3:
        return threading.Lock()
    if x == 5:
        raise UnpicklableError("holds a lock")
    if x == 6:
        return _RefusesToUnpickle()
    if x == 7:
        raise NeedsCode("needs a code", 7)
    if x == 8:
        raise Unprintable()
    return x


def interrupts_at_two(x: int) -> int:
    """Item 2 raises ``KeyboardInterrupt`` (in whichever process runs it)."""
    if x == 2:
        raise KeyboardInterrupt("stop at 2")
    return x


def exits_at_two(x: int) -> int:
    """Item 2 raises ``SystemExit``."""
    if x == 2:
        raise SystemExit(3)
    return x
