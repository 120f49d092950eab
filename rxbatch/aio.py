"""asyncio-native pipelines: async sources in, ``async for`` out, all on one loop.

* :func:`from_async_iterable` and :func:`from_queue` make an observable of
  an async iterable or an ``asyncio.Queue``, pulled by a task on the loop.
* :func:`to_async_iterator` consumes any observable with ``async for``,
  through a bounded buffer. It subscribes on the running loop (a
  :class:`LoopTimeScheduler`), so everything upstream that honours the
  subscribe-time scheduler runs there: rxbatch's timers, ``fan_out``'s
  ``async def`` steps and retry waits, and the async sources.
* :class:`LoopTimeScheduler` is reactivex's ``AsyncIOScheduler`` on the
  loop's own clock, usable from any thread.

**Backpressure is pulled.** Rx's ``on_next`` is synchronous, so an operator
that is full cannot make an async source wait by returning. Instead the
source opens a *demand slot* (a ``contextvars.ContextVar``) around each
``on_next`` it makes; an rxbatch operator downstream that is full -- the
``async for`` buffer at ``max_buffered``, ``fan_out`` at ``max_in_flight``
or held back by a full consumer after it -- takes the value, then registers
a pause in the slot, and the source awaits every pause before it pulls its
next item. So a fast producer cannot grow memory without bound: with
``source -> fan_out(max_in_flight=N) -> async for`` the items pulled and not
yet consumed stay within ``N``, a batch and ``max_buffered``.

**Where the bound cannot hold.** A value delivered on the loop's thread by
something that cannot wait -- a synchronous source (``reactivex.of``,
``from_iterable``) on the loop, a timer's flush -- is taken by the full
operator all the same: on the loop nothing ever blocks (the loop would
stop) and nothing raises; the buffer goes over its bound instead, as far as
that source pushes. A producer on another thread is simply blocked until
there is room.

Example:
    >>> import asyncio
    >>> from reactivex import operators as ops
    >>> from rxbatch import buffer_with_count
    >>> async def numbers():
    ...     for n in range(5):
    ...         await asyncio.sleep(0)
    ...         yield n
    >>> async def main():
    ...     source = from_async_iterable(numbers()).pipe(buffer_with_count(2))
    ...     return [batch async for batch in to_async_iterator(source)]
    >>> asyncio.run(main())
    [[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc, typing
from reactivex.disposable import Disposable
from reactivex.scheduler.eventloop import AsyncIOScheduler

from ._demand import SLOT, Demand, Pause, pause_upstream, resolve
from ._validation import positive_int

__all__ = ["LoopTimeScheduler", "from_async_iterable", "from_queue", "to_async_iterator"]

T = TypeVar("T")
_TState = TypeVar("_TState")


class _NeverRaised(Exception):
    pass


# Python 3.13's queue.shutdown() ends a queue; before it, a queue never ends.
_QueueShutDown: type[Exception] = getattr(asyncio, "QueueShutDown", _NeverRaised)


# -- the scheduler ------------------------------------------------------------


class LoopTimeScheduler(AsyncIOScheduler):
    """An ``AsyncIOScheduler`` whose clock is the loop's, and that any thread may use.

    reactivex's ``AsyncIOScheduler`` reads ``now`` from the wall clock while
    the loop times its callbacks on ``loop.time()`` (monotonic), and must
    only be called on the loop's thread. Here ``now`` is ``loop.time()``,
    anchored to UTC wall time when the scheduler is made, so it never jumps
    and a loop with a virtual clock (``rxbatch.testing.VirtualTimeEventLoop``)
    gives exact times; from another thread, a timer is handed to the loop
    with ``call_soon_threadsafe``. A cancelled timer lets go of its action
    at once.

    Args:
        loop: The event loop to run on.

    Raises:
        TypeError: ``loop`` is not an asyncio event loop.

    Example:
        >>> import asyncio
        >>> async def main():
        ...     scheduler = LoopTimeScheduler(asyncio.get_running_loop())
        ...     fired = asyncio.Event()
        ...     scheduler.schedule_relative(0.01, lambda _s, _state: fired.set())
        ...     await fired.wait()
        ...     return scheduler.now.tzinfo is not None
        >>> asyncio.run(main())
        True
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        if not isinstance(loop, asyncio.AbstractEventLoop):
            raise TypeError(f"loop must be an asyncio event loop, got {loop!r}")
        super().__init__(loop)
        self._origin_time = loop.time()
        self._origin = datetime.now(UTC)

    @property
    def now(self) -> datetime:
        """The loop's time, as an aware UTC datetime."""
        return self._origin + timedelta(seconds=self._loop.time() - self._origin_time)

    def schedule(
        self, action: typing.ScheduledAction[_TState], state: _TState | None = None
    ) -> abc.DisposableBase:
        """Run ``action(scheduler, state)`` on the loop, soon."""
        return _LoopTimer(self, action, state).start(None)

    def schedule_relative(
        self,
        duetime: typing.RelativeTime,
        action: typing.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        """Run ``action(scheduler, state)`` on the loop after ``duetime``."""
        seconds = self.to_seconds(duetime)
        when = self._loop.time() + seconds if seconds > 0 else None
        return _LoopTimer(self, action, state).start(when)

    def schedule_absolute(
        self,
        duetime: typing.AbsoluteTime,
        action: typing.ScheduledAction[_TState],
        state: _TState | None = None,
    ) -> abc.DisposableBase:
        """Run ``action(scheduler, state)`` on the loop when ``now`` reaches ``duetime``."""
        offset = (self.to_datetime(duetime) - self._origin).total_seconds()
        return _LoopTimer(self, action, state).start(self._origin_time + offset)


class _LoopTimer(abc.DisposableBase):
    __slots__ = ("action", "handle", "inner", "scheduler", "state")

    def __init__(self, scheduler: LoopTimeScheduler, action: Any, state: Any) -> None:
        self.scheduler = scheduler
        self.action: Any = action
        self.state: Any = state
        self.handle: asyncio.Handle | None = None
        self.inner: abc.DisposableBase | None = None  # what the action returned

    def start(self, when: float | None) -> _LoopTimer:
        loop = self.scheduler._loop
        if asyncio._get_running_loop() is loop:
            self._arm(when)
        else:
            loop.call_soon_threadsafe(self._arm, when)
        return self

    def _arm(self, when: float | None) -> None:
        if self.action is None:
            return  # disposed before it was armed
        loop = self.scheduler._loop
        self.handle = loop.call_soon(self._run) if when is None else loop.call_at(when, self._run)

    def _run(self) -> None:
        action, state = self.action, self.state
        if action is None:
            return
        self.action = self.state = self.handle = None
        self.inner = self.scheduler.invoke_action(action, state)

    def dispose(self) -> None:
        self.action = self.state = None
        handle, inner = self.handle, self.inner
        if handle is not None:
            _on_loop(self.scheduler._loop, handle.cancel)
        if inner is not None:
            inner.dispose()


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], object]) -> None:
    """Call ``fn`` now on the loop's thread, else soon on the loop (nothing if it is closed)."""
    if asyncio._get_running_loop() is loop:
        fn()
        return
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn)


