"""Loading JSON lines into SQLite, side by side, in one run.

    python benchmarks/bench_load.py [--lines 1000000] [--naive-lines 20000]

On the same generated file: a naive loader (one INSERT and one commit per
record), ``sqlite-utils insert DB TABLE FILE --nl --batch-size 1000``
(installed into this environment if missing), and ``rxbatch load
--batch-size 1000``. Each runs as its own process; its peak RSS comes from
``os.wait4``. The naive loader runs on the first ``--naive-lines`` lines only
(at its speed the whole file takes many minutes); its rate is what is
compared. rxbatch also loads a file a fifth the size, to show its peak memory
does not grow with the file. Every load is checked by counting the rows.
Exits 1 if a target of issue 6 is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAIVE = r"""
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[2])
db.execute("CREATE TABLE events (id, user, kind, amount, device)")
for line in open(sys.argv[1]):
    r = json.loads(line)
    db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)",
               (r["id"], r["user"], r["kind"], r.get("amount"), r["device"]))
    db.commit()
"""


def generate(path: Path, lines: int) -> None:
    rng = random.Random(1)
    kinds = ["click", "view", "purchase", "signup"]
    with path.open("w", encoding="utf-8") as file:
        for n in range(lines):
            kind = rng.choice(kinds)
            event = {
                "id": n,
                "user": f"user-{rng.randrange(10_000)}",
                "kind": kind,
                "amount": round(rng.uniform(1, 200), 2) if kind == "purchase" else None,
                "device": rng.choice(["ios", "android", "web"]),
            }
            file.write(json.dumps(event) + "\n")


def run(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return (seconds, peak RSS in MB) of that process alone."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        assert process.stderr is not None
        raise RuntimeError(f"{command[:4]} failed: {process.stderr.read().decode()[-2000:]}")
    if process.stderr is not None:
        process.stderr.close()
    return elapsed, usage.ru_maxrss / 1024


def rows(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--naive-lines", type=int, default=20_000)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("sqlite_utils") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "sqlite-utils"], check=True)

    results: dict[str, tuple[int, float, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source, small, head = work / "big.jsonl", work / "small.jsonl", work / "head.jsonl"
        generate(source, args.lines)
        generate(small, args.lines // 5)
        with source.open() as full, head.open("w") as out:
            for _, line in zip(range(args.naive_lines), full, strict=False):
                out.write(line)

        cases = {
            "naive: INSERT + commit per record": (
                [sys.executable, "-c", NAIVE, str(head), str(work / "naive.db")],
                work / "naive.db",
                args.naive_lines,
            ),
            "sqlite-utils insert --nl --batch-size 1000": (
                [sys.executable, "-m", "sqlite_utils", "insert", str(work / "su.db"), "events",
                 str(source), "--nl", "--batch-size", "1000"],
                work / "su.db",
                args.lines,
            ),
            "rxbatch load --batch-size 1000": (
                [sys.executable, "-m", "rxbatch", "load", str(source), "--db",
                 str(work / "rx.db"), "--table", "events", "--batch-size", "1000",
                 "--no-progress"],
                work / "rx.db",
                args.lines,
            ),
            "rxbatch load, a fifth of the file": (
                [sys.executable, "-m", "rxbatch", "load", str(small), "--db",
                 str(work / "rx-small.db"), "--table", "events", "--batch-size", "1000",
                 "--no-progress"],
                work / "rx-small.db",
                args.lines // 5,
            ),
        }  # fmt: skip
        for name, (command, db, lines) in cases.items():
            elapsed, peak = run(command)
            if rows(db) != lines:
                raise AssertionError(f"{name}: {rows(db)} rows, expected {lines}")
            results[name] = (lines, lines / elapsed, peak)
            print(f"{name}: {lines / elapsed:,.0f} records/s", file=sys.stderr)

    print(f"{args.lines:,} generated events, Python {sys.version.split()[0]}\n")
    print("| loader | records | records/s | peak RSS |")
    print("|---|---:|---:|---:|")
    for name, (lines, rate, peak) in results.items():
        print(f"| {name} | {lines:,} | {rate:,.0f} | {peak:.0f} MB |")
    rx = results["rxbatch load --batch-size 1000"]
    su = results["sqlite-utils insert --nl --batch-size 1000"]
    naive = results["naive: INSERT + commit per record"]
    small = results["rxbatch load, a fifth of the file"]
    checks = [
        ("rxbatch / sqlite-utils", rx[1] / su[1], 1.0),
        ("rxbatch / naive", rx[1] / naive[1], 20.0),
    ]
    print("\n| target | measured | needed |")
    print("|---|---:|---:|")
    for name, ratio, needed in checks:
        print(f"| {name} | {ratio:.2f}x | {needed}x |")
    print(f"\nrxbatch peak RSS, full file / a fifth of it: {rx[2] / small[2]:.2f}x")
    ok = all(ratio >= needed for _, ratio, needed in checks) and rx[2] / small[2] <= 1.2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
