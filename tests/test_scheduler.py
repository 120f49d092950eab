"""The default scheduler: one timer thread, a clock that never jumps."""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import reactivex
from reactivex import abc
from reactivex import operators as ops
from reactivex.internal.exceptions import DisposedException
from reactivex.scheduler import (
    CurrentThreadScheduler,
    EventLoopScheduler,
    ImmediateScheduler,
    NewThreadScheduler,
    ThreadPoolScheduler,
    TimeoutScheduler,
    TrampolineScheduler,
)
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

import rxbatch
from rxbatch import MonotonicTimerScheduler, default_scheduler
from rxbatch import scheduler as scheduler_module

from .conftest import join_new_threads


def test_default_scheduler_is_shared() -> None:
    assert default_scheduler() is default_scheduler()
    assert isinstance(default_scheduler(), MonotonicTimerScheduler)


def test_now_follows_the_monotonic_clock_not_the_wall_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monotonic = [1000.0]
    monkeypatch.setattr(scheduler_module.time, "monotonic", lambda: monotonic[0])
    clock = MonotonicTimerScheduler()
    first = clock.now
    monkeypatch.setattr(scheduler_module.time, "time", lambda: 0.0)  # wall clock jumps back
    monotonic[0] += 2.5
    assert clock.now - first == timedelta(seconds=2.5)


def count_thread_starts(monkeypatch: pytest.MonkeyPatch, owner: object | None = None) -> list[str]:
    """Names of the threads started from now on (only ``owner``'s, if given)."""
    started: list[str] = []
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        target = getattr(self, "_target", None)
        if owner is None or getattr(target, "__self__", None) is owner:
            started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    return started


def flush_fifty_batches_by_timer(operator: object) -> list[list[int]]:
    subject: Subject[int] = Subject()
    flushed = threading.Event()
    batches: list[list[int]] = []

    def on_batch(batch: list[int]) -> None:
        batches.append(batch)
        if batch:  # reactivex also emits empty batches
            flushed.set()

    subscription = subject.pipe(operator).subscribe(on_batch)  # type: ignore[arg-type]
    try:
        for n in range(50):
            flushed.clear()
            subject.on_next(n)
            assert flushed.wait(10), "the timer never flushed the batch"
    finally:
        subscription.dispose()
    return batches


def test_timer_flushes_start_no_thread_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fifty timer-driven batches on the default scheduler start a thread or two, not 50.

    The dispatcher and a worker, if not running yet; a second worker only if
    the first was preempted inside a callback for ``stall_after`` while the
    next timer was due (a loaded machine).
    """
    started = count_thread_starts(monkeypatch)
    batches = flush_fifty_batches_by_timer(rxbatch.buffer_with_time_or_count(0.001, 1000))
    assert batches == [[n] for n in range(50)]
    assert set(started) <= {"rxbatch-timer", "rxbatch-timer-worker"}
    assert started.count("rxbatch-timer") <= 1 and len(started) <= 5


def test_reactivex_default_starts_a_thread_per_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why rxbatch has its own default: reactivex's TimeoutScheduler."""
    from reactivex import operators as ops

    started = count_thread_starts(monkeypatch)
    batches = flush_fifty_batches_by_timer(ops.buffer_with_time_or_count(0.001, 1000))
    assert [b for b in batches if b] == [[n] for n in range(50)]
    assert len(started) >= 50


# -- which scheduler runs the timers ---------------------------------------------

HANG = 30.0


def test_run_leaves_no_thread_behind_per_timer() -> None:
    """200 ``.run()`` calls used to leave 200 threads asleep until their timer was due."""
    before = set(threading.enumerate())
    for n in range(200):
        source = reactivex.from_iterable(range(n % 7 + 1))
        batches = source.pipe(rxbatch.buffer_with_time_or_count(3600, 3), ops.to_list()).run()
        assert [x for batch in batches for x in batch] == list(range(n % 7 + 1))
    assert join_new_threads(before) == []


