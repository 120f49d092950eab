"""One subscription to a fan_out: the steps every item goes through, and how
the run ends.

How one item moves (each arrow is a continuation, never a blocked thread):

    prep (inline) -> exec (a task on the executor or the event loop) ->
    [failed and retryable: wait on the scheduler, then exec again] ->
    [failed for good: fallback] -> post -> item done

An ``Exception`` raised by a step is that item's outcome. Anything else
(``KeyboardInterrupt``, ``SystemExit``) is not an item failure: it ends the
stream, as does an exception raised by the subscriber. Callbacks that arrive
from executors, timers and the event loop run guarded, so no thread of
fan_out's or of an executor dies from them unseen.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from reactivex import abc
from reactivex.disposable import SingleAssignmentDisposable
from reactivex.scheduler.eventloop import AsyncIOScheduler

from .._demand import SLOT, Demand, Pause
from ..node import Node, NodeError, Routed
from ..results import BatchResult
from ..retry import RetryPolicy
from ..scheduler import timer_clock
from ..store import Store
from ._admission import Admission, Verdict
from ._aio import AsyncRunner, LoopBridge
from ._emission import Emitter
from ._executor import Runner, Wiring, make_runner
from ._items import Batch, Task, as_batch
from ._retry import RetryTimers, default_retry_clock

__all__ = ["Options", "Run"]

T = TypeVar("T")
R = TypeVar("R")

_ELSEWHERE: Any = object()  # a step's item went on elsewhere: it failed, or resumes later


@dataclass(frozen=True)
class Options(Generic[T, R]):
    node: Node[T, R]
    max_concurrency: int
    ordered: bool
    store: Store | None
    retry: RetryPolicy
    executor: concurrent.futures.Executor | None
    chunk_size: int | None
    max_in_flight: int | None
    scheduler: abc.SchedulerBase | None


class Run(Generic[T, R]):
    """The state of one subscription to a fan_out."""

    def __init__(
        self,
        options: Options[T, R],
        observer: abc.ObserverBase[BatchResult[T, R]],
        subscribe_scheduler: abc.SchedulerBase | None = None,
    ) -> None:
        node = self.node = options.node
        self.policy = options.retry
        self.store = options.store if options.store is not None else Store()
        self.reader = self.store.reader()
        self.clock = _clock(options.scheduler, subscribe_scheduler)
        self.upstream = SingleAssignmentDisposable()
        self.plain_prep = node.is_default("prep")
        self.plain_post = node.is_default("post")
        self.stopped = False  # disposed, or the terminal notification was delivered

        self.lock = threading.RLock()  # one lock for the parts below: one state machine
        self.emitter: Emitter[T, R] = Emitter(
            _PausableObserver(observer, self._paused),
            self.lock,
            ordered=options.ordered,
            on_subscriber_error=self.fail,
            delivered=self._delivered,
            release=self.dispose,
        )
        self.admission: Admission[Batch[T]] = Admission(
            options.max_in_flight, self.lock, self._stall_reason
        )
        self.retries = RetryTimers(self.clock, self.lock)
        self.bridge: LoopBridge | None = None
        if any(node.is_async(step) for step in ("prep", "exec", "post", "fallback")):
            self.bridge = LoopBridge(_loop_of(options.scheduler, subscribe_scheduler), self.guard)
        wiring = Wiring(self.lock, options.max_concurrency, node.exec, self._exec_done, self.guard)
        self.runner: Runner
        if self.bridge is not None and node.is_async("exec"):
            self.runner = AsyncRunner(wiring, bridge=self.bridge)
        else:
            self.runner = make_runner(
                wiring, executor=options.executor, chunk_size=options.chunk_size
            )

    # -- upstream ----------------------------------------------------------------

    def on_next(self, items: Sequence[T]) -> None:
        try:
            batch_items = as_batch(items)
        except Exception as error:  # not a batch, or reading it raised: end the stream
            # after what is already in flight
            with self.lock:
                ended = not self.stopped and self.emitter.end(error)
                self.admission.close(drop=False)
            if ended:
                self.upstream.dispose()
            self.emitter.flush()
            return
        with self.lock:
            if self.emitter.upstream_ended:
                return
            verdict = self.admission.admit(len(batch_items))
            if verdict is Verdict.CLOSED:
                return
            batch = Batch(self.emitter.open_batch(), batch_items, self.clock.now)
            if verdict is Verdict.DEFERRED:
                self.admission.defer(len(batch_items), batch)
                return
        self._start(batch)

    def _start(self, batch: Batch[T]) -> None:
        """Run the steps of an admitted batch's items."""
        if not batch.items:
            with self.lock:
                self._batch_done(batch)
            self.emitter.flush()
        elif self.plain_prep:  # the default prep: the item itself, no step to run
            self.runner.push([Task(batch, p, item) for p, item in enumerate(batch.items)])
        else:
            self._prep_all(batch)

    def _start_deferred(self, batches: Sequence[Batch[T]]) -> None:
        """Start batches that waited for room; their time runs from now."""
        for batch in batches:
            batch.started = self.clock.now
            self._start(batch)

    def _paused(self, pauses: list[Pause]) -> None:
        """Downstream is full (see ``_PausableObserver``): admit nothing until it resumes."""
        with self.lock:
            if self.stopped:
                return
            self.admission.hold(len(pauses))
        for pause in pauses:
            pause.future.add_done_callback(self._downstream_resumed)

    def _downstream_resumed(self, _: object) -> None:
        with self.lock:
            ready = self.admission.resume()
        if ready:
            self.guard(self._start_deferred, ready)

    def on_completed(self) -> None:
        self._upstream_ended(None)

    def on_error(self, error: Exception) -> None:
        self._upstream_ended(error)

    def _upstream_ended(self, error: Exception | None) -> None:
        with self.lock:
            if self.stopped or not self.emitter.end(error):
                return
        self.emitter.flush()

    def _stall_reason(self) -> str | None:
        """Why blocking the current thread for room would deadlock, if it would."""
        current = threading.current_thread()
        needed = self.retries.needs_thread(current) or self.runner.needs_thread(current)
        if not needed and self.emitter.emitting_thread == current.ident:
            needed = "the thread delivering fan_out's results (a loop from output to input)"
        return needed

    # -- one item's steps ----------------------------------------------------------

    def _prep_all(self, batch: Batch[T]) -> None:
        tasks = []
        prep, reader = self.node.prep, self.reader
        for position, item in enumerate(batch.items):
            task: Task[T] = Task(batch, position)
            prepared = self._step("prep", prep, (reader, item), task, self._prepped)
            if prepared is not _ELSEWHERE:
                task.prepared = prepared
                tasks.append(task)
            elif self.runner.stopped:  # the step ended the stream: prep nothing more
                return
        if tasks:
            self.runner.push(tasks)

    def _prepped(self, task: Task[T], prepared: Any) -> None:  # after an async prep
        task.prepared = prepared
        self.runner.push([task])

    def _exec_done(self, task: Task[T], ok: bool, value: Any) -> None:
        if ok:
            if self.plain_post:
                self._finish(task, value)
            else:
                self._after_exec(task, value)
        elif isinstance(value, Exception):
            self._exec_failed(task, value)
        else:  # KeyboardInterrupt, SystemExit: not an item failure
            self.fail(value)

    def _exec_failed(self, task: Task[T], error: Exception) -> None:
        attempts = task.batch.attempts[task.position]
        if self.policy.should_retry(error, attempts):
            retry = partial(self.guard, self.runner.retry, task)
            self.retries.after(self.policy.delay(attempts), retry)
        elif self.node.has_fallback:
            args = (task.prepared, error)
            result = self._step("fallback", self.node.fallback, args, task, self._after_exec)
            if result is not _ELSEWHERE:
                self._after_exec(task, result)
        else:
            self._fail_item(task, "exec", error)

    def _after_exec(self, task: Task[T], result: Any) -> None:
        if self.plain_post:
            self._finish(task, result)
            return
        args = (self.store, task.batch.items[task.position], task.prepared, result)
        posted = self._step("post", self.node.post, args, task, self._posted)
        if posted is not _ELSEWHERE:
            self._posted(task, posted)

    def _posted(self, task: Task[T], posted: Any) -> None:
        if isinstance(posted, Routed):
            self._finish(task, posted.result, action=posted.action)
        else:
            self._finish(task, posted)

    def _step(
        self,
        step: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        task: Task[T],
        then: Callable[[Task[T], Any], None],
    ) -> Any:
        """Run a prep/post/fallback step inline: its value, or ``_ELSEWHERE``.

        ``_ELSEWHERE`` when the item failed (or the stream ended), or when the
        step is async: then ``then(task, value)`` resumes the item later.
        """
        try:
            value = fn(*args)
        except Exception as error:
            self._fail_item(task, step, error)
            return _ELSEWHERE
        except BaseException as error:
            self.fail(error)
            return _ELSEWHERE
        if not asyncio.iscoroutine(value):
            return value
        if self.bridge is None:  # a plain function that returned a coroutine
            value.close()
            problem = TypeError(f"{step} returned a coroutine but is not declared async def")
            self._fail_item(task, step, problem)
            return _ELSEWHERE
        self.bridge.run(value, partial(self._resumed, step, task, then))
        return _ELSEWHERE

    def _resumed(
        self, step: str, task: Task[T], then: Callable[[Task[T], Any], None], ok: bool, value: Any
    ) -> None:
        if ok:
            then(task, value)
        elif isinstance(value, Exception):
            self._fail_item(task, step, value)
        else:
            self.fail(value)

    def _fail_item(self, task: Task[T], step: str, error: BaseException) -> None:
        wrapped = NodeError(self.node.name, step)
        wrapped.__cause__ = error
        self._finish(task, None, wrapped)

    # -- outcomes --------------------------------------------------------------------

    def _finish(
        self,
        task: Task[T],
        result: Any,
        error: BaseException | None = None,
        action: str = "default",
    ) -> None:
        batch, position = task.batch, task.position
        with self.lock:
            batch.results[position] = result
            if error is not None:
                batch.errors[position] = error
            if action != "default":
                batch.route(position, action)
            batch.remaining -= 1
            if not batch.remaining:
                self._batch_done(batch)
        self.emitter.flush()

    def _delivered(self, result: BatchResult[T, R]) -> None:
        """A result is downstream's: its items leave ``max_in_flight``'s count.

        Counting items until their result is delivered, not until they are
        done, keeps the results that wait (for their turn, or for a consumer
        that blocks the delivering thread) within the bound too.
        """
        with self.lock:
            ready = self.admission.done(len(result.items))
        if ready:
            self.guard(self._start_deferred, ready)

    def _batch_done(self, batch: Batch[T]) -> None:
        # Lock held.
        duration = (self.clock.now - batch.started).total_seconds()
        self.emitter.close_batch(batch.result(duration))

    # -- ending ----------------------------------------------------------------------

    def guard(self, fn: Callable[..., None], *args: Any) -> None:
        """Run a callback from an executor, timer or loop; what it raises ends the stream."""
        try:
            fn(*args)
        except BaseException as error:
            try:
                told = self.fail(error)
            except BaseException as raised:  # the subscriber's on_error raised in turn
                told, error = False, raised
            if not told:  # the stream is over: report it as Python reports a thread's
                threading.excepthook(
                    threading.ExceptHookArgs(
                        (type(error), error, error.__traceback__, threading.current_thread())
                    )
                )

    def fail(self, error: BaseException) -> bool:
        """End the stream with ``error`` now; False if it was already ending.

        For an exception raised by the subscriber, and ``KeyboardInterrupt``
        or ``SystemExit`` raised by a step: nothing more is admitted or
        started, and downstream gets ``on_error(error)``.
        """
        with self.lock:
            if self.stopped or not self.emitter.fail(error):
                return False
            # A producer blocked in admit may hold upstream's lock (a buffer
            # emits under its lock): wake it before disposing upstream, or
            # the disposal waits for that lock forever.
            self.admission.close(drop=True)
        self.runner.stop()
        self.retries.stop()
        self.upstream.dispose()
        self.emitter.flush()
        return True

    def dispose(self) -> None:
        """Disposed, or the terminal notification was delivered: stop everything."""
        with self.lock:
            self.stopped = True
            self.emitter.stop()
            self.admission.close(drop=True)
        self.runner.stop()
        self.retries.stop()
        if self.bridge is not None:
            self.bridge.stop()