# -- async sources --------------------------------------------------------------


def from_async_iterable(iterable: AsyncIterable[T]) -> Observable[T]:
    """An observable of an async iterable's items, pulled as downstream has room.

    Each subscription iterates ``iterable`` in a task on the loop of the
    ``AsyncIOScheduler`` given to ``subscribe`` (as :func:`to_async_iterator`
    does), else on the loop running the subscribing code. The next item is
    awaited only once ``on_next`` returned and every rxbatch operator
    downstream that filled up has room again (see the module's docstring).
    The iterable ending completes the stream; an exception it raises (or the
    subscriber's ``on_next`` raises) is sent to ``on_error``. Disposal
    cancels the task and closes the iterator.

    Args:
        iterable: Any async iterable (an async generator, say; a one-shot
            iterator serves one subscription).

    Raises:
        TypeError: ``iterable`` is not an async iterable.

    Example:
        >>> import asyncio
        >>> async def ticks():
        ...     for n in range(3):
        ...         await asyncio.sleep(0.001)
        ...         yield n
        >>> async def main():
        ...     return [n async for n in to_async_iterator(from_async_iterable(ticks()))]
        >>> asyncio.run(main())
        [0, 1, 2]
    """
    if not isinstance(iterable, AsyncIterable):
        raise TypeError(f"iterable must be an async iterable, got {type(iterable).__name__}")

    def start() -> tuple[Callable[[], Awaitable[T]], Callable[[], None] | None, Any]:
        iterator = aiter(iterable)
        return iterator.__anext__, None, getattr(iterator, "aclose", None)

    return _pulled("from_async_iterable", start)


