"""Loading JSON lines into SQLite, side by side, in one run.

    python benchmarks/bench_load.py [--lines 1000000] [--rounds 3] [--naive-lines 20000]

On the same generated file, each loader in its own process:

* the hand-written limit: ``json.loads`` per line, one ``executemany`` per
  1,000 rows, one transaction each, nothing checked (what rxbatch does at
  the least, with none of its guarantees);
* ``sqlite-utils insert DB TABLE FILE --nl --batch-size 1000``, installed
  into a virtual environment of this benchmark's own (not yours);
* ``rxbatch load --batch-size 1000``;
* a naive loader (one INSERT and one commit per record), on the first
  ``--naive-lines`` lines only (at its speed the whole file takes minutes);
* rxbatch on a file a fifth the size, for its peak memory.

The first three run in WAL mode and again in SQLite's default rollback
journal mode (DELETE), so each comparison uses the same journal mode. Rounds
are interleaved; ratios are taken within a round and the median reported.
Peak RSS comes from ``os.wait4``; every load is checked by its row count.
Exits 1 if a target of the loader issue is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

from _report import print_targets

HAND = r"""
import json, sqlite3, sys
source, path, mode = sys.argv[1:4]
db = sqlite3.connect(path, isolation_level=None)
db.execute(f"PRAGMA journal_mode={mode}")
db.execute("CREATE TABLE events (id, user, kind, amount, device)")
columns = ["id", "user", "kind", "amount", "device"]
sql = "INSERT INTO events VALUES (?, ?, ?, ?, ?)"
rows = []
with open(source, "rb") as lines:
    for line in lines:
        record = json.loads(line)
        rows.append(tuple(map(record.get, columns)))
        if len(rows) == 1000:
            db.execute("BEGIN"); db.executemany(sql, rows); db.execute("COMMIT"); rows = []
if rows:
    db.execute("BEGIN"); db.executemany(sql, rows); db.execute("COMMIT")
"""

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

PEERS = Path(os.environ.get("RXBATCH_BENCH_PEERS", Path.home() / ".cache" / "rxbatch-bench-peers"))


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


def sqlite_utils() -> str:
    """The sqlite-utils command of this benchmark's own environment (made once)."""
    command = PEERS / "bin" / "sqlite-utils"
    if not command.exists():
        print(f"installing sqlite-utils into {PEERS}", file=sys.stderr)
        venv.create(PEERS, with_pip=True)
        subprocess.run([str(PEERS / "bin" / "pip"), "install", "-q", "sqlite-utils"], check=True)
    return str(command)


def run(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return (seconds, peak RSS in MB) of that process alone."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    assert process.stderr is not None
    errors = process.stderr.read().decode()
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[:4]} failed: {errors[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024


def rows(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--naive-lines", type=int, default=20_000)
    args = parser.parse_args(argv)
    utils = sqlite_utils()
    python = sys.executable
    rounds: list[dict[str, float]] = []
    peaks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source, small, head = work / "big.jsonl", work / "small.jsonl", work / "head.jsonl"
        generate(source, args.lines)
        generate(small, args.lines // 5)
        with source.open() as full, head.open("w") as out:
            for _, line in zip(range(args.naive_lines), full, strict=False):
                out.write(line)
        db = work / "out.db"

        def su(mode: str) -> list[str]:
            if mode == "wal":  # sqlite-utils has no journal option: set WAL on the new file
                with contextlib.closing(sqlite3.connect(db)) as connection:
                    connection.execute("PRAGMA journal_mode=WAL")
            return [utils, "insert", str(db), "events", str(source), "--nl", "--batch-size", "1000"]

        rx = [python, "-m", "rxbatch", "load", str(source), "--db", str(db), "--table", "events",
              "--batch-size", "1000", "--no-progress"]  # fmt: skip
        cases = {
            "hand-written, WAL": lambda: [python, "-c", HAND, str(source), str(db), "wal"],
            "sqlite-utils, WAL": lambda: su("wal"),
            "rxbatch, WAL": lambda: rx,
            "hand-written, DELETE": lambda: [python, "-c", HAND, str(source), str(db), "delete"],
            "sqlite-utils, DELETE": lambda: su("delete"),
            "rxbatch, DELETE": lambda: [*rx, "--journal-mode", "delete"],
        }
        for number in range(args.rounds):
            rates: dict[str, float] = {}
            for name, command in cases.items():
                fresh(db)
                elapsed, peak = run(command())
                if rows(db) != args.lines:
                    raise AssertionError(f"{name}: {rows(db)} rows, expected {args.lines}")
                rates[name] = args.lines / elapsed
                peaks[name] = max(peaks.get(name, 0.0), peak)
                print(f"round {number + 1} {name}: {rates[name]:,.0f} records/s", file=sys.stderr)
            rounds.append(rates)
        naive_elapsed, naive_peak = run([python, "-c", NAIVE, str(head), str(fresh(db))])
        small_elapsed, small_peak = run(
            [python, "-m", "rxbatch", "load", str(small), "--db", str(fresh(db)), "--table",
             "events", "--batch-size", "1000", "--no-progress"]
        )  # fmt: skip

    print(f"{args.lines:,} generated events, Python {sys.version.split()[0]}, "
          f"SQLite {sqlite3.sqlite_version}, median of {args.rounds} rounds\n")  # fmt: skip
    print("| loader | records/s (median, range) | peak RSS |")
    print("|---|---:|---:|")
    for name in cases:
        values = sorted(r[name] for r in rounds)
        median = values[len(values) // 2]
        print(f"| {name} | {median:,.0f} ({values[0]:,.0f}-{values[-1]:,.0f}) | "
              f"{peaks[name]:.0f} MB |")  # fmt: skip
    naive_rate = args.naive_lines / naive_elapsed
    print(f"| naive, INSERT + commit per record ({args.naive_lines:,} lines) | "
          f"{naive_rate:,.0f} | {naive_peak:.0f} MB |")  # fmt: skip
    print(f"| rxbatch, WAL, a fifth of the file | {args.lines // 5 / small_elapsed:,.0f} | "
          f"{small_peak:.0f} MB |")  # fmt: skip
    for r in rounds:
        r["naive"] = naive_rate
    missed = print_targets(
        rounds,
        [
            ("rxbatch, WAL", "hand-written, WAL", 0.85),
            ("rxbatch, DELETE", "hand-written, DELETE", 0.85),
            ("rxbatch, WAL", "sqlite-utils, WAL", 1.0),
            ("rxbatch, DELETE", "sqlite-utils, DELETE", 1.0),
            ("rxbatch, WAL", "naive", 20.0),
        ],
    )
    flat = peaks["rxbatch, WAL"] / small_peak
    print(f"\nrxbatch peak RSS, full file / a fifth of it: {flat:.2f}x (flat: <= 1.2x)")
    return 0 if missed == 0 and flat <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
