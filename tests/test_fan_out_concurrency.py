"""fan_out on real threads, processes and event loops (Dask: test_fan_out_scale_out).

No test waits on a timer: threads meet on events and barriers, and every
wait has a bound far beyond need that only a hang would reach.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.subject import Subject

from rxbatch import BatchResult, Node, RetryPolicy, buffer_with_time_or_count, fan_out

from . import _workers
from .conftest import join_new_threads

HANG = 30  # seconds: only a deadlock gets here


def collect(source: reactivex.Observable[Any]) -> list[BatchResult[Any, Any]]:
    results: list[BatchResult[Any, Any]] = source.pipe(ops.to_list()).run()
    return results


class Gauge:
    """Counts exec calls running at once and remembers the peak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.now -= 1


def test_peak_concurrency_is_max_concurrency_across_batches() -> None:
    gauge, all_in = Gauge(), threading.Barrier(3, timeout=HANG)

    def work(x: int) -> int:
        with gauge:
            if x < 3:
                all_in.wait()  # the first three meet: the bound is reached, not just respected
            return x

    batches = reactivex.of([0, 1], [2, 3, 4], [5, 6, 7, 8, 9])
    with ThreadPoolExecutor(16) as pool:  # more workers than allowed
        results = collect(batches.pipe(fan_out(work, max_concurrency=3, executor=pool)))
    assert gauge.peak == 3
    assert [r.results for r in results] == [[0, 1], [2, 3, 4], [5, 6, 7, 8, 9]]


def test_unordered_emits_in_completion_order() -> None:
    release_first = threading.Event()

    def work(x: int) -> int:
        if x == 0:
            assert release_first.wait(HANG)
        return x

    seen: list[int] = []

    def on_result(result: BatchResult[int, int]) -> None:
        seen.append(result.index)
        release_first.set()  # batch 1 is out: now let batch 0 finish

    done = threading.Event()
    reactivex.of([0], [1]).pipe(fan_out(work, ordered=False)).subscribe(
        on_result, on_completed=done.set
    )
    assert done.wait(HANG)
    assert seen == [1, 0]


def test_async_node_runs_on_a_loop_with_the_same_bound() -> None:
    gauge = Gauge()
    all_in = asyncio.Event()

    class Fetch(Node[int, str]):
        async def exec(self, prepared: int) -> str:
            with gauge:
                if gauge.now == 4:
                    all_in.set()
                await asyncio.wait_for(all_in.wait(), HANG)
                await asyncio.sleep(0)
                return f"page {prepared}"

        async def post(self, store: Any, item: int, prepared: int, result: str) -> str:
            await asyncio.sleep(0)
            return result.upper()

    before = set(threading.enumerate())
    results = collect(reactivex.of(list(range(10))).pipe(fan_out(Fetch(), max_concurrency=4)))
    assert results[0].results == [f"PAGE {i}" for i in range(10)]
    assert gauge.peak == 4
    # fan_out's loop thread ends with the run (and .run()'s own thread a moment after)
    assert join_new_threads(before, HANG) == []


def test_process_pool_runs_exec_in_other_processes() -> None:
    with ProcessPoolExecutor(2) as pool:
        results = collect(
            reactivex.of([1, 2, 3], [4]).pipe(fan_out(_workers.pid_and_square, executor=pool))
        )
    outputs = [r for result in results for r in result.results]
    assert [square for _, square in outputs] == [1, 4, 9, 16]
    assert os.getpid() not in {pid for pid, _ in outputs}


def test_process_pool_failures_are_recorded_per_item() -> None:
    with ProcessPoolExecutor(2) as pool:
        (result,) = collect(
            reactivex.of([1, 2, 3, 4]).pipe(
                fan_out(
                    _workers.fail_on_odd,
                    executor=pool,
                    retry=RetryPolicy(max_retries=1, base_delay=0),
                )
            )
        )
    assert result.results == [None, 2, None, 4] and result.attempts == (2, 1, 2, 1)
    assert "odd: 1" in str(result.errors[0])


