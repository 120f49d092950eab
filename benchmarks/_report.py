"""What the benchmarks share: interleaved rounds, and the table of targets
judged on per-round ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def interleaved_rounds(
    cases: dict[str, Callable[[], float]], rounds: int
) -> list[dict[str, float]]:
    """Run every case once per round, in turn; each returns its rate (higher is better).

    Interleaving puts the cases being compared seconds apart in every round,
    so a machine that slows down between rounds slows them alike.
    """
    return [{name: case() for name, case in cases.items()} for _ in range(rounds)]


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


def print_targets(rounds: list[dict[str, float]], targets: list[tuple[str, str, float]]) -> int:
    """Print a markdown table of ``case / reference`` ratios; return how many missed.

    A ratio is taken within each round (its two cases ran seconds apart) and
    the median of the rounds is reported, with the range of the rounds
    beside it, so the machine slowing down between rounds does not skew it.
    """
    print("\n| target | measured (median) | range | needed | |")
    print("|---|---:|---:|---:|---|")
    missed = 0
    for case, reference, needed in targets:
        ratios = [r[case] / r[reference] for r in rounds]
        ratio = statistics.median(ratios)
        ok = ratio >= needed
        missed += not ok
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}x"
        print(
            f"| {case} / {reference} | {ratio:.2f}x | {spread} | {needed}x "
            f"| {'ok' if ok else 'MISSED'} |"
        )
    return missed
