"""The async bridge: where ``async def`` steps run and how their outcome
comes back.

Async steps run on the loop of the ``AsyncIOScheduler`` given as
``scheduler=`` or, failing that, passed to ``subscribe``; else on a private
event loop thread per subscription. On the loop's own thread a step starts
with ``loop.create_task``; from any other thread it is handed over with
``call_soon_threadsafe``. Each step runs inside a small wrapper task that
resumes the item with ``(ok, value)`` as soon as the step ends: a
``KeyboardInterrupt`` or ``SystemExit`` raised by a coroutine is handed back
like any other outcome (fan_out ends the stream with it) instead of
escaping into, and stopping, the loop. Stopping the bridge (disposal, the
end of the run) cancels every step still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from reactivex.scheduler.eventloop import AsyncIOScheduler

from .._loop_thread import LoopThread
from ._executor import Guard, Runner, Wiring
from ._items import Task

__all__ = ["AsyncRunner", "LoopBridge"]

Resume = Callable[[bool, Any], None]  # (ok, result or exception)


class _Step:
    """One async step on the loop: ``fn(arg)``, or a coroutine made already (``fn`` None)."""

    __slots__ = ("arg", "fn", "resume", "started", "task")

    def __init__(
        self, fn: Callable[[Any], Awaitable[Any]] | None, arg: Any, resume: Resume
    ) -> None:
        self.fn = fn
        self.arg = arg
        self.resume = resume
        self.started = False
        self.task: asyncio.Task[None] | None = None

    def close_unstarted(self) -> None:
        """Cancelled before it ran: close its coroutine, or it warns it was never awaited."""
        if not self.started and self.fn is None:
            self.arg.close()


class LoopBridge:
    """Runs the async steps of one run on its event loop and resumes with their outcome."""

    def __init__(self, scheduler: AsyncIOScheduler | None, guard: Guard) -> None:
        self.guard = guard
        self.lock = threading.Lock()  # orders every hand-over before the stop
        self.stopped = False
        # Steps running on the loop, touched on the loop's thread only. The
        # loop holds a task only weakly while it waits: without a strong
        # reference a task waiting on a future nobody else holds is collected
        # pending ("Task was destroyed but it is pending!").
        self.running: set[_Step] = set()
        self.private: LoopThread | None = None
        if scheduler is not None:
            self.loop: asyncio.AbstractEventLoop = scheduler._loop
        else:
            self.private = LoopThread("rxbatch-fan-out-loop")
            self.loop = self.private.loop

    def call(self, fn: Callable[[Any], Awaitable[Any]], arg: Any, resume: Resume) -> None:
        """Run ``await fn(arg)`` on the loop, then ``resume(ok, value)`` (guarded)."""
        self._hand_over(_Step(fn, arg, resume))

    def run(self, coroutine: Coroutine[Any, Any, Any], resume: Resume) -> None:
        """Run ``coroutine`` on the loop, then ``resume(ok, value)`` (guarded).

        Once stopped, the coroutine is closed unstarted and resumes with a
        ``RuntimeError``: a coroutine handed to a stopping loop would never
        be awaited.
        """
        self._hand_over(_Step(None, coroutine, resume))

    def _hand_over(self, step: _Step) -> None:
        if asyncio._get_running_loop() is self.loop:
            self._start(step)
            return
        with self.lock:
            if not self.stopped:
                try:
                    self.loop.call_soon_threadsafe(self._start, step)
                except RuntimeError:  # the loop is closed
                    pass
                else:
                    return
        self._refuse(step)

    def _refuse(self, step: _Step) -> None:
        step.close_unstarted()
        step.resume(False, RuntimeError("fan_out's event loop has stopped: the run has ended"))

    def _start(self, step: _Step) -> None:
        # On the loop's thread.
        if self.stopped:
            self._refuse(step)
            return
        step.task = self.loop.create_task(self._step(step))
        self.running.add(step)

    async def _step(self, step: _Step) -> None:
        step.started = True
        cancelled = None
        try:
            value = await (step.arg if step.fn is None else step.fn(step.arg))
            ok = True
        except asyncio.CancelledError as error:  # the run was disposed, or the loop is ending
            ok, value, cancelled = False, error, error
        except BaseException as error:
            ok, value = False, error
        self.running.discard(step)
        self.guard(step.resume, ok, value)
        if cancelled is not None:
            raise cancelled

    def _cancel_all(self) -> None:
        # On the loop's thread.
        running, self.running = self.running, set()
        for step in running:
            step.close_unstarted()
            if step.task is not None:
                step.task.cancel()

    def stop(self) -> None:
        """Start no step more; cancel the steps still running (and stop a private loop)."""
        with self.lock:
            self.stopped = True
            if asyncio._get_running_loop() is self.loop:
                self._cancel_all()
            else:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nothing runs
                    self.loop.call_soon_threadsafe(self._cancel_all)
            if self.private is not None:
                self.private.stop()


class AsyncRunner(Runner):
    """One task on the loop per item for an ``async def`` exec."""

    def __init__(self, wiring: Wiring, *, bridge: LoopBridge) -> None:
        super().__init__(wiring)
        self.bridge = bridge

    def _start(self, unit: list[Task[Any]]) -> None:
        (task,) = unit
        self.bridge.call(self.exec, task.prepared, partial(self._finished, task))

    def _finished(self, task: Task[Any], ok: bool, value: Any) -> None:
        self.task_finished()
        self.done(task, ok, value)
