"""What every batching operator shares: serialization, flush on termination,
disposal, and one lazily re-armed timer.

A sink is the observer an operator subscribes to its source with. It keeps
the contracts of DESIGN.md in one place so each operator only says what a
batch is:

* one re-entrant lock serializes ``on_next``, timer callbacks, termination
  and disposal, and downstream is only ever called while holding it, so
  downstream never sees concurrent calls and batches leave in order;
* ``on_completed`` / ``on_error`` first emit what is pending (``drain``);
* after disposal or termination nothing is emitted and the timer is cancelled;
* at most one timer is scheduled per subscription. A flush by count does not
  cancel it: when it fires, the operator says whether anything is due and
  when to fire next (``on_timer``), so a stream that fills batches by count
  schedules about one timer per timespan instead of one per batch, and an
  idle operator schedules none;
* an exception raised downstream during a timer flush goes to ``on_error``
  (the timer thread has no caller to raise to) and the source is disposed;
* a finished or disposed subscription lets go of its sink at once: the
  timer's action is a small stub whose reference to the sink is cut when the
  timer is cancelled (some schedulers, reactivex's ``EventLoopScheduler`` and
  ``TestScheduler`` among them, keep a cancelled timer until its due time),
  and the subscription handed to the subscriber drops the sink when disposed,
  so pending items and the observer are garbage at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import SingleAssignmentDisposable

from ..scheduler import timer_clock

__all__ = ["ListSink", "Sink", "sink_operator"]

T = TypeVar("T")
B = TypeVar("B")


class Sink(abc.ObserverBase[T], Generic[T, B]):
    """Base observer of a batching operator; subclasses define what a batch is."""

    __slots__ = (
        "_draining",
        "_emit",
        "_lock",
        "_observer",
        "_stopped",
        "_timer",
        "_timer_due",
        "_upstream",
        "clock",
    )

    def __init__(self, observer: abc.ObserverBase[B], clock: abc.SchedulerBase) -> None:
        self._lock = threading.RLock()
        self._observer = observer
        self._emit = observer.on_next
        self._stopped = False  # terminated or disposed: emit nothing more
        self._draining = False  # ending: drain() hands over everything
        self._timer: _TimerCall | None = None
        self._timer_due: datetime | None = None
        self._upstream = SingleAssignmentDisposable()
        self.clock = clock

    # -- what subclasses define ------------------------------------------------

    def on_next(self, value: T) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError

    def drain(self) -> None:
        """Emit whatever is pending; called with the lock held before termination."""

    def on_timer(self, due: datetime) -> datetime | None:
        """Flush what is due at ``due``; return when to fire next, or None to go idle."""
        return None

    # -- shared machinery ------------------------------------------------------

    def on_completed(self) -> None:
        self._terminate(self._observer.on_completed)

    def on_error(self, error: Exception) -> None:
        self._terminate(lambda: self._observer.on_error(error))

    def _terminate(self, notify: Callable[[], None]) -> None:
        """Emit what is pending, stop, then pass the terminal notification on."""
        with self._lock:
            if self._stopped:
                return
            self._draining = True
            try:
                self.drain()
            finally:
                self._stop()
            notify()

    def dispose(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.dispose()
            self._timer = self._timer_due = None

    def fail(self, error: Exception, *, drain: bool = True) -> None:
        """End the stream with ``error`` and unsubscribe the source; call with the lock held.

        With ``drain`` (an error in user code, say) the pending items go first.
        """
        if self._stopped:
            return
        self._draining = True
        try:
            if drain:
                self.drain()
        finally:
            self._stop()
            self._upstream.dispose()
        self._observer.on_error(error)

    def flush_if_due(
        self, due: datetime, deadline: datetime | None, flush: Callable[[], None]
    ) -> datetime | None:
        """For ``on_timer``: flush when the pending batch's ``deadline`` has come.

        A timer armed for an earlier batch (one flushed some other way) fires
        before the pending batch is due: it re-arms for ``deadline`` instead of
        flushing early. ``deadline`` None means nothing is pending.
        """
        if deadline is None:
            return None
        if due >= deadline:
            flush()
            return None
        return deadline

    def arm(self, due: datetime) -> None:
        """Make sure a timer fires at or before ``due``; call with the lock held."""
        if self._timer_due is not None and self._timer_due <= due:
            return  # the armed timer fires first and re-arms for what is then due
        if self._timer is not None:
            self._timer.dispose()
        self._timer_due = due
        self._timer = call = _TimerCall(self)
        call.scheduled = self.clock.schedule_absolute(due, call, due)

    def _fire(self, _scheduler: abc.SchedulerBase, due: datetime | None = None) -> None:
        assert due is not None
        with self._lock:
            if self._stopped or self._timer_due != due:
                return  # disposed, or superseded by an earlier timer
            self._timer = self._timer_due = None
            try:
                next_due = self.on_timer(due)
            except Exception as error:  # raised downstream; no caller on this thread
                self.fail(error, drain=False)
                return
            if next_due is not None:
                self.arm(next_due)


class _TimerCall:
    """A timer's action: calls the sink back unless cancelled, then holds nothing."""

    __slots__ = ("scheduled", "sink")

    def __init__(self, sink: Sink[Any, Any]) -> None:
        self.sink: Sink[Any, Any] | None = sink
        self.scheduled: abc.DisposableBase | None = None

    def __call__(self, scheduler: abc.SchedulerBase, due: datetime | None = None) -> None:
        sink = self.sink
        if sink is not None:
            sink._fire(scheduler, due)

    def dispose(self) -> None:
        self.sink = None
        if self.scheduled is not None:
            self.scheduled.dispose()


