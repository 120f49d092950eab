"""rxbatch.aio: async sources with pull backpressure, ``async for`` over any
observable, and the loop-clock scheduler; rxbatch.testing's virtual-time loop.

Tests on ``VirtualTimeEventLoop`` assert exact times; the few with real
threads meet on events, with bounds only a hang would reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import weakref
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler

from rxbatch import buffer_with_time_or_count
from rxbatch.aio import LoopTimeScheduler, from_async_iterable, from_queue, to_async_iterator
from rxbatch.testing import VirtualTimeEventLoop

T = TypeVar("T")
HANG = 30  # seconds: only a hang gets here


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        return runner.run(main)


async def ticks(n: int, every: float = 1.0, log: list[tuple[str, Any]] | None = None) -> Any:
    """0..n-1, one every ``every`` seconds; logs pulls and whether it was closed."""
    try:
        for i in range(n):
            await asyncio.sleep(every)
            if log is not None:
                log.append(("pulled", i))
            yield i
    finally:
        if log is not None:
            log.append(("closed", None))


class Recorder(reactivex.abc.ObserverBase[Any]):
    def __init__(self, raise_on: Any = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.raise_on = raise_on

    def on_next(self, value: Any) -> None:
        self.events.append(("next", value))
        if value == self.raise_on:
            raise ValueError(f"subscriber refused {value}")

    def on_error(self, error: Exception) -> None:
        self.events.append(("error", error))

    def on_completed(self) -> None:
        self.events.append(("completed", None))


# -- from_async_iterable ----------------------------------------------------------------


def test_an_async_iterable_becomes_a_stream_in_order_then_completes() -> None:
    async def main() -> tuple[list[int], float]:
        loop = asyncio.get_running_loop()
        items = [n async for n in to_async_iterator(from_async_iterable(ticks(4, 0.5)))]
        return items, loop.time()

    assert run_virtual(main()) == ([0, 1, 2, 3], 2.0)


def test_an_error_of_the_iterable_ends_the_stream_after_the_items_before_it() -> None:
    async def failing() -> Any:
        yield 1
        yield 2
        raise OSError("the feed broke")

    async def main() -> list[int]:
        got = []
        with pytest.raises(OSError, match="the feed broke"):
            async for n in to_async_iterator(from_async_iterable(failing())):
                got.append(n)
        return got

    assert run_virtual(main()) == [1, 2]


def test_an_error_raised_by_the_subscriber_goes_to_on_error_and_stops_pulling() -> None:
    log: list[tuple[str, Any]] = []
    recorder = Recorder(raise_on=1)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        from_async_iterable(ticks(5, log=log)).subscribe(recorder)
        while not recorder.events or recorder.events[-1][0] == "next":
            await asyncio.sleep(0.5)
        assert loop.time() == 2.0

    run_virtual(main())
    (error,) = [value for kind, value in recorder.events if kind == "error"]
    assert str(error) == "subscriber refused 1"
    assert [kind for kind, _ in recorder.events] == ["next", "next", "error"]
    assert log == [("pulled", 0), ("pulled", 1), ("closed", None)]


def test_disposal_cancels_the_pull_and_closes_the_iterator() -> None:
    log: list[tuple[str, Any]] = []
    recorder = Recorder()

    async def main() -> None:
        subscription = from_async_iterable(ticks(100, log=log)).subscribe(recorder)
        await asyncio.sleep(2.5)
        subscription.dispose()
        await asyncio.sleep(10)

    run_virtual(main())
    assert recorder.events == [("next", 0), ("next", 1)]  # no completion after disposal
    assert log == [("pulled", 0), ("pulled", 1), ("closed", None)]


def test_disposed_from_inside_its_own_on_next_it_pulls_nothing_more() -> None:
    log: list[tuple[str, Any]] = []

    async def main() -> list[int]:
        firsts = from_async_iterable(ticks(100, log=log)).pipe(ops.take(2))
        return [n async for n in to_async_iterator(firsts)]

    assert run_virtual(main()) == [0, 1]
    assert log == [("pulled", 0), ("pulled", 1), ("closed", None)]


def test_subscribed_from_another_thread_it_pulls_on_the_schedulers_loop() -> None:
    pulled_on: list[int] = []

    async def items() -> Any:
        for n in range(3):
            pulled_on.append(threading.get_ident())
            yield n

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[int]] = loop.create_future()
        source = from_async_iterable(items()).pipe(ops.to_list())

        def subscribe() -> None:
            source.subscribe(
                lambda v: loop.call_soon_threadsafe(done.set_result, v),
                lambda e: loop.call_soon_threadsafe(done.set_exception, e),
                scheduler=AsyncIOScheduler(loop),
            )

        thread = threading.Thread(target=subscribe)
        thread.start()
        thread.join(HANG)
        return await asyncio.wait_for(done, HANG)

    assert asyncio.run(main()) == [0, 1, 2]
    assert set(pulled_on) == {threading.get_ident()}


def test_with_no_loop_to_pull_on_the_subscription_fails_saying_how_to_give_one() -> None:
    recorder = Recorder()
    from_async_iterable(ticks(1)).subscribe(recorder)  # no loop on this thread, no scheduler
    ((kind, error),) = recorder.events
    assert kind == "error" and isinstance(error, RuntimeError)
    assert "subscribe with scheduler=an AsyncIOScheduler" in str(error)

    closed = asyncio.new_event_loop()
    closed.close()
    from_async_iterable(ticks(1)).subscribe(recorder, scheduler=AsyncIOScheduler(closed))
    kind, error = recorder.events[-1]
    assert kind == "error" and "no open event loop" in str(error)


def test_the_subscribers_error_at_the_end_is_reported_to_the_loop() -> None:
    reported: list[dict[str, Any]] = []
    failure = ValueError("completion refused")

    def refuse() -> None:
        raise failure

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        from_async_iterable(ticks(1)).subscribe(on_completed=refuse)
        await asyncio.sleep(5)

    run_virtual(main())
    assert [context["exception"] for context in reported] == [failure]
    assert "subscriber raised" in reported[0]["message"]


class ClosingFails:
    """An async iterator of 0..n-1 whose ``aclose`` raises (a client whose close fails)."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at, self.next = n, fail_at, 0
        self.close_error = ConnectionError("close failed")

    def __aiter__(self) -> ClosingFails:
        return self

    async def __anext__(self) -> int:
        await asyncio.sleep(1)
        if self.next == self.fail_at:
            raise ValueError("read failed")
        if self.next == self.n:
            raise StopAsyncIteration
        self.next += 1
        return self.next - 1

    async def aclose(self) -> None:
        raise self.close_error