def test_backpressure_bounds_the_items_held() -> None:
    """A fast producer thread and a slow node: at most max_in_flight items held."""
    held = Gauge()  # items admitted (prep ran) and not yet through post

    def prep(store: Any, item: int) -> int:
        held.__enter__()
        return item

    def post(store: Any, item: int, prepared: int, result: int) -> int:
        held.__exit__()
        return result

    def slow(x: int) -> int:
        time.sleep(0.0005)  # stands in for I/O; nothing is asserted about time
        return x

    node = Node(exec=slow, prep=prep, post=post)
    subject: Subject[list[int]] = Subject()
    results: list[BatchResult[int, int]] = []
    done = threading.Event()
    subject.pipe(fan_out(node, max_concurrency=4, max_in_flight=20)).subscribe(
        results.append, on_completed=done.set
    )

    def produce() -> None:
        for b in range(100):
            subject.on_next(list(range(b * 5, b * 5 + 5)))
        subject.on_next(list(range(500, 530)))  # larger than the limit: admitted alone
        subject.on_completed()

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(HANG)
    assert done.wait(HANG)
    # Never more than the limit, or the oversized batch alone; and more than one
    # batch was held at once, so the limit was in play.
    assert 5 < held.peak <= 30
    assert [r.index for r in results] == list(range(101))
    assert [x for r in results for x in r.results] == list(range(530))


def test_blocking_a_worker_thread_of_its_own_raises() -> None:
    """Feeding fan_out back from its own worker thread cannot wait for room."""
    subject: Subject[list[int]] = Subject()
    errors: list[Exception] = []
    done = threading.Event()
    gate, submitted = threading.Event(), threading.Event()

    def work(x: int) -> int:
        if x == 0:
            gate.wait(HANG)
        if x == 1:
            submitted.wait(HANG)  # so that its result is delivered on the worker
        return x

    def on_result(result: BatchResult[int, int]) -> None:
        if result.index == 1:
            subject.on_next([7, 8])  # on a fan_out worker, while batch 0 is held

    def on_error(error: Exception) -> None:
        errors.append(error)
        done.set()

    subject.pipe(fan_out(work, max_in_flight=2, ordered=False)).subscribe(
        on_result, on_error, done.set
    )
    subject.on_next([0])
    subject.on_next([1])
    submitted.set()
    assert done.wait(HANG)
    gate.set()
    assert len(errors) == 1 and "worker threads" in str(errors[0])


def test_disposal_emits_nothing_more_and_ends_the_pool_threads() -> None:
    started, gate = threading.Event(), threading.Event()
    emitted: list[Any] = []

    def work(x: int) -> int:
        started.set()
        assert gate.wait(HANG)
        return x

    subject: Subject[list[int]] = Subject()
    subscription = subject.pipe(fan_out(work, max_concurrency=2)).subscribe(emitted.append)
    subject.on_next([1, 2, 3])
    assert started.wait(HANG)
    pool_threads = [t for t in threading.enumerate() if t.name.startswith("rxbatch-fan-out_")]
    assert pool_threads
    subscription.dispose()
    gate.set()
    for thread in pool_threads:
        thread.join(HANG)
        assert not thread.is_alive()
    assert emitted == []


