"""Windows on the items' own time: ``tumbling_event_window``,
``sliding_event_window`` and ``session_window``.

Processing-time windows say when an item arrived; these say when it
happened, from a timestamp the item carries. The rules they share:

* **Bounds.** Windows are half-open ``[start, end)``. Tumbling and sliding
  windows start at ``offset + k * slide`` from the epoch (1970-01-01 UTC), so
  every run, process and machine agrees on them; a session is
  ``[first item, last item + gap)``. Bounds are aware UTC datetimes. Event
  times are exact to the microsecond (the resolution of ``datetime``).
* **Watermark.** Per key, the largest event time seen minus ``lateness``. A
  window is emitted once, when its key's watermark reaches its end, with
  its items in arrival order; the windows that leave together leave in end
  order, then key order (keys that do not sort: the order they were first
  seen).
* **Late items** -- all of whose windows were already emitted -- go to
  ``on_late`` as ``LateItem``s. Without ``on_late`` the first late item ends
  the stream with ``LateItemError`` (after the open windows): a late item is
  never dropped silently. With ``lateness`` at least the input's disorder,
  no item is late.
* **Bad items.** An item whose ``timestamp`` or ``key`` function raises, or
  whose timestamp is not an aware ``datetime`` nor seconds since the epoch
  (a naive datetime, None, NaN...), ends the stream with ``EventTimeError``
  naming the item (after the open windows); filter such items upstream to
  go on without them.
* **Idle timeout.** Without it only items and completion move a watermark,
  so the windows are a pure function of the input. With it, a key that
  receives no item for ``idle_timeout`` on the scheduler's clock has its
  watermark move on by the time elapsed since its last item, so its windows
  leave within a bounded delay on a live stream that goes quiet.
* **Termination.** Completion emits every open window (end order, then key
  order), then completes; an upstream error does the same, then forwards
  the error. Disposal emits nothing more.
* **Memory.** With ``aggregate=(init, add)`` a window keeps one accumulator
  (``init()``, then ``acc = add(acc, item)`` per item) instead of its items,
  so memory grows with the open windows, not with the items. Sessions that
  merge combine their accumulators with ``merge(earlier, later)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast, overload

from reactivex import Observable, abc, typing

from .._validation import non_negative_timespan, positive_timespan
from ..results import LateItem, TimeWindow, WindowResult
from ._event_sink import EventWindowConfig, FixedWindowSink, SessionSink, micros
from ._sink import sink_operator

__all__ = ["session_window", "sliding_event_window", "tumbling_event_window"]

T = TypeVar("T")
A = TypeVar("A")

Timestamp = Callable[[T], datetime | float]
Key = Callable[[T], Hashable]
OnLate = Callable[[LateItem[T]], object]
Aggregate = tuple[Callable[[], A], Callable[[A, T], A]]
MergingAggregate = tuple[Callable[[], A], Callable[[A, T], A], Callable[[A, A], A]]


@overload
def tumbling_event_window(
    size: typing.RelativeTime,
    *,
    timestamp: Timestamp[T],
    key: Key[T] | None = None,
    offset: typing.RelativeTime = 0,
    lateness: typing.RelativeTime = 0,
    idle_timeout: typing.RelativeTime | None = None,
    on_late: OnLate[T] | None = None,
    aggregate: None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[TimeWindow[T]]]: ...


@overload
def tumbling_event_window(
    size: typing.RelativeTime,
    *,
    timestamp: Timestamp[T],
    key: Key[T] | None = None,
    offset: typing.RelativeTime = 0,
    lateness: typing.RelativeTime = 0,
    idle_timeout: typing.RelativeTime | None = None,
    on_late: OnLate[T] | None = None,
    aggregate: Aggregate[A, T] | MergingAggregate[A, T],
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[WindowResult[A]]]: ...


def tumbling_event_window(
    size: typing.RelativeTime,
    *,
    timestamp: Timestamp[T],
    key: Key[T] | None = None,
    offset: typing.RelativeTime = 0,
    lateness: typing.RelativeTime = 0,
    idle_timeout: typing.RelativeTime | None = None,
    on_late: OnLate[T] | None = None,
    aggregate: Aggregate[Any, T] | MergingAggregate[Any, T] | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[Any]]:
    """Emit the items of each event-time window ``[offset + k*size, offset + (k+1)*size)``.

    Every item lands in exactly one window; the rules of watermark,
    lateness, idle timeout and termination are in the module's docstring
    (and the README's "Event time").

    Args:
        size: Window length, seconds (> 0) or a ``timedelta``.
        timestamp: The item's event time: an aware ``datetime`` or seconds
            since the epoch.
        key: The item's key; windows and watermarks are then per key and
            each window says its key.
        offset: Shift of the window grid from the epoch (a time zone's
            offset gives local days), seconds or a ``timedelta``.
        lateness: How far behind the largest time seen an item may be and
            still be on time, seconds (>= 0) or a ``timedelta``.
        idle_timeout: After this long without an item of a key on the
            scheduler's clock, that key's watermark advances with the clock.
        on_late: Called with a ``LateItem`` for each late item; without it a
            late item ends the stream with ``LateItemError``.
        aggregate: ``(init, add)``: keep ``add(add(init(), item1), item2)...``
            per window instead of its items, and emit ``WindowResult``s.
        scheduler: Clock and timers of ``idle_timeout`` (only with it).

    Returns:
        An operator emitting ``TimeWindow(start, end, items, key)``, or
        ``WindowResult(start, end, count, result, key)`` with ``aggregate``.

    Raises:
        TypeError, ValueError: a bad argument, named.

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> events = [("a", 0.5), ("b", 61.0), ("c", 59.9), ("d", 125.0)]  # seconds
        >>> windows = reactivex.from_iterable(events).pipe(
        ...     tumbling_event_window(60, timestamp=lambda e: e[1], lateness=5), ops.to_list()
        ... ).run()
        >>> [(w.start.strftime("%M:%S"), [name for name, _ in w.items]) for w in windows]
        [('00:00', ['a', 'c']), ('01:00', ['b']), ('02:00', ['d'])]
    """
    span = positive_timespan("size", size)
    return _fixed_windows(
        span,
        span,
        offset,
        _config(timestamp, key, lateness, idle_timeout, on_late, aggregate, scheduler),
        scheduler,
    )


@overload
def sliding_event_window(
    size: typing.RelativeTime,
    slide: typing.RelativeTime,
    *,
    timestamp: Timestamp[T],
    key: Key[T] | None = None,
    offset: typing.RelativeTime = 0,
    lateness: typing.RelativeTime = 0,
    idle_timeout: typing.RelativeTime | None = None,
    on_late: OnLate[T] | None = None,
    aggregate: None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[TimeWindow[T]]]: ...


@overload
def sliding_event_window(
    size: typing.RelativeTime,
    slide: typing.RelativeTime,
    *,
    timestamp: Timestamp[T],
    key: Key[T] | None = None,
    offset: typing.RelativeTime = 0,
    lateness: typing.RelativeTime = 0,
    idle_timeout: typing.RelativeTime | None = None,
    on_late: OnLate[T] | None = None,
    aggregate: Aggregate[A, T] | MergingAggregate[A, T],
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[WindowResult[A]]]: ...


def sliding_event_window(
    size: typing.RelativeTime,
    slide: typing.RelativeTime,
    *,
    timestamp: Timestamp[T],
    key: Key[T] | None = None,
    offset: typing.RelativeTime = 0,
    lateness: typing.RelativeTime = 0,
    idle_timeout: typing.RelativeTime | None = None,
    on_late: OnLate[T] | None = None,
    aggregate: Aggregate[Any, T] | MergingAggregate[Any, T] | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[Any]]:
    """Emit the items of each event-time window ``[start, start + size)``, one every ``slide``.

    Windows start at ``offset + k*slide`` from the epoch, so an item is in
    about ``size / slide`` windows. ``slide`` may not exceed ``size`` (an
    item between two windows would be in none). An item some of whose
    windows were already emitted joins those still open; it is late only
    when all of them were. Arguments and rules as ``tumbling_event_window``.

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> count = (int, lambda n, _: n + 1)
        >>> op = sliding_event_window(10, 5, timestamp=float, aggregate=count)
        >>> results = reactivex.of(1, 4, 7, 12).pipe(op, ops.to_list()).run()
        >>> [(r.start.second, r.end.second, r.result) for r in results]
        [(55, 5, 2), (0, 10, 3), (5, 15, 2), (10, 20, 1)]
    """
    size_span = positive_timespan("size", size)
    slide_span = positive_timespan("slide", slide)
    if slide_span > size_span:
        raise ValueError(
            f"slide must be <= size, got slide={slide!r} and size={size!r}: the items "
            "between two windows would be in none"
        )
    return _fixed_windows(
        size_span,
        slide_span,
        offset,
        _config(timestamp, key, lateness, idle_timeout, on_late, aggregate, scheduler),
        scheduler,
    )


@overload
def session_window(
    gap: typing.RelativeTime,
    *,
    timestamp: Timestamp[T],
    key: Key[T] | None = None,
    lateness: typing.RelativeTime = 0,
    idle_timeout: typing.RelativeTime | None = None,
    on_late: OnLate[T] | None = None,
    aggregate: None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[TimeWindow[T]]]: ...


@overload
def session_window(
    gap: typing.RelativeTime,
    *,
    timestamp: Timestamp[T],
    key: Key[T] | None = None,
    lateness: typing.RelativeTime = 0,
    idle_timeout: typing.RelativeTime | None = None,
    on_late: OnLate[T] | None = None,
    aggregate: MergingAggregate[A, T],
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[WindowResult[A]]]: ...


def session_window(
    gap: typing.RelativeTime,
    *,
    timestamp: Timestamp[T],
    key: Key[T] | None = None,
    lateness: typing.RelativeTime = 0,
    idle_timeout: typing.RelativeTime | None = None,
    on_late: OnLate[T] | None = None,
    aggregate: MergingAggregate[Any, T] | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[Any]]:
    """Emit sessions: runs of items less than ``gap`` apart in event time (per key).

    A session is ``[first item's time, last item's time + gap)``: an item
    joins a session whose window it falls in, and an item arriving out of
    order that bridges two sessions merges them (their items stay in arrival
    order). Two items exactly ``gap`` apart are in different sessions, as in
    Flink and Beam. A session is emitted when its key's watermark reaches
    its end. ``aggregate`` is ``(init, add, merge)``; ``merge(earlier,
    later)`` combines two sessions' accumulators. Other arguments and rules
    as ``tumbling_event_window``.

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> clicks = [("ann", 0), ("ann", 20), ("bob", 25), ("ann", 100)]
        >>> op = session_window(30, timestamp=lambda c: c[1], key=lambda c: c[0])
        >>> sessions = reactivex.from_iterable(clicks).pipe(op, ops.to_list()).run()
        >>> [(s.key, s.start.second, [t for _, t in s.items]) for s in sessions]
        [('ann', 0, [0, 20]), ('bob', 25, [25]), ('ann', 40, [100])]
    """
    gap_span = positive_timespan("gap", gap)
    if aggregate is not None and (not isinstance(aggregate, tuple) or len(aggregate) != 3):
        raise TypeError(
            "session_window's aggregate must be (init, add, merge): sessions merge when an "
            f"item bridges two, got {aggregate!r}"
        )
    config = _config(timestamp, key, lateness, idle_timeout, on_late, aggregate, scheduler)

    def make_sink(observer: abc.ObserverBase[Any], clock: abc.SchedulerBase) -> SessionSink[T]:
        return SessionSink(observer, clock, config, gap=micros(gap_span))

    return cast(Callable[[Observable[T]], Observable[Any]], sink_operator(make_sink, scheduler))


def _fixed_windows(
    size: timedelta,
    slide: timedelta,
    offset: object,
    config: EventWindowConfig,
    scheduler: abc.SchedulerBase | None,
) -> Callable[[Observable[T]], Observable[Any]]:
    size_micros, slide_micros = micros(size), micros(slide)
    offset_micros = micros(_any_timespan("offset", offset)) % slide_micros

    def make_sink(observer: abc.ObserverBase[Any], clock: abc.SchedulerBase) -> FixedWindowSink[T]:
        return FixedWindowSink(
            observer, clock, config, size=size_micros, slide=slide_micros, offset=offset_micros
        )

    return cast(Callable[[Observable[T]], Observable[Any]], sink_operator(make_sink, scheduler))


def _config(
    timestamp: object,
    key: object,
    lateness: object,
    idle_timeout: object,
    on_late: object,
    aggregate: object,
    scheduler: object,
) -> EventWindowConfig:
    """Check the arguments every event-time window takes."""
    if not callable(timestamp):
        raise TypeError(
            f"timestamp must be a function of the item returning its time, got {timestamp!r}"
        )
    for name, value in (("key", key), ("on_late", on_late)):
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be callable or None, got {value!r}")
    if aggregate is not None and not (
        isinstance(aggregate, tuple) and len(aggregate) in (2, 3) and all(map(callable, aggregate))
    ):
        raise TypeError(
            f"aggregate must be (init, add) or (init, add, merge), all callable, got {aggregate!r}"
        )
    idle = None if idle_timeout is None else positive_timespan("idle_timeout", idle_timeout)
    if scheduler is not None and idle is None:
        raise ValueError(
            "scheduler is used only with idle_timeout: without it only the items' own "
            "timestamps move the windows on, and no clock is read"
        )
    return EventWindowConfig(
        timestamp=timestamp,
        key=cast(Key[Any] | None, key),
        lateness=non_negative_timespan("lateness", lateness),
        idle_timeout=idle,
        on_late=cast(OnLate[Any] | None, on_late),
        aggregate=cast(tuple[Callable[..., Any], ...] | None, aggregate),
    )


def _any_timespan(name: str, value: object) -> timedelta:
    """A duration of any sign: seconds (int or float) or a ``timedelta``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
        return timedelta(seconds=value)
    raise TypeError(
        f"{name} must be seconds (int or float) or a timedelta, got {type(value).__name__} "
        f"{value!r}"
    )
