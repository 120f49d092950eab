"""fan_out side by side with the usual ways to run an I/O-bound function in
parallel, in one run, as items per second and ratios.

    python benchmarks/bench_fan_out.py [--items N] [--rounds R] [--overhead-items M]

The node sleeps 5 ms (I/O) and 50 run at once, so the ideal is 10,000 items/s.
Every case checks that it got every result in input order. The second table
is fan_out's own cost per item: a trivial node (``x + 1``) over M items in
batches of 100, against a plain loop and ``ThreadPoolExecutor.map`` calling
the same function. Rounds are interleaved; medians and ranges are reported.
Exits 1 if a target of issues 3 and 13 is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import reactivex
from _report import interleaved_rounds, io_bound_rounds, print_targets, rate_of
from reactivex import operators as ops

import rxbatch
from rxbatch.testing import ImmediateExecutor

DELAY = 0.005
CONCURRENCY = 50


def io_bound(x: int) -> int:
    time.sleep(DELAY)
    return x


async def io_bound_async(x: int) -> int:
    await asyncio.sleep(DELAY)
    return x


def thread_pool_map(items: list[int]) -> list[int]:
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(io_bound, items))


def reactivex_flat_map(items: list[int]) -> list[int]:
    # The common idiom; it keeps no order and no bound of its own, so the
    # pool's size is the bound, and results are sorted back afterwards.
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        out: list[tuple[int, int]] = (
            reactivex.from_iterable(enumerate(items))
            .pipe(
                ops.flat_map(
                    lambda pair: reactivex.from_future(pool.submit(io_bound, pair[1])).pipe(
                        ops.map(lambda result, i=pair[0]: (i, result))
                    )
                ),
                ops.to_list(),
            )
            .run()
        )
    return [result for _, result in sorted(out)]


def asyncio_semaphore(items: list[int]) -> list[int]:
    async def main() -> list[int]:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(x: int) -> int:
            async with semaphore:
                return await io_bound_async(x)

        return await asyncio.gather(*(one(x) for x in items))

    return asyncio.run(main())


def fan_out_case(
    node: Callable[[int], object], batch: int = 100, **options: Any
) -> Callable[[list[int]], list[int]]:
    """``items`` in batches of ``batch`` through ``fan_out(node, **options)``."""
    options.setdefault("max_concurrency", CONCURRENCY)

    def run(items: list[int]) -> list[int]:
        batches = [items[i : i + batch] for i in range(0, len(items), batch)]
        results = (
            reactivex.from_iterable(batches)
            .pipe(rxbatch.fan_out(node, **options), ops.to_list())
            .run()
        )
        return [value for result in results for value in result.results]

    return run


CASES: dict[str, Callable[[list[int]], list[int]]] = {
    "ThreadPoolExecutor(50).map": thread_pool_map,
    "reactivex flat_map(from_future(submit))": reactivex_flat_map,
    "asyncio gather + Semaphore(50)": asyncio_semaphore,
    "rxbatch fan_out (thread node)": fan_out_case(io_bound),
    "rxbatch fan_out (async node)": fan_out_case(rxbatch.Node(exec=io_bound_async)),  # type: ignore[arg-type]
}
TARGETS = [
    ("rxbatch fan_out (thread node)", "ThreadPoolExecutor(50).map", 0.95),
    ("rxbatch fan_out (thread node)", "reactivex flat_map(from_future(submit))", 1.5),
]


def increment(x: int) -> int:
    return x + 1


OVERHEAD_TARGETS = [
    # fan_out takes at most half the time of ThreadPoolExecutor.map (issue 13)
    ("rxbatch fan_out, default thread pool", "ThreadPoolExecutor(10).map", 2.0),
]
BOOKKEEPING = "rxbatch fan_out, ImmediateExecutor (bookkeeping only)"
BOOKKEEPING_TARGET = 3.0  # µs per item (issue 13)


def overhead_cases(n: int) -> dict[str, Callable[[], float]]:
    """Items per second of calling ``increment`` on n items, several ways."""
    items = list(range(n))
    expected = [x + 1 for x in items]

    def plain() -> list[int]:
        return [increment(x) for x in items]

    def pool_map() -> list[int]:
        with ThreadPoolExecutor(10) as pool:
            return list(pool.map(increment, items))

    ways: dict[str, Callable[[], list[int]]] = {
        "plain loop calling it": plain,
        "ThreadPoolExecutor(10).map": pool_map,
        "rxbatch fan_out, default thread pool": lambda: fan_out_case(
            increment, 100, max_concurrency=10
        )(items),
        BOOKKEEPING: lambda: fan_out_case(increment, 100, executor=ImmediateExecutor())(items),
    }

    return {name: rate_of(name, way, n, expected) for name, way in ways.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--overhead-items", type=int, default=200_000)
    args = parser.parse_args(argv)
    items = list(range(args.items))

    rounds = io_bound_rounds(CASES, items, args.rounds, delay=DELAY, concurrency=CONCURRENCY)
    missed = print_targets(rounds, TARGETS)

    n = args.overhead_items
    overhead = interleaved_rounds(overhead_cases(n), args.rounds)
    print(f"\n| per-item cost, x + 1, {n:,} items in batches of 100 | µs/item | range |")
    print("|---|---:|---:|")
    micros: dict[str, list[float]] = {}
    for name in overhead[0]:
        micros[name] = [1e6 / r[name] for r in overhead]
        print(
            f"| {name} | {statistics.median(micros[name]):.2f} "
            f"| {min(micros[name]):.2f}-{max(micros[name]):.2f} |"
        )
    missed += print_targets(overhead, OVERHEAD_TARGETS)
    bookkeeping = statistics.median(micros[BOOKKEEPING])
    ok = bookkeeping <= BOOKKEEPING_TARGET
    missed += not ok
    print(
        f"| {BOOKKEEPING} | {bookkeeping:.2f} µs/item | {min(micros[BOOKKEEPING]):.2f}-"
        f"{max(micros[BOOKKEEPING]):.2f} | ≤ {BOOKKEEPING_TARGET} µs | "
        f"{'ok' if ok else 'MISSED'} |"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
