"""Pull backpressure across Rx's synchronous ``on_next``, on an event loop.

Rx pushes: ``on_next`` returns nothing, and on an event loop's thread an
operator that is full cannot block to hold the producer back (that would
block the loop). So an rxbatch source that can wait -- an async source of
``rxbatch.aio``, or fan_out emitting its results -- opens a **demand slot**
(a ``contextvars.ContextVar``) around each synchronous ``on_next`` it makes
on the loop's thread. An operator downstream that is full (fan_out at
``max_in_flight``, the buffer of an ``async for``) still takes the value,
and calls :func:`pause_upstream`: if a slot is open it gets a :class:`Pause`,
which it resumes once it has room. The source waits for every pause handed
out during the call before it pulls its next value: an async source awaits
them, fan_out admits no further batch until they are resumed.

With no slot open (a synchronous source on the loop, a timer firing),
:func:`pause_upstream` returns None and the operator copes without: it
takes the value and goes over its bound, rather than block the loop or
raise.

A slot is valid only during the call, on the thread that opened it: tasks
and timer callbacks inherit a copy of the context (asyncio copies it when a
task or callback is scheduled), so they may see a slot long closed, and
they must not pause anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from contextvars import ContextVar

__all__ = ["SLOT", "Demand", "Pause", "pause_upstream", "resolve"]


class Pause:
    """A full operator's request: pull nothing more until :meth:`resume`."""

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()

    def resume(self) -> None:
        """There is room again; from any thread, any number of times."""
        if asyncio._get_running_loop() is self.loop:
            resolve(self.future)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: no one waits
            self.loop.call_soon_threadsafe(resolve, self.future)


def resolve(future: asyncio.Future[None]) -> None:
    """Set ``future``'s result unless it is done (on its loop's thread)."""
    if not future.done():
        future.set_result(None)


class Demand:
    """The slot a source opens around its ``on_next`` calls on a loop's thread."""

    __slots__ = ("active", "loop", "pauses", "thread")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.thread = threading.get_ident()
        self.active = False  # True only while the source is inside on_next
        self.pauses: list[Pause] = []

    def take(self) -> list[Pause]:
        """The pauses handed out since the last call (the source must wait for each)."""
        pauses, self.pauses = self.pauses, []
        return pauses


SLOT: ContextVar[Demand | None] = ContextVar("rxbatch_demand", default=None)


def pause_upstream() -> Pause | None:
    """Ask the source of the ``on_next`` being delivered to pause; None if none can.

    For an operator that is full, called while it handles ``on_next``. The
    caller takes the value anyway and calls ``resume()`` on the pause when
    it has room.
    """
    demand = SLOT.get()
    if demand is None or not demand.active or demand.thread != threading.get_ident():
        return None
    pause = Pause(demand.loop)
    demand.pauses.append(pause)
    return pause
