"""rxbatch.connectors.nats against a real ``nats-server -js``: the source, the acknowledgements.

One server for the module (each test has its own stream). Time is the
server's: the only timing asserted is a lower bound (a nak's delay is never
cut short), which load cannot break.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import logging
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nats
import pytest
import reactivex
from nats.js.api import RetentionPolicy
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler

from rxbatch import BatchResult, RetryPolicy, buffer_with_count, buffer_with_time_or_count, fan_out
from rxbatch.connectors._jetstream import reply_fields
from rxbatch.connectors.nats import (
    JetStreamConsumer,
    JetStreamError,
    JetStreamLines,
    JetStreamMessage,
    acknowledge,
)
from rxbatch.testing import ImmediateExecutor

from ._nats import (
    HANG,
    add_stream,
    consumer_info,
    publish,
    stream_messages,
    wait_until,
)

_names = itertools.count()


@pytest.fixture
def stream(url: str) -> str:
    """A fresh stream keeping ``<name>.>``, and a dead-letter stream keeping ``<name>-dead.>``."""
    name = f"S{next(_names)}"
    add_stream(url, name, [f"{name}.>"])
    add_stream(url, f"{name}-DLQ", [f"{name}-dead.>"])
    return name


def json_payloads(count: int) -> list[bytes]:
    return [b'{"n": %d}' % n for n in range(count)]


class Pipeline:
    """consumer.messages() -> batches -> fan_out(handle) -> acknowledge, subscribed; records all."""

    def __init__(
        self,
        consumer: JetStreamConsumer,
        handle: Any,
        dead: str,
        *,
        retry: RetryPolicy | None = None,
        batch: int = 10,
        fan_out_retry: RetryPolicy | None = None,
    ) -> None:
        self.results: list[BatchResult[JetStreamMessage, Any]] = []
        self.errors: list[BaseException] = []
        self.done = threading.Event()
        self.subscription = (
            consumer.messages()
            .pipe(
                buffer_with_time_or_count(0.05, batch),
                fan_out(handle, retry=fan_out_retry or retry),
                acknowledge(dead, retry=retry),
            )
            .subscribe(self.results.append, self._error, self.done.set)
        )

    def _error(self, error: Exception) -> None:
        self.errors.append(error)
        self.done.set()

    def settled_items(self) -> list[JetStreamMessage]:
        return [m for r in self.results for m in r.items]


def test_acks_each_message_only_after_its_batch_is_processed(url: str, stream: str) -> None:
    publish(url, f"{stream}.a", json_payloads(50))
    consumer = JetStreamConsumer(url, stream=stream, durable="app", batch_size=10, max_pending=50)
    release = threading.Event()

    def handle(message: JetStreamMessage) -> int:
        assert release.wait(HANG)
        return int(message.json()["n"])

    pipeline = Pipeline(consumer, handle, f"{stream}-dead.x")
    wait_until(lambda: consumer_info(url, stream, "app").num_ack_pending == 50, "all delivered")
    info = consumer_info(url, stream, "app")
    assert info.ack_floor.stream_seq == 0  # processing has not finished: nothing acked
    assert consumer.stats().acked == 0 and pipeline.results == []
    release.set()
    wait_until(lambda: consumer.stats().acked == 50, "all acked")
    consumer.stop()
    assert pipeline.done.wait(HANG) and pipeline.errors == []
    info = consumer_info(url, stream, "app")
    assert (info.ack_floor.stream_seq, info.num_ack_pending, info.num_pending) == (50, 0, 0)
    processed = [n for r in pipeline.results for n in r.results]
    assert sorted(processed) == list(range(50))  # type: ignore[type-var]
    assert [m.sequence for m in pipeline.settled_items()] == list(range(1, 51))


def test_a_failed_message_is_nakd_with_the_retry_delay_and_delivered_again(
    url: str, stream: str
) -> None:
    publish(url, f"{stream}.a", json_payloads(3))
    consumer = JetStreamConsumer(url, stream=stream, durable="app", max_deliver=3)
    seen: list[tuple[int, int, float]] = []  # n, delivery, when

    def handle(message: JetStreamMessage) -> int:
        n = int(message.json()["n"])
        seen.append((n, message.num_delivered, time.monotonic()))
        if n == 1 and message.num_delivered == 1:
            raise TimeoutError("upstream timed out")
        return n

    policy = RetryPolicy(max_retries=0, base_delay=0.8)
    pipeline = Pipeline(consumer, handle, f"{stream}-dead.x", retry=policy)
    wait_until(lambda: consumer.stats().acked == 3, "all acked")
    consumer.stop()
    assert pipeline.done.wait(HANG) and pipeline.errors == []
    tries = [(delivery, when) for n, delivery, when in seen if n == 1]
    assert [delivery for delivery, _ in tries] == [1, 2]
    assert tries[1][1] - tries[0][1] >= 0.8  # JetStream waited the policy's delay
    stats = consumer.stats()
    assert (stats.acked, stats.retried, stats.dead_lettered, stats.pending) == (3, 1, 0, 0)
    assert stream_messages(url, f"{stream}-DLQ") == []


def test_a_message_failing_all_its_deliveries_is_dead_lettered_with_the_reason_then_terminated(
    url: str, stream: str
) -> None:
    headers = {"Trace": "t", "Nats-Msg-Id": "m"}
    publish(
        url, f"{stream}.a", json_payloads(20), headers=lambda i: {**headers, "Nats-Msg-Id": f"m{i}"}
    )
    consumer = JetStreamConsumer(url, stream=stream, durable="app", max_deliver=2)
    deliveries: list[int] = []

    def handle(message: JetStreamMessage) -> int:
        n = int(message.json()["n"])
        if n == 13:
            deliveries.append(message.num_delivered)
            raise ValueError("thirteen is unlucky")
        return n

    policy = RetryPolicy(max_retries=1, base_delay=0.01)  # in process, then one redelivery
    pipeline = Pipeline(consumer, handle, f"{stream}-dead.events", retry=policy)
    wait_until(lambda: consumer.stats().dead_lettered == 1, "dead-lettered")
    wait_until(lambda: consumer.stats().acked == 19, "the rest acked")
    consumer.stop()
    assert pipeline.done.wait(HANG) and pipeline.errors == []
    assert deliveries == [1, 1, 2, 2]  # fan_out's retry on each of the 2 deliveries
    ((data, headers),) = stream_messages(url, f"{stream}-DLQ")
    assert data == b'{"n": 13}'
    assert "thirteen is unlucky" in headers["Rxbatch-Reason"]
    assert "max_deliver" in headers["Rxbatch-Reason"]
    assert headers["Rxbatch-Deliveries"] == "2" and headers["Rxbatch-Sequence"] == "14"
    assert headers["Rxbatch-Stream"] == stream and headers["Rxbatch-Subject"] == f"{stream}.a"
    assert headers["Trace"] == "t" and "Nats-Msg-Id" not in headers
    info = consumer_info(url, stream, "app")
    # terminated: not pending, not to be delivered again
    assert (info.num_ack_pending, info.num_redelivered, info.num_pending) == (0, 0, 0)
    assert consumer.stats().retried == 1


def test_an_error_the_policy_does_not_retry_is_dead_lettered_on_its_first_delivery(
    url: str, stream: str
) -> None:
    publish(url, f"{stream}.a", json_payloads(5))
    consumer = JetStreamConsumer(url, stream=stream, durable="app", max_deliver=5)

    def handle(message: JetStreamMessage) -> int:
        n = int(message.json()["n"])
        if n == 2:
            raise KeyError("no such customer")
        return n

    policy = RetryPolicy(max_retries=3, base_delay=0.01, retry_on=(TimeoutError,))
    pipeline = Pipeline(consumer, handle, f"{stream}-dead.x", retry=policy)
    wait_until(lambda: consumer.stats().dead_lettered == 1, "dead-lettered")
    consumer.stop()
    assert pipeline.done.wait(HANG)
    ((_, headers),) = stream_messages(url, f"{stream}-DLQ")
    assert headers["Rxbatch-Deliveries"] == "1"
    assert "not retried (KeyError is not in retry_on)" in headers["Rxbatch-Reason"]
    assert consumer.stats().retried == 0


def test_a_dead_letter_no_stream_keeps_ends_the_pipeline_with_a_clear_error(
    url: str, stream: str
) -> None:
    publish(url, f"{stream}.a", json_payloads(3))
    consumer = JetStreamConsumer(url, stream=stream, durable="app", max_deliver=1)

    def handle(message: JetStreamMessage) -> None:
        raise ValueError("always")

    pipeline = Pipeline(consumer, handle, "nobody.keeps.this")
    assert pipeline.done.wait(HANG)
    (error,) = pipeline.errors
    assert isinstance(error, JetStreamError)
    assert "'nobody.keeps.this'" in str(error) and "no stream keeps that subject" in str(error)
    assert "not terminated" in str(error) and consumer.stats().dead_lettered == 0


def test_a_slow_pipeline_holds_at_most_max_pending_messages(url: str, stream: str) -> None:
    publish(url, f"{stream}.a", json_payloads(300))
    consumer = JetStreamConsumer(url, stream=stream, durable="app", batch_size=10, max_pending=25)
    release = threading.Event()
    held: list[int] = []

    def handle(message: JetStreamMessage) -> int:
        held.append(consumer.stats().pending)
        assert release.wait(HANG)
        return 0

    pipeline = Pipeline(consumer, handle, f"{stream}-dead.x", batch=10)
    wait_until(lambda: consumer.stats().fetched == 25, "the first 25 fetched")
    info = consumer_info(url, stream, "app")
    assert info.num_ack_pending == 25 and info.num_pending == 275  # the rest wait in JetStream
    assert consumer.stats().fetched == 25  # and no more is fetched while they are held
    release.set()
    wait_until(lambda: consumer.stats().acked == 300, "all acked")
    consumer.stop()
    assert pipeline.done.wait(HANG) and pipeline.errors == []
    assert max(held) <= 25 and consumer.stats().fetched == 300


def test_disposal_naks_what_is_pending_so_it_is_delivered_again_at_once(
    url: str, stream: str
) -> None:
    publish(url, f"{stream}.a", json_payloads(8))
    # An hour's ack_wait: a redelivery within the test can only come from a nak.
    consumer = JetStreamConsumer(url, stream=stream, durable="app", ack_wait=3600, max_pending=8)
    first: list[JetStreamMessage] = []
    subscription = consumer.messages().subscribe(first.append)
    wait_until(lambda: len(first) == 8, "delivered")
    subscription.dispose()
    wait_until(lambda: consumer.stats().pending == 0, "nak'd")
    again: list[JetStreamMessage] = []
    subscription = consumer.messages().subscribe(again.append)
    wait_until(lambda: len(again) == 8, "delivered again")
    subscription.dispose()
    assert [m.data for m in again] == [m.data for m in first]
    assert {m.num_delivered for m in again} == {2}


def test_stop_completes_after_what_was_emitted_is_settled(url: str, stream: str) -> None:
    publish(url, f"{stream}.a", json_payloads(40))
    consumer = JetStreamConsumer(url, stream=stream, durable="app", batch_size=40)
    stopped = threading.Event()

    def handle(message: JetStreamMessage) -> int:
        consumer.stop()  # from inside the pipeline: the batch in progress still gets acked
        stopped.set()
        return 0

    pipeline = Pipeline(consumer, handle, f"{stream}-dead.x", batch=40)
    assert pipeline.done.wait(HANG) and pipeline.errors == []
    emitted = len(pipeline.settled_items())
    assert stopped.is_set() and emitted >= 1
    wait_until(lambda: consumer_info(url, stream, "app").num_ack_pending == 0, "closed")
    info = consumer_info(url, stream, "app")
    assert info.ack_floor.stream_seq == emitted and info.num_pending == 40 - emitted
    wait_until(lambda: "rxbatch-nats" not in {t.name for t in threading.enumerate()}, "loop ends")


def test_on_an_asyncio_scheduler_it_runs_on_that_loop_and_starts_no_thread(
    url: str, stream: str
) -> None:
    publish(url, f"{stream}.a", json_payloads(30))
    consumer = JetStreamConsumer(url, stream=stream, durable="app", batch_size=10)
    before = set(threading.enumerate())
    threads: set[str] = set()

    def handle(message: JetStreamMessage) -> int:
        threads.add(threading.current_thread().name)
        return int(message.json()["n"])

    async def app() -> list[int]:
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        results: list[int] = []
        closed: list[concurrent.futures.Future[None]] = []

        def on_result(result: BatchResult[JetStreamMessage, int]) -> None:
            threads.add(threading.current_thread().name)
            results.extend(r for r in result.results if r is not None)
            if len(results) == 30:
                closed.append(consumer.stop())

        consumer.messages().pipe(
            buffer_with_count(10),
            fan_out(handle, executor=ImmediateExecutor()),
            acknowledge(f"{stream}-dead.x"),
        ).subscribe(
            on_result,
            lambda e: finished.set_exception(e),
            lambda: finished.set_result(None),
            scheduler=AsyncIOScheduler(loop),
        )
        await asyncio.wait_for(finished, HANG)
        await asyncio.wait_for(asyncio.wrap_future(closed[0]), HANG)  # before the loop ends
        return results

    assert sorted(asyncio.run(app())) == list(range(30))
    assert threads == {"MainThread"}
    new = {t.name for t in set(threading.enumerate()) - before}
    assert not {name for name in new if name.startswith("rxbatch-nats")}
    assert consumer_info(url, stream, "app").ack_floor.stream_seq == 30


def test_message_fields_match_what_jetstream_says(url: str, stream: str) -> None:
    publish(url, f"{stream}.b.c", [b"x", b"y"], headers=lambda i: {"K": "v"})
    consumer = JetStreamConsumer(url, stream=stream, durable="app")
    got = consumer.messages().pipe(ops.take(2), ops.to_list()).run()
    assert [(m.subject, m.data, m.stream, m.sequence, m.num_delivered) for m in got] == [
        (f"{stream}.b.c", b"x", stream, 1, 1),
        (f"{stream}.b.c", b"y", stream, 2, 1),
    ]
    assert got[0].headers == {"K": "v"}
    assert "_connection" not in repr(got[0])


# -- errors -------------------------------------------------------------------------------


def errors_of(consumer: JetStreamConsumer) -> Exception:
    with pytest.raises(Exception) as caught:
        consumer.messages().pipe(ops.take(1)).run()
    return caught.value


def test_a_missing_stream_or_unreachable_server_or_mismatched_consumer_is_a_clear_error(
    url: str, stream: str
) -> None:
    error = errors_of(JetStreamConsumer(url, stream="NOPE", durable="app"))
    assert isinstance(error, JetStreamError) and error.usage
    assert "no stream 'NOPE'" in str(error)

    error = errors_of(JetStreamConsumer("nats://127.0.0.1:1", stream=stream, durable="app"))
    assert isinstance(error, JetStreamError) and not error.usage
    assert "cannot connect to nats://127.0.0.1:1" in str(error)

    publish(url, f"{stream}.a", [b"x"])
    first = JetStreamConsumer(url, stream=stream, durable="app", subject=f"{stream}.a")
    assert first.messages().pipe(ops.take(1), ops.count()).run() == 1
    error = errors_of(JetStreamConsumer(url, stream=stream, durable="app", subject=f"{stream}.b"))
    assert isinstance(error, JetStreamError) and error.usage
    assert f"filters subject '{stream}.a', not '{stream}.b'" in str(error)

    # The server refuses a second consumer on the same subjects of a work-queue stream.
    add_stream(url, f"{stream}-WQ", [f"{stream}-wq.>"], retention=RetentionPolicy.WORK_QUEUE)
    publish(url, f"{stream}-wq.a", [b"x"])
    taken = JetStreamConsumer(url, stream=f"{stream}-WQ", durable="one", subject=f"{stream}-wq.a")
    assert taken.messages().pipe(ops.take(1), ops.count()).run() == 1
    error = errors_of(
        JetStreamConsumer(url, stream=f"{stream}-WQ", durable="two", subject=f"{stream}-wq.a")
    )
    assert isinstance(error, JetStreamError) and error.usage
    assert f"cannot create consumer 'two' on stream '{stream}-WQ'" in str(error)


def test_acknowledge_needs_the_results_of_jetstream_messages() -> None:
    with pytest.raises(TypeError, match="JetStreamMessages from JetStreamConsumer"):
        reactivex.of([1, 2]).pipe(fan_out(lambda x: x), acknowledge("dead.x"), ops.to_list()).run()
    with pytest.raises(TypeError, match="BatchResults of fan_out"):
        reactivex.of([1, 2]).pipe(acknowledge("dead.x"), ops.to_list()).run()


@pytest.mark.parametrize(
    ("arguments", "error", "words"),
    [
        ({"stream": "a.b"}, ValueError, "stream must be a name"),
        ({"durable": ""}, ValueError, "durable must be a name"),
        ({"durable": 3}, TypeError, "durable must be a str"),
        ({"subject": "a..b"}, ValueError, "subject must be a subject"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"max_pending": 1.5}, TypeError, "max_pending must be an int"),
        ({"max_wait": 0}, ValueError, "max_wait must be between"),
        ({"ack_wait": float("nan")}, ValueError, "ack_wait must be between"),
        ({"max_deliver": 0}, ValueError, "max_deliver must be >= 1"),
        ({"servers": []}, TypeError, "servers must be a URL"),
        ({"servers": "nats://a b"}, ValueError, "servers must be URLs"),
        ({"connect_options": [1]}, TypeError, "connect_options must be a mapping"),
    ],
)
def test_arguments_are_checked_when_the_consumer_is_made(
    arguments: dict[str, Any], error: type[Exception], words: str
) -> None:
    given: dict[str, Any] = {"servers": "nats://127.0.0.1:4222", "stream": "S", "durable": "d"}
    given.update(arguments)
    servers = given.pop("servers")
    with pytest.raises(error, match=words):
        JetStreamConsumer(servers, **given)


@pytest.mark.parametrize(
    ("subject", "retry", "error", "words"),
    [
        ("dead.>", None, ValueError, "must not hold wildcards"),
        ("", None, ValueError, "must be a subject"),
        ("dead", 3, TypeError, "retry must be a RetryPolicy"),
    ],
)
def test_acknowledge_checks_its_arguments(
    subject: str, retry: Any, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        acknowledge(subject, retry=retry)


def test_the_reply_subject_is_read_as_the_client_reads_it(url: str, stream: str) -> None:
    publish(url, f"{stream}.a", [b"1", b"2", b"3"])

    async def fields() -> list[tuple[tuple[int, int], tuple[int, int]]]:
        nc = await nats.connect(url)
        sub = await nc.jetstream().pull_subscribe(f"{stream}.a", durable="check", stream=stream)
        messages = await sub.fetch(3, timeout=HANG)
        await nc.close()
        return [
            (reply_fields(m.reply), (m.metadata.sequence.stream, m.metadata.num_delivered))
            for m in messages
        ]

    found = asyncio.run(fields())
    ours, theirs = [a for a, _ in found], [b for _, b in found]
    assert ours == theirs == [(1, 1), (2, 1), (3, 1)]


def test_import_error_says_how_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "nats.py"
    blocker.write_text("raise ImportError('no nats here')\n")
    done = subprocess.run(
        [sys.executable, "-c", "import rxbatch.connectors.nats"],
        capture_output=True, text=True, timeout=HANG,
        env={"PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 1
    assert "NATS support needs: pip install 'rxbatch[nats]'" in done.stderr


def test_the_event_app_example_runs_against_a_real_server(url: str, tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "examples" / "event_app.py"
    db = tmp_path / "orders.db"
    command = [sys.executable, str(example), "--server", url, "--events", "600", "--db", str(db)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    numbers = {
        key: int(value.replace(",", ""))
        for value, key in re.findall(r"([\d,]+) (acked|dead-lettered|nak'd)", done.stdout)
    }
    assert numbers["acked"] + numbers["dead-lettered"] == 600 and numbers["dead-lettered"] >= 1
    assert f"rows in {db}: {numbers['acked']}" in done.stdout
    assert f"dead letters in ORDERS-DEAD: {numbers['dead-lettered']}" in done.stdout
    assert "quantity 0 is not positive" in done.stdout  # a reason, as published
    with contextlib.closing(sqlite3.connect(db)) as connection:
        (rows,) = connection.execute("SELECT count(DISTINCT id) FROM orders").fetchone()
    assert rows == numbers["acked"]


def test_a_subscriber_raising_ends_the_stream_with_its_error_and_stop_finishes(
    url: str, stream: str
) -> None:
    publish(url, f"{stream}.a", json_payloads(10))
    consumer = JetStreamConsumer(url, stream=stream, durable="app", batch_size=5, max_wait=0.1)
    raised = RuntimeError("subscriber boom")
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def on_next(result: BatchResult[JetStreamMessage, bytes]) -> None:
        seen.append(result.index)
        raise raised

    def on_error(error: Exception) -> None:
        errors.append(error)
        done.set()

    consumer.messages().pipe(
        buffer_with_count(5), fan_out(lambda m: m.data), acknowledge(f"{stream}-dead.x")
    ).subscribe(on_next, on_error, done.set)
    assert done.wait(HANG)
    assert errors == [raised] and seen == [0]  # the error itself, once; nothing after it
    consumer.stop().result(HANG)  # upstream was disposed: its connection has closed
    wait_until(lambda: "rxbatch-nats" not in {t.name for t in threading.enumerate()}, "loop ends")
    stats = consumer.stats()
    assert stats.pending == 0 and stats.acked >= 5


def test_messages_released_unprocessed_on_their_last_delivery_are_dead_lettered_not_lost(
    url: str, stream: str
) -> None:
    """Each run processes one message and is disposed: the rest were fetched, and each
    fetch counted a delivery. On the last one (max_deliver), JetStream would never
    deliver them again: they are dead-lettered instead of nak'd."""
    publish(url, f"{stream}.a", json_payloads(10))
    processed: list[int] = []

    def run_once(expected: int) -> None:
        consumer = JetStreamConsumer(
            url, stream=stream, durable="app", batch_size=10, max_deliver=2, max_wait=0.1
        )
        release = threading.Event()

        def handle(message: JetStreamMessage) -> int:
            if len(processed) < runs:
                processed.append(int(message.json()["n"]))
                return 0
            assert release.wait(HANG)  # the rest are still being processed at disposal
            return 0

        results: list[BatchResult[JetStreamMessage, int]] = []
        subscription = (
            consumer.messages()
            .pipe(
                buffer_with_count(1),
                fan_out(handle, max_concurrency=1),
                acknowledge(f"{stream}-dead.x"),
            )
            .subscribe(results.append)
        )
        wait_until(lambda: len(results) == 1 and consumer.stats().fetched == expected, "fetched")
        subscription.dispose()
        release.set()
        consumer.stop().result(HANG)  # closed
        assert consumer.stats().pending == 0

    runs = 1
    run_once(10)  # the first delivery of each: one processed, nine nak'd
    runs = 2
    run_once(9)  # the second and last: one processed, eight left over
    dead = stream_messages(url, f"{stream}-DLQ")
    assert sorted(processed + [int(json.loads(data)["n"]) for data, _ in dead]) == list(range(10))
    assert len(processed) == 2
    for _, headers in dead:
        assert headers["Rxbatch-Reason"] == (
            "not processed: the consumer stopped during its last delivery (max_deliver 2)"
        )
        assert headers["Rxbatch-Deliveries"] == "2"
    info = consumer_info(url, stream, "app")
    assert (info.num_ack_pending, info.num_pending) == (0, 0)


