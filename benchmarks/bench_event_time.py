"""Event-time tumbling windows side by side: a plain dict loop, pandas,
bytewax and rxbatch, on the same events, in one run.

    python benchmarks/bench_event_time.py [--events N] [--keys K] [--rounds R]

The events are ``(key, seconds, value)``: ``--keys`` keys, timestamps 1 ms
apart in whole milliseconds, each pushed back by up to 2 s (disorder).
Every case counts and sums ``value`` per key and 60 s window
``[k*60, (k+1)*60)``:

* plain Python dict loop over the list: the limit (no watermark, nothing
  emitted until the end);
* pandas: a DataFrame of the whole list, then ``groupby`` -- the batch
  answer every other case must equal exactly;
* bytewax 0.21 ``fold_window`` with ``TumblingWindower`` and an
  ``EventClock`` waiting 2 s, fed by ``TestingSource(events,
  batch_size=1000)`` (its system clock frozen, so its watermark, like
  rxbatch's, depends only on the data);
* rxbatch ``tumbling_event_window(60, lateness=2, aggregate=(int, add))``:
  windows emitted as the watermark passes them, one accumulator per open
  window.

Each case runs once per round and the tables show medians; ratios are taken
within each round. Then rxbatch's peak memory is measured in fresh processes
on lazily generated streams of N and 5N events: it holds only open windows,
so the peak must not grow with N. Exits 1 if a target is missed or a result
differs from pandas'.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

import reactivex
from _report import print_targets

import rxbatch

Event = tuple[int, float, int]  # (key, seconds since the epoch, value)
Totals = dict[tuple[int, int], tuple[int, int]]  # (key, window start ms) -> (count, sum)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
WINDOW_MS = 60_000
DISORDER_MS = 2_000


def generate(count: int, keys: int, seed: int = 10) -> Iterator[Event]:
    rng = random.Random(seed)
    for n in range(count):
        stamp = START_MS + n - rng.randint(0, DISORDER_MS)
        yield (rng.randrange(keys), stamp / 1000, rng.randrange(1000))


def plain_loop(events: list[Event]) -> Totals:
    totals: dict[tuple[int, float], list[int]] = {}
    for key, seconds, value in events:
        window = (key, seconds // 60)
        entry = totals.get(window)
        if entry is None:
            totals[window] = [1, value]
        else:
            entry[0] += 1
            entry[1] += value
    return {(key, int(w) * WINDOW_MS): (c, s) for (key, w), (c, s) in totals.items()}


def with_pandas(events: list[Event]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(events, columns=["key", "seconds", "value"])
    frame["window"] = (frame["seconds"] // 60).astype("int64") * WINDOW_MS
    return frame.groupby(["key", "window"])["value"].agg(["count", "sum"])


def pandas_totals(grouped: Any) -> Totals:
    return {
        (int(key), int(window)): (int(count), int(total))
        for (key, window), count, total in zip(
            grouped.index, grouped["count"], grouped["sum"], strict=True
        )
    }


def add_value(total: int, event: Event) -> int:
    return total + event[2]


def with_rxbatch(events: list[Event]) -> Totals:
    results: list[rxbatch.WindowResult[int]] = []
    windows = rxbatch.tumbling_event_window(
        60,
        timestamp=itemgetter(1),
        key=itemgetter(0),
        lateness=DISORDER_MS / 1000,
        aggregate=(int, add_value),
    )
    reactivex.from_iterable(events).pipe(windows).subscribe(results.append)
    return {
        (r.key, (r.start - EPOCH) // timedelta(milliseconds=1)): (r.count, r.result)
        for r in results
    }


def bytewax_case() -> Callable[[list[Any]], Totals] | None:
    """bytewax's fold_window, or None where bytewax is not installed."""
    try:
        import bytewax.operators as op
        from bytewax.dataflow import Dataflow
        from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window
        from bytewax.testing import TestingSink, TestingSource, run_main
    except ImportError:
        return None
    frozen = datetime(2030, 1, 1, tzinfo=UTC)

    def now() -> datetime:
        return frozen

    def count_and_sum(acc: tuple[int, int], event: Any) -> tuple[int, int]:
        return acc[0] + 1, acc[1] + event[2]

    def merge(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
        return a[0] + b[0], a[1] + b[1]

    def run(events: list[Any]) -> Totals:  # events: (str key, datetime, value)
        flow = Dataflow("event_time")
        stream = op.input("in", flow, TestingSource(events, batch_size=1000))
        keyed = op.key_on("key", stream, itemgetter(0))
        clock = EventClock(
            itemgetter(1), wait_for_system_duration=timedelta(seconds=2), now_getter=now
        )
        windower = TumblingWindower(length=timedelta(seconds=60), align_to=EPOCH)
        out = fold_window("fold", keyed, clock, windower, lambda: (0, 0), count_and_sum, merge)
        folded: list[Any] = []
        metas: list[Any] = []
        op.output("down", out.down, TestingSink(folded))
        op.output("meta", out.meta, TestingSink(metas))
        run_main(flow)
        opened = {(key, wid): meta.open_time for key, (wid, meta) in metas}
        ms = timedelta(milliseconds=1)
        return {
            (int(key), (opened[(key, wid)] - EPOCH) // ms): totals for key, (wid, totals) in folded
        }

    return run


def measure(events: list[Event], rounds: int) -> tuple[list[dict[str, float]], list[str]]:
    """Events per second of every case per round, and the cases that differ from pandas."""
    bytewax = bytewax_case()
    bytewax_events = [(str(k), EPOCH + timedelta(seconds=s), v) for k, s, v in events]
    cases: dict[str, Callable[[], Totals]] = {
        "plain Python dict loop (no watermark)": lambda: plain_loop(events),
        "pandas DataFrame + groupby (batch)": lambda: pandas_totals(with_pandas(events)),
        "rxbatch tumbling_event_window, aggregate": lambda: with_rxbatch(events),
    }
    if bytewax is not None:
        cases["bytewax 0.21 fold_window, EventClock"] = lambda: bytewax(bytewax_events)
    answer = pandas_totals(with_pandas(events))
    wrong: set[str] = set()
    rounds_out: list[dict[str, float]] = []
    for _ in range(rounds):
        rates: dict[str, float] = {}
        for name, case in cases.items():
            started = time.perf_counter()
            totals = case()
            rates[name] = len(events) / (time.perf_counter() - started)
            if totals != answer:
                wrong.add(name)
        rounds_out.append(rates)
    return rounds_out, sorted(wrong)


# The child reads its peak from /proc (VmHWM), not getrusage: ru_maxrss
# survives exec, so a child forked from this process (which holds the events
# list) would report the parent's size.
MEMORY_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[2])
import reactivex
import bench_event_time as bench
import rxbatch
from operator import itemgetter
seen = [0]
def on_window(result):
    seen[0] += result.count
windows = rxbatch.tumbling_event_window(
    60, timestamp=itemgetter(1), key=itemgetter(0), lateness=2,
    aggregate=(int, bench.add_value))
count, keys = int(sys.argv[1]), int(sys.argv[3])
reactivex.from_iterable(bench.generate(count, keys)).pipe(windows).subscribe(on_window)
assert seen[0] == count, (seen[0], count)
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(int(status.split()[0]) / 1024)
"""


def peak_mb(count: int, keys: int) -> float:
    here = str(Path(__file__).resolve().parent)
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(count), here, str(keys)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    events = list(generate(args.events, args.keys))
    rounds, wrong = measure(events, args.rounds)
    names = list(rounds[0])
    rates = {name: statistics.median(r[name] for r in rounds) for name in names}
    plain = rates["plain Python dict loop (no watermark)"]
    print(
        f"{args.events:,} events, {args.keys:,} keys, 60 s windows, up to 2 s of disorder; "
        f"median of {args.rounds} rounds, Python {sys.version.split()[0]}\n"
    )
    print("| case | events/s | vs plain loop | equals pandas |")
    print("|---|---:|---:|---|")
    for name in names:
        same = "no" if name in wrong else "yes"
        print(f"| {name} | {rates[name]:,.0f} | {rates[name] / plain:.2f}x | {same} |")

    rx = "rxbatch tumbling_event_window, aggregate"
    targets = [(rx, "plain Python dict loop (no watermark)", 0.15)]
    if "bytewax 0.21 fold_window, EventClock" in names:
        targets.insert(0, (rx, "bytewax 0.21 fold_window, EventClock", 5.0))
    else:
        print("\nbytewax is not installed (it has no wheel for this Python): not compared")
    missed = print_targets(rounds, targets)

    sizes = [args.events, 5 * args.events]
    peaks = [peak_mb(size, args.keys) for size in sizes]
    print("\n| rxbatch, lazily generated events | peak RSS |")
    print("|---:|---:|")
    for size, peak in zip(sizes, peaks, strict=True):
        print(f"| {size:,} | {peak:.0f} MB |")
    growth = peaks[1] / peaks[0]
    flat = growth <= 1.1
    print(
        f"\n5x the events: {growth:.2f}x the peak memory (needed <= 1.1x): "
        f"{'ok' if flat else 'MISSED'}"
    )
    if wrong:
        print(f"\nDIFFERENT FROM PANDAS: {', '.join(wrong)}")
    return 1 if missed or wrong or not flat else 0


if __name__ == "__main__":
    sys.exit(main())