def from_queue(queue: asyncio.Queue[T]) -> Observable[T]:
    """An observable of the items put in an ``asyncio.Queue``, taken as downstream has room.

    As :func:`from_async_iterable`, with ``queue.get()`` as the next item.
    Each item is marked ``task_done()`` once ``on_next`` has taken it (so
    ``queue.join()`` returns when everything put was handed downstream). A
    queue never ends by itself: dispose the subscription to stop taking
    from it (on Python 3.13 and later, ``queue.shutdown()`` completes the
    stream once the items already put are taken).

    Args:
        queue: The queue to take from; a bounded queue (``maxsize``) holds
            its producers back too.

    Raises:
        TypeError: ``queue`` is not an ``asyncio.Queue``.

    Example:
        >>> import asyncio
        >>> from reactivex import operators as ops
        >>> async def main():
        ...     queue = asyncio.Queue()
        ...     for n in (1, 2, 3):
        ...         queue.put_nowait(n)
        ...     firsts = from_queue(queue).pipe(ops.take(3))
        ...     return [n async for n in to_async_iterator(firsts)]
        >>> asyncio.run(main())
        [1, 2, 3]
    """
    if not isinstance(queue, asyncio.Queue):
        raise TypeError(f"queue must be an asyncio.Queue, got {type(queue).__name__}")

    async def get() -> T:
        try:
            return await queue.get()
        except _QueueShutDown:
            raise StopAsyncIteration from None

    def start() -> tuple[Callable[[], Awaitable[T]], Callable[[], None] | None, Any]:
        return get, queue.task_done, None

    return _pulled("from_queue", start)


_Start = Callable[[], tuple[Callable[[], Awaitable[T]], Callable[[], None] | None, Any]]