def test_without_a_dead_letter_subject_messages_released_on_their_last_delivery_are_counted(
    url: str, stream: str
) -> None:
    publish(url, f"{stream}.a", json_payloads(6))
    consumer = JetStreamConsumer(url, stream=stream, durable="app", max_deliver=1, max_wait=0.1)
    log, warnings = logging.getLogger("rxbatch.connectors.nats"), Records()
    log.addHandler(warnings)
    try:
        first: list[JetStreamMessage] = []
        subscription = consumer.messages().subscribe(first.append)
        wait_until(lambda: len(first) == 6, "delivered")
        subscription.dispose()
        consumer.stop().result(HANG)
    finally:
        log.removeHandler(warnings)
    stats = consumer.stats()
    assert (stats.abandoned, stats.retried, stats.pending) == (6, 0, 0)
    (warning,) = warnings.lines
    assert "6 messages were released unprocessed on their last delivery" in warning
    assert "no dead-letter subject is known" in warning


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_credentials_in_a_url_never_appear_in_what_is_printed(url: str, stream: str) -> None:
    error = errors_of(JetStreamConsumer("nats://u:secret@127.0.0.1:1", stream=stream, durable="d"))
    assert "cannot connect to nats://u:***@127.0.0.1:1:" in str(error)
    error = errors_of(JetStreamConsumer("nats://s3cr3t@127.0.0.1:1", stream=stream, durable="d"))
    assert "cannot connect to nats://***@127.0.0.1:1:" in str(error)
    assert "s3cr3t" not in str(error)
    # the server has no accounts: it lets the credentials in
    with_password = url.replace("nats://", "nats://u:secret@")
    error = errors_of(JetStreamConsumer(with_password, stream="NOPE", durable="d"))
    assert f"no stream 'NOPE' on {url.replace('nats://', 'nats://u:***@')}:" in str(error)
    error = errors_of(
        JetStreamConsumer(
            ["nats://a:b@127.0.0.1:1", with_password],
            stream="NOPE",
            durable="d",
            subject=f"{stream}.a",
        )
    )
    assert "secret" not in str(error) and ":b@" not in str(error)
    lines = JetStreamLines(with_password, stream="S", durable="d", subject="a.>")
    assert str(lines) == f"{url.replace('nats://', 'nats://u:***@')}/a.> (stream 'S', consumer 'd')"
