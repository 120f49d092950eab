"""fan_out: run a node over every item of every batch, with bounded
concurrency, retry of only the failed items, and backpressure.

How one item moves (each arrow is a continuation, never a blocked thread):

    prep (inline) -> exec (executor or event loop; holds one of the
    max_concurrency slots) -> [failed and retryable: wait on the scheduler,
    then exec again] -> [failed for good: fallback] -> post -> item done

Items wait for a slot in one FIFO queue shared by all batches (a retry goes
to its front, so old batches finish first). A batch's ``BatchResult`` is
ready when its last item is done; results leave in input order unless
``ordered=False``, through one emission loop so downstream is never called
concurrently.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SingleAssignmentDisposable
from reactivex.scheduler import EventLoopScheduler, VirtualTimeScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler, AsyncIOThreadSafeScheduler

from ._validation import positive_int
from .node import Node, NodeError, Routed
from .results import BatchResult
from .retry import RetryPolicy
from .scheduler import MonotonicTimerScheduler
from .store import Store

__all__ = ["fan_out"]

T = TypeVar("T")
R = TypeVar("R")

_NO_RETRY = RetryPolicy(max_retries=0)
_retry_clock: MonotonicTimerScheduler | None = None
_retry_clock_lock = threading.Lock()


def _default_retry_clock() -> MonotonicTimerScheduler:
    # Not the batching operators' timer thread: a batch flushed by a timer
    # arrives on that thread, and if fan_out blocked it for backpressure while
    # its retries waited on the same thread, neither could move.
    global _retry_clock
    with _retry_clock_lock:
        if _retry_clock is None:
            _retry_clock = MonotonicTimerScheduler()
        return _retry_clock


def fan_out(
    node: Node[T, R] | Callable[[T], R],
    *,
    max_concurrency: int = 10,
    ordered: bool = True,
    store: Store | None = None,
    retry: RetryPolicy | None = None,
    executor: concurrent.futures.Executor | None = None,
    max_in_flight: int | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[Sequence[T]]], Observable[BatchResult[T, R]]]:
    """Process every item of every batch with ``node``; one ``BatchResult`` per batch.

    An item that fails (after retries and fallback) is recorded in its batch's
    result and never errors the stream: every input item ends up either with
    a result or in ``errors``.

    Args:
        node: A ``Node``, or a plain function used as its exec.
        max_concurrency: Most exec calls running at once, across all batches
            (even when the executor has more workers).
        ordered: Emit results in input order (else in completion order).
        store: Shared state for prep (read-only) and post; default: a new
            ``Store`` per subscription.
        retry: Which exec failures to retry and how long to wait; default: none.
            Waits are scheduled on ``scheduler``, never slept on a worker.
        executor: Runs sync exec calls. Default: a thread pool of
            ``max_concurrency`` threads owned by the subscription and shut
            down when it ends. Any ``concurrent.futures.Executor`` works and
            is never shut down by rxbatch: a ``ProcessPoolExecutor`` for
            CPU-bound nodes (exec and the items must pickle: define them at
            module level), or Dask's ``client.get_executor(pure=False)`` (with
            Dask's default ``pure=True`` a retry would get the cached failure
            back, so that is refused).
        max_in_flight: Backpressure: most items admitted and not yet done. A
            batch that does not fit blocks the producing thread in ``on_next``
            until there is room (a batch larger than the limit is admitted
            once nothing else is in flight). Blocking a thread fan_out itself
            needs (its own workers, its event loop, the scheduler's thread, or
            a virtual-time scheduler's) raises ``RuntimeError`` instead.
        scheduler: Clock for durations and retry waits, and, when it is an
            ``AsyncIOScheduler``, the loop ``async def`` steps run on. Default:
            a timer thread of rxbatch's, and for async steps a private event
            loop thread per subscription.

    Raises:
        TypeError, ValueError: an argument is invalid (named in the message).

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> batches = reactivex.of([1, 2], [3])
        >>> [r.results for r in batches.pipe(fan_out(lambda x: x * 10), ops.to_list()).run()]
        [[10, 20], [30]]
    """
    if isinstance(node, Node):
        the_node: Node[T, R] = node
    elif callable(node):
        the_node = Node(exec=node)
    else:
        raise TypeError(f"node must be a Node or a callable exec, got {node!r}")
    positive_int("max_concurrency", max_concurrency)
    if max_in_flight is not None:
        positive_int("max_in_flight", max_in_flight)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy or None, got {retry!r}")
    if executor is not None and not isinstance(executor, concurrent.futures.Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {executor!r}")
    if store is not None and not isinstance(store, Store):
        raise TypeError(f"store must be a Store or None, got {store!r}")
    if scheduler is not None and not isinstance(scheduler, abc.SchedulerBase):
        raise TypeError(f"scheduler must be a reactivex scheduler, got {scheduler!r}")
    if _is_pure_dask_executor(executor):
        raise ValueError(
            "executor: a Dask executor must be made with client.get_executor(pure=False); "
            "with pure=True Dask caches results and a retry would return the cached failure"
        )
    options = _Options(
        node=the_node,
        max_concurrency=max_concurrency,
        ordered=ordered,
        store=store,
        retry=retry or _NO_RETRY,
        executor=executor,
        max_in_flight=max_in_flight,
        scheduler=scheduler,
        async_steps=any(the_node.is_async(step) for step in ("prep", "exec", "post", "fallback")),
    )

    def operator(source: Observable[Sequence[T]]) -> Observable[BatchResult[T, R]]:
        def subscribe(
            observer: abc.ObserverBase[BatchResult[T, R]],
            subscribe_scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            run = _Run(options, observer)
            run.upstream.disposable = source.subscribe(
                run.on_next, run.on_error, run.on_completed, scheduler=subscribe_scheduler
            )
            return CompositeDisposable(Disposable(run.dispose), run.upstream)

        return Observable(subscribe)

    return operator


@dataclass(frozen=True)
class _Options(Generic[T, R]):
    node: Node[T, R]
    max_concurrency: int
    ordered: bool
    store: Store | None
    retry: RetryPolicy
    executor: concurrent.futures.Executor | None
    max_in_flight: int | None
    scheduler: abc.SchedulerBase | None
    async_steps: bool


@dataclass(eq=False)
class _Batch(Generic[T]):
    index: int
    items: list[T]
    started: datetime
    results: list[Any] = field(init=False)
    errors: dict[int, BaseException] = field(default_factory=dict)
    attempts: list[int] = field(init=False)
    actions: list[str] = field(init=False)
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.items)
        self.results = [None] * n
        self.attempts = [0] * n
        self.actions = ["default"] * n
        self.remaining = n


@dataclass(eq=False)
class _Task(Generic[T]):
    """One item between prep and its final outcome."""

    batch: _Batch[T]
    position: int
    prepared: Any = None


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
        finally:
            self.loop.close()

    def stop(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)


class _Run(Generic[T, R]):
    """The state of one subscription to a fan_out."""

    def __init__(self, options: _Options[T, R], observer: abc.ObserverBase[BatchResult[T, R]]):
        self.o = options
        self.node = options.node
        self.observer = observer
        self.store = options.store if options.store is not None else Store()
        self.reader = self.store.reader()
        self.clock = options.scheduler or _default_retry_clock()
        self.upstream = SingleAssignmentDisposable()
        self.plain_prep = self.node.is_default("prep")
        self.plain_post = self.node.is_default("post")

        self.lock = threading.RLock()
        self.room = threading.Condition(self.lock)
        self.next_index = 0
        self.open_batches = 0
        self.done: dict[int, BatchResult[T, R]] = {}  # finished, waiting for their turn
        self.next_to_emit = 0
        self.ready: deque[Callable[[], None]] = deque()  # emissions, in order
        self.emitting = False
        self.waiting: deque[_Task[T]] = deque()  # execs waiting for a slot
        self.running = 0
        self.pumping = False
        self.in_flight = 0
        self.blocked = 0  # producers waiting in _admit
        self.finished = False  # upstream ended (completed or failed)
        self.final_error: Exception | None = None
        self.stopped = False  # terminated downstream or disposed: emit nothing more
        self.aborting = False  # ending with an error: admit nothing more
        self.retry_timers: set[abc.DisposableBase] = set()

        self.owned_executor: concurrent.futures.ThreadPoolExecutor | None = None
        if options.executor is not None:
            self.executor: concurrent.futures.Executor = options.executor
        else:
            self.owned_executor = concurrent.futures.ThreadPoolExecutor(
                options.max_concurrency, thread_name_prefix="rxbatch-fan-out"
            )
            self.executor = self.owned_executor
        self.loop_thread: _EventLoopThread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        if options.async_steps:
            if isinstance(options.scheduler, AsyncIOScheduler):
                self.loop = options.scheduler._loop
            else:
                self.loop_thread = _EventLoopThread()
                self.loop = self.loop_thread.loop

    # -- upstream --------------------------------------------------------------

    def on_next(self, items: Sequence[T]) -> None:
        batch_items = list(items)
        with self.lock:
            self._admit(len(batch_items))
            if self.stopped or self.aborting:
                return
            batch = _Batch(self.next_index, batch_items, self.clock.now)
            self.next_index += 1
            self.open_batches += 1
            self.in_flight += len(batch_items)
            if not batch_items:
                self._batch_done(batch)
        if not batch_items:
            self._emit_ready()
        elif self.plain_prep:  # the default prep: the item itself, no step to run
            tasks = [_Task(batch, position, item) for position, item in enumerate(batch_items)]
            with self.lock:
                self.waiting.extend(tasks)
            self._pump()
        else:
            for position in range(len(batch_items)):
                self._prep(_Task(batch, position))

    def on_completed(self) -> None:
        self._upstream_ended(None)

    def on_error(self, error: Exception) -> None:
        self._upstream_ended(error)

    def _upstream_ended(self, error: Exception | None) -> None:
        with self.lock:
            if self.finished or self.stopped:
                return
            self.finished = True
            self.final_error = error
            self._maybe_terminate()
        self._emit_ready()

    def _admit(self, size: int) -> None:
        """Block (lock held) until a batch of ``size`` items fits in max_in_flight."""
        limit = self.o.max_in_flight
        if limit is None:
            return
        while (
            not self.stopped
            and not self.aborting
            and self.in_flight
            and self.in_flight + size > limit
        ):
            needed = self._needed_thread()
            if needed:
                raise RuntimeError(
                    f"fan_out: {size} items do not fit in max_in_flight={limit} "
                    f"({self.in_flight} in flight), and waiting here would block {needed}, "
                    "which fan_out needs to finish them; deliver batches from another thread, "
                    "raise max_in_flight, or give fan_out a scheduler of its own"
                )
            self.blocked += 1
            try:
                self.room.wait()
            finally:
                self.blocked -= 1

    def _needed_thread(self) -> str | None:
        """Name the reason blocking the current thread would deadlock, if any."""
        current = threading.current_thread()
        if isinstance(self.clock, VirtualTimeScheduler):
            return "the thread of a virtual-time scheduler (time cannot advance)"
        if isinstance(self.clock, EventLoopScheduler) and self.clock._thread is current:
            return "the scheduler's thread"
        if self.loop_thread is not None and self.loop_thread.thread is current:
            return "fan_out's event loop thread"
        if self.loop is not None and self.loop_thread is None and self.loop.is_running():
            try:
                if asyncio.get_running_loop() is self.loop:
                    return "the scheduler's event loop"
            except RuntimeError:
                pass
        if self.owned_executor is not None and current in self.owned_executor._threads:
            return "one of fan_out's worker threads"
        return None

    # -- one item's steps --------------------------------------------------------

    def _prep(self, task: _Task[T]) -> None:
        item = task.batch.items[task.position]
        self._step("prep", self.node.prep, (self.reader, item), task, self._prepped)

    def _prepped(self, task: _Task[T], prepared: Any) -> None:
        task.prepared = prepared
        with self.lock:
            self.waiting.append(task)
        self._pump()

    def _pump(self) -> None:
        """Start waiting execs while slots are free; one thread pumps at a time."""
        with self.lock:
            if self.pumping:
                return  # the pumping thread re-checks under the lock before it stops
            self.pumping = True
        while True:
            with self.lock:
                if self.stopped or not self.waiting or self.running >= self.o.max_concurrency:
                    self.pumping = False
                    return
                task = self.waiting.popleft()
                self.running += 1
                task.batch.attempts[task.position] += 1
            self._submit_exec(task)

    def _submit_exec(self, task: _Task[T]) -> None:
        try:
            if self.loop is not None and self.node.is_async("exec"):
                coroutine: Awaitable[Any] = self.node.exec(task.prepared)  # type: ignore[assignment]
                future: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(
                    _awaited(coroutine), self.loop
                )
            else:
                future = self.executor.submit(self.node.exec, task.prepared)
        except Exception as error:  # e.g. the executor was shut down
            future = concurrent.futures.Future()
            future.set_exception(error)
        future.add_done_callback(lambda done: self._guard(self._exec_done, task, done))

    def _exec_done(self, task: _Task[T], future: concurrent.futures.Future[Any]) -> None:
        with self.lock:
            self.running -= 1
        self._pump()
        try:
            result = future.result()
        except BaseException as error:
            self._exec_failed(task, error)
        else:
            if self.plain_post:
                self._finish(task, result, None, "default")
            else:
                self._post(task, result)

    def _exec_failed(self, task: _Task[T], error: BaseException) -> None:
        attempts = task.batch.attempts[task.position]
        policy = self.o.retry
        if policy.should_retry(error, attempts) and not self.stopped:
            self._schedule_retry(task, policy.delay(attempts))
        elif self.node.has_fallback:
            self._step("fallback", self.node.fallback, (task.prepared, error), task, self._post)
        else:
            self._fail(task, "exec", error)

    def _schedule_retry(self, task: _Task[T], delay: float) -> None:
        holder: list[abc.DisposableBase] = []

        def due(_: abc.SchedulerBase, __: Any = None) -> None:
            with self.lock:
                for timer in holder:
                    self.retry_timers.discard(timer)
                if self.stopped:
                    return
                self.waiting.appendleft(task)
            self._guard(self._pump)

        with self.lock:
            if self.stopped:
                return
            if isinstance(self.clock, AsyncIOScheduler) and not isinstance(
                self.clock, AsyncIOThreadSafeScheduler
            ):
                timer = _schedule_on_loop(self.clock, delay, due)
            else:
                timer = self.clock.schedule_relative(delay, due)
            holder.append(timer)
            self.retry_timers.add(timer)

    def _post(self, task: _Task[T], result: Any) -> None:
        item = task.batch.items[task.position]
        args = (self.store, item, task.prepared, result)
        self._step("post", self.node.post, args, task, self._posted)

    def _posted(self, task: _Task[T], posted: Any) -> None:
        if isinstance(posted, Routed):
            self._finish(task, posted.result, None, posted.action)
        else:
            self._finish(task, posted, None, "default")

    def _fail(self, task: _Task[T], step: str, error: BaseException) -> None:
        wrapped = NodeError(self.node.name, step)
        wrapped.__cause__ = error
        self._finish(task, None, wrapped, "default")

    def _step(
        self,
        step: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        task: _Task[T],
        then: Callable[[_Task[T], Any], None],
    ) -> None:
        """Run a prep/post/fallback step inline (async ones on the loop), then ``then``."""
        try:
            value = fn(*args)
        except Exception as error:
            self._fail(task, step, error)
            return
        if not asyncio.iscoroutine(value):
            then(task, value)
            return
        assert self.loop is not None, "async steps always get a loop"
        future = asyncio.run_coroutine_threadsafe(_awaited(value), self.loop)

        def resumed(done: concurrent.futures.Future[Any]) -> None:
            try:
                result = done.result()
            except BaseException as error:
                self._fail(task, step, error)
            else:
                then(task, result)

        future.add_done_callback(lambda done: self._guard(resumed, done))

    # -- outcomes and emission -------------------------------------------------

    def _finish(
        self, task: _Task[T], result: Any, error: BaseException | None, action: str
    ) -> None:
        batch, position = task.batch, task.position
        with self.lock:
            batch.results[position] = result
            batch.actions[position] = action
            if error is not None:
                batch.errors[position] = error
            batch.remaining -= 1
            self.in_flight -= 1
            if self.blocked:
                self.room.notify_all()
            if batch.remaining == 0:
                self._batch_done(batch)
        self._emit_ready()

    def _batch_done(self, batch: _Batch[T]) -> None:
        # Lock held.
        duration = (self.clock.now - batch.started).total_seconds()
        result: BatchResult[T, R] = BatchResult(
            batch.index,
            batch.items,
            batch.results,
            batch.errors,
            tuple(batch.attempts),
            tuple(batch.actions),
            duration,
        )
        self.open_batches -= 1
        if self.o.ordered:
            self.done[batch.index] = result
            while self.next_to_emit in self.done:
                self.ready.append(partial(self.observer.on_next, self.done.pop(self.next_to_emit)))
                self.next_to_emit += 1
        else:
            self.ready.append(partial(self.observer.on_next, result))
        self._maybe_terminate()

    def _maybe_terminate(self) -> None:
        # Lock held: once upstream ended and every batch is out, end downstream.
        if self.finished and not self.open_batches and not self.stopped:
            error = self.final_error
            if error is None:
                self.ready.append(self.observer.on_completed)
            else:
                self.ready.append(lambda: self.observer.on_error(error))
            self.ready.append(self._release)

    def _emit_ready(self) -> None:
        """Deliver queued emissions in order; one thread at a time, never under the lock."""
        if not self.ready:
            return  # whoever queues an emission calls this afterwards
        with self.lock:
            if self.emitting:
                return
            self.emitting = True
        while True:
            with self.lock:
                if not self.ready:
                    self.emitting = False
                    return
                emission = self.ready.popleft()
            try:
                emission()
            except Exception as error:  # raised by a subscriber
                self._abort(error)

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        """Run a callback from an executor, loop or timer; errors go downstream."""
        try:
            fn(*args)
        except Exception as error:
            self._abort(error)

    def _abort(self, error: Exception) -> None:
        with self.lock:
            if self.stopped or self.aborting:
                return
            # A producer blocked in _admit may hold upstream's lock (a buffer
            # emits under its lock): wake it before disposing upstream, or
            # the disposal waits for that lock forever.
            self.aborting = True
            self.room.notify_all()
            self.ready.clear()
            self.ready.append(lambda: self.observer.on_error(error))
            self.ready.append(self._release)
        self.upstream.dispose()
        self._emit_ready()

    def _release(self) -> None:
        """After the terminal notification: stop everything, free the threads."""
        self.dispose()

    def dispose(self) -> None:
        with self.lock:
            self.stopped = True
            self.waiting.clear()
            self.ready.clear()  # nothing is emitted after disposal
            timers, self.retry_timers = self.retry_timers, set()
            self.room.notify_all()
        for timer in timers:
            timer.dispose()
        if self.owned_executor is not None:
            self.owned_executor.shutdown(wait=False, cancel_futures=True)
        if self.loop_thread is not None:
            self.loop_thread.stop()


def _is_pure_dask_executor(executor: object) -> bool:
    """Whether ``executor`` is Dask's and made without ``pure=False`` (Dask not imported)."""
    if type(executor).__name__ != "ClientExecutor":
        return False
    kwargs: dict[str, Any] = getattr(executor, "_kwargs", {})
    return bool(kwargs.get("pure", True))


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _schedule_on_loop(
    clock: AsyncIOScheduler, delay: float, action: Callable[[abc.SchedulerBase, Any], None]
) -> abc.DisposableBase:
    """Schedule on a non-thread-safe AsyncIOScheduler from any thread."""
    holder = SingleAssignmentDisposable()

    def schedule() -> None:
        holder.disposable = clock.schedule_relative(delay, action)

    clock._loop.call_soon_threadsafe(schedule)
    return holder