def test_subscriber_error_on_a_worker_thread_goes_to_on_error() -> None:
    errors: list[Exception] = []
    done = threading.Event()
    failure = ValueError("subscriber failed")

    def on_result(result: BatchResult[int, int]) -> None:
        raise failure

    def on_error(error: Exception) -> None:
        errors.append(error)
        done.set()

    reactivex.of([1], [2]).pipe(fan_out(_workers.square)).subscribe(on_result, on_error)
    assert done.wait(HANG)
    assert errors == [failure]


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": "4"}, "max_concurrency"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"retry": 3}, "retry"),
        ({"executor": "threads"}, "executor"),
        ({"store": {}}, "store"),
        ({"scheduler": "now"}, "scheduler"),
    ],
)
def test_bad_arguments_fail_at_creation(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises((TypeError, ValueError), match=parameter):
        fan_out(_workers.square, **kwargs)


def test_a_node_that_is_not_callable_fails_at_creation() -> None:
    with pytest.raises(TypeError, match="node must be"):
        fan_out(42)  # type: ignore[arg-type]


def test_async_node_runs_on_the_loop_of_an_asyncio_scheduler() -> None:
    from reactivex.scheduler.eventloop import AsyncIOThreadSafeScheduler

    async def main() -> tuple[list[BatchResult[int, int]], set[int]]:
        loop = asyncio.get_running_loop()
        threads: set[int] = set()

        async def double(x: int) -> int:
            threads.add(threading.get_ident())
            await asyncio.sleep(0)
            return 2 * x

        finished: asyncio.Future[list[BatchResult[int, int]]] = loop.create_future()
        scheduler = AsyncIOThreadSafeScheduler(loop)
        reactivex.of([1, 2], [3]).pipe(
            fan_out(Node(exec=double), scheduler=scheduler), ops.to_list()
        ).subscribe(
            lambda results: loop.call_soon_threadsafe(finished.set_result, results),
            lambda error: loop.call_soon_threadsafe(finished.set_exception, error),
        )
        return await asyncio.wait_for(finished, HANG), threads

    results, threads = asyncio.run(main())
    assert [r.results for r in results] == [[2, 4], [6]]
    assert threads == {threading.get_ident()}  # asyncio.run's loop: this thread


def blocked_admitting(thread: threading.Thread) -> bool:
    """Whether ``thread`` waits in fan_out's admission (max_in_flight is full)."""
    frame = sys._current_frames().get(thread.ident or -1)
    waiting = frame is not None and frame.f_code.co_filename == threading.__file__
    while frame is not None:
        if frame.f_code.co_name == "admit":
            return waiting
        frame = frame.f_back
    return False


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG
    while not condition():
        assert time.monotonic() < deadline, "condition never came true"
        time.sleep(0.001)


def test_subscriber_error_while_producer_is_blocked_on_max_in_flight_ends_the_stream() -> None:
    """The abort path must not wait for an upstream lock the blocked producer holds.

    Batch 1 (two slow items) stays in flight; the producer, inside the
    buffer's lock, blocks admitting batch 2 (2 + 2 > max_in_flight 3). Then
    the subscriber raises on batch 0's result: fan_out must wake the producer
    and end the stream with that error, not deadlock disposing the buffer.
    """
    release_slow = threading.Event()
    producer: threading.Thread

    def work(x: str) -> str:
        if x.startswith("slow"):
            assert release_slow.wait(HANG)
        return x

    def on_result(result: BatchResult[str, str]) -> None:
        wait_until(lambda: blocked_admitting(producer))
        raise OSError("dead-letter destination is full")

    errors: list[Exception] = []
    ended = threading.Event()
    items: Subject[str] = Subject()
    pipeline = items.pipe(
        buffer_with_time_or_count(3600, 2),
        fan_out(work, max_in_flight=3, max_concurrency=4),
    )
    pipeline.subscribe(on_result, lambda e: (errors.append(e), ended.set()), ended.set)

    def produce() -> None:
        for item in ["a", "b", "slow1", "slow2", "c", "d", "e"]:
            items.on_next(item)  # [c, d] blocks; after the abort, e is ignored

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        assert ended.wait(HANG), "fan_out deadlocked in its abort path"
        producer.join(HANG)
        assert not producer.is_alive(), "the producer stayed blocked after the abort"
        assert [str(e) for e in errors] == ["dead-letter destination is full"]
    finally:
        release_slow.set()


def test_disposal_cancels_the_coroutines_running_on_the_private_loop() -> None:
    started, cancelled = threading.Event(), threading.Event()

    class Hangs(Node[int, int]):
        async def exec(self, prepared: int) -> int:
            started.set()
            try:
                await asyncio.Event().wait()  # never set
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return prepared

    before = set(threading.enumerate())
    subject: Subject[list[int]] = Subject()
    emitted: list[Any] = []
    subscription = subject.pipe(fan_out(Hangs())).subscribe(emitted.append, emitted.append)
    subject.on_next([1, 2])
    assert started.wait(HANG)
    gc.collect()  # a task waiting on a future no one else holds must not be collected
    loop_threads = [t for t in set(threading.enumerate()) - before if "loop" in t.name]
    subscription.dispose()
    assert cancelled.wait(HANG)
    for thread in loop_threads:
        thread.join(HANG)
        assert not thread.is_alive()
    assert emitted == []


def test_an_error_no_observer_takes_is_reported_on_its_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no on_error handler, reactivex re-raises; on a worker there is no
    caller left, so fan_out hands it to threading.excepthook, never swallows it."""
    reported: list[tuple[BaseException | None, str]] = []

    def excepthook(args: Any) -> None:
        reported.append((args.exc_value, args.thread.name if args.thread else ""))

    monkeypatch.setattr(threading, "excepthook", excepthook)
    failure = ValueError("subscriber failed")

    def on_result(result: BatchResult[int, int]) -> None:
        raise failure

    reactivex.of([1]).pipe(fan_out(_workers.square)).subscribe(on_result)
    wait_until(lambda: bool(reported))
    assert reported == [(failure, reported[0][1])]
    assert reported[0][1].startswith("rxbatch-fan-out")
