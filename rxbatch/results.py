"""Values that rxbatch operators emit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

__all__ = ["TimeWindow"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TimeWindow(Generic[T]):
    """The items that arrived in the half-open interval ``(start, end]``.

    ``start`` and ``end`` come from the operator's scheduler clock, so under a
    ``TestScheduler`` they are exact virtual times.

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> end = datetime(2026, 1, 1, tzinfo=UTC)
        >>> TimeWindow(end - timedelta(seconds=10), end, [1, 2]).items
        [1, 2]
    """

    start: datetime
    end: datetime
    items: list[T]
