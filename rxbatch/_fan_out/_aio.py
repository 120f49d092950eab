"""The async bridge: where ``async def`` steps run and how their outcome
comes back.

Async steps run on the loop of the ``AsyncIOScheduler`` given as
``scheduler=``, else on a private event loop thread per subscription. An
async step's outcome comes back as ``(ok, value)``: a ``KeyboardInterrupt``
or ``SystemExit`` raised by a coroutine is handed back like any other
outcome (fan_out ends the stream with it) instead of escaping into, and
stopping, the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from reactivex import abc
from reactivex.scheduler.eventloop import AsyncIOScheduler

from ._executor import Guard, Runner, Wiring
from ._items import Task

__all__ = ["AsyncRunner", "LoopBridge"]

Resume = Callable[[bool, Any], None]  # (ok, result or exception)


class _EventLoopThread:
    """A private asyncio loop on a daemon thread, for async steps."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="rxbatch-fan-out-loop", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:  # stopped: cancel what still runs, so that no coroutine is left behind
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):  # closed already
            self.loop.call_soon_threadsafe(self.loop.stop)


class LoopBridge:
    """Runs coroutines on the event loop of one run and resumes with their outcome."""

    def __init__(self, scheduler: abc.SchedulerBase | None, guard: Guard) -> None:
        self.guard = guard
        self.lock = threading.Lock()  # orders every hand-over before the stop
        self.stopped = False
        # The loop holds a task only weakly while it waits: without a strong
        # reference a task waiting on a future nobody else holds is collected
        # pending ("Task was destroyed but it is pending!").
        self.in_flight: set[concurrent.futures.Future[tuple[bool, Any]]] = set()
        self.private: _EventLoopThread | None = None
        if isinstance(scheduler, AsyncIOScheduler):
            self.loop: asyncio.AbstractEventLoop = scheduler._loop
        else:
            self.private = _EventLoopThread()
            self.loop = self.private.loop

    def run(self, coroutine: Coroutine[Any, Any, Any], resume: Resume) -> None:
        """Run ``coroutine`` on the loop, then ``resume(ok, value)`` (guarded).

        Once stopped, the coroutine is closed unstarted and resumes with a
        ``RuntimeError``: a coroutine handed to a stopping loop would never
        be awaited.
        """
        future = None
        with self.lock:
            if not self.stopped:
                outcome = _outcome(coroutine)
                try:
                    future = asyncio.run_coroutine_threadsafe(outcome, self.loop)
                except RuntimeError:  # the loop is closed
                    outcome.close()
                else:
                    self.in_flight.add(future)
        if future is None:
            coroutine.close()
            resume(False, RuntimeError("fan_out's event loop has stopped: the run has ended"))
            return
        future.add_done_callback(partial(self._finished, resume, coroutine))

    def _finished(
        self,
        resume: Resume,
        coroutine: Coroutine[Any, Any, Any],
        future: concurrent.futures.Future[tuple[bool, Any]],
    ) -> None:
        with self.lock:
            self.in_flight.discard(future)
        self.guard(_resume_from, resume, coroutine, future)

    def needs_thread(self, thread: threading.Thread) -> str | None:
        """Why blocking ``thread`` would stop the loop, if it would."""
        if self.private is not None:
            return "fan_out's event loop thread" if self.private.thread is thread else None
        if self.loop.is_running():
            try:
                if asyncio.get_running_loop() is self.loop:
                    return "the scheduler's event loop"
            except RuntimeError:
                pass
        return None

    def stop(self) -> None:
        """Start no coroutine more; stop the private loop, cancelling what still runs."""
        with self.lock:
            self.stopped = True
            if self.private is not None:
                self.private.stop()


class AsyncRunner(Runner):
    """One coroutine per item for an ``async def`` exec."""

    def __init__(self, wiring: Wiring, *, bridge: LoopBridge) -> None:
        super().__init__(wiring)
        self.bridge = bridge

    def _start(self, unit: list[Task[Any]]) -> None:
        (task,) = unit
        try:
            coroutine = self.exec(task.prepared)
        except BaseException as error:  # exec raised before returning its coroutine
            self._finished(task, False, error)
            return
        self.bridge.run(coroutine, partial(self._finished, task))

    def _finished(self, task: Task[Any], ok: bool, value: Any) -> None:
        self.task_finished()
        self.done(task, ok, value)


async def _outcome(awaitable: Awaitable[Any]) -> tuple[bool, Any]:
    try:
        return True, await awaitable
    except asyncio.CancelledError:
        raise  # cancelled on purpose: the future reports it
    except BaseException as error:
        return False, error


def _resume_from(
    resume: Resume,
    coroutine: Coroutine[Any, Any, Any],
    future: concurrent.futures.Future[tuple[bool, Any]],
) -> None:
    try:
        ok, value = future.result()
    except BaseException as error:  # cancelled (the run ended), perhaps before it started
        ok, value = False, error
        coroutine.close()  # never started: close it, or it warns it was never awaited
    resume(ok, value)
