"""Admission and backpressure: ``max_in_flight`` items admitted whose results are
not yet delivered downstream (running, waiting for a retry, or done and waiting
to be delivered: for their turn, or for a consumer that blocks).

A batch is admitted when its items fit (a batch larger than the limit is
admitted once nothing else is in flight). Until then its producer waits,
in one of three ways:

* **A thread that may block** (a reader thread, a plain producer) blocks in
  ``on_next`` until there is room.
* **A thread that runs an event loop** must never block: the batch is
  *deferred* -- numbered in its turn, queued, and started as soon as it fits
  -- and if the ``on_next`` came from a source that can wait (an async
  source of ``rxbatch.aio``, see ``rxbatch._demand``), that source is paused
  until every deferred batch is admitted. A synchronous source on the loop
  cannot be paused: its batches queue up (memory grows with it), and
  ``max_in_flight`` still bounds the items in flight.
* **A thread fan_out itself needs** to finish the items in flight (its own
  workers, a scheduler's thread, a virtual-time scheduler's) would deadlock
  if it blocked: that raises instead.

Downstream can hold admissions too: when fan_out emits results on a loop's
thread into an operator that is full (an ``async for`` consumer falling
behind), that operator pauses fan_out, and no batch is admitted until it
resumes, so a slow consumer holds back the source.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Generic, TypeVar

from .._demand import Pause, pause_upstream

__all__ = ["Admission", "Verdict"]

B = TypeVar("B")


class Verdict(Enum):
    ADMITTED = 1  # counted in: start it now
    DEFERRED = 2  # hand it to ``defer``: it starts when it fits
    CLOSED = 3  # the run is ending: drop it


class Admission(Generic[B]):
    """Counts the items in flight and holds producers back at the limit.

    Every method is called with ``lock`` (the run's lock) held. ``B`` is
    whatever the run defers (its batches).
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
        self.deferred: deque[tuple[int, B]] = deque()  # (size, batch), in arrival order
        self.held = 0  # pauses from downstream not yet resumed
        self.paused: list[Pause] = []  # sources upstream paused until ``deferred`` is empty

    def _waits(self, size: int) -> bool:
        """Whether a batch of ``size`` must wait (the ones deferred go first)."""
        if self.held or self.deferred:
            return True
        limit = self.limit
        return limit is not None and self.in_flight > 0 and self.in_flight + size > limit

    def admit(self, size: int) -> Verdict:
        """Admit ``size`` items, or say that the batch is deferred (or dropped)."""
        while not self.closed and self._waits(size):
            if asyncio._get_running_loop() is not None:  # never block an event loop
                pause = pause_upstream()
                if pause is not None:
                    self.paused.append(pause)
                return Verdict.DEFERRED
            needed = self.stall_reason()
            if needed:
                why = (
                    "the consumer downstream is full"
                    if self.held
                    else f"{size} items do not fit in max_in_flight={self.limit} "
                    f"({self.in_flight} in flight)"
                )
                raise RuntimeError(
                    f"fan_out: {why}, and waiting here would block {needed}, which fan_out "
                    "needs to finish its work; deliver batches from another thread, raise "
                    "max_in_flight, or give fan_out a scheduler of its own"
                )
            self.blocked += 1
            try:
                self.room.wait()
            finally:
                self.blocked -= 1
        if self.closed:
            return Verdict.CLOSED
        self.in_flight += size
        return Verdict.ADMITTED

    def defer(self, size: int, batch: B) -> None:
        """Queue a batch ``admit`` deferred; ``done`` or ``resume`` hands it back."""
        self.deferred.append((size, batch))

    def done(self, count: int = 1) -> Sequence[B]:
        """``count`` items' result is delivered: make room; return the deferred batches now
        admitted."""
        self.in_flight -= count
        ready: Sequence[B] = self._admit_deferred() if self.deferred else ()
        if self.blocked:
            self.room.notify_all()
        return ready

    def hold(self, pauses: int) -> None:
        """Downstream asked for ``pauses`` pauses: admit nothing until each is resumed."""
        self.held += pauses

    def resume(self) -> Sequence[B]:
        """One pause from downstream is over; return the deferred batches now admitted."""
        self.held -= 1
        if self.held:
            return ()
        if self.blocked:
            self.room.notify_all()
        return self._admit_deferred()

    def _admit_deferred(self) -> list[B]:
        ready: list[B] = []
        limit, deferred = self.limit, self.deferred
        while deferred and not self.held:
            size = deferred[0][0]
            if limit is not None and self.in_flight > 0 and self.in_flight + size > limit:
                break
            self.in_flight += size
            ready.append(deferred.popleft()[1])
        if not deferred:
            self._resume_upstream()
        return ready

    def _resume_upstream(self) -> None:
        paused, self.paused = self.paused, []
        for pause in paused:
            pause.resume()

    def close(self, *, drop: bool) -> None:
        """Admit nothing more; wake blocked producers and let paused sources go.

        With ``drop`` (the run is over) the deferred batches are dropped too;
        without (upstream sent something that is not a batch) they still run.
        """
        self.closed = True
        if drop:
            self.deferred.clear()
        self._resume_upstream()
        self.room.notify_all()
