"""What a progress bar and metrics cost a pipeline, side by side, in one run.

    python benchmarks/bench_overhead.py [--items N] [--rounds R]

Two pipelines over ``range(N)``, each with and without the instrument:

- ``buffer_with_count(100)``, with and without ``progress(N)`` (the bar
  enabled, at tqdm's default refresh; it draws on stderr);
- ``buffer_with_count(1000) -> fan_out(no-op, ImmediateExecutor)``, with and
  without ``collect_metrics``, and with both instruments.

Slowdowns are medians of per-round ratios. Exits 1 if one is 10% or more.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import reactivex

import rxbatch
from rxbatch.testing import ImmediateExecutor


def noop(x: int) -> int:
    return x


def pipeline(n: int, *stages: Callable[[Any], Any]) -> float:
    seen = [0]

    def count(value: Any) -> None:
        seen[0] += len(value.items) if hasattr(value, "items") else len(value)

    start = time.perf_counter()
    reactivex.from_iterable(range(n)).pipe(*stages).subscribe(count)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - start
    assert seen[0] == n
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    n = args.items

    def bar() -> Any:
        return rxbatch.progress(n, desc="items", disable=False)

    def fanned() -> Any:
        return rxbatch.fan_out(noop, executor=ImmediateExecutor())

    cases: dict[str, Callable[[], float]] = {
        "count(100)": lambda: pipeline(n, rxbatch.buffer_with_count(100)),
        "count(100) + progress": lambda: pipeline(n, rxbatch.buffer_with_count(100), bar()),
        "fan_out": lambda: pipeline(n, rxbatch.buffer_with_count(1000), fanned()),
        "fan_out + collect_metrics": lambda: pipeline(
            n,
            rxbatch.buffer_with_count(1000),
            fanned(),
            rxbatch.collect_metrics(rxbatch.BatchMetrics()),
        ),
        "fan_out + collect_metrics + progress": lambda: pipeline(
            n,
            rxbatch.buffer_with_count(1000),
            fanned(),
            rxbatch.collect_metrics(rxbatch.BatchMetrics()),
            bar(),
        ),
    }
    pairs = [
        ("count(100) + progress", "count(100)"),
        ("fan_out + collect_metrics", "fan_out"),
        ("fan_out + collect_metrics + progress", "fan_out"),
    ]
    rounds = [{name: case() for name, case in cases.items()} for _ in range(args.rounds)]
    print(f"\n{n:,} items, median of {args.rounds} rounds, Python {sys.version.split()[0]}\n")
    print("| pipeline | seconds | slowdown vs without |")
    print("|---|---:|---:|")
    worst = 0.0
    for name in cases:
        seconds = statistics.median(r[name] for r in rounds)
        base = next((b for c, b in pairs if c == name), None)
        if base is None:
            print(f"| {name} | {seconds:.2f} | |")
            continue
        slowdown = statistics.median(r[name] / r[base] for r in rounds) - 1
        worst = max(worst, slowdown)
        print(f"| {name} | {seconds:.2f} | {slowdown:+.1%} |")
    return 0 if worst < 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
