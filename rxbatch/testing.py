"""Helpers for deterministic tests of pipelines."""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from ._validation import delay_seconds

__all__ = ["ImmediateExecutor", "VirtualTimeEventLoop"]

P = ParamSpec("P")
R = TypeVar("R")


class ImmediateExecutor(Executor):
    """A ``concurrent.futures.Executor`` that runs each call inline, in ``submit``.

    With it and a ``reactivex.testing.TestScheduler``, ``fan_out`` is fully
    deterministic: exec runs when an item is submitted and retries happen at
    exact virtual times.

    Example:
        >>> ImmediateExecutor().submit(pow, 2, 10).result()
        1024
    """

    def __init__(self) -> None:
        self._shutdown = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
        future: Future[R] = Future()
        future.set_running_or_notify_cancel()
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:  # the future carries it, as a pool's would
            future.set_exception(error)
        else:
            future.set_result(result)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop on a virtual clock that jumps to the next timer when idle.

    ``loop.time()`` starts at 0 and moves only when the loop has nothing
    ready to run: then it jumps straight to the next scheduled callback
    (an ``asyncio.sleep``, a ``call_later``, a timeout) instead of waiting
    for it. A test of timing runs as fast as the code allows and every time
    it observes is exact. Pair it with ``rxbatch.aio.LoopTimeScheduler``
    (what ``rxbatch.aio.to_async_iterator`` subscribes on), whose ``now``
    follows ``loop.time()``, and every rxbatch timer and duration on the
    loop is virtual too.

    Meant for code that runs on the loop alone: work in other threads or
    processes takes real time, which the virtual clock does not wait for
    (it waits for real I/O only when no timer is scheduled at all). Bound
    every wait in a test (``asyncio.wait_for``) and a hang fails at once,
    at the virtual deadline.

    Example:
        >>> import asyncio
        >>> async def main():
        ...     loop = asyncio.get_running_loop()
        ...     await asyncio.sleep(3600)
        ...     return loop.time()
        >>> with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        ...     runner.run(main())
        3600.0
    """

    def __init__(self) -> None:
        self._virtual_time = 0.0
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        """The virtual time, in seconds since the loop was made."""
        return self._virtual_time

    def advance(self, seconds: float | timedelta) -> None:
        """Move the clock on by ``seconds`` (the loop does this itself when idle).

        Raises:
            TypeError, ValueError: ``seconds`` is not a finite number >= 0 (or
                a ``timedelta``) of at most 100 years.
        """
        self._virtual_time += delay_seconds("seconds", seconds)


class _VirtualSelector(selectors.BaseSelector):
    """The loop's selector: real I/O polled without waiting, and idle waits skipped."""

    def __init__(self, loop: VirtualTimeEventLoop) -> None:
        self._loop = loop
        self._real = selectors.DefaultSelector()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:  # no timer at all: only real I/O (another thread) can wake it
            return self._real.select(None)
        self._loop.advance(timeout)  # idle until the next timer: be there now
        return []

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()
