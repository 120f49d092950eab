"""Values that rxbatch operators emit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from .node import NodeError, describe_error

__all__ = [
    "BatchError",
    "BatchResult",
    "EventTimeError",
    "LateItem",
    "LateItemError",
    "MapReduceResult",
    "TimeWindow",
    "WindowResult",
]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TimeWindow(Generic[T]):
    """The items of the half-open time interval ``[start, end)``, in arrival order.

    For processing-time windows ``start`` and ``end`` come from the
    operator's scheduler clock (under a ``TestScheduler``, exact virtual
    times); for event-time windows they are aware UTC datetimes on the
    items' own clock, and ``key`` is the key the window belongs to (None
    when the operator has no ``key``).

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> end = datetime(2026, 1, 1, tzinfo=UTC)
        >>> TimeWindow(end - timedelta(seconds=10), end, [1, 2]).items
        [1, 2]
    """

    start: datetime
    end: datetime
    items: list[T]
    key: Any = None


@dataclass(frozen=True, slots=True)
class BatchResult(Generic[T, R]):
    """The outcome of every item of one batch processed by ``fan_out``.

    ``results[i]`` is item ``i``'s result, ``None`` where it failed;
    ``errors[i]`` is its final exception (a ``NodeError``); ``attempts[i]``
    counts its exec calls; ``actions[i]`` is the route its ``post`` named.
    ``duration`` is in seconds on the scheduler's clock.

    Example:
        >>> r = BatchResult(0, ["a", "b"], ["A", None], {1: ValueError("b")}, (1, 2),
        ...                 ("default", "default"), 0.5)
        >>> r.ok, r.failed_indices, r.failed_items, r.succeeded
        (False, (1,), ['b'], [('a', 'A')])
    """

    index: int
    items: list[T]
    results: list[R | None]
    errors: Mapping[int, BaseException]
    attempts: tuple[int, ...]
    actions: tuple[str, ...]
    duration: float

    @property
    def ok(self) -> bool:
        """True when every item succeeded."""
        return not self.errors

    @property
    def failed_indices(self) -> tuple[int, ...]:
        """Positions of the failed items, ascending."""
        return tuple(sorted(self.errors))

    @property
    def failed_items(self) -> list[T]:
        """The items that failed, in batch order."""
        return [self.items[i] for i in self.failed_indices]

    @property
    def succeeded(self) -> list[tuple[T, R]]:
        """``(item, result)`` of every item that succeeded, in batch order."""
        return [
            (item, result)  # type: ignore[misc]
            for i, (item, result) in enumerate(zip(self.items, self.results, strict=True))
            if i not in self.errors
        ]

    def raise_for_errors(self) -> None:
        """Raise ``BatchError`` if any item failed.

        Example:
            >>> result = BatchResult(3, [1], [None], {0: KeyError(1)}, (1,), ("default",), 0.0)
            >>> result.raise_for_errors()
            Traceback (most recent call last):
            ...
            rxbatch.results.BatchError: batch 3: 1 of 1 items failed; first, item 0: KeyError: 1
        """
        if self.errors:
            raise BatchError(self.index, self.failed_indices, list(self.results), dict(self.errors))


class BatchError(Exception):
    """Some items of a batch failed; carries what succeeded and what did not.

    The message names the first failed item's own exception (for a
    ``NodeError``, its cause, then the node and step), and ``__cause__`` is
    that item's error, so a traceback leads down to what the user's code
    raised.

    Example:
        >>> error = BatchError(0, (1,), ["ok", None], {1: ValueError("bad")})
        >>> str(error)
        'batch 0: 1 of 2 items failed; first, item 1: ValueError: bad'
        >>> error.__cause__
        ValueError('bad')
    """

    def __init__(
        self,
        batch_index: int,
        failed_indices: tuple[int, ...],
        partial_results: list[Any],
        errors: dict[int, BaseException],
    ) -> None:
        self.batch_index = batch_index
        self.failed_indices = failed_indices
        self.partial_results = partial_results
        self.errors = errors
        shown = ""
        if failed_indices:
            first = failed_indices[0]
            shown = f"; first, item {first}: {_describe_item_error(errors[first])}"
        super().__init__(
            f"batch {batch_index}: {len(failed_indices)} of {len(partial_results)} "
            f"items failed{shown}"
        )
        if failed_indices:
            self.__cause__ = errors[failed_indices[0]]

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.batch_index, self.failed_indices, self.partial_results, self.errors),
        )


def _describe_item_error(error: BaseException) -> str:
    """``ValueError: bad item 2 (node 'tenfold', exec)`` for a NodeError, else the error."""
    cause = error.__cause__
    if isinstance(error, NodeError) and cause is not None:
        return f"{describe_error(cause)} (node {error.node!r}, {error.step})"
    return describe_error(error)


@dataclass(frozen=True, slots=True)
class WindowResult(Generic[T]):
    """One time window ``[start, end)`` reduced to a value.

    What ``window_aggregate`` and the event-time windows given ``aggregate=``
    emit: ``count`` items were reduced to ``result``; ``key`` is the window's
    key (None when unkeyed).

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> end = datetime(2026, 1, 1, tzinfo=UTC)
        >>> WindowResult(end - timedelta(seconds=60), end, 3, 42.0).result
        42.0
    """

    start: datetime
    end: datetime
    count: int
    result: T
    key: Any = None


@dataclass(frozen=True, slots=True)
class LateItem(Generic[T]):
    """An item that came after every event-time window it belongs to was emitted.

    ``timestamp`` is the item's event time and ``watermark`` its key's
    watermark when it arrived (both aware UTC datetimes); ``key`` is its key
    (None when unkeyed).

    Example:
        >>> from datetime import UTC, datetime
        >>> late = LateItem({"id": 7}, "a", datetime(2026, 1, 1, tzinfo=UTC),
        ...                 datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
        >>> late.watermark - late.timestamp
        datetime.timedelta(seconds=300)
    """

    item: T
    key: Any
    timestamp: datetime
    watermark: datetime


@dataclass(frozen=True, slots=True)
class MapReduceResult(Generic[T]):
    """What ``map_reduce`` returns.

    ``aggregates`` maps each key to its group's aggregate, ``count`` is the
    number of items mapped and keyed successfully, and ``errors`` maps the
    input position of each item that failed to a ``NodeError`` naming the
    function that raised (``mapper``, ``item_key`` or ``mapped_key``), with
    the original exception as ``__cause__``; those items are in no group.
    ``ok`` is False when any item failed; ``raise_for_errors()`` raises a
    ``BatchError`` then.

    Example:
        >>> result = MapReduceResult({"even": 6}, 3, {})
        >>> result.aggregates["even"], result.ok
        (6, True)
    """

    aggregates: dict[Any, T]
    count: int
    errors: dict[int, BaseException]

    @property
    def ok(self) -> bool:
        """True when every item was mapped and keyed."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise ``BatchError`` (positions in the input) if any item failed."""
        if self.errors:
            failed = tuple(sorted(self.errors))
            slots: list[Any] = [None] * (self.count + len(failed))
            raise BatchError(0, failed, slots, dict(self.errors))


class EventTimeError(Exception):
    """An item an event-time window cannot place; ``item`` is that item.

    Raised (through ``on_error``) when the item's ``timestamp`` or ``key``
    function raised (the exception is the ``__cause__``), or its timestamp is
    not a time: not an aware ``datetime`` nor finite seconds since the epoch.

    Example:
        >>> error = EventTimeError({"ts": None}, "the timestamp of {'ts': None} is None")
        >>> error.item, str(error)
        ({'ts': None}, "the timestamp of {'ts': None} is None")
    """

    def __init__(self, item: Any, message: str) -> None:
        super().__init__(message)
        self.item = item

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.item, str(self)))


class LateItemError(EventTimeError):
    """A late item, when the event-time window was given no ``on_late``.

    ``late`` is the ``LateItem``: the item, its key, its timestamp and the
    watermark it missed.

    Example:
        >>> from datetime import UTC, datetime
        >>> at = datetime(2026, 1, 1, tzinfo=UTC)
        >>> print(LateItemError(LateItem("x", None, at, at)))  # doctest: +ELLIPSIS
        item 'x' is late: its time 2026-01-01 00:00:00+00:00 is in windows ... on_late=...
    """

    def __init__(self, late: LateItem[Any]) -> None:
        key = "" if late.key is None else f" of key {late.key!r}"
        super().__init__(
            late.item,
            f"item {_short_repr(late.item)} is late: its time {late.timestamp} is in windows"
            f"{key} already emitted (watermark {late.watermark}). Pass on_late= to receive "
            "late items (a callback, such as a list's append or a Subject's on_next), or "
            "allow more lateness=",
        )
        self.late = late

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.late,))


def _short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
