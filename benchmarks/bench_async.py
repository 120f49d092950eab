"""An async node in fan_out beside ``asyncio.gather`` + ``Semaphore``, in one
run, as items per second and ratios (issue 11).

    python benchmarks/bench_async.py [--items N] [--rounds R]

The node sleeps 5 ms (``asyncio.sleep``) and 50 run at once, so the ideal is
10,000 items/s. Cases:

* ``asyncio gather + Semaphore(50)``: the hand-written way (as in
  ``bench_fan_out.py``, whose node and figures this shares).
* ``fan_out on the app's loop``: batches of 100 into ``fan_out``, consumed
  with ``rxbatch.aio.to_async_iterator``, so the node runs on the loop of
  ``asyncio.run`` (each item a ``loop.create_task``).
* ``async source -> fan_out -> async for``: the same, fed by an async
  generator through ``from_async_iterable`` and ``buffer_with_count(100)``.
* ``fan_out, private loop thread``: subscribed with ``.run()``, as before
  issue 11 (each item handed to fan_out's own loop thread).

Every case checks it got every result in input order. Rounds are
interleaved; medians and ranges are reported. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Callable

import reactivex
from _report import io_bound_rounds, print_targets
from bench_fan_out import CONCURRENCY, DELAY, asyncio_semaphore, io_bound_async
from reactivex import operators as ops

import rxbatch
from rxbatch.aio import from_async_iterable, to_async_iterator

BATCH = 100
NODE = rxbatch.Node(exec=io_bound_async)


def batches_of(items: list[int]) -> list[list[int]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def on_the_loop(items: list[int]) -> list[int]:
    async def main() -> list[int]:
        pipeline = reactivex.from_iterable(batches_of(items)).pipe(
            rxbatch.fan_out(NODE, max_concurrency=CONCURRENCY)
        )
        return [x async for result in to_async_iterator(pipeline) for x in result.results]

    return asyncio.run(main())


def async_source(items: list[int]) -> list[int]:
    async def feed() -> AsyncIterator[int]:
        for x in items:
            yield x

    async def main() -> list[int]:
        pipeline = from_async_iterable(feed()).pipe(
            rxbatch.buffer_with_count(BATCH),
            rxbatch.fan_out(NODE, max_concurrency=CONCURRENCY),
        )
        return [x async for result in to_async_iterator(pipeline) for x in result.results]

    return asyncio.run(main())


def private_loop_thread(items: list[int]) -> list[int]:
    results = (
        reactivex.from_iterable(batches_of(items))
        .pipe(rxbatch.fan_out(NODE, max_concurrency=CONCURRENCY), ops.to_list())
        .run()
    )
    return [x for result in results for x in result.results]


GATHER = f"asyncio gather + Semaphore({CONCURRENCY})"
ON_THE_LOOP = "fan_out on the app's loop"
CASES: dict[str, Callable[[list[int]], list[int]]] = {
    GATHER: asyncio_semaphore,
    ON_THE_LOOP: on_the_loop,
    "async source -> fan_out -> async for": async_source,
    "fan_out, private loop thread": private_loop_thread,
}
TARGETS = [
    (ON_THE_LOOP, GATHER, 0.95),
    ("async source -> fan_out -> async for", GATHER, 0.95),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    items = list(range(args.items))
    rounds = io_bound_rounds(CASES, items, args.rounds, delay=DELAY, concurrency=CONCURRENCY)
    missed = print_targets(rounds, TARGETS)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
