"""fan_out in an asyncio app: async steps on the app's loop, backpressure that
waits on the loop, disposal that cancels (issue 11).

The first tests are the issue's repros, run on asyncio's own loop
(``asyncio.run``); the rest run on ``rxbatch.testing.VirtualTimeEventLoop``,
where every time is exact and no test waits for real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject
from reactivex.testing import ReactiveTest, TestScheduler

from rxbatch import BatchResult, Node, RetryPolicy, Store, StoreReader, buffer_with_count, fan_out
from rxbatch.aio import LoopTimeScheduler, from_async_iterable, to_async_iterator
from rxbatch.testing import ImmediateExecutor, VirtualTimeEventLoop

from .test_fan_out_concurrency import blocked_admitting

T = TypeVar("T")
HANG = 30  # seconds (virtual ones on the virtual loop): only a hang gets here


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        return runner.run(main)


class Gauge:
    """Counts calls running at once (on one loop: no lock needed) and the peak."""

    def __init__(self) -> None:
        self.now = self.peak = 0

    def __enter__(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def __exit__(self, *_: object) -> None:
        self.now -= 1


@pytest.fixture
def loop_problems() -> Iterator[list[dict[str, Any]]]:
    """What the loop's exception handler is told (a task destroyed pending, say)."""
    problems: list[dict[str, Any]] = []
    yield problems
    gc.collect()  # a pending task is reported when collected
    assert problems == []


def subscribe_until_done(
    source: reactivex.Observable[T], scheduler: AsyncIOScheduler
) -> asyncio.Future[list[T]]:
    """Subscribe on ``scheduler``; a future of every value, or of the stream's error."""
    loop = scheduler._loop
    done: asyncio.Future[list[T]] = loop.create_future()
    source.pipe(ops.to_list()).subscribe(
        lambda values: loop.call_soon_threadsafe(done.set_result, values),
        lambda error: loop.call_soon_threadsafe(done.set_exception, error),
        scheduler=scheduler,
    )
    return done


# -- the repros, on asyncio's own loop -----------------------------------------


@pytest.mark.parametrize("given", ["to fan_out", "at subscribe"])
def test_max_in_flight_on_the_event_loop_waits_on_the_loop_instead_of_raising(
    given: str, loop_problems: list[dict[str, Any]]
) -> None:
    """Issue 11: batches delivered on the loop's thread into a full fan_out raised
    RuntimeError, and the coroutines in flight were left pending ("Task was
    destroyed but it is pending!"). Now the batch waits, on the loop."""
    gauge = Gauge()
    exec_threads: set[int] = set()

    async def tenfold(x: int) -> int:
        exec_threads.add(threading.get_ident())
        with gauge:
            await asyncio.sleep(0.001)
        return 10 * x

    async def main() -> list[BatchResult[int, int]]:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: loop_problems.append(context))
        scheduler = AsyncIOScheduler(loop)
        node = fan_out(
            Node(exec=tenfold),
            max_in_flight=2,
            scheduler=scheduler if given == "to fan_out" else None,
        )
        batches = reactivex.from_iterable([[1, 2], [3, 4], [5, 6], [7]])
        return await asyncio.wait_for(subscribe_until_done(batches.pipe(node), scheduler), HANG)

    results = asyncio.run(main())
    assert [r.results for r in results] == [[10, 20], [30, 40], [50, 60], [70]]
    assert all(r.ok for r in results)
    assert gauge.peak == 2
    assert exec_threads == {threading.get_ident()}  # asyncio.run's loop: this thread


