"""fan_out side by side with the usual ways to run an I/O-bound function in
parallel, in one run, as items per second and ratios.

    python benchmarks/bench_fan_out.py [--items N] [--rounds R]

The node sleeps 5 ms (I/O) and 50 run at once, so the ideal is 10,000 items/s.
Every case checks that it got every result in input order. Cases run once
per round (``--rounds R``, default 5), the rounds interleaved; the tables
show the median and the range. The last table is the overhead per item of
``fan_out`` with a no-op node against a plain loop calling the same
function. Exits 1 if a target of issue 3 is missed.
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
from _report import interleaved_rounds, median_and_range, print_targets
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


def noop(x: int) -> int:
    return x


def overhead(n: int) -> dict[str, float]:
    """Microseconds per item of running a no-op function n times, several ways."""
    items = list(range(n))

    def plain() -> list[int]:
        return [noop(x) for x in items]

    def pool_map() -> list[int]:
        with ThreadPoolExecutor(10) as pool:
            return list(pool.map(noop, items))

    cases = {
        "plain loop calling it": plain,
        "ThreadPoolExecutor(10).map": pool_map,
        "rxbatch fan_out, default thread pool": lambda: fan_out_case(
            noop, 1000, max_concurrency=10
        )(items),
        "rxbatch fan_out, ImmediateExecutor (bookkeeping only)": lambda: fan_out_case(
            noop, 1000, executor=ImmediateExecutor()
        )(items),
    }
    micros = {}
    for name, case in cases.items():
        start = time.perf_counter()
        out = case()
        micros[name] = (time.perf_counter() - start) / n * 1e6
        assert out == items, name
    return micros


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    items = list(range(args.items))

    def timed(name: str) -> Callable[[], float]:
        def run() -> float:
            start = time.perf_counter()
            out = CASES[name](items)
            rate = len(items) / (time.perf_counter() - start)
            if out != items:
                raise AssertionError(f"{name}: results missing or out of order")
            return rate

        return run

    rounds = interleaved_rounds({name: timed(name) for name in CASES}, args.rounds)
    ideal = CONCURRENCY / DELAY
    print(
        f"{args.items:,} items, {DELAY * 1000:.0f} ms each, concurrency {CONCURRENCY} "
        f"(ideal {ideal:,.0f} items/s), median and range of {args.rounds} interleaved "
        f"rounds, Python {sys.version.split()[0]}\n"
    )
    print("| case | items/s | range | of ideal |")
    print("|---|---:|---:|---:|")
    for name in CASES:
        rates = [r[name] for r in rounds]
        rate, spread = median_and_range(rates, ",.0f")
        print(f"| {name} | {rate} | {spread} | {statistics.median(rates) / ideal:.0%} |")

    missed = print_targets(rounds, TARGETS)

    print("\n| per-item overhead, no-op node, 100,000 items | µs/item |")
    print("|---|---:|")
    for name, micros in overhead(100_000).items():
        print(f"| {name} | {micros:.2f} |")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
