"""Peak memory of a streaming pipeline does not grow with the file's size.

    python benchmarks/bench_memory.py [--sizes 1000000 5000000]

For each size, a JSON-lines file is generated, then a fresh Python process
runs ``read_jsonl -> buffer_with_count(1000) -> fan_out(node,
max_in_flight=10_000)`` over it, with a node slower than reading, and reports
its peak RSS. Side by side, the naive way (``json.loads`` of every line into
a list, then processing) shows what bounded memory saves. Exits 1 if the
largest size's peak exceeds 1.2x the smallest's or 150 MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PIPELINE = r"""
import resource, sys, time
import reactivex
from reactivex import operators as ops
import rxbatch

def node(event):
    total = 0
    for _ in range(20):  # slower than reading a line
        total += event["n"] * 3 % 7
    return total

seen = [0]
def count(result):
    seen[0] += len(result.items)

started = time.perf_counter()
rxbatch.read_jsonl(sys.argv[1]).pipe(
    rxbatch.buffer_with_count(1000),
    rxbatch.fan_out(node, max_concurrency=4, max_in_flight=10_000),
    ops.do_action(count),
).run()
elapsed = time.perf_counter() - started
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, seen[0], elapsed)
"""

NAIVE = r"""
import json, resource, sys
events = [json.loads(line) for line in open(sys.argv[1])]
total = sum(e["n"] * 3 % 7 for e in events)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, len(events), 0)
"""


def generate(path: Path, lines: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        for n in range(lines):
            file.write(json.dumps({"n": n, "user": f"u{n % 1000}", "kind": "click"}) + "\n")


def peak_mb(script: str, path: Path, lines: int) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), str(lines)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    peak, seen, elapsed = float(out[0]), int(out[1]), float(out[2])
    if seen != lines:
        raise AssertionError(f"processed {seen} of {lines} lines")
    return peak, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for lines in args.sizes:
            path = Path(folder) / f"{lines}.jsonl"
            start = time.perf_counter()
            generate(path, lines)
            size_mb = path.stat().st_size / 1e6
            streamed, elapsed = peak_mb(PIPELINE, path, lines)
            naive, _ = peak_mb(NAIVE, path, lines)
            rows.append((lines, size_mb, streamed, naive, elapsed))
            path.unlink()
            print(f"{lines:,} lines done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(f"Python {sys.version.split()[0]}\n")
    print("| lines | file | rxbatch peak RSS | naive list peak RSS | rxbatch items/s |")
    print("|---:|---:|---:|---:|---:|")
    for lines, size_mb, streamed, naive, elapsed in rows:
        print(
            f"| {lines:,} | {size_mb:.0f} MB | {streamed:.0f} MB | {naive:.0f} MB "
            f"| {lines / elapsed:,.0f} |"
        )
    growth = rows[-1][2] / rows[0][2]
    print(f"\npeak growth from smallest to largest: {growth:.2f}x (target <= 1.2x, < 150 MB)")
    return 0 if growth <= 1.2 and rows[-1][2] < 150 else 1


if __name__ == "__main__":
    sys.exit(main())