class LoopBoundClient:
    """A client bound to the loop it was made on, as aiohttp's and nats-py's are."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()

    async def get(self, x: int) -> int:
        reply = self.loop.create_future()
        self.loop.call_soon(reply.set_result, 10 * x)  # the reply arrives on the client's loop
        return await reply


def test_async_steps_run_on_the_loop_of_the_scheduler_given_to_subscribe() -> None:
    """Issue 11: subscribed with scheduler=AsyncIOScheduler(loop), async steps still
    ran on a private loop thread: a client bound to the app's loop failed on every
    item ("attached to a different loop") while the stream looked successful."""
    steps: list[tuple[str, int]] = []

    class Fetch(Node[int, int]):
        def __init__(self, client: LoopBoundClient) -> None:
            super().__init__(name="fetch")
            self.client = client

        async def prep(self, store: StoreReader, item: int) -> int:
            steps.append(("prep", threading.get_ident()))
            return await self.client.get(item) // 10

        async def exec(self, prepared: int) -> int:
            steps.append(("exec", threading.get_ident()))
            return await self.client.get(prepared)

        async def post(self, store: Store, item: int, prepared: int, result: int) -> int:
            steps.append(("post", threading.get_ident()))
            return result + await self.client.get(0)

    async def main() -> list[BatchResult[int, int]]:
        scheduler = AsyncIOScheduler(asyncio.get_running_loop())
        batches = reactivex.of([1, 2], [3]).pipe(fan_out(Fetch(LoopBoundClient())))
        return await asyncio.wait_for(subscribe_until_done(batches, scheduler), HANG)

    threads_before = set(threading.enumerate())
    results = asyncio.run(main())
    assert [(r.results, r.errors) for r in results] == [([10, 20], {}), ([30], {})]
    assert {thread for _, thread in steps} == {threading.get_ident()}
    assert sorted({step for step, _ in steps}) == ["exec", "post", "prep"]
    assert set(threading.enumerate()) <= threads_before  # no loop thread of fan_out's


@pytest.mark.parametrize("given", ["to fan_out", "at subscribe"])
def test_disposal_cancels_the_coroutines_running_on_the_schedulers_loop(
    given: str, loop_problems: list[dict[str, Any]]
) -> None:
    """Disposing a subscription on the app's loop cancels its steps in flight:
    none is left running, or pending when the loop closes."""
    started, cancelled = [], []

    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: loop_problems.append(context))
        all_started, all_cancelled = asyncio.Event(), asyncio.Event()

        async def hangs(x: int) -> int:
            started.append(x)
            if len(started) == 3:
                all_started.set()
            try:
                await asyncio.Event().wait()  # never set
            except asyncio.CancelledError:
                cancelled.append(x)
                if len(cancelled) == 3:
                    all_cancelled.set()
                raise
            return x

        scheduler = AsyncIOScheduler(loop)
        emitted: list[object] = []
        batches: Subject[list[int]] = Subject()
        node = fan_out(Node(exec=hangs), scheduler=scheduler if given == "to fan_out" else None)
        subscription = batches.pipe(node).subscribe(
            emitted.append, emitted.append, scheduler=scheduler
        )
        batches.on_next([1, 2])
        batches.on_next([3])
        await asyncio.wait_for(all_started.wait(), HANG)
        subscription.dispose()
        await asyncio.wait_for(all_cancelled.wait(), HANG)
        return emitted

    assert asyncio.run(main()) == []
    assert sorted(cancelled) == [1, 2, 3]


# -- on virtual time -------------------------------------------------------------------


def test_on_the_loops_thread_steps_start_as_tasks_not_through_the_thread_safe_hop() -> None:
    """On the loop's own thread a step is a ``create_task``: no self-pipe write
    and extra loop iterations per item, as ``run_coroutine_threadsafe`` costs."""
    hops = 0

    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def main() -> list[list[int]]:
        nonlocal hops
        loop = asyncio.get_running_loop()
        call_soon_threadsafe = loop.call_soon_threadsafe

        def counted(*args: Any, **kwargs: Any) -> asyncio.Handle:
            nonlocal hops
            hops += 1
            return call_soon_threadsafe(*args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        batches = reactivex.from_iterable([list(range(10)), list(range(10, 20))])
        pipeline = batches.pipe(fan_out(Node(exec=double), max_concurrency=4))
        return [r.results async for r in to_async_iterator(pipeline)]

    assert run_virtual(main()) == [[2 * x for x in range(10)], [2 * x for x in range(10, 20)]]
    assert hops == 0


def test_a_synchronous_source_on_the_loop_queues_batches_in_order_and_never_blocks() -> None:
    """A source that cannot wait (from_iterable on the loop) delivers every batch
    at once: the ones that do not fit wait in a queue, in their turn, while
    max_in_flight still bounds the work, and the loop keeps running."""
    gauge = Gauge()
    started_at: list[float] = []

    async def slow(x: int) -> int:
        started_at.append(asyncio.get_running_loop().time())
        with gauge:
            await asyncio.sleep(1.0)
        return x

    async def main() -> list[BatchResult[int, int]]:
        batches = reactivex.from_iterable([[0, 1, 2], [3, 4], [5], [6, 7, 8, 9]])
        pipeline = batches.pipe(fan_out(Node(exec=slow), max_in_flight=3, max_concurrency=10))
        return [r async for r in to_async_iterator(pipeline)]

    results = run_virtual(main())
    assert [r.results for r in results] == [[0, 1, 2], [3, 4], [5], [6, 7, 8, 9]]
    assert gauge.peak == 4  # the batch larger than the limit, alone
    # [0,1,2] at 0; [3,4] and [5] when it is done, at 1; [6..9] alone at 2
    assert started_at == [0.0] * 3 + [1.0] * 3 + [2.0] * 4
    assert [r.duration for r in results] == [1.0, 1.0, 1.0, 1.0]  # counted from admission


def test_max_in_flight_pauses_an_async_source_upstream() -> None:
    """With an async source, a full fan_out makes the source wait: it pulls the
    next item only when there is room, so what is pulled and not done stays
    within max_in_flight and one batch."""
    pulled, done = [0], [0]
    peak = [0]

    async def events() -> Any:
        for n in range(60):
            pulled[0] += 1
            peak[0] = max(peak[0], pulled[0] - done[0])
            yield n  # as fast as it is asked: no await of its own

    async def work(x: int) -> int:
        await asyncio.sleep(0.01)
        done[0] += 1
        return x

    async def main() -> list[int]:
        pipeline = from_async_iterable(events()).pipe(
            buffer_with_count(4), fan_out(Node(exec=work), max_in_flight=8, max_concurrency=8)
        )
        return [x async for r in to_async_iterator(pipeline) for x in r.results]

    assert run_virtual(main()) == list(range(60))
    # 8 in flight, and the batch of 4 that waits for room: its last item paused the source
    assert peak[0] == 8 + 4


def test_a_slow_async_for_holds_fan_out_back_and_so_the_source() -> None:
    """fan_out emits from its tasks, not from the source's on_next: when the
    consumer falls behind, fan_out is paused (no new batch admitted), and the
    source with it."""
    pulled, consumed = [0], [0]
    peak = [0]

    async def events() -> Any:
        for n in range(100):
            await asyncio.sleep(0.01)  # faster than the consumer, slower than fan_out
            pulled[0] += 1
            peak[0] = max(peak[0], pulled[0] - consumed[0])
            yield n

    async def work(x: int) -> int:
        await asyncio.sleep(0.001)
        return x

    async def main() -> list[int]:
        pipeline = from_async_iterable(events()).pipe(
            buffer_with_count(5), fan_out(Node(exec=work), max_concurrency=10)
        )
        out = []
        async for result in to_async_iterator(pipeline, max_buffered=2):
            await asyncio.sleep(1.0)  # a slow consumer
            out.extend(result.results)
            consumed[0] += len(result.results)
        return out

    assert run_virtual(main()) == list(range(100))
    # In batches of 5: the result the consumer holds, the 2 in its buffer (the
    # second paused fan_out), and the batch fan_out then deferred (its last
    # item paused the source).
    assert peak[0] == (1 + 2 + 1) * 5


def test_results_waiting_for_their_turn_count_in_max_in_flight() -> None:
    """Ordered output: while the first item is slow, the items after it finish
    but wait for its result; they stay counted, so the source is paused at
    max_in_flight instead of being drained into results held for their turn."""
    pulled = [0]
    gate: list[asyncio.Event] = []

    async def events() -> Any:
        for n in range(100):
            pulled[0] += 1
            yield n

    async def work(x: int) -> int:
        if x == 0:
            await gate[0].wait()
        return x

    async def main() -> tuple[int, list[int]]:
        gate.append(asyncio.Event())
        pipeline = from_async_iterable(events()).pipe(
            buffer_with_count(1), fan_out(Node(exec=work), max_in_flight=4, max_concurrency=8)
        )
        results: list[int] = []

        async def consume() -> None:
            async for result in to_async_iterator(pipeline):
                results.extend(result.results)

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(60)  # everything but item 0 could have run by now
        pulled_while_blocked = pulled[0]
        gate[0].set()
        await asyncio.wait_for(consumer, HANG)
        return pulled_while_blocked, results

    pulled_while_blocked, results = run_virtual(main())
    assert results == list(range(100))
    # 4 counted (item 0 and the 3 done after it), and the batch deferred
    assert pulled_while_blocked == 4 + 1


def test_results_a_blocked_consumer_has_not_taken_count_in_max_in_flight() -> None:
    """fan_out on a thread pool delivers from the pool's threads; when the
    ``async for`` buffer is full one of them blocks there, and the results the
    others finish queue behind it. They stay counted, so the async source is
    paused: what is pulled and not yet consumed stays bounded (it grew without
    bound before: 9,051 items pulled for 300 consumed)."""
    pulled, consumed = [0], [0]
    peak = [0]

    async def events() -> Any:
        n = 0
        while True:
            pulled[0] += 1
            peak[0] = max(peak[0], pulled[0] - consumed[0])
            yield n
            n += 1

    async def main() -> None:
        pipeline = from_async_iterable(events()).pipe(
            buffer_with_count(3), fan_out(lambda x: x, max_in_flight=4)
        )
        async with contextlib.aclosing(to_async_iterator(pipeline, max_buffered=2)) as results:
            async for result in results:
                await asyncio.sleep(0.002)  # a consumer slower than the pool
                consumed[0] += len(result.items)
                if consumed[0] >= 300:
                    break

    asyncio.run(main())
    # A batch being built (2), max_in_flight (4, delivered or not), a deferred
    # batch (3), the async for's buffer (2 results) and the result in hand
    assert peak[0] <= 2 + 4 + 3 + 2 * 3 + 3


def test_retries_wait_on_the_loops_clock() -> None:
    attempts_at: list[float] = []

    async def flaky(x: int) -> int:
        attempts_at.append(asyncio.get_running_loop().time())
        if len(attempts_at) < 3:
            raise TimeoutError("try again")
        return x

    async def main() -> list[BatchResult[int, int]]:
        retry = RetryPolicy(max_retries=3, base_delay=0.5, retry_on=(TimeoutError,))
        pipeline = reactivex.of([7]).pipe(fan_out(Node(exec=flaky), retry=retry))
        return [r async for r in to_async_iterator(pipeline)]

    (result,) = run_virtual(main())
    assert result.results == [7] and result.attempts == (3,)
    assert attempts_at == [0.0, 0.5, 1.5]  # waits of 0.5, then 1.0
    assert result.duration == 1.5


def test_a_subscribe_time_virtual_scheduler_is_the_clock_of_retries() -> None:
    """As rxbatch's timers do (``timer_clock``), fan_out takes the scheduler given
    to ``subscribe`` as its clock when it keeps time: here retries wait on it."""
    scheduler = TestScheduler()
    retry = RetryPolicy(max_retries=2, base_delay=5.0, retry_on=(TimeoutError,))
    calls: list[float] = []

    def flaky(x: int) -> int:
        calls.append(scheduler.clock)
        if len(calls) < 3:
            raise TimeoutError
        return x

    xs = scheduler.create_hot_observable(ReactiveTest.on_next(210, [1]))
    observed = scheduler.start(
        lambda: xs.pipe(fan_out(flaky, executor=ImmediateExecutor(), retry=retry))
    )
    assert calls == [210.0, 215.0, 225.0]  # virtual: waits of 5, then 10
    assert [m.time for m in observed.messages] == [225]


def test_batches_waiting_for_room_still_run_when_a_non_batch_ends_the_stream() -> None:
    async def work(x: int) -> int:
        await asyncio.sleep(1.0)
        return x

    async def main() -> tuple[list[list[int]], BaseException | None]:
        source = reactivex.from_iterable([[1, 2], [3, 4], "not a batch", [5]])
        pipeline = source.pipe(fan_out(Node(exec=work), max_in_flight=2))
        got: list[list[int]] = []
        try:
            async for result in to_async_iterator(pipeline):
                got.append(result.results)
        except TypeError as error:
            return got, error
        return got, None

    got, error = run_virtual(main())
    assert got == [[1, 2], [3, 4]]  # [3, 4] waited for room, and ran
    assert isinstance(error, TypeError) and "got str 'not a batch'" in str(error)


def test_disposal_drops_the_batches_waiting_for_room_unstarted() -> None:
    prepped: list[int] = []

    class Hangs(Node[int, int]):
        def prep(self, store: StoreReader, item: int) -> int:
            prepped.append(item)
            return item

        async def exec(self, prepared: int) -> int:
            await asyncio.Event().wait()
            return prepared

    async def main() -> list[object]:
        emitted: list[object] = []
        source = reactivex.from_iterable([[1, 2], [3], [4]])
        subscription = source.pipe(fan_out(Hangs(), max_in_flight=2)).subscribe(
            emitted.append, emitted.append, scheduler=LoopTimeScheduler(asyncio.get_running_loop())
        )
        await asyncio.sleep(1)
        subscription.dispose()
        await asyncio.sleep(1)
        return emitted

    assert run_virtual(main()) == []
    assert prepped == [1, 2]  # [3] and [4] waited for room and never started


def test_leaving_an_async_for_early_cancels_fan_outs_steps_in_flight(
    loop_problems: list[dict[str, Any]],
) -> None:
    cancelled: list[int] = []

    async def slow(x: int) -> int:
        try:
            await asyncio.sleep(10.0 if x else 0.0)
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    async def main() -> list[list[int]]:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: loop_problems.append(context))
        source = reactivex.from_iterable([[0], [1, 2], [3]])
        got = []
        async with contextlib.aclosing(
            to_async_iterator(source.pipe(fan_out(Node(exec=slow))))
        ) as results:
            async for result in results:
                got.append(result.results)
                break
        await asyncio.sleep(0)  # the cancelled steps finish
        return got

    assert run_virtual(main()) == [[0]]
    assert sorted(cancelled) == [1, 2, 3]


def test_a_producer_thread_is_held_while_the_consumer_downstream_is_full() -> None:
    """fan_out paused by a full ``async for`` holds every producer: a thread is
    blocked in on_next (the loop never is) for as long as the consumer sits
    on its results, and let go when the consumer leaves."""
    total = 20_000
    sent = [0]
    producers: list[threading.Thread] = []

    def subscribe(observer: Any, _scheduler: Any = None) -> Any:
        def produce() -> None:
            for n in range(total):
                observer.on_next([n])
                sent[0] += 1
            observer.on_completed()

        producers.append(threading.Thread(target=produce))
        producers[0].start()
        return reactivex.disposable.Disposable()

    async def double(x: int) -> int:
        return 2 * x

    async def main() -> tuple[list[int], int, int]:
        loop = asyncio.get_running_loop()
        pipeline = reactivex.create(subscribe).pipe(fan_out(Node(exec=double)))
        async with contextlib.aclosing(to_async_iterator(pipeline, max_buffered=1)) as results:
            async for result in results:
                first = result.results
                (producer,) = producers
                deadline = loop.time() + HANG
                while not blocked_admitting(producer):
                    assert producer.is_alive(), "the producer was never held"
                    assert loop.time() < deadline, "the producer was never held"
                    await asyncio.sleep(0.001)
                held_at = sent[0]
                for _ in range(100):  # the loop runs on; the producer stays held
                    await asyncio.sleep(0)
                still = sent[0]
                break
        producers[0].join(HANG)  # leaving let it go: its batches are refused
        return first, held_at, still

    first, held_at, still = asyncio.run(main())
    assert first == [0]
    assert 0 < held_at < total and still == held_at
    assert not producers[0].is_alive() and sent[0] == total
