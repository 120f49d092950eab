"""Retry timing: the wait before an item's next exec, on the scheduler.

Waits are timers on fan_out's clock (the ``scheduler=`` given, else a timer
thread of rxbatch's), never sleeps on a worker, so they cost no thread and
run exactly on virtual time. Disposal cancels every pending wait.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from reactivex import abc
from reactivex.disposable import SingleAssignmentDisposable
from reactivex.scheduler import EventLoopScheduler, VirtualTimeScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler, AsyncIOThreadSafeScheduler

from ..scheduler import MonotonicTimerScheduler

__all__ = ["RetryTimers", "default_retry_clock"]

_retry_clock: MonotonicTimerScheduler | None = None
_retry_clock_lock = threading.Lock()


def default_retry_clock() -> MonotonicTimerScheduler:
    """fan_out's clock when none is given: a timer thread of its own."""
    # Not the batching operators' timer thread: a batch flushed by a timer
    # arrives on that thread, and if fan_out blocked it for backpressure while
    # its retries waited on the same thread, neither could move.
    global _retry_clock
    with _retry_clock_lock:
        if _retry_clock is None:
            _retry_clock = MonotonicTimerScheduler()
        return _retry_clock


class RetryTimers:
    """The pending retry waits of one run."""

    def __init__(self, clock: abc.SchedulerBase, lock: threading.RLock) -> None:
        self.clock = clock
        self.lock = lock
        self.timers: set[abc.DisposableBase] = set()
        self.stopped = False

    def after(self, delay: float, action: Callable[[], None]) -> None:
        """Call ``action`` (without the lock) ``delay`` seconds from now, unless stopped first."""
        fired = False
        timer: abc.DisposableBase | None = None

        def due(_: abc.SchedulerBase, __: Any = None) -> None:
            nonlocal fired
            with self.lock:
                fired = True
                if timer is not None:
                    self.timers.discard(timer)
                if self.stopped:
                    return
            action()

        if self.stopped:
            return
        clock = self.clock
        if (
            isinstance(clock, AsyncIOScheduler)
            and not isinstance(clock, AsyncIOThreadSafeScheduler)
            and asyncio._get_running_loop() is not clock._loop
        ):
            timer = _schedule_on_loop(clock, delay, due)
        else:
            timer = clock.schedule_relative(delay, due)
        with self.lock:
            cancel = self.stopped
            if not fired and not cancel:
                self.timers.add(timer)
        if cancel:  # stopped while it was being scheduled
            timer.dispose()

    def stop(self) -> None:
        """Cancel every pending wait."""
        with self.lock:
            self.stopped = True
            timers, self.timers = self.timers, set()
        for timer in timers:
            timer.dispose()

    def needs_thread(self, thread: threading.Thread) -> str | None:
        """Why blocking ``thread`` would stop the clock, if it would."""
        if isinstance(self.clock, VirtualTimeScheduler):
            return "the thread of a virtual-time scheduler (time cannot advance)"
        if isinstance(self.clock, EventLoopScheduler) and self.clock._thread is thread:
            return "the scheduler's thread"
        return None


def _schedule_on_loop(
    clock: AsyncIOScheduler, delay: float, action: Callable[[abc.SchedulerBase, Any], None]
) -> abc.DisposableBase:
    """Schedule on a non-thread-safe AsyncIOScheduler from another thread than its loop's."""
    holder = SingleAssignmentDisposable()

    def schedule() -> None:
        holder.disposable = clock.schedule_relative(delay, action)

    clock._loop.call_soon_threadsafe(schedule)
    return holder
