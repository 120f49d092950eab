"""Values that rxbatch operators emit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from .node import NodeError, describe_error

__all__ = ["BatchError", "BatchResult", "MapReduceResult", "TimeWindow", "WindowResult"]

T = TypeVar("T")
R = TypeVar("R")


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