def test_an_error_closing_the_iterator_ends_the_stream_it_would_have_completed() -> None:
    feed = ClosingFails(2)

    async def main() -> list[int]:
        async with asyncio.timeout(HANG):  # virtual: a hang fails at once
            return [n async for n in to_async_iterator(from_async_iterable(feed))]

    with pytest.raises(ConnectionError) as raised:
        run_virtual(main())
    assert raised.value is feed.close_error


@pytest.mark.parametrize("how", ["error first", "disposed", "cancelled by a break"])
def test_an_error_closing_the_iterator_that_no_subscriber_can_take_goes_to_the_loop(
    how: str,
) -> None:
    feed = ClosingFails(5, fail_at=1 if how == "error first" else None)
    reported: list[dict[str, Any]] = []
    recorder = Recorder()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reported.append(context))
        source = from_async_iterable(feed)
        if how == "cancelled by a break":
            async with contextlib.aclosing(to_async_iterator(source)) as items:
                async for _ in items:
                    break
        else:
            subscription = source.subscribe(recorder)
            await asyncio.sleep(1.5)
            if how == "disposed":
                subscription.dispose()
        await asyncio.sleep(10)

    run_virtual(main())
    assert [context["exception"] for context in reported] == [feed.close_error]
    assert "closing the iterator raised" in reported[0]["message"]
    if how == "error first":  # the stream ends with the first error, and says so once
        ((kind, error),) = [event for event in recorder.events if event[0] != "next"]
        assert kind == "error" and str(error) == "read failed"
    elif how == "disposed":
        assert recorder.events == [("next", 0)]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: from_async_iterable([1, 2]), "iterable must be an async iterable"),  # type: ignore[arg-type]
        (lambda: from_queue([1]), "queue must be an asyncio.Queue"),  # type: ignore[arg-type]
        (lambda: to_async_iterator([1]), "source must be an Observable"),  # type: ignore[arg-type]
        (lambda: to_async_iterator(reactivex.of(1), max_buffered=0), "max_buffered"),
        (lambda: to_async_iterator(reactivex.of(1), scheduler="loop"), "scheduler"),  # type: ignore[arg-type]
        (lambda: LoopTimeScheduler("loop"), "loop must be an asyncio event loop"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_fail_when_called(make: Any, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        make()


# -- pull backpressure ---------------------------------------------------------------------


def test_a_fast_producer_waits_for_a_slow_consumer_exactly_at_max_buffered() -> None:
    pulled, consumed, peak = [0], [0], [0]

    async def fast() -> Any:
        for n in range(50):
            pulled[0] += 1
            peak[0] = max(peak[0], pulled[0] - consumed[0])
            yield n  # never waits of its own accord

    async def main() -> list[int]:
        out = []
        async for n in to_async_iterator(from_async_iterable(fast()), max_buffered=3):
            await asyncio.sleep(1.0)
            consumed[0] += 1
            out.append(n)
        return out

    assert run_virtual(main()) == list(range(50))
    assert peak[0] == 3 + 1  # 3 in the buffer, and the one the consumer holds


def test_backpressure_passes_through_rxbatch_batching_operators() -> None:
    """The demand slot is open for the whole synchronous on_next: a batch the
    buffer emits by count into a full consumer pauses the source."""
    pulled, consumed, peak = [0], [0], [0]

    async def fast() -> Any:
        for n in range(100):
            pulled[0] += 1
            peak[0] = max(peak[0], pulled[0] - consumed[0])
            yield n

    async def main() -> list[list[int]]:
        batches = from_async_iterable(fast()).pipe(buffer_with_time_or_count(60.0, 10))
        out = []
        async for batch in to_async_iterator(batches, max_buffered=2):
            await asyncio.sleep(1.0)
            consumed[0] += len(batch)
            out.append(batch)
        return out

    assert run_virtual(main()) == [list(range(i, i + 10)) for i in range(0, 100, 10)]
    assert peak[0] == (2 + 1) * 10


def test_a_producer_thread_is_blocked_at_max_buffered_never_the_loop() -> None:
    sent = [0]
    producers: list[threading.Thread] = []

    def subscribe(observer: Any, _scheduler: Any = None) -> Any:
        def produce() -> None:
            for n in range(8):
                observer.on_next(n)
                sent[0] += 1
            observer.on_completed()

        producers.append(threading.Thread(target=produce))
        producers[0].start()
        return reactivex.disposable.Disposable()

    def blocked_in_on_next(thread: threading.Thread) -> bool:
        frame = sys._current_frames().get(thread.ident or -1)
        waiting = frame is not None and frame.f_code.co_filename == threading.__file__
        while frame is not None:
            if frame.f_code.co_name == "on_next" and frame.f_code.co_filename.endswith("aio.py"):
                return waiting
            frame = frame.f_back
        return False

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        out: list[int] = []
        async for n in to_async_iterator(reactivex.create(subscribe), max_buffered=2):
            (producer,) = producers
            ahead = min(8, len(out) + 1 + 2)  # what this consumer took, and max_buffered
            deadline = loop.time() + HANG
            while producer.is_alive() and not (sent[0] >= ahead and blocked_in_on_next(producer)):
                assert loop.time() < deadline, "the producer neither ended nor waited"
                await asyncio.sleep(0.001)  # the loop runs on while the thread waits
            assert sent[0] == ahead  # exactly max_buffered ahead, and there it waits
            out.append(n)
        producers[0].join(HANG)
        return out

    assert asyncio.run(main()) == list(range(8))


def test_a_synchronous_source_on_the_loop_cannot_wait_so_the_buffer_takes_it_all() -> None:
    """from_iterable on the loop pushes everything in one callback: blocking
    would stop the loop, so the buffer goes over its bound instead."""

    async def main() -> list[int]:
        return [
            n async for n in to_async_iterator(reactivex.from_iterable(range(500)), max_buffered=1)
        ]

    assert run_virtual(main()) == list(range(500))


def test_leaving_the_loop_early_disposes_the_subscription() -> None:
    log: list[tuple[str, Any]] = []

    async def main() -> list[int]:
        got = []
        async with contextlib.aclosing(
            to_async_iterator(from_async_iterable(ticks(100, log=log)))
        ) as numbers:
            async for n in numbers:
                got.append(n)
                if n == 2:
                    break
        await asyncio.sleep(10)
        return got

    assert run_virtual(main()) == [0, 1, 2]
    assert log == [("pulled", 0), ("pulled", 1), ("pulled", 2), ("closed", None)]


def test_the_scheduler_given_must_run_on_the_iterating_loop() -> None:
    other = asyncio.new_event_loop()

    async def main() -> None:
        with pytest.raises(ValueError, match="scheduler"):
            async for _ in to_async_iterator(reactivex.of(1), scheduler=AsyncIOScheduler(other)):
                pass

    try:
        run_virtual(main())
    finally:
        other.close()


# -- from_queue -------------------------------------------------------------------------


def test_a_queue_is_taken_in_order_and_each_item_marked_done_once_handed_over() -> None:
    async def main() -> list[int]:
        queue: asyncio.Queue[int] = asyncio.Queue()

        async def producer() -> None:
            for n in range(6):
                await queue.put(n)
                await asyncio.sleep(0.1)
            await queue.join()  # returns once every item was handed downstream

        feeding = asyncio.ensure_future(producer())
        got = [n async for n in to_async_iterator(from_queue(queue).pipe(ops.take(6)))]
        await asyncio.wait_for(feeding, HANG)
        return got

    assert run_virtual(main()) == list(range(6))


def test_disposal_stops_taking_from_the_queue() -> None:
    async def main() -> tuple[list[int], int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        recorder = Recorder()
        subscription = from_queue(queue).subscribe(recorder)
        queue.put_nowait(1)
        await asyncio.sleep(1)
        subscription.dispose()
        await asyncio.sleep(1)
        queue.put_nowait(2)
        await asyncio.sleep(1)
        return [value for _, value in recorder.events], queue.qsize()

    assert run_virtual(main()) == ([1], 1)


@pytest.mark.skipif(sys.version_info < (3, 13), reason="asyncio.Queue.shutdown is new in 3.13")
def test_a_queue_shut_down_completes_the_stream_after_its_items() -> None:
    async def main() -> list[int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(3):
            queue.put_nowait(n)
        queue.shutdown()  # type: ignore[attr-defined]
        return [n async for n in to_async_iterator(from_queue(queue))]

    assert run_virtual(main()) == [0, 1, 2]


# -- LoopTimeScheduler and VirtualTimeEventLoop ---------------------------------------------


def test_the_schedulers_now_is_the_loops_clock() -> None:
    async def main() -> tuple[float, list[float]]:
        loop = asyncio.get_running_loop()
        scheduler = LoopTimeScheduler(loop)
        start = scheduler.now
        fired: list[float] = []
        scheduler.schedule_relative(0.25, lambda s, _: fired.append(loop.time()))
        scheduler.schedule_absolute(
            start + timedelta(seconds=1.5), lambda s, _: fired.append(loop.time())
        )
        scheduler.schedule(lambda s, _: fired.append(loop.time()))
        await asyncio.sleep(2.5)
        return (scheduler.now - start).total_seconds(), fired

    assert run_virtual(main()) == (2.5, [0.0, 0.25, 1.5])


def test_a_timer_can_be_scheduled_and_cancelled_from_another_thread() -> None:
    async def main() -> tuple[list[int], bool]:
        loop = asyncio.get_running_loop()
        scheduler = LoopTimeScheduler(loop)
        fired: list[int] = []
        ran = asyncio.Event()

        class Action:
            def __call__(self, _scheduler: Any, state: Any) -> None:
                fired.append(threading.get_ident())
                ran.set()

        to_cancel = [Action()]
        released = weakref.ref(to_cancel[0])

        def from_a_thread() -> None:
            scheduler.schedule_relative(0.01, Action())
            timer = scheduler.schedule_relative(0.02, to_cancel.pop())
            timer.dispose()

        thread = threading.Thread(target=from_a_thread)
        thread.start()
        thread.join(HANG)
        await asyncio.wait_for(ran.wait(), HANG)
        await asyncio.sleep(0.05)
        gc.collect()
        return fired, released() is None

    fired, released = asyncio.run(main())
    assert fired == [threading.get_ident()]  # on the loop's thread, once
    assert released  # a cancelled timer lets go of its action


def test_disposing_a_timer_on_the_loop_lets_go_of_its_action_at_once() -> None:
    async def main() -> tuple[list[str], bool]:
        scheduler = LoopTimeScheduler(asyncio.get_running_loop())
        fired: list[str] = []

        def action(_scheduler: Any, _state: Any) -> None:
            fired.append("fired")

        timer = scheduler.schedule_relative(3600, action)
        released = weakref.ref(action)
        timer.dispose()
        del action
        gc.collect()
        await asyncio.sleep(7200)
        return fired, released() is None

    assert run_virtual(main()) == ([], True)


def test_the_virtual_loop_jumps_to_each_timer_and_a_bounded_wait_fails_at_its_deadline() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        seen = []
        for delay in (0.25, 2.0, 3600.0):
            await asyncio.sleep(delay)
            seen.append(loop.time())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), 30)
        seen.append(loop.time())
        return seen

    assert run_virtual(main()) == [0.25, 2.25, 3602.25, 3632.25]


def test_the_virtual_clock_only_moves_forward() -> None:
    loop = VirtualTimeEventLoop()
    try:
        with pytest.raises(ValueError, match="seconds must be >= 0"):
            loop.advance(-1)
        for bad in (float("nan"), float("inf"), 1e12):
            with pytest.raises(ValueError, match="seconds must be"):
                loop.advance(bad)
        with pytest.raises(TypeError, match="seconds must be seconds"):
            loop.advance("1")  # type: ignore[arg-type]
        loop.advance(2.5)
        loop.advance(timedelta(seconds=0.5))
        assert loop.time() == 3.0
    finally:
        loop.close()
