"""Argument checks shared by the public constructors.

Every check runs when an operator is created, so a bad argument fails at the
line that wrote it, with a message that names the parameter.
"""

from __future__ import annotations

import math
from datetime import timedelta

__all__ = [
    "MAX_TIMESPAN",
    "delay_seconds",
    "iterable",
    "non_negative_timespan",
    "positive_int",
    "positive_timespan",
    "seconds_between",
]

# The longest wait any rxbatch timer accepts. Clocks are datetimes (they end
# in the year 9999) and a thread can wait at most threading.TIMEOUT_MAX
# (about 292 years on Linux): a longer timespan would overflow or hang when
# the timer is armed, long after the line that asked for it.
MAX_TIMESPAN = timedelta(days=36_525)  # 100 years


def positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an ``int`` (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def iterable(name: str, value: object) -> None:
    """Raise ``TypeError`` naming ``name`` unless ``value`` can be iterated
    (``iter()`` is called, nothing is read from it)."""
    try:
        iter(value)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            f"{name} must be an iterable of items, got {type(value).__name__} {value!r:.60}"
        ) from None


def positive_timespan(name: str, value: object) -> timedelta:
    """Return ``value`` (seconds as int/float, or a ``timedelta``) as a positive timedelta.

    At most ``MAX_TIMESPAN`` (100 years), the furthest a timer can be armed.
    """
    span = _timespan(name, value)
    if span <= timedelta(0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return span


def non_negative_timespan(name: str, value: object) -> timedelta:
    """Return ``value`` (seconds as int/float, or a ``timedelta``) as a timedelta >= 0,
    at most 100 years."""
    span = _timespan(name, value)
    if span < timedelta(0):
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return span


def delay_seconds(name: str, value: object) -> float:
    """Return ``value`` (seconds, or a ``timedelta``) as seconds >= 0, at most 100 years."""
    span = non_negative_timespan(name, value)
    if isinstance(value, timedelta):
        return span.total_seconds()
    assert isinstance(value, int | float)
    return float(value)


def seconds_between(name: str, value: object, low: float, high: float) -> float:
    """Return ``value`` (an int or float, not a bool) as seconds in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be between {low:g} and {high:g} seconds, got {value!r}")
    return float(value)


def _timespan(name: str, value: object) -> timedelta:
    if isinstance(value, timedelta):
        span = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
        if abs(value) > MAX_TIMESPAN.total_seconds():
            raise ValueError(_too_long(name, value))
        span = timedelta(seconds=value)
    else:
        raise TypeError(
            f"{name} must be seconds (int or float) or a timedelta, "
            f"got {type(value).__name__} {value!r}"
        )
    if span > MAX_TIMESPAN:
        raise ValueError(_too_long(name, value))
    return span


def _too_long(name: str, value: object) -> str:
    return (
        f"{name} must be at most 100 years ({MAX_TIMESPAN.total_seconds():.0f} s), "
        f"the furthest a timer can be set; got {value!r}"
    )