@pytest.mark.parametrize(
    "make",
    [
        NewThreadScheduler,  # what .run() subscribes with
        lambda: ThreadPoolScheduler(2),
        TimeoutScheduler,
        CurrentThreadScheduler,
        TrampolineScheduler,
        ImmediateScheduler,
    ],
    ids=["NewThread", "ThreadPool", "Timeout", "CurrentThread", "Trampoline", "Immediate"],
)
def test_subscribe_time_schedulers_with_no_clock_of_their_own_use_rxbatch_timers(
    make: Callable[[], abc.SchedulerBase],
) -> None:
    """They would start a thread per timer, block the producer, or refuse to wait."""
    subject: Subject[int] = Subject()
    flushed: list[tuple[list[int], str]] = []
    done = threading.Event()

    def on_batch(batch: list[int]) -> None:
        flushed.append((batch, threading.current_thread().name))
        done.set()

    subscription = subject.pipe(rxbatch.buffer_with_time_or_count(0.01, 100)).subscribe(
        on_batch, scheduler=make()
    )
    try:
        subject.on_next(1)
        assert done.wait(HANG), "the timer never flushed"
    finally:
        subscription.dispose()
    ((batch, thread),) = flushed
    assert batch == [1] and thread.startswith("rxbatch-timer")


def test_an_event_loop_scheduler_given_at_subscribe_is_the_clock() -> None:
    loop = EventLoopScheduler()
    try:
        subject: Subject[int] = Subject()
        flushed: list[str] = []
        done = threading.Event()

        def on_batch(batch: list[int]) -> None:
            flushed.append(threading.current_thread().name)
            done.set()

        subject.pipe(rxbatch.buffer_with_time_or_count(0.01, 100)).subscribe(
            on_batch, scheduler=loop
        )
        subject.on_next(1)
        assert done.wait(HANG)
        assert flushed == [loop._thread.name]  # type: ignore[union-attr]
    finally:
        loop.dispose()


def test_an_asyncio_scheduler_given_at_subscribe_is_the_clock() -> None:
    async def main() -> tuple[list[int], bool]:
        loop = asyncio.get_running_loop()
        flushed: asyncio.Future[tuple[list[int], bool]] = loop.create_future()
        subject: Subject[int] = Subject()

        def on_batch(batch: list[int]) -> None:
            flushed.set_result((batch, asyncio.get_running_loop() is loop))

        subject.pipe(rxbatch.buffer_with_time_or_count(0.01, 100)).subscribe(
            on_batch, scheduler=AsyncIOScheduler(loop)
        )
        subject.on_next(7)
        return await asyncio.wait_for(flushed, HANG)

    assert asyncio.run(main()) == ([7], True)


# -- a finished or disposed subscription holds nothing -----------------------------


class Payload:
    """An item that can be watched with a weakref."""


def test_a_finished_pipeline_releases_its_items_at_once() -> None:
    before = set(threading.enumerate())
    payloads = [Payload() for _ in range(5)]
    refs = [weakref.ref(p) for p in payloads]
    result = (
        reactivex.from_iterable(payloads)
        .pipe(rxbatch.buffer_with_time_or_count(3600, 3), ops.to_list())
        .run()
    )
    assert [len(batch) for batch in result] == [3, 2]
    del payloads, result
    assert join_new_threads(before) == []  # run()'s thread, which exits a moment later
    gc.collect()
    assert [r() for r in refs] == [None] * 5


@pytest.mark.parametrize(
    "make_scheduler",
    [lambda: None, EventLoopScheduler, lambda: TestScheduler()],
    ids=["default", "reactivex-EventLoopScheduler", "TestScheduler"],
)
def test_a_disposed_subscription_releases_its_pending_items_and_observer(
    make_scheduler: Callable[[], abc.SchedulerBase | None],
) -> None:
    """Even where the scheduler keeps a cancelled timer until it is due."""
    scheduler = make_scheduler()
    subject: Subject[Payload] = Subject()
    observer = Payload()
    batches: list[list[Payload]] = []
    observer.on_next = batches.append  # type: ignore[attr-defined]
    subscription = subject.pipe(
        rxbatch.buffer_with_time_or_count(3600, 100, scheduler=scheduler)
    ).subscribe(observer.on_next)  # type: ignore[attr-defined]
    pending = Payload()
    subject.on_next(pending)  # arms a timer an hour away
    refs = [weakref.ref(pending), weakref.ref(observer)]
    del pending, observer
    subscription.dispose()
    gc.collect()
    try:
        assert [r() for r in refs] == [None, None]
        assert batches == []
    finally:
        if isinstance(scheduler, EventLoopScheduler):
            scheduler.dispose()


