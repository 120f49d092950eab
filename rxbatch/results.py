"""Values that rxbatch operators emit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

__all__ = ["BatchError", "BatchResult", "MapReduceResult", "TimeWindow", "WindowResult"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TimeWindow(Generic[T]):
    """The items of the half-open time interval ``[start, end)``.

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
            rxbatch.results.BatchError: batch 3: 1 of 1 items failed; first, item 0: KeyError(1)
        """
        if self.errors:
            raise BatchError(self.index, self.failed_indices, list(self.results), dict(self.errors))


class BatchError(Exception):
    """Some items of a batch failed; carries what succeeded and what did not.

    Example:
        >>> error = BatchError(0, (1,), ["ok", None], {1: ValueError("bad")})
        >>> str(error)
        "batch 0: 1 of 2 items failed; first, item 1: ValueError('bad')"
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
        first = failed_indices[0] if failed_indices else None
        shown = f"; first, item {first}: {errors[first]!r}" if first is not None else ""
        super().__init__(
            f"batch {batch_index}: {len(failed_indices)} of {len(partial_results)} "
            f"items failed{shown}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.batch_index, self.failed_indices, self.partial_results, self.errors),
        )


@dataclass(frozen=True, slots=True)
class WindowResult(Generic[T]):
    """One time window reduced to a value: what ``window_aggregate`` emits.

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


@dataclass(frozen=True, slots=True)
class MapReduceResult(Generic[T]):
    """What ``map_reduce`` returns.

    ``aggregates`` maps each key to its group's aggregate, ``count`` is the
    number of items mapped successfully, and ``errors`` maps the input
    position of each item whose mapper (or key) failed to its exception;
    those items are in no group.

    Example:
        >>> MapReduceResult({"even": 6}, 3, {}).aggregates["even"]
        6
    """

    aggregates: dict[Any, T]
    count: int
    errors: dict[int, BaseException]
