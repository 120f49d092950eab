"""Admission and backpressure: ``max_in_flight`` items admitted and not yet done.

A batch is admitted when its items fit; until then the producing thread
blocks in ``on_next`` (a batch larger than the limit is admitted once
nothing else is in flight). Blocking a thread that fan_out itself needs to
finish the items in flight would deadlock, so that raises instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Admission"]


class Admission:
    """Counts the items in flight and holds producers back at the limit.

    Every method is called with ``lock`` (the run's lock) held.
    """

    def __init__(
        self, limit: int | None, lock: threading.RLock, stall_reason: Callable[[], str | None]
    ) -> None:
        self.limit = limit
        self.room = threading.Condition(lock)
        self.stall_reason = stall_reason  # why blocking this thread would deadlock, if it would
        self.in_flight = 0
        self.blocked = 0  # producers waiting in admit
        self.closed = False  # the run is ending: admit nothing more

    def admit(self, size: int) -> bool:
        """Wait until ``size`` items fit; count them in. False once closed."""
        limit = self.limit
        if limit is not None:
            while not self.closed and self.in_flight and self.in_flight + size > limit:
                needed = self.stall_reason()
                if needed:
                    raise RuntimeError(
                        f"fan_out: {size} items do not fit in max_in_flight={limit} "
                        f"({self.in_flight} in flight), and waiting here would block {needed}, "
                        "which fan_out needs to finish them; deliver batches from another "
                        "thread, raise max_in_flight, or give fan_out a scheduler of its own"
                    )
                self.blocked += 1
                try:
                    self.room.wait()
                finally:
                    self.blocked -= 1
        if self.closed:
            return False
        self.in_flight += size
        return True

    def done(self, count: int = 1) -> None:
        """``count`` items are through: make room."""
        self.in_flight -= count
        if self.blocked:
            self.room.notify_all()

    def close(self) -> None:
        """Admit nothing more, and wake every blocked producer so that it returns."""
        self.closed = True
        self.room.notify_all()
