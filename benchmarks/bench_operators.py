"""Batching operators side by side: plain Python, bare reactivex, reactivex's
buffers and rxbatch's, in one run, as items per second and ratios.

    python benchmarks/bench_operators.py [--items N] [--rounds R]

Every case consumes the same ``range(N)`` and checks that it saw every item
(a broken operator cannot post a good number). Every case runs once per
round (``--rounds R``, default 5), the rounds interleaved (see ``_report``),
and the tables show the median across rounds and the range. Prints markdown
tables and checks the targets of issue 2; exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import reactivex
from _report import interleaved_rounds, median_and_range, print_targets
from reactivex import operators as ops

import rxbatch

Operator = Callable[[reactivex.Observable[int]], reactivex.Observable[Any]]


def plain_loop(n: int) -> int:
    """The limit: batch a range into lists of 100 with no Rx at all."""
    seen = 0
    batch: list[int] = []
    for item in range(n):
        batch.append(item)
        if len(batch) == 100:
            seen += len(batch)
            batch = []
    return seen + len(batch)


def deque_loop(n: int) -> int:
    """The limit for ``sliding_window(100, 10)``: a deque of the last 100 items,
    copied to a list every 10 items, with no Rx at all."""
    windows = since = 0
    window: deque[int] = deque(maxlen=100)
    for item in range(n):
        window.append(item)
        since += 1
        if since == 10:
            since = 0
            windows += 1 if list(window) else 0
    return windows


def through(operator: Operator | None, *, windowed: bool = False) -> Callable[[int], int]:
    """A case that pipes ``range(n)`` through ``operator`` and counts items out."""

    def run(n: int) -> int:
        seen = 0

        def on_item(_: int) -> None:
            nonlocal seen
            seen += 1

        def on_batch(batch: list[int]) -> None:
            nonlocal seen
            seen += len(batch)

        def on_window(window: list[int]) -> None:
            nonlocal seen
            seen += 1 if window else 0

        source = reactivex.from_iterable(range(n))
        if operator is None:
            source.subscribe(on_item)
        else:
            source.pipe(operator).subscribe(on_window if windowed else on_batch)
        return seen

    return run


CASES: dict[str, tuple[Callable[[int], int], str]] = {
    # name: (case, what it must count: "items" or "windows")
    "plain Python loop, lists of 100": (plain_loop, "items"),
    "reactivex from_iterable (bare source)": (through(None), "items"),
    "reactivex buffer_with_count(100)": (through(ops.buffer_with_count(100)), "items"),
    "rxbatch buffer_with_count(100)": (through(rxbatch.buffer_with_count(100)), "items"),
    "reactivex buffer_with_time_or_count(3600, 100)": (
        through(ops.buffer_with_time_or_count(3600.0, 100)),
        "items",
    ),
    "rxbatch buffer_with_time_or_count(3600, 100)": (
        through(rxbatch.buffer_with_time_or_count(3600.0, 100)),
        "items",
    ),
    "plain Python deque loop, windows of 100 every 10": (deque_loop, "windows"),
    "reactivex buffer_with_count(100, 10)": (
        through(ops.buffer_with_count(100, 10), windowed=True),
        "windows",
    ),
    "rxbatch sliding_window(100, 10)": (
        through(rxbatch.sliding_window(100, 10), windowed=True),
        "windows",
    ),
    "rxbatch buffer_with_time(3600)": (through(rxbatch.buffer_with_time(3600.0)), "items"),
}

# (case, reference, at least this many times as fast)
TARGETS = [
    ("rxbatch buffer_with_count(100)", "reactivex buffer_with_count(100)", 10.0),
    ("rxbatch buffer_with_count(100)", "reactivex from_iterable (bare source)", 0.5),
    (
        "rxbatch buffer_with_time_or_count(3600, 100)",
        "reactivex buffer_with_time_or_count(3600, 100)",
        8.0,
    ),
    ("rxbatch buffer_with_time_or_count(3600, 100)", "rxbatch buffer_with_count(100)", 0.7),
    ("rxbatch sliding_window(100, 10)", "reactivex buffer_with_count(100, 10)", 30.0),
    ("rxbatch sliding_window(100, 10)", "plain Python deque loop, windows of 100 every 10", 0.3),
]


def expected(n: int, unit: str) -> int:
    return n if unit == "items" else n // 10


def settle(threads_before: int) -> None:
    """Wait (at most 10 s) for threads a case left behind to end.

    reactivex's time operators start a ``threading.Timer`` thread per batch;
    their cancelled threads wind down after the case and would otherwise
    slow the case that runs next.
    """
    deadline = time.monotonic() + 10.0
    while transient_threads() > threads_before and time.monotonic() < deadline:
        time.sleep(0.01)
    gc.collect()


def transient_threads() -> int:
    """Threads alive now, not counting rxbatch's long-lived timer threads."""
    return sum(not t.name.startswith("rxbatch-timer") for t in threading.enumerate())


def measure(n: int, rounds: int) -> list[dict[str, float]]:
    """Items per second of every case, one dict per round."""
    threads_before = transient_threads()

    def timed(name: str) -> Callable[[], float]:
        case, unit = CASES[name]

        def run() -> float:
            start = time.perf_counter()
            seen = case(n)
            elapsed = time.perf_counter() - start
            if seen != expected(n, unit):
                raise AssertionError(f"{name}: counted {seen}, expected {expected(n, unit)}")
            return n / elapsed

        return run

    return interleaved_rounds(
        {name: timed(name) for name in CASES},
        rounds,
        before_each=lambda: settle(threads_before),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    rounds = measure(args.items, args.rounds)
    bare = "reactivex from_iterable (bare source)"
    print(
        f"{args.items:,} items, median and range of {args.rounds} interleaved rounds, "
        f"Python {sys.version.split()[0]}\n"
    )
    print("| case | items/s | range | vs bare source |")
    print("|---|---:|---:|---:|")
    for name in CASES:
        rate, spread = median_and_range([r[name] for r in rounds], ",.0f")
        vs_bare = statistics.median(r[name] / r[bare] for r in rounds)
        print(f"| {name} | {rate} | {spread} | {vs_bare:.2f}x |")

    missed = print_targets(rounds, TARGETS)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
