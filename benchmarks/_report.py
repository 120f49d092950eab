"""What the benchmarks share: interleaved rounds, medians with ranges, the table of targets.

On a shared, noisy machine one number per case means little. So every case
runs once per round, the rounds are interleaved (each round starts at a
different case, so no case always runs first or last), and the tables show
the median over the rounds with the range (lowest to highest) beside it.
Ratios are taken within each round, whose cases ran seconds apart, so a
machine that slows down between rounds does not skew them.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

Round = dict[str, float]


def interleaved_rounds(
    cases: Mapping[str, Callable[[], float]],
    rounds: int,
    *,
    before_each: Callable[[], None] | None = None,
) -> list[Round]:
    """Run every case once per round, starting each round one case later.

    A case returns its measure (items/s, seconds, ...). Returns one dict per
    round, case name to measure.
    """
    names = list(cases)
    results: list[Round] = []
    for r in range(rounds):
        measured: Round = {}
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if before_each is not None:
                before_each()
            measured[name] = cases[name]()
        results.append({name: measured[name] for name in names})
    return results


def rate_of(name: str, run: Callable[[], Any], count: int, expected: Any) -> Callable[[], float]:
    """A case for ``interleaved_rounds``: ``count / seconds`` of one ``run()``,
    which must return ``expected`` (every result, in order)."""

    def measure() -> float:
        start = time.perf_counter()
        out = run()
        rate = count / (time.perf_counter() - start)
        if out != expected:
            raise AssertionError(f"{name}: results missing or out of order")
        return rate

    return measure


def io_bound_rounds(
    cases: Mapping[str, Callable[[list[int]], list[int]]],
    items: list[int],
    rounds: int,
    *,
    delay: float,
    concurrency: int,
) -> list[Round]:
    """Measure I/O-bound cases in interleaved rounds and print their rates.

    Each case maps ``items`` to every result, in order; its rate is items/s,
    shown beside the ideal (``concurrency`` calls of ``delay`` seconds at once).
    """
    measured = interleaved_rounds(
        {
            name: rate_of(name, partial(case, items), len(items), items)
            for name, case in cases.items()
        },
        rounds,
    )
    ideal = concurrency / delay
    print(
        f"{len(items):,} items, {delay * 1000:.0f} ms each, concurrency {concurrency} "
        f"(ideal {ideal:,.0f} items/s), median (range) of {rounds} interleaved rounds, "
        f"Python {sys.version.split()[0]}\n"
    )
    print("| case | items/s | range | of ideal |")
    print("|---|---:|---:|---:|")
    for name in cases:
        rates = [r[name] for r in measured]
        rate = statistics.median(rates)
        print(
            f"| {name} | {rate:,.0f} | {min(rates):,.0f}-{max(rates):,.0f} | {rate / ideal:.0%} |"
        )
    return measured


def median_and_range(values: list[float], fmt: str) -> tuple[str, str]:
    """The median and "low to high", each formatted with ``fmt`` (a format spec)."""
    return (
        format(statistics.median(values), fmt),
        f"{format(min(values), fmt)} to {format(max(values), fmt)}",
    )


def print_targets(rounds: list[Round], targets: list[tuple[str, str, float]]) -> int:
    """Print a markdown table of ``case / reference`` ratios; return how many missed.

    A ratio is taken within each round and the median of the rounds is
    judged; the range shows how much the rounds disagreed.
    """
    print("\n| target | median | range | needed | |")
    print("|---|---:|---:|---:|---|")
    missed = 0
    for case, reference, needed in targets:
        ratios = [r[case] / r[reference] for r in rounds]
        median, spread = median_and_range(ratios, ".2f")
        ok = statistics.median(ratios) >= needed
        missed += not ok
        print(
            f"| {case} / {reference} | {median}x | {spread}x | {needed}x | "
            f"{'ok' if ok else 'MISSED'} |"
        )
    return missed
