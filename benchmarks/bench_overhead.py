"""What a progress bar and metrics cost a pipeline, side by side, in one run.

    python benchmarks/bench_overhead.py [--items N] [--rounds R]

Two pipelines over ``range(N)``, each with and without the instrument:

- ``buffer_with_count(100)``, with and without ``progress(N)`` (the bar
  enabled, at tqdm's default refresh; it draws on stderr);
- ``buffer_with_count(1000) -> fan_out(no-op, ImmediateExecutor)``, with and
  without ``collect_metrics``, and with both instruments.

A few percent is smaller than the machine's noise between two runs, so one
run of each proves nothing. Here every case runs once per round, the rounds
interleaved (each starts at a different case), and each slowdown is the
median of per-round ratios, shown with the middle half of the rounds (25th
to 75th percentile). The control row runs the same pipeline twice: its
"slowdown" is the noise floor. Exits 1 if a median slowdown is 10% or more.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import reactivex
from _report import interleaved_rounds

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
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    n = args.items

    def bar() -> Any:
        return rxbatch.progress(n, desc="items", disable=False)

    def fanned() -> Any:
        return rxbatch.fan_out(noop, executor=ImmediateExecutor())

    def metrics() -> Any:
        return rxbatch.collect_metrics(rxbatch.BatchMetrics())

    cases: dict[str, Callable[[], float]] = {
        "count(100)": lambda: pipeline(n, rxbatch.buffer_with_count(100)),
        "count(100), again (control)": lambda: pipeline(n, rxbatch.buffer_with_count(100)),
        "count(100) + progress": lambda: pipeline(n, rxbatch.buffer_with_count(100), bar()),
        "fan_out": lambda: pipeline(n, rxbatch.buffer_with_count(1000), fanned()),
        "fan_out + collect_metrics": lambda: pipeline(
            n, rxbatch.buffer_with_count(1000), fanned(), metrics()
        ),
        "fan_out + collect_metrics + progress": lambda: pipeline(
            n, rxbatch.buffer_with_count(1000), fanned(), metrics(), bar()
        ),
    }
    baseline = {
        "count(100), again (control)": "count(100)",
        "count(100) + progress": "count(100)",
        "fan_out + collect_metrics": "fan_out",
        "fan_out + collect_metrics + progress": "fan_out",
    }
    rounds = interleaved_rounds(cases, args.rounds)
    print(f"\n{n:,} items, {args.rounds} interleaved rounds, Python {sys.version.split()[0]}\n")
    print("| pipeline | seconds (median) | slowdown vs without (median) | middle half of rounds |")
    print("|---|---:|---:|---:|")
    worst = 0.0
    for name in cases:
        seconds = statistics.median(r[name] for r in rounds)
        base = baseline.get(name)
        if base is None:
            print(f"| {name} | {seconds:.3f} | | |")
            continue
        slowdowns = sorted(r[name] / r[base] - 1 for r in rounds)
        median = statistics.median(slowdowns)
        low, _, high = statistics.quantiles(slowdowns, n=4)
        if "control" not in name:
            worst = max(worst, median)
        print(f"| {name} | {seconds:.3f} | {median:+.1%} | {low:+.1%} to {high:+.1%} |")
    return 0 if worst < 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
