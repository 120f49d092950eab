"""The default scheduler for rxbatch's time-based operators.

reactivex's time operators default to ``TimeoutScheduler``, which starts one
``threading.Timer`` -- one OS thread -- per scheduled action: at 100 items per
batch that is 10,000 threads per million items. rxbatch's default is instead a
single shared timer thread (reactivex's ``EventLoopScheduler``, which keeps
due times in a heap) whose clock is monotonic, so a wall-clock jump (NTP, DST,
a suspended laptop) neither fires windows early nor stalls them.

The timer thread only runs rxbatch's flushes; a slow subscriber downstream of
a timer-driven flush delays the other timers on it, so hand heavy work to
``fan_out`` (which runs it on an executor) or pass your own ``scheduler=``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from reactivex import abc
from reactivex.scheduler import EventLoopScheduler
from reactivex.typing import StartableTarget

__all__ = ["MonotonicTimerScheduler", "default_scheduler"]


class MonotonicTimerScheduler(EventLoopScheduler):
    """An ``EventLoopScheduler`` whose ``now`` advances with ``time.monotonic``.

    ``now`` is an aware UTC ``datetime`` anchored to the wall clock when the
    scheduler was created and advanced by the monotonic clock from then on, so
    it reads like wall time but never jumps.

    Example:
        >>> scheduler = MonotonicTimerScheduler()
        >>> scheduler.now.tzinfo is not None
        True
    """

    def __init__(self) -> None:
        super().__init__(thread_factory=_daemon_thread)
        # Seconds to add to time.monotonic() to get the wall time at creation.
        self._offset = time.time() - time.monotonic()

    @property
    def now(self) -> datetime:
        """The scheduler's current time (monotonic, anchored to UTC wall time)."""
        # fromtimestamp is several times cheaper than building a timedelta
        # from float seconds, and operators read the clock once per batch.
        return datetime.fromtimestamp(self._offset + time.monotonic(), UTC)


def _daemon_thread(target: StartableTarget) -> threading.Thread:
    return threading.Thread(target=target, name="rxbatch-timer", daemon=True)


_default: MonotonicTimerScheduler | None = None
_default_lock = threading.Lock()


def default_scheduler() -> abc.SchedulerBase:
    """Return the process-wide scheduler that time-based operators use by default.

    One daemon thread serves every operator's timers; it starts with the first
    timer scheduled on it.

    Example:
        >>> default_scheduler() is default_scheduler()
        True
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = MonotonicTimerScheduler()
        return _default
