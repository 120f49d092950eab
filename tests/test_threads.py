"""Several producer threads feeding one operator at once, on real time.

No sleeps and no timing margins: the assertions hold however the threads
interleave and however late the timers fire.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from reactivex import Observable
from reactivex.subject import Subject

from rxbatch.operators import (
    buffer_with_count,
    buffer_with_time,
    buffer_with_time_or_count,
    sliding_window,
    sliding_window_with_time,
)

PRODUCERS = 4
PER_PRODUCER = 20_000


class SerialObserver:
    """Collects what it receives and notes any call that overlaps another."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.overlaps = 0
        self.errors: list[Exception] = []
        self.completed = threading.Event()
        self._busy = threading.Lock()

    def on_next(self, value: Any) -> None:
        if not self._busy.acquire(blocking=False):
            self.overlaps += 1
            return
        try:
            self.received.append(value)
        finally:
            self._busy.release()

    def on_error(self, error: Exception) -> None:
        self.errors.append(error)
        self.completed.set()

    def on_completed(self) -> None:
        self.completed.set()


def produce(operator: Callable[[Observable[Any]], Observable[Any]]) -> SerialObserver:
    subject: Subject[tuple[int, int]] = Subject()
    observer = SerialObserver()
    subject.pipe(operator).subscribe(observer)
    start = threading.Barrier(PRODUCERS)

    def producer(p: int) -> None:
        start.wait()
        for n in range(PER_PRODUCER):
            subject.on_next((p, n))

    threads = [threading.Thread(target=producer, args=(p,)) for p in range(PRODUCERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    subject.on_completed()
    assert observer.completed.wait(10), "on_completed never arrived"
    assert observer.errors == []
    assert observer.overlaps == 0, "downstream was called concurrently"
    return observer


@pytest.mark.parametrize(
    "make",
    [
        lambda: buffer_with_count(37),
        lambda: buffer_with_time_or_count(0.001, 50),  # timer and count flushes race
        lambda: buffer_with_time(0.001),
    ],
    ids=["count", "time_or_count", "time"],
)
def test_every_item_arrives_exactly_once_in_producer_order(
    make: Callable[[], Callable[[Observable[Any]], Observable[Any]]],
) -> None:
    observer = produce(make())
    batches: list[list[tuple[int, int]]] = observer.received
    assert all(batches), "no empty batch"
    items = [item for batch in batches for item in batch]
    assert len(items) == PRODUCERS * PER_PRODUCER
    for p in range(PRODUCERS):
        assert [n for q, n in items if q == p] == list(range(PER_PRODUCER))


def test_count_batches_are_full_until_the_last() -> None:
    batches = produce(buffer_with_count(37)).received
    assert all(len(batch) == 37 for batch in batches[:-1])


def test_time_or_count_batches_never_exceed_count() -> None:
    batches = produce(buffer_with_time_or_count(0.001, 50)).received
    assert max(len(batch) for batch in batches) <= 50


def test_sliding_windows_hold_each_producers_items_in_order() -> None:
    windows = produce(sliding_window(10, 10)).received  # tumbling: every item once
    items = [item for window in windows for item in window]
    assert sorted(items) == sorted((p, n) for p in range(PRODUCERS) for n in range(PER_PRODUCER))


@pytest.mark.parametrize(("size", "step"), [(10, 4), (3, 7)], ids=["overlapping", "hopping"])
def test_sliding_windows_are_consecutive_runs_of_one_arrival_order(size: int, step: int) -> None:
    # Producers append without the lock; the windows must still be cut from
    # one order of arrival: full, every step items, overlapping by size - step.
    windows = produce(sliding_window(size, step)).received
    total = PRODUCERS * PER_PRODUCER
    full = windows[: total // step]
    assert all(len(w) == min(size, step * (i + 1)) for i, w in enumerate(full))
    if size > step:  # each window: the previous one's tail, then step new items
        for a, b in itertools.pairwise(full):
            kept = len(b) - step
            assert b[:kept] == a[len(a) - kept :]
    else:  # hopping: disjoint samples
        assert len({item for w in full for item in w}) == sum(len(w) for w in full)
    for p in range(PRODUCERS):  # each producer's items in its own order
        seen = [n for w in full for q, n in w[-min(size, step) :] if q == p]
        assert seen == sorted(seen)
    assert windows[len(full) :] == ([] if total % step <= max(0, step - size) else windows[-1:])


def test_sliding_time_windows_under_threads() -> None:
    windows = produce(sliding_window_with_time(0.002, 0.002)).received  # tumbling
    items = [item for window in windows for item in window.items]
    assert sorted(items) == sorted((p, n) for p in range(PRODUCERS) for n in range(PER_PRODUCER))
    assert all(w.items and w.end - w.start == windows[0].end - windows[0].start for w in windows)
