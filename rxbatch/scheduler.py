"""rxbatch's timers: one dispatcher thread that nothing downstream can stall.

reactivex's time operators default to ``TimeoutScheduler``, which starts one
OS thread per timer, and ``.run()`` subscribes on ``NewThreadScheduler``,
which does the same. rxbatch's operators instead take their timers from
:class:`MonotonicTimerScheduler`:

* **One dispatcher thread** (``rxbatch-timer``) keeps the due times in a heap
  and never runs a callback itself, so no callback can make it late.
* **Workers run the callbacks** (``rxbatch-timer-worker``): one while timers
  fire, more only when every worker has been inside one callback for longer
  than ``stall_after`` (a subscriber blocked by backpressure, a slow
  ``on_next``) and another callback is due. A stuck callback costs one
  thread, never one per timer, and the other pipelines' flushes stay on
  time. Idle workers exit after ``idle_timeout``.
* **A cancelled timer lets go at once** of its callback and state; the heap is
  compacted when cancelled entries make up half of it. (reactivex's
  ``EventLoopScheduler`` keeps a cancelled timer, and everything it refers
  to, until its due time.)
* **The clock is monotonic**: a wall-clock jump (NTP, DST, a suspended laptop)
  neither fires windows early nor stalls them.

Which scheduler an operator's timers use is decided by :func:`timer_clock`.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from reactivex import abc, typing
from reactivex.disposable import Disposable
from reactivex.internal.exceptions import DisposedException
from reactivex.scheduler import (
    ImmediateScheduler,
    NewThreadScheduler,
    TimeoutScheduler,
    TrampolineScheduler,
)
from reactivex.scheduler.periodicscheduler import PeriodicScheduler

__all__ = ["MonotonicTimerScheduler", "default_scheduler", "timer_clock"]

_TState = TypeVar("_TState")

# Subscribe-time schedulers that are no clock for timers: NewThreadScheduler
# (what .run() uses) and its ThreadPoolScheduler start a thread, or occupy a
# pool thread, per timer; TimeoutScheduler starts a threading.Timer per timer;
# CurrentThreadScheduler and TrampolineScheduler sleep on the caller's thread;
# ImmediateScheduler refuses to wait.
_NOT_A_TIMER_CLOCK = (NewThreadScheduler, TimeoutScheduler, TrampolineScheduler, ImmediateScheduler)


def timer_clock(subscribe_scheduler: abc.SchedulerBase | None) -> abc.SchedulerBase:
    """The clock an operator uses when it was given no ``scheduler=``.

    The scheduler passed to ``subscribe`` is honoured when it keeps time or
    runs a loop of its own: virtual time (``TestScheduler``,
    ``HistoricalScheduler``), asyncio and the other event-loop schedulers,
    an ``EventLoopScheduler``, or any scheduler reactivex does not ship.
    reactivex's ``NewThreadScheduler`` (used by ``.run()``),
    ``ThreadPoolScheduler``, ``TimeoutScheduler``, ``CurrentThreadScheduler``,
    ``TrampolineScheduler`` and ``ImmediateScheduler`` are not: they would
    start a thread per timer, sleep on the producer's thread, or refuse to
    wait. Then, as without a subscribe-time scheduler, the timers go to
    :func:`default_scheduler`. (The subscription itself still happens on the
    scheduler given.)

    Example:
        >>> from reactivex.scheduler import NewThreadScheduler
        >>> from reactivex.testing import TestScheduler
        >>> timer_clock(NewThreadScheduler()) is default_scheduler()
        True
        >>> virtual = TestScheduler()
        >>> timer_clock(virtual) is virtual
        True
    """
    if subscribe_scheduler is None or isinstance(subscribe_scheduler, _NOT_A_TIMER_CLOCK):
        return default_scheduler()
    return subscribe_scheduler


class _Timer:
    """One scheduled action; ``action`` None once it ran or was cancelled."""

    __slots__ = ("action", "due", "in_heap", "inner", "seq", "state")

    def __init__(self, due: float, seq: int, action: Any, state: Any) -> None:
        self.due = due
        self.seq = seq
        self.action: Any = action
        self.state: Any = state
        self.in_heap = True
        self.inner: abc.DisposableBase | None = None  # what the action returned

    def __lt__(self, other: _Timer) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class _Worker:
    __slots__ = ("busy_since",)

    def __init__(self) -> None:
        self.busy_since: float | None = None  # monotonic start of the current callback


class MonotonicTimerScheduler(PeriodicScheduler, abc.DisposableBase):
    """A timer scheduler whose dispatcher never runs, and so never waits on, a callback.

    ``now`` is an aware UTC ``datetime`` anchored to the wall clock when the
    scheduler was created and advanced by the monotonic clock from then on, so
    it reads like wall time but never jumps. See the module's docstring for
    how callbacks run.

    Args:
        stall_after: Seconds a worker may spend in one callback, while another
            is due, before a new worker takes over the due ones.
        idle_timeout: Seconds an idle worker waits for work before it exits.

    Example:
        >>> import threading
        >>> scheduler = MonotonicTimerScheduler()
        >>> fired = threading.Event()
        >>> _ = scheduler.schedule_relative(0.01, lambda s, state: fired.set())
        >>> fired.wait(10), scheduler.now.tzinfo is not None
        (True, True)
        >>> scheduler.dispose()
    """

    def __init__(self, *, stall_after: float = 0.02, idle_timeout: float = 30.0) -> None:
        super().__init__()
        for name, value in (("stall_after", stall_after), ("idle_timeout", idle_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        self._stall_after = float(stall_after)
        self._idle_timeout = float(idle_timeout)
        # Seconds to add to time.monotonic() to get the wall time at creation.
        self._offset = time.time() - time.monotonic()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the dispatcher waits here
        self._work = threading.Condition(self._lock)  # idle workers wait here
        self._heap: list[_Timer] = []
        self._cancelled_in_heap = 0
        self._ready: deque[_Timer] = deque()  # due, waiting for a worker
        self._workers: list[_Worker] = []
        self._dispatcher: threading.Thread | None = None
        self._sequence = itertools.count()
        self._disposed = False

    @property
    def now(self) -> datetime:
        """The scheduler's current time (monotonic, anchored to UTC wall time)."""
        # fromtimestamp is several times cheaper than building a timedelta
        # from float seconds, and operators read the clock once per batch.
        return datetime.fromtimestamp(self._offset + time.monotonic(), UTC)

    # -- scheduling ----------------------------------------------------------

    def schedule(
        self, action: typing.ScheduledAction[_TState], state: _TState | None = None
    ) -> abc.DisposableBase:
        """Run ``action(scheduler, state)`` as soon as a worker is free."""
        return self._add(time.monotonic(), action, state)

    def schedule_relative(
        self,
        duetime: typing.RelativeTime,
        action: typing.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        """Run ``action(scheduler, state)`` after ``duetime`` (seconds or timedelta)."""
        return self._add(time.monotonic() + max(0.0, self.to_seconds(duetime)), action, state)

    def schedule_absolute(
        self,
        duetime: typing.AbsoluteTime,
        action: typing.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        """Run ``action(scheduler, state)`` at ``duetime`` on this scheduler's clock."""
        due = self.to_datetime(duetime).timestamp() - self._offset
        return self._add(due, action, state)

    def _add(self, due: float, action: Any, state: Any) -> abc.DisposableBase:
        timer = _Timer(due, next(self._sequence), action, state)
        with self._lock:
            if self._disposed:
                raise DisposedException()
            heapq.heappush(self._heap, timer)
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(
                    target=self._dispatch, name="rxbatch-timer", daemon=True
                )
                self._dispatcher.start()
            elif self._heap[0] is timer:
                self._wake.notify()  # due before what the dispatcher waits for
        return Disposable(lambda: self._cancel(timer))

    def _cancel(self, timer: _Timer) -> None:
        with self._lock:
            if timer.action is None:
                inner = timer.inner  # it ran: cancel what it scheduled in turn
            else:
                inner = None
                timer.action = timer.state = None  # let go of the callback now
                if timer.in_heap:
                    self._cancelled_in_heap += 1
                    if self._cancelled_in_heap > 32 and 2 * self._cancelled_in_heap > len(
                        self._heap
                    ):
                        self._heap = [t for t in self._heap if t.action is not None]
                        heapq.heapify(self._heap)
                        self._cancelled_in_heap = 0
        if inner is not None:
            inner.dispose()

    # -- the dispatcher: moves due timers to the workers, never runs one ---------

    def _dispatch(self) -> None:
        with self._lock:
            while not self._disposed:
                now = time.monotonic()
                heap = self._heap
                while heap and heap[0].due <= now:
                    timer = heapq.heappop(heap)
                    timer.in_heap = False
                    if timer.action is None:
                        self._cancelled_in_heap -= 1
                    else:
                        self._ready.append(timer)
                wait = heap[0].due - now if heap else None
                if self._ready:
                    recheck = self._hand_out(now)
                    wait = recheck if wait is None else min(wait, recheck)
                self._wake.wait(None if wait is None else min(wait, threading.TIMEOUT_MAX))

    def _hand_out(self, now: float) -> float:
        """Get the ready timers run; return seconds until the next stall check.

        Caller holds the lock. A new worker starts when none is idle and
        every worker has been in its current callback for ``stall_after``.
        """
        starts = [w.busy_since for w in self._workers if w.busy_since is not None]
        if len(starts) < len(self._workers):  # one is idle
            self._work.notify(len(self._ready))
            return self._stall_after
        last_start = max(starts, default=None)
        if last_start is None or now - last_start >= self._stall_after:
            worker = _Worker()
            self._workers.append(worker)
            threading.Thread(
                target=self._run_worker, args=(worker,), name="rxbatch-timer-worker", daemon=True
            ).start()
            return self._stall_after
        return last_start + self._stall_after - now

    # -- workers ------------------------------------------------------------------

    def _run_worker(self, worker: _Worker) -> None:
        lock = self._lock
        lock.acquire()
        try:
            while not self._disposed:
                if not self._ready:
                    if not self._work.wait(self._idle_timeout) and not self._ready:
                        break  # idle for idle_timeout: exit
                    continue
                timer = self._ready.popleft()
                action, state = timer.action, timer.state
                if action is None:
                    continue  # cancelled while it waited
                timer.action = timer.state = None
                worker.busy_since = time.monotonic()
                lock.release()
                try:
                    inner = self._invoke(action, state)
                finally:
                    lock.acquire()
                    worker.busy_since = None
                timer.inner = inner
        finally:
            self._workers.remove(worker)
            lock.release()

    def _invoke(self, action: Callable[..., Any], state: Any) -> abc.DisposableBase | None:
        try:
            result = action(self, state)
        except Exception as error:
            # No caller to raise to: report it the way an uncaught exception
            # in a thread is reported (threading.excepthook), and keep serving.
            threading.excepthook(
                threading.ExceptHookArgs(
                    (type(error), error, error.__traceback__, threading.current_thread())
                )
            )
            return None
        return result if isinstance(result, abc.DisposableBase) else None

    def dispose(self) -> None:
        """Stop the dispatcher and the workers; pending timers never fire."""
        with self._lock:
            self._disposed = True
            self._heap.clear()
            self._ready.clear()
            self._wake.notify()
            self._work.notify_all()


_default: MonotonicTimerScheduler | None = None
_default_lock = threading.Lock()


def default_scheduler() -> MonotonicTimerScheduler:
    """Return the process-wide scheduler that time-based operators use by default.

    Its dispatcher thread starts with the first timer scheduled on it.

    Example:
        >>> default_scheduler() is default_scheduler()
        True
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = MonotonicTimerScheduler()
        return _default