class _Subscription(abc.DisposableBase):
    """What the subscriber holds: disposes the sink and upstream, then forgets the sink."""

    __slots__ = ("_sink",)

    def __init__(self, sink: Sink[Any, Any]) -> None:
        self._sink: Sink[Any, Any] | None = sink

    def dispose(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.dispose()
            sink._upstream.dispose()


class ListSink(Sink[T, list[T]]):
    """A sink whose batches are lists cut from a shared append-only buffer."""

    __slots__ = ()

    def emit_chunks(self, buffer: list[T], count: int, *, partial: bool = False) -> None:
        """Emit the front of ``buffer`` in lists of ``count``; call with the lock held.

        With ``partial`` the remainder goes too (a last, shorter list). Only
        the items the buffer holds when called go: items producers append
        meanwhile stay for a flush of their own (their producer's count check,
        or the timer armed for them), so a producer faster than the
        subscriber cannot keep one caller, a timer thread say, emitting
        forever. When the stream ends (``drain``) everything goes. After
        termination or disposal the buffer is cleared instead, so it cannot
        grow.
        """
        remaining = len(buffer)  # what this call may take
        while True:
            if self._stopped:
                buffer.clear()
                return
            if self._draining:
                remaining = len(buffer)
            size = min(count, remaining)
            if size == 0 or (size < count and not partial):
                return
            batch = buffer[:size]
            del buffer[:size]
            remaining -= size
            self._emit(batch)


def sink_operator(
    make_sink: Callable[[abc.ObserverBase[B], abc.SchedulerBase], Sink[T, B]],
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[B]]:
    """Build a pipeable operator that gives each subscription a fresh sink.

    The sink's clock is ``scheduler``, else the scheduler passed to
    ``subscribe`` if it is a clock for timers, else
    :func:`rxbatch.scheduler.default_scheduler` (see
    :func:`rxbatch.scheduler.timer_clock`).
    """

    def operator(source: Observable[T]) -> Observable[B]:
        def subscribe(
            observer: abc.ObserverBase[B], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            clock = scheduler or timer_clock(subscribe_scheduler)
            sink = make_sink(observer, clock)
            sink._upstream.disposable = source.subscribe(sink, scheduler=subscribe_scheduler)
            return _Subscription(sink)

        return Observable(subscribe)

    return operator
