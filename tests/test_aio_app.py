"""An event-driven app on one asyncio loop (issue 11): an async producer with
bursts and pauses -> ``buffer_with_time_or_count`` -> an async node with
random failures and retries -> results, consumed with ``async for``.

It runs on ``VirtualTimeEventLoop``, and a reference model of the pipeline
computes, in whole microseconds, when each batch leaves, how many attempts
each event takes and when each result reaches the consumer: the app must
match it exactly. Every event is processed once, in order, on the main
thread alone, within a latency bound the model proves.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from rxbatch import BatchResult, Node, RetryPolicy, buffer_with_time_or_count, fan_out
from rxbatch.aio import from_async_iterable, to_async_iterator
from rxbatch.testing import VirtualTimeEventLoop

T = TypeVar("T")

TIMESPAN_US = 99_500  # never a whole millisecond: no event lands on a batch's due instant
COUNT = 25
EXEC_US = 5_000
MAX_RETRIES = 3
BASE_DELAY_US = 10_000  # doubled on each retry
RETRY = RetryPolicy(
    max_retries=MAX_RETRIES,
    base_delay=BASE_DELAY_US / 1e6,
    multiplier=2,
    retry_on=(ConnectionError,),
)


def plan(seed: int) -> list[tuple[int, int, int]]:
    """Bursts: (pause before it in ms, events in it, ms between its events)."""
    rng = random.Random(seed)
    return [(rng.randint(20, 400), rng.randint(1, 70), rng.choice([0, 0, 1, 3])) for _ in range(25)]


def fails(event: int, attempt: int) -> bool:
    """Random but reproducible: 30% of attempts fail, never an event's last allowed one."""
    return attempt <= MAX_RETRIES and random.Random(f"{event}:{attempt}").random() < 0.3


def us(seconds: float) -> int:
    return round(seconds * 1e6)


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        return runner.run(main)


@dataclass
class Observed:
    emitted_us: list[int]  # by event
    received: list[tuple[int, BatchResult[int, int]]]  # (µs, result) as the consumer got them
    attempts: Counter[int]
    succeeded: Counter[int]
    exec_threads: set[int]


async def event_app(bursts: list[tuple[int, int, int]]) -> Observed:
    loop = asyncio.get_running_loop()
    emitted_us: list[int] = []
    attempts: Counter[int] = Counter()
    succeeded: Counter[int] = Counter()
    exec_threads: set[int] = set()

    async def events() -> Any:
        for pause_ms, size, spacing_ms in bursts:
            await asyncio.sleep(pause_ms / 1000)
            for _ in range(size):
                if spacing_ms:
                    await asyncio.sleep(spacing_ms / 1000)
                emitted_us.append(us(loop.time()))
                yield len(emitted_us) - 1
        await asyncio.sleep(1.0)  # quiet, then the feed ends

    async def handle(event: int) -> int:
        exec_threads.add(threading.get_ident())
        attempts[event] += 1
        await asyncio.sleep(EXEC_US / 1e6)
        if fails(event, attempts[event]):
            raise ConnectionError(f"event {event}: the service dropped the call")
        succeeded[event] += 1
        return 2 * event

    pipeline = from_async_iterable(events()).pipe(
        buffer_with_time_or_count(TIMESPAN_US / 1e6, COUNT),
        fan_out(Node(exec=handle, name="handle"), max_concurrency=1000, retry=RETRY),
    )
    received = [(us(loop.time()), result) async for result in to_async_iterator(pipeline)]
    return Observed(emitted_us, received, attempts, succeeded, exec_threads)


@dataclass
class Expected:
    batches: list[list[int]]
    by_count: list[bool]
    attempts: list[tuple[int, ...]]
    durations_us: list[int]
    received_us: list[int]


def model(emitted_us: list[int]) -> Expected:
    """buffer_with_time_or_count's rule, then each item's attempts and waits."""
    batches: list[tuple[int, list[int], bool]] = []  # (leaves at, events, by count)
    pending: list[int] = []
    due = 0
    for event, at in enumerate(emitted_us):
        if pending and at > due:
            batches.append((due, pending, False))
            pending = []
        pending.append(event)
        if len(pending) == 1:
            due = at + TIMESPAN_US
        if len(pending) == COUNT:
            batches.append((at, pending, True))
            pending = []
    if pending:
        batches.append((due, pending, False))  # the feed ends a second after: the timer is first

    expected = Expected([], [], [], [], [])
    previous_out = 0
    for leaves, events, by_count in batches:
        done_at, tries = [], []
        for event in events:
            at, attempt = leaves, 1
            while True:
                at += EXEC_US
                if not fails(event, attempt):
                    break
                at += BASE_DELAY_US * 2 ** (attempt - 1)
                attempt += 1
            done_at.append(at)
            tries.append(attempt)
        done = max(done_at)
        previous_out = max(done, previous_out)  # results leave in order
        expected.batches.append(events)
        expected.by_count.append(by_count)
        expected.attempts.append(tuple(tries))
        expected.durations_us.append(done - leaves)
        expected.received_us.append(previous_out)
    return expected


