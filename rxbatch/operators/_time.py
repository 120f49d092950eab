"""Batching by time: ``buffer_with_time``, ``buffer_with_time_or_count`` and
``sliding_window_with_time``.

All three read time only from their scheduler and schedule at most one timer
at a time per subscription (see ``_sink``), so they run exactly on a
``reactivex.testing.TestScheduler`` and cheaply on the default scheduler.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Never, TypeVar

from reactivex import Observable, abc, typing

from .._validation import positive_int, positive_timespan
from ..results import TimeWindow
from ._sink import ListSink, Sink, sink_operator

__all__ = ["buffer_with_time", "buffer_with_time_or_count", "sliding_window_with_time"]

T = TypeVar("T")


def buffer_with_time(
    timespan: typing.RelativeTime,
    *timeshift: Never,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[list[T]]]:
    """Emit the items of each tumbling time window, at the window's end.

    Windows are ``[t0 + k*timespan, t0 + (k+1)*timespan)`` from the
    subscription time ``t0``. Only non-empty windows are emitted, and an idle
    stream schedules no timers. When the source ends or fails, the pending
    items are emitted first.

    Args:
        timespan: Window length, seconds (> 0) or a ``timedelta``.
        scheduler: Clock and timers; default: the one given to ``subscribe``,
            else :func:`rxbatch.default_scheduler`.

    Raises:
        TypeError, ValueError: ``timespan`` is not a positive duration, or a
            second positional argument was given (reactivex's ``timeshift``:
            use ``sliding_window_with_time``).

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> reactivex.of(1, 2, 3).pipe(buffer_with_time(60.0), ops.to_list()).run()
        [[1, 2, 3]]
    """
    if timeshift:
        raise TypeError(
            f"buffer_with_time takes one positional argument, timespan; got a second one, "
            f"{timeshift[0]!r}. For reactivex's buffer_with_time(timespan, timeshift) "
            "(overlapping or hopping windows), use rxbatch.sliding_window_with_time(size, "
            "slide); pass scheduler= by keyword"
        )
    span = positive_timespan("timespan", timespan)

    def make_sink(observer: abc.ObserverBase[list[T]], clock: abc.SchedulerBase) -> _TimeSink[T]:
        return _TimeSink(observer, clock, span)

    return sink_operator(make_sink, scheduler)


class _TimeSink(Sink[T, list[T]]):
    __slots__ = ("_batch", "_due", "_origin", "_span")

    def __init__(
        self, observer: abc.ObserverBase[list[T]], clock: abc.SchedulerBase, span: timedelta
    ) -> None:
        super().__init__(observer, clock)
        self._span = span
        self._origin = clock.now
        self._batch: list[T] = []
        self._due = self._origin  # end of the window the pending batch belongs to

    def on_next(self, value: T) -> None:
        with self._lock:
            now = self.clock.now
            if self._batch and now >= self._due:
                self._flush()  # the window ended; its timer has not run yet
            if not self._batch:
                windows_passed = (now - self._origin) // self._span
                self._due = self._origin + (windows_passed + 1) * self._span
                self.arm(self._due)
            self._batch.append(value)

    def on_timer(self, due: datetime) -> datetime | None:
        return self.flush_if_due(due, self._due if self._batch else None, self._flush)

    def drain(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._batch and not self._stopped:
            batch, self._batch = self._batch, []
            self._emit(batch)


def buffer_with_time_or_count(
    timespan: typing.RelativeTime, count: int, *, scheduler: abc.SchedulerBase | None = None
) -> Callable[[Observable[T]], Observable[list[T]]]:
    """Emit a batch when it holds ``count`` items or ``timespan`` after its first item.

    The timer starts with a batch's first item, so no item waits longer than
    ``timespan`` and an idle stream emits nothing and schedules no timers
    (reactivex's version emits empty lists on a fixed grid and starts one
    thread per timer). A batch filled by count does not cancel the timer; when
    it fires it re-arms for the batch then pending, so a busy stream costs
    about one timer per ``timespan``. An item that arrives at the very instant
    its batch is due may still join it. When the source ends or fails, the
    pending batch is emitted first.

    Args:
        timespan: Longest wait of a batch's first item, seconds (> 0) or a
            ``timedelta``.
        count: Most items per batch, an int >= 1.
        scheduler: Clock and timers; default: the one given to ``subscribe``,
            else :func:`rxbatch.default_scheduler`.

    Raises:
        TypeError, ValueError: ``timespan`` is not a positive duration or
            ``count`` is not an int >= 1.

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> source = reactivex.from_iterable(range(5))
        >>> source.pipe(buffer_with_time_or_count(1.0, 2), ops.to_list()).run()
        [[0, 1], [2, 3], [4]]
    """
    span = positive_timespan("timespan", timespan)
    positive_int("count", count)

    def make_sink(
        observer: abc.ObserverBase[list[T]], clock: abc.SchedulerBase
    ) -> _TimeOrCountSink[T]:
        return _TimeOrCountSink(observer, clock, span, count)

    return sink_operator(make_sink, scheduler)


class _TimeOrCountSink(ListSink[T]):
    """Lock-free on the path most items take, like ``buffer_with_count``'s sink.

    ``_due`` is the deadline of the pending batch, or None when there is none.
    A flush clears it *before* it looks at the buffer again, so a producer
    that appended meanwhile either sees None (and starts the batch itself) or
    appended early enough for the flush to see its item and start the batch.
    """

    __slots__ = ("_buffer", "_count", "_due", "_span")

    def __init__(
        self,
        observer: abc.ObserverBase[list[T]],
        clock: abc.SchedulerBase,
        span: timedelta,
        count: int,
    ) -> None:
        super().__init__(observer, clock)
        self._span = span
        self._count = count
        self._buffer: list[T] = []
        self._due: datetime | None = None

    def on_next(self, value: T) -> None:
        buffer = self._buffer
        buffer.append(value)
        if len(buffer) >= self._count:
            with self._lock:
                self._flush(partial=False)
        elif self._due is None:
            with self._lock:
                if self._due is None:
                    self._start_batch()

    def on_timer(self, due: datetime) -> datetime | None:
        return self.flush_if_due(due, self._due, lambda: self._flush(partial=True))

    def drain(self) -> None:
        self.emit_chunks(self._buffer, self._count, partial=True)

    def _flush(self, *, partial: bool) -> None:
        # Caller holds the lock.
        self.emit_chunks(self._buffer, self._count, partial=partial)
        self._due = None
        self._start_batch()

    def _start_batch(self) -> None:
        # Caller holds the lock; starts the clock of what the buffer holds.
        if self._buffer and not self._stopped:
            self._due = due = self.clock.now + self._span
            self.arm(due)


def sliding_window_with_time(
    size: typing.RelativeTime,
    slide: typing.RelativeTime,
    *,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[TimeWindow[T]]]:
    """Every ``slide``, emit a ``TimeWindow`` of the items of the last ``size``.

    Ticks fall at ``t0 + k*slide`` (k >= 1) from the subscription time
    ``t0``; at each tick ``end`` the window holds the items that arrived in
    ``[end - size, end)`` and is emitted if it holds any: an item arriving
    exactly at a tick belongs to the windows that start there, as in
    ``buffer_with_time``, whether it comes before or after the tick's timer.
    ``slide < size`` gives overlapping windows, ``slide > size`` hopping
    windows that sample the stream. Ticks stop while no item is held, so an idle stream schedules
    no timers. Items are kept in arrival order and expire from the front, so
    the cost per item is amortized O(1). When the source ends or fails, the
    window in progress (the one the next tick would emit) is emitted early
    with what it holds, if items arrived since the last tick; so tumbling
    windows (``slide == size``) hand over every item exactly once.

    Args:
        size: Window length, seconds (> 0) or a ``timedelta``.
        slide: Time between emissions, seconds (> 0) or a ``timedelta``.
        scheduler: Clock and timers; default: the one given to ``subscribe``,
            else :func:`rxbatch.default_scheduler`.

    Raises:
        TypeError, ValueError: ``size`` or ``slide`` is not a positive duration.

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> windows = reactivex.of(1, 2).pipe(sliding_window_with_time(10.0, 5.0), ops.to_list())
        >>> [w.items for w in windows.run()]
        [[1, 2]]
    """
    size_span = positive_timespan("size", size)
    slide_span = positive_timespan("slide", slide)

    def make_sink(
        observer: abc.ObserverBase[TimeWindow[T]], clock: abc.SchedulerBase
    ) -> _SlidingTimeSink[T]:
        return _SlidingTimeSink(observer, clock, size_span, slide_span)

    return sink_operator(make_sink, scheduler)


class _SlidingTimeSink(Sink[T, TimeWindow[T]]):
    __slots__ = ("_held", "_last_end", "_origin", "_size", "_slide")

    def __init__(
        self,
        observer: abc.ObserverBase[TimeWindow[T]],
        clock: abc.SchedulerBase,
        size: timedelta,
        slide: timedelta,
    ) -> None:
        super().__init__(observer, clock)
        self._size = size
        self._slide = slide
        self._origin = clock.now
        self._last_end = self._origin  # end of the last tick (emitted or not)
        self._held: deque[tuple[datetime, T]] = deque()  # (arrival, item), oldest first

    def on_next(self, value: T) -> None:
        with self._lock:
            now = self.clock.now
            self._held.append((now, value))
            if self._timer_due is None:
                self.arm(self._next_tick(now))

    def on_timer(self, due: datetime) -> datetime | None:
        self._last_end = due
        self._emit_window(due)
        return due + self._slide if self._held else None

    def drain(self) -> None:
        now = self.clock.now
        # Ticks already due whose timer has not run (a busy timer thread runs
        # late, or completion came first at the same instant) go first, in
        # order, so their items are not expired unseen.
        due = self._timer_due
        while due is not None and due <= now:
            due = self.on_timer(due)
        # Then the window in progress leaves early, holding what has arrived.
        if self._held and self._held[-1][0] >= self._last_end:
            self._emit_window(self._next_tick(now))

    def _next_tick(self, now: datetime) -> datetime:
        """The first tick after ``now`` that has not run yet: the end of the
        window an item arriving at ``now`` is in."""
        ticks = (now - self._origin) // self._slide + 1
        return max(self._origin + ticks * self._slide, self._last_end + self._slide)

    def _emit_window(self, end: datetime) -> None:
        start = end - self._size
        held = self._held
        while held and held[0][0] < start:
            held.popleft()
        items = [item for arrived, item in held if arrived < end]
        if items and not self._stopped:
            self._emit(TimeWindow(start, end, items))
