"""Batching by total weight: ``buffer_with_weight``."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from reactivex import Observable, abc, typing

from .._validation import positive_timespan
from ._sink import Sink, sink_operator

__all__ = ["buffer_with_weight"]

T = TypeVar("T")


def buffer_with_weight(
    max_weight: float,
    *,
    weight: Callable[[T], float],
    timespan: typing.RelativeTime | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[list[T]]]:
    """Emit batches whose total ``weight`` stays within ``max_weight``.

    A batch leaves as soon as its weight reaches ``max_weight``, and before an
    item that would push it over; an item heavier than ``max_weight`` on its
    own leaves alone, at once (never dropped). With ``timespan``, a batch also
    leaves that long after its first item. Payload limits (bytes per request)
    are the usual use. A negative or non-numeric weight, or an error raised by
    ``weight``, ends the stream with an error naming the item, after the
    pending batch is emitted.

    Args:
        max_weight: Most total weight per batch, > 0.
        weight: Weight of one item, a number >= 0.
        timespan: Optional longest wait of a batch's first item, seconds or a
            ``timedelta``.
        scheduler: Clock and timers for ``timespan``.

    Raises:
        TypeError, ValueError: an argument is invalid (named in the message).

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> source = reactivex.of("ab", "cde", "f", "ghijkl", "m")
        >>> source.pipe(buffer_with_weight(4, weight=len), ops.to_list()).run()
        [['ab'], ['cde', 'f'], ['ghijkl'], ['m']]
    """
    if isinstance(max_weight, bool) or not isinstance(max_weight, int | float):
        raise TypeError(f"max_weight must be a number, got {max_weight!r}")
    if not math.isfinite(max_weight) or max_weight <= 0:
        raise ValueError(f"max_weight must be a finite number > 0, got {max_weight!r}")
    if not callable(weight):
        raise TypeError(f"weight must be a callable returning an item's weight, got {weight!r}")
    span = None if timespan is None else positive_timespan("timespan", timespan)

    def make_sink(observer: abc.ObserverBase[list[T]], clock: abc.SchedulerBase) -> _WeightSink[T]:
        return _WeightSink(observer, clock, max_weight, weight, span)

    return sink_operator(make_sink, scheduler)


class _WeightSink(Sink[T, list[T]]):
    __slots__ = ("_batch", "_due", "_max", "_span", "_total", "_weight")

    def __init__(
        self,
        observer: abc.ObserverBase[list[T]],
        clock: abc.SchedulerBase,
        max_weight: float,
        weight: Callable[[T], float],
        span: timedelta | None,
    ) -> None:
        super().__init__(observer, clock)
        self._max = max_weight
        self._weight = weight
        self._span = span
        self._batch: list[T] = []
        self._total = 0.0
        self._due: datetime | None = None

    def on_next(self, value: T) -> None:
        with self._lock:
            if self._stopped:
                return
            try:
                w = self._weight(value)
                if isinstance(w, bool) or not isinstance(w, int | float) or not w >= 0:
                    raise ValueError(f"weight must be a number >= 0, got {w!r} for item {value!r}")
            except Exception as error:
                self.fail(error)
                return
            if self._batch and self._total + w > self._max:
                self.drain()  # the item would push the batch over
            self._batch.append(value)
            self._total += w
            if len(self._batch) == 1 and self._span is not None:
                self._due = due = self.clock.now + self._span
                self.arm(due)
            if self._total >= self._max:
                self.drain()

    def on_timer(self, due: datetime) -> datetime | None:
        return self.flush_if_due(due, self._due if self._batch else None, self.drain)

    def drain(self) -> None:
        if self._batch and not self._stopped:
            batch, self._batch, self._total, self._due = self._batch, [], 0.0, None
            self._emit(batch)
