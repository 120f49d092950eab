"""rxbatch's timers side by side with reactivex's schedulers, in one run.

    python benchmarks/bench_timers.py [--flushes N] [--runs N] [--subscriptions N]

Three questions, each against the reactivex way rxbatch used to run:

1. **Lateness next to a blocked pipeline.** Pipeline A's subscriber blocks
   0.5 s on every batch (a slow sink, backpressure); pipeline B flushes a
   one-item batch by its 0.05 s timer, ``--flushes`` times in a row. How late
   is each of B's flushes? On rxbatch's default scheduler, and on one
   reactivex ``EventLoopScheduler`` shared by both (rxbatch's default before).
2. **Threads.** ``--runs`` calls of ``.run()`` on a pipeline with an hour-long
   timer: threads started per call, and threads still alive after, with
   rxbatch's operator (``.run()`` subscribes on ``NewThreadScheduler``), the
   same operator given that ``NewThreadScheduler`` as its clock (what
   rxbatch did before), and reactivex's own operator.
3. **Memory.** ``--subscriptions`` finished subscriptions whose batch had an
   hour-long timer: memory still held (tracemalloc), on rxbatch's default
   and on a shared ``EventLoopScheduler``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import reactivex
from reactivex import abc
from reactivex import operators as ops
from reactivex.scheduler import EventLoopScheduler, NewThreadScheduler
from reactivex.subject import Subject

import rxbatch

BLOCK = 0.5  # seconds pipeline A's subscriber blocks per batch
SPAN = 0.05  # pipeline B's flush interval


def lateness(scheduler: abc.SchedulerBase | None, flushes: int) -> list[float]:
    """Seconds each of B's timer flushes came after its due time, while A blocks."""
    stop = threading.Event()
    slow: Subject[int] = Subject()
    slow.pipe(rxbatch.buffer_with_time_or_count(0.01, 1000, scheduler=scheduler)).subscribe(
        lambda batch: stop.wait(BLOCK)
    )

    def feed_slow() -> None:  # keeps A's timer busy blocking
        while not stop.is_set():
            slow.on_next(0)
            stop.wait(0.02)

    feeder = threading.Thread(target=feed_slow, daemon=True)
    feeder.start()
    fast: Subject[float] = Subject()
    flushed = threading.Event()
    late: list[float] = []

    def on_batch(batch: list[float]) -> None:
        late.append(time.monotonic() - batch[0] - SPAN)
        flushed.set()

    fast.pipe(rxbatch.buffer_with_time_or_count(SPAN, 1000, scheduler=scheduler)).subscribe(
        on_batch
    )
    time.sleep(0.1)  # A is blocking now
    for _ in range(flushes):
        flushed.clear()
        fast.on_next(time.monotonic())
        if not flushed.wait(60):
            raise AssertionError("B's timer never flushed")
    stop.set()
    feeder.join()
    return late


def thread_counts(make: Callable[[], Any], runs: int) -> tuple[float, int]:
    """Threads started per ``.run()``, and threads alive 2 s after the last one."""
    started = [0]
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        started[0] += 1
        real_start(self)

    before = set(threading.enumerate())
    threading.Thread.start = start  # type: ignore[method-assign]
    try:
        for _ in range(runs):
            make()
    finally:
        threading.Thread.start = real_start  # type: ignore[method-assign]
    deadline = time.monotonic() + 2.0
    alive = [t for t in set(threading.enumerate()) - before if not t.name.startswith("rxbatch")]
    for thread in alive:
        thread.join(max(0.0, deadline - time.monotonic()))
    return started[0] / runs, sum(t.is_alive() for t in alive)


def memory_held(scheduler: abc.SchedulerBase | None, subscriptions: int) -> int:
    """Bytes still allocated after ``subscriptions`` finished subscriptions."""
    operator = rxbatch.buffer_with_time_or_count(3600, 1000, scheduler=scheduler)
    payload = list(range(50))

    def one() -> None:
        subject: Subject[list[int]] = Subject()
        subject.pipe(operator).subscribe(lambda batch: None)
        subject.on_next(list(payload))
        subject.on_completed()

    one()
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(subscriptions):
            one()
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return held - start


def side_by_side(measure: Callable[[abc.SchedulerBase | None], Any]) -> dict[str, Any]:
    """``measure`` on rxbatch's default scheduler, then on one shared EventLoopScheduler."""
    shared = EventLoopScheduler()
    try:
        return {
            "rxbatch default scheduler": measure(None),
            "one shared reactivex EventLoopScheduler": measure(shared),
        }
    finally:
        shared.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flushes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--subscriptions", type=int, default=10_000)
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}\n")

    late: dict[str, list[float]] = side_by_side(lambda s: lateness(s, args.flushes))
    print(
        f"B's {SPAN * 1000:.0f} ms timer flush while A's subscriber blocks "
        f"{BLOCK * 1000:.0f} ms per batch ({args.flushes} flushes):\n"
    )
    print("| scheduler | lateness, median | max |")
    print("|---|---:|---:|")
    for name, values in late.items():
        print(
            f"| {name} | {statistics.median(values) * 1000:.1f} ms | {max(values) * 1000:.1f} ms |"
        )
    ours, theirs = (max(v) for v in late.values())
    print(f"\nworst lateness: rxbatch {ours / theirs:.3f}x the shared EventLoopScheduler's\n")

    def run_with(operator: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            return reactivex.from_iterable(range(5)).pipe(operator(), ops.to_list()).run()

        return run

    cases = {
        "rxbatch buffer_with_time_or_count(3600, 3)": run_with(
            lambda: rxbatch.buffer_with_time_or_count(3600, 3)
        ),
        "the same, with NewThreadScheduler as its clock (rxbatch before)": run_with(
            lambda: rxbatch.buffer_with_time_or_count(3600, 3, scheduler=NewThreadScheduler())
        ),
        "reactivex buffer_with_time_or_count(3600, 3)": run_with(
            lambda: ops.buffer_with_time_or_count(3600, 3)
        ),
    }
    print(f"{args.runs} calls of .run():\n")
    print("| pipeline | threads started per call | threads alive after |")
    print("|---|---:|---:|")
    for name, make in cases.items():
        per_call, alive = thread_counts(make, args.runs)
        print(f"| {name} | {per_call:.2f} | {alive} |")

    held: dict[str, int] = side_by_side(lambda s: memory_held(s, args.subscriptions))
    print(f"\n{args.subscriptions:,} finished subscriptions, each with an hour-long timer:\n")
    print("| scheduler | memory still held |")
    print("|---|---:|")
    for name, size in held.items():
        print(f"| {name} | {size / 1e6:.2f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