@pytest.fixture
def threads_started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the threads started while the test runs."""
    started: list[str] = []
    start = threading.Thread.start

    def recording_start(thread: threading.Thread) -> None:
        started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", recording_start)
    return started


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_an_event_app_on_one_loop_processes_every_event_once_in_order_in_bounded_time(
    seed: int, threads_started: list[str]
) -> None:
    bursts = plan(seed)
    threads_before = set(threading.enumerate())

    app = run_virtual(event_app(bursts))

    # The main thread alone: no thread started, none left, every call on this one.
    assert threads_started == []
    assert set(threading.enumerate()) <= threads_before
    assert app.exec_threads == {threading.get_ident()}

    # Every event exactly once, in order.
    total = sum(size for _, size, _ in bursts)
    results = [result for _, result in app.received]
    assert [item for r in results for item in r.items] == list(range(total))
    assert [value for r in results for value in r.results] == [2 * e for e in range(total)]
    assert all(r.ok for r in results)
    assert app.succeeded == Counter(range(total))  # each event's handler succeeded once

    # Exactly as the model says, to the microsecond.
    expected = model(app.emitted_us)
    assert [r.items for r in results] == expected.batches
    assert [r.attempts for r in results] == expected.attempts
    assert [tuple(app.attempts[e] for e in r.items) for r in results] == expected.attempts
    assert [us(r.duration) for r in results] == expected.durations_us
    assert [at for at, _ in app.received] == expected.received_us

    # The plan exercises what the test claims: both flushes, and retries.
    assert True in expected.by_count and False in expected.by_count
    assert sum(app.attempts.values()) > total

    # Bounded latency: a batch's wait plus the slowest an event can take
    # (every allowed attempt and every retry wait).
    slowest_us = (MAX_RETRIES + 1) * EXEC_US + sum(BASE_DELAY_US * 2**k for k in range(MAX_RETRIES))
    latencies = [
        at - app.emitted_us[event] for at, result in app.received for event in result.items
    ]
    assert max(latencies) <= TIMESPAN_US + slowest_us


def test_a_slow_sink_holds_the_producer_back_on_the_same_loop(threads_started: list[str]) -> None:
    """The same app with a slow consumer: the producer is paused, so events
    pulled and not yet consumed stay bounded while every event still goes
    through once, in order, on the main thread."""
    pulled, consumed, peak = [0], [0], [0]

    async def app() -> list[int]:
        async def events() -> Any:
            for n in range(2000):
                if n % 100 == 0:
                    await asyncio.sleep(0.05)  # bursts of 100 at once
                pulled[0] += 1
                peak[0] = max(peak[0], pulled[0] - consumed[0])
                yield n

        attempts: Counter[int] = Counter()

        async def handle(event: int) -> int:
            attempts[event] += 1
            await asyncio.sleep(0.005)
            if attempts[event] == 1 and fails(event, 1):
                raise ConnectionError("dropped")
            return event

        retry = RetryPolicy(max_retries=1, base_delay=0.01, retry_on=(ConnectionError,))
        pipeline = from_async_iterable(events()).pipe(
            buffer_with_time_or_count(0.0995, 20),
            fan_out(Node(exec=handle), max_concurrency=10, max_in_flight=40, retry=retry),
        )
        out = []
        async for result in to_async_iterator(pipeline, max_buffered=2):
            await asyncio.sleep(0.1)  # a slow database write
            out.extend(result.results)
            consumed[0] += len(result.results)
        return out

    assert run_virtual(app()) == list(range(2000))
    assert threads_started == []
    # Never the whole feed: the result being written (20 events), the 2 the
    # consumer buffers (40), the 40 in flight (which may land in that buffer
    # too once fan_out is held), the batch deferred for room (20), and the
    # next one being batched (at most 19, and the event being pulled).
    assert peak[0] <= 20 + 40 + 40 + 20 + 20