def _clock(
    scheduler: abc.SchedulerBase | None, subscribe_scheduler: abc.SchedulerBase | None
) -> abc.SchedulerBase:
    """fan_out's clock: ``scheduler=``, else the one given to ``subscribe`` where
    rxbatch's timers honour it (:func:`rxbatch.scheduler.timer_clock`), else its own."""
    if scheduler is not None:
        return scheduler
    if subscribe_scheduler is not None and timer_clock(subscribe_scheduler) is subscribe_scheduler:
        return subscribe_scheduler
    return default_retry_clock()


def _loop_of(*schedulers: abc.SchedulerBase | None) -> AsyncIOScheduler | None:
    """The first ``AsyncIOScheduler`` given: its loop runs the async steps."""
    for scheduler in schedulers:
        if isinstance(scheduler, AsyncIOScheduler):
            return scheduler
    return None


class _PausableObserver(abc.ObserverBase[BatchResult[T, R]]):
    """Downstream, seen through a demand slot (``rxbatch._demand``) on a loop's thread.

    Results are delivered on whatever thread finishes a batch. On a thread
    running an event loop, an operator downstream that is full (an ``async
    for`` falling behind) can then pause fan_out: no batch is admitted until
    it resumes, and a source upstream that can wait is paused in turn.
    """

    __slots__ = ("observer", "paused")

    def __init__(
        self, observer: abc.ObserverBase[BatchResult[T, R]], paused: Callable[[list[Pause]], None]
    ) -> None:
        self.observer = observer
        self.paused = paused

    def on_next(self, value: BatchResult[T, R]) -> None:
        loop = asyncio._get_running_loop()
        if loop is None:
            self.observer.on_next(value)
            return
        demand = Demand(loop)
        demand.active = True
        token = SLOT.set(demand)
        try:
            self.observer.on_next(value)
        finally:
            demand.active = False
            SLOT.reset(token)
        if demand.pauses:
            self.paused(demand.take())

    def on_error(self, error: Exception) -> None:
        self.observer.on_error(error)

    def on_completed(self) -> None:
        self.observer.on_completed()