def _pulled(name: str, start: _Start[T]) -> Observable[T]:
    """An observable whose subscriptions pull with ``start()``'s ``(next, after_each, aclose)``."""

    def subscribe(
        observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        if isinstance(scheduler, AsyncIOScheduler):
            loop: asyncio.AbstractEventLoop | None = scheduler._loop
        else:
            loop = asyncio._get_running_loop()
        if loop is None or loop.is_closed():
            raise RuntimeError(
                f"{name}: no open event loop to pull on: subscribe with scheduler=an "
                "AsyncIOScheduler, or from code running on the loop (to_async_iterator does)"
            )
        pump = _Pump(name, loop, observer, start)
        _on_loop(loop, pump.start)
        return Disposable(pump.dispose)

    return Observable(subscribe)


class _Pump(Generic[T]):
    """One subscription of an async source: a task that pulls, then waits for room."""

    def __init__(
        self,
        name: str,
        loop: asyncio.AbstractEventLoop,
        observer: abc.ObserverBase[T],
        start: _Start[T],
    ) -> None:
        self.name = name
        self.loop = loop
        self.observer = observer
        self.open = start
        self.task: asyncio.Task[None] | None = None
        self.disposed = False

    def start(self) -> None:
        # On the loop's thread.
        if not self.disposed:
            self.task = self.loop.create_task(self._pull())

    def dispose(self) -> None:
        self.disposed = True
        _on_loop(self.loop, self._cancel)

    def _cancel(self) -> None:
        task = self.task
        # Disposed from inside its own on_next (``take(n)``, say): the pump
        # sees ``disposed`` when on_next returns, and closes the iterator.
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _pull(self) -> None:
        demand = Demand(self.loop)
        SLOT.set(demand)  # in this task's own context
        observer = self.observer
        error: Exception | None = None
        aclose = None
        try:
            pull, after_each, aclose = self.open()
            while not self.disposed:
                try:
                    item = await pull()
                except StopAsyncIteration:
                    break
                demand.active = True
                try:
                    observer.on_next(item)
                finally:
                    demand.active = False
                if after_each is not None:
                    after_each()
                if demand.pauses:
                    for pause in demand.take():
                        await pause.future
        except Exception as raised:  # from the iterable, or the subscriber's on_next
            error = raised
        finally:
            if aclose is not None:
                try:
                    await aclose()
                except Exception as raised:  # the stream's error, unless it has one already
                    task = asyncio.current_task()
                    if error is None and not self.disposed and not (task and task.cancelling()):
                        error = raised
                    else:
                        self._report("closing the iterator raised", raised)
        if self.disposed:
            return
        try:
            if error is None:
                observer.on_completed()
            else:
                observer.on_error(error)
        except Exception as raised:
            self._report("the subscriber raised on the end of the stream", raised)

    def _report(self, what: str, error: Exception) -> None:
        """An error no subscriber can be told of: to the loop's exception handler."""
        self.loop.call_exception_handler(
            {"message": f"rxbatch.aio.{self.name}: {what}", "exception": error}
        )


# -- async for ------------------------------------------------------------------


def to_async_iterator(
    source: Observable[T],
    *,
    max_buffered: int = 100,
    scheduler: AsyncIOScheduler | None = None,
) -> AsyncIterator[T]:
    """Iterate over an observable's items with ``async for``, through a bounded buffer.

    The subscription starts with the iteration, on ``scheduler`` (default: a
    :class:`LoopTimeScheduler` on the running loop), so rxbatch's timers,
    ``fan_out``'s async steps and the async sources upstream run on the
    loop of the ``async for``. The stream's end ends the iteration; its error
    is raised there, after the items before it. Leaving the loop early (a
    ``break``, an exception) disposes the subscription once the iterator is
    closed: at once with ``contextlib.aclosing(...)``, else when it is
    garbage collected (asyncio closes async generators then).

    When ``max_buffered`` items wait for the consumer, the producer is held
    back: an async source upstream (through rxbatch's operators) stops
    pulling, a thread is blocked in ``on_next``; a synchronous source on the
    loop cannot be held back, and then the buffer grows past the bound
    rather than block the loop (see the module's docstring).

    Args:
        source: Any observable.
        max_buffered: Most items held for the consumer before the producer
            is held back, an int >= 1.
        scheduler: The ``AsyncIOScheduler`` to subscribe on; its loop must
            be the one iterating.

    Raises:
        TypeError, ValueError: an argument is invalid (named in the message).

    Example:
        >>> import asyncio
        >>> import reactivex
        >>> from rxbatch import buffer_with_time_or_count
        >>> async def main():
        ...     batches = reactivex.of(1, 2, 3).pipe(buffer_with_time_or_count(0.05, 2))
        ...     return [batch async for batch in to_async_iterator(batches)]
        >>> asyncio.run(main())
        [[1, 2], [3]]
    """
    if not isinstance(source, Observable):
        raise TypeError(f"source must be an Observable, got {type(source).__name__}")
    positive_int("max_buffered", max_buffered)
    if scheduler is not None and not isinstance(scheduler, AsyncIOScheduler):
        raise TypeError(f"scheduler must be an AsyncIOScheduler or None, got {scheduler!r}")
    return _iterate(source, max_buffered, scheduler)


async def _iterate(
    source: Observable[T], max_buffered: int, scheduler: AsyncIOScheduler | None
) -> AsyncIterator[T]:
    loop = asyncio.get_running_loop()
    if scheduler is not None and scheduler._loop is not loop:
        raise ValueError("scheduler: its loop is not the one running this async for")
    buffer: _Buffer[T] = _Buffer(loop, max_buffered)
    subscription = source.subscribe(buffer, scheduler=scheduler or LoopTimeScheduler(loop))
    try:
        while True:
            item = await buffer.get()
            if item is _END:
                return
            yield item
    finally:
        buffer.close()
        subscription.dispose()


_END: Any = object()


class _Buffer(abc.ObserverBase[T]):
    """What ``to_async_iterator`` subscribes: the items waiting for the consumer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.loop = loop
        self.limit = limit
        self.items: deque[T] = deque()
        self.lock = threading.Lock()
        self.room = threading.Condition(self.lock)  # producer threads wait here
        self.blocked = 0
        self.pauses: list[Pause] = []  # async sources waiting for room
        self.waiter: asyncio.Future[None] | None = None  # the consumer, waiting for an item
        self.ended = False
        self.error: Exception | None = None
        self.closed = False  # the consumer left

    def on_next(self, value: T) -> None:
        may_block = asyncio._get_running_loop() is None  # never block an event loop
        with self.lock:
            while may_block and len(self.items) >= self.limit and not self.closed:
                self.blocked += 1
                try:
                    self.room.wait()
                finally:
                    self.blocked -= 1
            if self.closed or self.ended:
                return
            self.items.append(value)
            if len(self.items) >= self.limit:
                # Under the lock: the consumer cannot make room before the pause is seen.
                pause = pause_upstream()
                if pause is not None:
                    self.pauses.append(pause)
            self._wake()

    def on_error(self, error: Exception) -> None:
        with self.lock:
            self.ended, self.error = True, error
            self._wake()

    def on_completed(self) -> None:
        with self.lock:
            self.ended = True
            self._wake()

    def _wake(self) -> None:
        # Lock held.
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            _on_loop(self.loop, partial(resolve, waiter))

    async def get(self) -> T:
        """The next item, ``_END`` at the end; raises the stream's error."""
        while True:
            with self.lock:
                if self.items:
                    item = self.items.popleft()
                    pauses: list[Pause] = []
                    if len(self.items) < self.limit:
                        if self.blocked:
                            self.room.notify()
                        pauses, self.pauses = self.pauses, []
                    break
                if self.ended:
                    if self.error is not None:
                        raise self.error
                    return _END  # type: ignore[no-any-return]
                waiter = self.waiter = self.loop.create_future()
            await waiter
        for pause in pauses:
            pause.resume()
        return item

    def close(self) -> None:
        """The consumer left: take nothing more, let every producer go."""
        with self.lock:
            self.closed = True
            self.items.clear()
            pauses, self.pauses = self.pauses, []
            self.room.notify_all()
        for pause in pauses:
            pause.resume()
