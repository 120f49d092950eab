"""What the benchmarks share: the table of targets, judged on per-round ratios."""

from __future__ import annotations

import statistics


def print_targets(rounds: list[dict[str, float]], targets: list[tuple[str, str, float]]) -> int:
    """Print a markdown table of ``case / reference`` ratios; return how many missed.

    A ratio is taken within each round (its two cases ran seconds apart) and
    the median of the rounds is reported, so the machine slowing down between
    rounds does not skew it.
    """
    print("\n| target | measured | needed | |")
    print("|---|---:|---:|---|")
    missed = 0
    for case, reference, needed in targets:
        ratio = statistics.median(r[case] / r[reference] for r in rounds)
        ok = ratio >= needed
        missed += not ok
        print(f"| {case} / {reference} | {ratio:.2f}x | {needed}x | {'ok' if ok else 'MISSED'} |")
    return missed
