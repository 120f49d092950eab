"""Module-level functions, so that process pools and Dask can pickle them."""

from __future__ import annotations

import os


def square(x: int) -> int:
    return x * x


def pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def fail_on_odd(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd: {x}")
    return x