def test_finished_subscriptions_hold_no_memory() -> None:
    """10,000 of them held 14.8 MB for an hour: every cancelled timer kept its sink."""
    operator = rxbatch.buffer_with_time_or_count(3600, 1000)
    payload = list(range(50))

    def one_run() -> None:
        subject: Subject[list[int]] = Subject()
        subject.pipe(operator).subscribe(lambda batch: None)
        subject.on_next(list(payload))
        subject.on_completed()

    one_run()  # starts the timer threads before measuring
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(4_000):  # about 6 MB held before
            one_run()
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held - start < 200_000, f"{(held - start) / 1e6:.1f} MB still held"


# -- one pipeline blocked downstream stalls no other -------------------------------


def test_a_pipeline_blocked_downstream_does_not_stall_another_pipelines_timer() -> None:
    release, blocked, other_flushed = threading.Event(), threading.Event(), threading.Event()

    def block(batch: list[int]) -> None:
        blocked.set()
        release.wait(HANG)

    slow: Subject[int] = Subject()
    fast: Subject[int] = Subject()
    slow.pipe(rxbatch.buffer_with_time_or_count(0.01, 1000)).subscribe(block)
    fast.pipe(rxbatch.buffer_with_time_or_count(0.05, 1000)).subscribe(
        lambda batch: other_flushed.set()
    )
    try:
        slow.on_next(1)
        assert blocked.wait(HANG), "the slow pipeline's timer never fired"
        fast.on_next(2)  # its flush is due 0.05 s from now, while the other one blocks
        assert other_flushed.wait(HANG), "the fast pipeline's flush waited for the blocked one"
        assert not release.is_set()
    finally:
        release.set()


def test_a_stalled_timer_callback_costs_one_thread_not_one_per_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = MonotonicTimerScheduler(stall_after=2.0)
    started = count_thread_starts(monkeypatch, owner=clock)
    release, blocked = threading.Event(), threading.Event()

    def block(batch: list[int]) -> None:
        blocked.set()
        release.wait(HANG)

    try:
        slow: Subject[int] = Subject()
        slow.pipe(rxbatch.buffer_with_time_or_count(0.001, 1000, scheduler=clock)).subscribe(block)
        slow.on_next(0)
        assert blocked.wait(HANG)
        batches = flush_fifty_batches_by_timer(
            rxbatch.buffer_with_time_or_count(0.001, 1000, scheduler=clock)
        )
        assert batches == [[n] for n in range(50)]
        # the dispatcher, the worker the blocked callback holds, one more worker
        assert sorted(started) == ["rxbatch-timer", "rxbatch-timer-worker", "rxbatch-timer-worker"]
    finally:
        release.set()
        clock.dispose()


# -- MonotonicTimerScheduler on its own ---------------------------------------------


@pytest.fixture
def clock() -> Iterator[MonotonicTimerScheduler]:
    scheduler = MonotonicTimerScheduler()
    yield scheduler
    scheduler.dispose()


def test_actions_run_in_due_order_then_in_the_order_scheduled(
    clock: MonotonicTimerScheduler,
) -> None:
    ran: list[str] = []
    done = threading.Event()

    def record(_: abc.SchedulerBase, name: str | None) -> None:
        ran.append(str(name))
        if len(ran) == 5:
            done.set()

    # Due times half a second apart, scheduled latest first: only a pause of
    # half a second between two lines of this test could reorder them.
    due = clock.now + timedelta(seconds=1)
    clock.schedule_absolute(due + timedelta(seconds=1), record, "last")
    clock.schedule_relative(timedelta(seconds=1.5), record, "third")
    clock.schedule_absolute(due, record, "first")
    # Same due time: the order scheduled, however late each is scheduled.
    clock.schedule_absolute(due, record, "second")
    clock.schedule_absolute(due + timedelta(seconds=1), record, "after last")
    assert done.wait(HANG)
    assert ran == ["first", "second", "third", "last", "after last"]


def hold_the_only_worker(
    clock: MonotonicTimerScheduler,
) -> tuple[threading.Event, threading.Event]:
    """Keep ``clock``'s one worker busy until the returned ``release`` is set.

    With ``stall_after`` far longer than the test, no other worker starts, so
    what falls due meanwhile waits, in order, for the worker.
    """
    holding, release = threading.Event(), threading.Event()

    def hold(_: abc.SchedulerBase, __: object) -> None:
        holding.set()
        release.wait(HANG)

    clock.schedule(hold)
    assert holding.wait(HANG)
    return holding, release


