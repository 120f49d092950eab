"""Argument checks shared by the public constructors.

Every check runs when an operator is created, so a bad argument fails at the
line that wrote it, with a message that names the parameter.
"""

from __future__ import annotations

import math
from datetime import timedelta

__all__ = ["positive_int", "positive_timespan"]


def positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an ``int`` (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def positive_timespan(name: str, value: object) -> timedelta:
    """Return ``value`` (seconds as int/float, or a ``timedelta``) as a positive timedelta."""
    if isinstance(value, timedelta):
        span = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
        span = timedelta(seconds=value)
    else:
        raise TypeError(
            f"{name} must be seconds (int or float) or a timedelta, "
            f"got {type(value).__name__} {value!r}"
        )
    if span <= timedelta(0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return span
