"""The default scheduler: one timer thread, a clock that never jumps."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from reactivex.subject import Subject

import rxbatch
from rxbatch import MonotonicTimerScheduler, default_scheduler
from rxbatch import scheduler as scheduler_module


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


def count_thread_starts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
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
    """Fifty timer-driven batches on the default scheduler start at most one thread."""
    started = count_thread_starts(monkeypatch)
    batches = flush_fifty_batches_by_timer(rxbatch.buffer_with_time_or_count(0.001, 1000))
    assert batches == [[n] for n in range(50)]
    assert started in ([], ["rxbatch-timer"])


def test_reactivex_default_starts_a_thread_per_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why rxbatch has its own default: reactivex's TimeoutScheduler."""
    from reactivex import operators as ops

    started = count_thread_starts(monkeypatch)
    batches = flush_fifty_batches_by_timer(ops.buffer_with_time_or_count(0.001, 1000))
    assert [b for b in batches if b] == [[n] for n in range(50)]
    assert len(started) >= 50