def test_a_cancelled_action_never_runs_and_is_let_go_at_once() -> None:
    clock = MonotonicTimerScheduler(stall_after=HANG)
    try:
        _, release = hold_the_only_worker(clock)
        ran = threading.Event()
        state = Payload()
        due_now = clock.schedule(lambda s, st: ran.set(), state)  # waits for the worker
        later = clock.schedule_relative(3600, lambda s, st: ran.set(), Payload())
        ref = weakref.ref(state)
        del state
        due_now.dispose()
        later.dispose()
        gc.collect()
        assert ref() is None  # let go before its turn came
        after = threading.Event()
        clock.schedule(lambda s, st: after.set())
        release.set()
        assert after.wait(HANG) and not ran.is_set()
    finally:
        clock.dispose()


def test_an_error_in_an_action_is_reported_like_a_threads_and_the_timers_go_on(
    clock: MonotonicTimerScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported: list[BaseException | None] = []
    was_reported = threading.Event()

    def excepthook(args: threading.ExceptHookArgs) -> None:
        reported.append(args.exc_value)
        was_reported.set()

    monkeypatch.setattr(threading, "excepthook", excepthook)
    boom = ValueError("boom")

    def fail(_: abc.SchedulerBase, __: object) -> None:
        raise boom

    clock.schedule(fail)
    assert was_reported.wait(HANG)
    after = threading.Event()
    clock.schedule(lambda s, st: after.set())
    assert after.wait(HANG)
    assert reported == [boom]


def test_periodic_actions_repeat_until_disposed(clock: MonotonicTimerScheduler) -> None:
    ticks: list[int] = []
    three = threading.Event()

    def tick(count: int | None) -> int:
        ticks.append(count or 0)
        if len(ticks) == 3:
            three.set()
        return (count or 0) + 1

    periodic = clock.schedule_periodic(0.005, tick, 0)
    assert three.wait(HANG)
    periodic.dispose()
    assert ticks[:3] == [0, 1, 2]


def test_dispose_ends_its_threads_and_refuses_new_timers() -> None:
    clock = MonotonicTimerScheduler(idle_timeout=60)
    fired = threading.Event()
    clock.schedule(lambda s, st: fired.set())
    assert fired.wait(HANG)
    mine = [
        t
        for t in threading.enumerate()
        if getattr(getattr(t, "_target", None), "__self__", None) is clock
    ]
    assert sorted(t.name for t in mine) == ["rxbatch-timer", "rxbatch-timer-worker"]
    clock.dispose()
    for thread in mine:
        thread.join(HANG)
    assert not any(t.is_alive() for t in mine)
    with pytest.raises(DisposedException):
        clock.schedule(lambda s, st: None)


@pytest.mark.parametrize("value", [0, -1, float("nan"), "1", True])
@pytest.mark.parametrize("name", ["stall_after", "idle_timeout"])
def test_bad_settings_name_the_parameter(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be"):
        MonotonicTimerScheduler(**{name: value})  # type: ignore[arg-type]


# -- a timer flush takes what was pending, not what keeps arriving -----------------


def test_a_timer_flush_is_not_held_by_items_arriving_while_it_emits() -> None:
    """A producer faster than the subscriber kept one timer callback emitting forever.

    Here the subscriber itself pushes a new item while each batch is emitted
    (an item arriving during a slow emission): it belongs to a new batch with
    a timer of its own, not to the flush in progress.
    """
    scheduler = TestScheduler()
    subject: Subject[int] = Subject()
    received: list[tuple[float, list[int]]] = []

    def on_batch(batch: list[int]) -> None:
        received.append((scheduler.clock, batch))
        if batch[-1] < 3:
            subject.on_next(batch[-1] + 1)  # arrives during this emission

    subject.pipe(rxbatch.buffer_with_time_or_count(50, 100)).subscribe(
        on_batch, scheduler=scheduler
    )
    scheduler.schedule_absolute(200, lambda *_: subject.on_next(1))
    scheduler.start()
    assert received == [(250.0, [1]), (300.0, [2]), (350.0, [3])]
