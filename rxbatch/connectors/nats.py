"""NATS JetStream in and out: a durable pull consumer as an Rx source, and the
acknowledgement that closes the loop after ``fan_out``.

``JetStreamConsumer(...).messages()`` pulls a durable consumer's messages in
batches; ``acknowledge(dead_letter_subject, retry=...)`` takes the
``BatchResult`` s that ``fan_out`` made of them and settles every message by
its outcome:

* succeeded: **ack**;
* failed: **nak** with the ``RetryPolicy``'s delay for its delivery count, so
  JetStream delivers it again later (to this process or another one on the
  same durable consumer);
* failed on its last allowed delivery (the consumer's ``max_deliver``), or
  with an error the ``RetryPolicy`` does not retry: published to the
  dead-letter subject with the reason (``Rxbatch-Reason`` header), then
  **terminated**.

Nothing is acked before it is processed, and nothing is lost if the process
dies: JetStream delivers what was not acked again after the consumer's
``ack_wait``. Several processes on one durable consumer share the work.

.. code-block:: python

    consumer = JetStreamConsumer("nats://127.0.0.1:4222", stream="EVENTS", durable="app")
    policy = RetryPolicy(max_retries=2, base_delay=0.5)
    consumer.messages().pipe(
        buffer_with_time_or_count(0.5, 100),
        fan_out(handle, retry=policy),  # handle(message: JetStreamMessage)
        acknowledge("events.dead", retry=policy),
    ).subscribe(print)

``JetStreamLines`` is the same consumer as a source for ``rxbatch.Loader``
(``rxbatch load nats://HOST:PORT/SUBJECT``): each batch is acked after its
transaction commits.

Needs ``pip install 'rxbatch[nats]'`` (``nats-py``).
"""

from __future__ import annotations

try:
    import nats  # noqa: F401
except ImportError as missing:  # pragma: no cover
    raise ImportError("NATS support needs: pip install 'rxbatch[nats]'") from missing

import asyncio
import concurrent.futures
import json
import queue
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar, cast

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SingleAssignmentDisposable
from reactivex.scheduler.eventloop import AsyncIOScheduler

from .._loop_thread import LoopThread
from .._validation import positive_int, seconds_between
from ..load import LineSource, LoadError
from ..load._lines import Line, TooLong
from ..node import NodeError
from ..results import BatchResult
from ..retry import RetryPolicy
from ._jetstream import (
    CLOSE_TIMEOUT,
    Connection,
    Counts,
    Held,
    JetStreamError,
    Settings,
    redact,
    reply_fields,
)

__all__ = [
    "JetStreamConsumer",
    "JetStreamError",
    "JetStreamLines",
    "JetStreamMessage",
    "JetStreamStats",
    "acknowledge",
]

R = TypeVar("R")
_BLANK = b" \t\r\n"


@dataclass(frozen=True, slots=True, eq=False)
class JetStreamMessage:
    """One message of a durable consumer, as ``fan_out``'s nodes see it.

    ``sequence`` is its position in the stream; ``num_delivered`` is 1 on its
    first delivery and grows with each redelivery. Settle it by passing its
    batch's ``BatchResult`` to ``acknowledge``.

    Example:
        >>> message = JetStreamMessage("events.click", b'{"id": 7}', None, "EVENTS", 12, 1)
        >>> message.json(), message.sequence
        ({'id': 7}, 12)
    """

    subject: str
    data: bytes
    headers: Mapping[str, str] | None
    stream: str
    sequence: int
    num_delivered: int
    _connection: Connection | None = field(default=None, repr=False)
    _id: int = field(default=-1, repr=False)

    def json(self) -> Any:
        """The data parsed as JSON."""
        return json.loads(self.data)


@dataclass(frozen=True, slots=True)
class JetStreamStats:
    """What a consumer's subscriptions did so far: a snapshot.

    ``retried`` counts naks (delivered again later), ``dead_lettered`` the
    messages published to the dead-letter subject and terminated; ``pending``
    the messages fetched and not settled yet. ``abandoned`` counts messages
    left unprocessed on their last allowed delivery (``max_deliver``) when a
    subscription ended, that could not be dead-lettered (no ``acknowledge``
    had named a dead-letter subject yet, or publishing failed): JetStream
    will not deliver them again; they stay in the stream.

    Example:
        >>> JetStreamStats(fetched=10, acked=7, retried=2, dead_lettered=1, pending=0).acked
        7
    """

    fetched: int
    acked: int
    retried: int
    dead_lettered: int
    pending: int
    abandoned: int = 0


class JetStreamConsumer:
    """A durable JetStream pull consumer as an Rx source of ``JetStreamMessage`` s.

    Each subscription of ``messages()`` opens its own connection. Subscribed
    on an ``AsyncIOScheduler``, it runs on that scheduler's loop (and emits
    there); otherwise on a private event loop thread of its own. It fetches
    up to ``batch_size`` messages at a time, and only while fewer than
    ``max_pending`` of its messages are unsettled: a slow pipeline holds a
    bounded number, the rest wait in JetStream. Every message it emits must
    reach ``acknowledge`` (or the subscription stalls once ``max_pending`` are
    held). Each fetch uses up a delivery of what it brings: a message left
    unsettled when the subscription ends is nak'd, or, on its last allowed
    delivery, dead-lettered to the subject ``acknowledge`` named (the
    reason: not processed), never dropped silently (``stats().abandoned``).

    The stream must exist. The durable consumer is created if missing (pull,
    explicit acks, ``ack_wait``, ``max_deliver``, filtered on ``subject``);
    an existing one is used as it is (its ``max_deliver`` and ``ack_wait``
    apply), after checking that it pulls with explicit acks and filters the
    ``subject`` given.

    Args:
        servers: A server URL (``nats://127.0.0.1:4222``) or several.
        stream: The stream's name.
        durable: The durable consumer's name: processes using the same name
            share its messages.
        subject: The subject (wildcards allowed) to filter on; None: all of
            the stream's.
        batch_size: Messages per fetch, at most.
        max_pending: Messages fetched and not yet settled, at most.
        max_wait: Seconds one fetch waits for messages (also the longest a
            partial batch waits, and how long a stop may take).
        ack_wait: Seconds JetStream waits for an ack before delivering a
            message again (for a consumer rxbatch creates). Keep it well above
            the time a message spends in the pipeline.
        max_deliver: Deliveries of a message at most, then it is
            dead-lettered (for a consumer rxbatch creates); None: unlimited.
        connect_options: More keyword arguments for ``nats.connect``.

    Raises:
        TypeError, ValueError: an argument is invalid (named in the message).
        Connection problems reach the subscriber's ``on_error`` as
        ``JetStreamError``.

    Example:
        >>> consumer = JetStreamConsumer("nats://127.0.0.1:4222", stream="EVENTS", durable="app")
        >>> consumer.stats()
        JetStreamStats(fetched=0, acked=0, retried=0, dead_lettered=0, pending=0, abandoned=0)
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        stream: str,
        durable: str,
        subject: str | None = None,
        batch_size: int = 100,
        max_pending: int = 1000,
        max_wait: float = 0.5,
        ack_wait: float = 30.0,
        max_deliver: int | None = 5,
        connect_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._settings = _settings(
            servers, stream, durable, subject, ack_wait, max_deliver, connect_options
        )
        self.batch_size = positive_int("batch_size", batch_size)
        self.max_pending = positive_int("max_pending", max_pending)
        self.max_wait = seconds_between("max_wait", max_wait, 0.01, 60.0)
        self._counts = Counts()
        self._lock = threading.Lock()
        self._runs: set[_Run] = set()

    def messages(self) -> Observable[JetStreamMessage]:
        """The consumer's messages, until ``stop()`` (or a connection error: ``on_error``).

        Example:
            >>> consumer = JetStreamConsumer("nats://127.0.0.1:4222", stream="S", durable="d")
            >>> type(consumer.messages()).__name__
            'Observable'
        """

        def subscribe(
            observer: abc.ObserverBase[JetStreamMessage],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            run = _Run(self, observer, scheduler)
            with self._lock:
                self._runs.add(run)
            run.start()
            return Disposable(run.dispose)

        return Observable(subscribe)

    def stop(self) -> concurrent.futures.Future[None]:
        """End the subscriptions running now, gracefully: fetch no more, complete.

        Each completes after its fetch in progress (at most ``max_wait``);
        its connection stays open until the messages it emitted are settled
        (at most the consumer's ``ack_wait``), then naks any left (or, on
        their last allowed delivery, dead-letters them: see ``JetStreamStats``)
        and closes.
        Thread-safe; never blocks.

        Returns:
            A future done once those connections have closed: wait for it
            before the event loop ends (``await asyncio.wrap_future(...)``)
            or the process exits.
        """
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            run.connection.request_stop()
        return _all_done([run.finished for run in runs])

    def stats(self) -> JetStreamStats:
        """A snapshot of what the subscriptions did (thread-safe)."""
        counts = self._counts
        with counts.lock:
            return JetStreamStats(
                counts.fetched, counts.acked, counts.retried, counts.dead_lettered, counts.pending,
                counts.abandoned,
            )  # fmt: skip

    def _ended(self, run: _Run) -> None:
        with self._lock:
            self._runs.discard(run)


class _Run:
    """One subscription of ``messages()``: its connection, its pump, and how it ends."""

    def __init__(
        self,
        consumer: JetStreamConsumer,
        observer: abc.ObserverBase[JetStreamMessage],
        scheduler: abc.SchedulerBase | None,
    ) -> None:
        self.consumer = consumer
        self.observer = observer
        private = None
        if isinstance(scheduler, AsyncIOScheduler):
            loop: asyncio.AbstractEventLoop = scheduler._loop
        else:
            private = LoopThread("rxbatch-nats", self._note)
            loop = private.loop
        self.connection = Connection(consumer._settings, loop, consumer._counts, private)
        self.task: asyncio.Task[None] | None = None
        self.closing: asyncio.Task[None] | None = None
        self.disposed = False  # on the loop only
        self.finished: concurrent.futures.Future[None] = concurrent.futures.Future()

    def _note(self, problem: str) -> None:
        self.connection._note(problem)

    def start(self) -> None:
        if not self.connection.call_soon(self._start):
            self._ended()
            self.observer.on_error(
                JetStreamError(f"{self.connection.s.where}: the scheduler's event loop is closed")
            )

    def _start(self) -> None:
        if not self.disposed:
            self.task = self.connection.loop.create_task(self._main())

    async def _main(self) -> None:
        consumer, connection = self.consumer, self.connection
        try:
            await connection.open()
            await connection.pump(
                self._emit, batch=consumer.batch_size, max_pending=consumer.max_pending,
                max_wait=consumer.max_wait,
            )  # fmt: skip
        except asyncio.CancelledError:
            return  # disposed: _close ends the connection
        except BaseException as error:  # JetStreamError, or raised by the subscriber
            if not self.disposed:
                # (it disposes: _close ends the connection)
                self.observer.on_error(cast(Exception, error))
            return
        if not self.disposed:
            self.observer.on_completed()

    def _emit(self, held: Held) -> None:
        connection, stream = self.connection, self.connection.s.stream
        on_next = self.observer.on_next
        for message_id, message in held:
            if self.disposed:
                return  # the rest stay pending: nak'd when the connection closes
            sequence, delivered = reply_fields(message.reply)
            on_next(
                JetStreamMessage(
                    message.subject, message.data, message.headers, stream, sequence, delivered,
                    connection, message_id,
                )
            )  # fmt: skip

    def dispose(self) -> None:
        if not self.connection.call_soon(self._dispose):
            self._ended()  # the loop is gone, and the connection with it

    def _ended(self) -> None:
        self.consumer._ended(self)
        if not self.finished.done():
            self.finished.set_result(None)

    def _dispose(self) -> None:
        if self.disposed:
            return
        self.disposed = True
        # After stop() the stream completed and what it emitted is still being
        # processed: wait for it to be settled. Otherwise nak what is pending.
        graceful = self.connection.stopping
        if self.connection.pumping is not None:
            # Let the fetch in progress end (at most max_wait) rather than cancel it: a
            # cancelled fetch leaves its pull request open on the server, which would
            # take the messages nak'd below, using up a delivery of each for nothing.
            self.connection._stop_fetching()
        elif self.task is not None and not graceful:
            self.task.cancel()
        self.closing = self.connection.loop.create_task(self._close(graceful))

    async def _close(self, graceful: bool) -> None:
        connection = self.connection
        try:
            if self.task is not None:
                await asyncio.wait({self.task}, timeout=connection.max_wait + 5.0)
            await connection.close(settle_within=connection.ack_wait if graceful else 0.0)
        finally:
            if connection.private is not None:
                connection.private.stop(wait=CLOSE_TIMEOUT)
            self._ended()


def _all_done(futures: list[concurrent.futures.Future[None]]) -> concurrent.futures.Future[None]:
    """A future done when all of ``futures`` are."""
    together: concurrent.futures.Future[None] = concurrent.futures.Future()
    left = [len(futures)]
    lock = threading.Lock()

    def one_done(_: concurrent.futures.Future[None]) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        together.set_result(None)

    if not futures:
        together.set_result(None)
    for future in futures:
        future.add_done_callback(one_done)
    return together


# -- acknowledge --------------------------------------------------------------------------


@dataclass
class _Plan:
    """How one connection settles its messages of one batch."""

    ack: list[int] = field(default_factory=list)
    nak: list[tuple[int, float]] = field(default_factory=list)
    dead: list[tuple[int, str, str, int]] = field(default_factory=list)


@dataclass(eq=False)
class _Settling:
    result: BatchResult[Any, Any] | None  # None: upstream's end
    remaining: int
    error: BaseException | None = None


def acknowledge(
    dead_letter_subject: str, *, retry: RetryPolicy | None = None
) -> Callable[
    [Observable[BatchResult[JetStreamMessage, R]]], Observable[BatchResult[JetStreamMessage, R]]
]:
    """Settle each message of each ``BatchResult`` by its outcome, then pass the result on.

    Succeeded: ack. Failed: nak with ``retry.delay(num_delivered)`` (no
    delay without ``retry``), so JetStream delivers it again. Failed on its
    last allowed delivery (the consumer's ``max_deliver``), or with an error
    whose cause ``retry`` does not retry (``retry_on``): published with
    JetStream to ``dead_letter_subject`` (its data, its headers but
    ``Nats-*``, and ``Rxbatch-Reason``, ``Rxbatch-Stream``,
    ``Rxbatch-Subject``, ``Rxbatch-Sequence``, ``Rxbatch-Deliveries``), then
    terminated. A stream must keep that subject: a dead letter no stream
    takes ends the pipeline with a ``JetStreamError``, its message left
    unsettled rather than lost.

    Each result is emitted, in input order, once its messages are settled
    (on the connection's event loop). Upstream's completion or error comes
    after the results before it.

    Args:
        dead_letter_subject: Where messages that failed for good go.
        retry: The policy ``fan_out`` retried with: its delays space the
            redeliveries, its ``retry_on`` tells what is worth one.

    Raises:
        TypeError, ValueError: an argument is invalid. A result whose items
            are not ``JetStreamMessage`` s ends the stream with ``TypeError``.

    Example:
        >>> from rxbatch import RetryPolicy
        >>> settle = acknowledge("events.dead", retry=RetryPolicy(max_retries=2, base_delay=1.0))
        >>> callable(settle)
        True
    """
    subject = _subject("dead_letter_subject", dead_letter_subject, wildcards=False)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy or None, got {retry!r}")

    def operator(
        source: Observable[BatchResult[JetStreamMessage, R]],
    ) -> Observable[BatchResult[JetStreamMessage, R]]:
        def subscribe(
            observer: abc.ObserverBase[BatchResult[JetStreamMessage, R]],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            lock = threading.Lock()
            waiting: deque[_Settling] = deque()
            end: list[BaseException | None] = []  # upstream's end: [None] or [error]
            state = {"emitting": False, "finished": False, "disposed": False}

            upstream = SingleAssignmentDisposable()

            def drain() -> None:
                """Emit what is ready, in order; one thread at a time does it."""
                with lock:
                    if state["emitting"]:
                        return  # the thread emitting now will see it
                    state["emitting"] = True
                try:
                    while emit_next():
                        pass
                except BaseException:  # the subscriber's on_error or on_completed raised
                    with lock:
                        state["emitting"] = False
                    raise

            def emit_next() -> bool:
                """Emit the next notification if it is ready; False (and no longer emitting) if not.

                Whether anything is ready and ``emitting`` are decided under one
                hold of the lock, so a notification queued meanwhile is never missed.
                """
                with lock:
                    live = not (state["finished"] or state["disposed"])
                    if live and waiting and waiting[0].remaining == 0:
                        entry = waiting.popleft()
                    elif live and not waiting and end:
                        entry = _Settling(None, 0, end[0])  # the end, after every result
                    else:
                        state["emitting"] = False
                        return False
                    if entry.result is None or entry.error is not None:
                        state["finished"] = True
                error, result = entry.error, entry.result
                if error is None and result is not None:
                    try:
                        observer.on_next(result)
                    except BaseException as raised:  # the subscriber's: it ends the stream
                        with lock:
                            state["finished"] = True
                        error = raised
                    else:
                        return True
                if error is None:
                    observer.on_completed()
                else:
                    upstream.dispose()
                    observer.on_error(cast(Exception, error))
                with lock:
                    state["emitting"] = False
                return False

            def settled(entry: _Settling, future: concurrent.futures.Future[None]) -> None:
                error = future.exception() if not future.cancelled() else None
                if future.cancelled():
                    error = JetStreamError("the connection closed before the acknowledgements")
                with lock:
                    entry.remaining -= 1
                    if error is not None and entry.error is None:
                        entry.error = error
                drain()

            def on_next(result: BatchResult[JetStreamMessage, R]) -> None:
                try:
                    plans = _plans(result, subject, retry)
                except TypeError as error:
                    entry = _Settling(result, 0, error)
                    with lock:
                        waiting.append(entry)
                    drain()
                    return
                entry = _Settling(result, len(plans))
                with lock:
                    waiting.append(entry)
                for connection, plan in plans.items():
                    future = connection.submit(
                        connection.settle(plan.ack, nak=plan.nak, dead=plan.dead)
                    )
                    future.add_done_callback(partial(settled, entry))
                if not plans:
                    drain()

            def on_end(error: BaseException | None) -> None:
                with lock:
                    if not end:
                        end.append(error)
                drain()

            upstream.disposable = source.subscribe(
                on_next, on_end, partial(on_end, None), scheduler=scheduler
            )

            def dispose() -> None:  # settling goes on: the messages were processed
                with lock:
                    state["disposed"] = True
                upstream.dispose()

            return Disposable(dispose)

        return Observable(subscribe)

    return operator


def _plans(result: object, subject: str, retry: RetryPolicy | None) -> dict[Connection, _Plan]:
    """What each connection does with each message of ``result``."""
    if not isinstance(result, BatchResult):
        raise TypeError(
            f"acknowledge needs the BatchResults of fan_out, got {type(result).__name__}"
        )
    plans: dict[Connection, _Plan] = {}
    for position, message in enumerate(result.items):
        if not isinstance(message, JetStreamMessage) or message._connection is None:
            raise TypeError(
                "acknowledge needs batches of JetStreamMessages from JetStreamConsumer.messages(); "
                f"item {position} of batch {result.index} is {type(message).__name__}"
            )
        connection = message._connection
        connection.dead_letter_subject = subject  # for what is left unprocessed at close
        plan = plans.setdefault(connection, _Plan())
        error = result.errors.get(position)
        if error is None:
            plan.ack.append(message._id)
            continue
        delivered = message.num_delivered
        cause = error.__cause__ if isinstance(error, NodeError) and error.__cause__ else error
        if retry is not None and not (
            isinstance(cause, Exception) and isinstance(cause, retry.retry_on)
        ):
            reason = f"not retried ({type(cause).__name__} is not in retry_on): {error}"
            plan.dead.append((message._id, subject, reason, delivered))
        elif connection.max_deliver is not None and delivered >= connection.max_deliver:
            reason = f"failed on all {delivered} deliveries (max_deliver): {error}"
            plan.dead.append((message._id, subject, reason, delivered))
        else:
            plan.nak.append((message._id, retry.delay(delivered) if retry is not None else 0.0))
    return plans


# -- the loader's source ------------------------------------------------------------------


class JetStreamLines(LineSource):
    """A durable consumer's messages as lines for ``rxbatch.Loader``, acked after commit.

    What ``rxbatch load nats://HOST:PORT/SUBJECT --stream S --durable D``
    reads. Each message is one line: its stream sequence is the line number
    (dead letters name it), its data the line. After a batch's transaction
    commits, its written (or ignored) messages are acked and its
    dead-lettered ones terminated (they are handled: the loader's dead
    letters hold them). Messages of a batch that never committed (the load
    stopped, or failed) are nak'd when the load ends, or, if the process
    died, delivered again by JetStream after the consumer's ``ack_wait``.
    Blank messages are counted as skipped and acked. The loader fetches
    ahead up to two batches.

    The consumer is created if missing with unlimited deliveries (the
    loader decides what is a dead letter, not a delivery count). With an
    existing consumer's ``max_deliver``, a message not committed on its
    last delivery cannot be delivered again: it is logged (a warning from
    ``rxbatch.connectors.nats``, with the count), not nak'd.

    Args:
        servers: A server URL (``nats://127.0.0.1:4222``) or several.
        stream: The stream's name (it must exist).
        durable: The durable consumer's name.
        subject: The subject to filter on (None: the whole stream).
        ack_wait: Seconds before JetStream delivers an unacked message again
            (for a consumer rxbatch creates).
        connect_options: More keyword arguments for ``nats.connect``.

    Example:
        >>> source = JetStreamLines("nats://127.0.0.1:4222", stream="EVENTS", durable="loader",
        ...                         subject="events.>")
        >>> str(source)
        "nats://127.0.0.1:4222/events.> (stream 'EVENTS', consumer 'loader')"
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        stream: str,
        durable: str,
        subject: str | None = None,
        ack_wait: float = 30.0,
        connect_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._settings = _settings(
            servers, stream, durable, subject, ack_wait, None, connect_options
        )
        self._connection: Connection | None = None
        self._queue: queue.SimpleQueue[tuple[list[Line], int] | BaseException | None] = (
            queue.SimpleQueue()
        )
        self._closed = False

    def __str__(self) -> str:
        s = self._settings
        return f"{s.server}/{s.subject or '>'} (stream {s.stream!r}, consumer {s.durable!r})"

    def open(
        self,
        *,
        max_lines: int,
        max_line_bytes: int,
        on_blank: Callable[[], None],
        flush_interval: float,
    ) -> Iterator[list[Line]]:
        """Connect and bind; then the lines, as fetched (see ``LineSource.open``)."""
        if self._connection is not None:
            raise RuntimeError("a JetStreamLines is opened once; make a new one")
        thread = LoopThread("rxbatch-nats", lambda problem: None)
        connection = Connection(self._settings, thread.loop, Counts(), thread)
        self._connection = connection
        try:
            connection.submit(connection.open()).result()
        except JetStreamError as error:
            thread.stop(wait=CLOSE_TIMEOUT)
            self._closed = True
            raise LoadError(str(error), param="source", usage=error.usage) from error
        deliver = partial(self._deliver, connection, max_line_bytes)
        # a partial batch waits at most about a flush interval for the fetch to end
        wait = min(max(flush_interval, 0.05), 0.5)
        connection.submit(self._pump(connection, deliver, max_lines, wait))
        return self._lines(on_blank)

    async def _pump(
        self,
        connection: Connection,
        deliver: Callable[[Held], None],
        max_lines: int,
        wait: float,
    ) -> None:
        try:
            await connection.pump(
                deliver, batch=max_lines, max_pending=2 * max_lines, max_wait=wait
            )
        except BaseException as error:  # the connection is gone: the reader says so
            self._queue.put(error)
            if isinstance(error, asyncio.CancelledError):
                raise
        else:
            self._queue.put(None)

    def _deliver(self, connection: Connection, limit: int, held: Held) -> None:
        lines: list[Line] = []
        blank: list[int] = []
        for message_id, message in held:
            data = message.data
            if not data or (data[0] in _BLANK and not data.strip(_BLANK)):
                blank.append(message_id)
                continue
            raw = data if len(data) <= limit else TooLong(data[:limit], len(data))
            lines.append((reply_fields(message.reply)[0], message_id, raw))
        if blank:
            connection.settle_soon(blank)  # nothing to load: handled
        self._queue.put((lines, len(blank)))

    def _lines(self, on_blank: Callable[[], None]) -> Iterator[list[Line]]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise LoadError(str(item) or repr(item)) from item
            lines, blanks = item
            for _ in range(blanks):
                on_blank()
            if lines:
                yield lines

    def committed(self, lines: Sequence[Line], dead_lettered: Collection[int]) -> None:
        """Ack the batch's messages; terminate its dead-lettered ones (from a writer thread)."""
        connection = self._connection
        if connection is None:
            return
        if dead_lettered:
            ack = [line[1] for line in lines if line[0] not in dead_lettered]
            term = [line[1] for line in lines if line[0] in dead_lettered]
        else:
            ack, term = [line[1] for line in lines], []
        connection.call_soon(connection.settle_soon, ack, term)

    def close(self) -> None:
        """Fetch no more, nak what was not committed, flush the acks and disconnect."""
        connection = self._connection
        if connection is None or self._closed:
            return
        self._closed = True
        try:
            connection.submit(connection.close()).result(timeout=30.0)
        except Exception:  # the server is gone: JetStream redelivers after ack_wait
            pass
        finally:
            if connection.private is not None:
                connection.private.stop(wait=CLOSE_TIMEOUT)
            self._queue.put(None)  # a reader still waiting ends


# -- arguments ----------------------------------------------------------------------------


def _settings(
    servers: object,
    stream: object,
    durable: object,
    subject: object,
    ack_wait: object,
    max_deliver: object,
    connect_options: Mapping[str, Any] | None,
) -> Settings:
    if isinstance(servers, str):
        urls: tuple[str, ...] = (servers,)
    elif isinstance(servers, Sequence) and servers and all(isinstance(s, str) for s in servers):
        urls = tuple(servers)
    else:
        raise TypeError(f"servers must be a URL or a list of URLs, got {servers!r}")
    if not all(urls) or any(any(c.isspace() for c in url) for url in urls):
        shown = [redact(url) for url in urls]
        raise ValueError(f"servers must be URLs like nats://127.0.0.1:4222, got {shown!r}")
    if max_deliver is not None:
        max_deliver = positive_int("max_deliver", max_deliver)
    if connect_options is not None and not isinstance(connect_options, Mapping):
        raise TypeError(f"connect_options must be a mapping, got {connect_options!r}")
    return Settings(
        urls,
        _name("stream", stream),
        _name("durable", durable),
        None if subject is None else _subject("subject", subject, wildcards=True),
        seconds_between("ack_wait", ack_wait, 0.001, 365 * 24 * 3600.0),
        max_deliver,
        dict(connect_options or {}),
    )


def _name(param: str, value: object) -> str:
    """A stream or consumer name: no whitespace, ``.``, ``*``, ``>``, or path separator."""
    if not isinstance(value, str):
        raise TypeError(f"{param} must be a str, got {type(value).__name__} {value!r}")
    if not value or any(c.isspace() or c in ".*>/\\" for c in value):
        raise ValueError(
            f"{param} must be a name without whitespace, '.', '*', '>', '/' or '\\', got {value!r}"
        )
    return value


def _subject(param: str, value: object, *, wildcards: bool) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{param} must be a str, got {type(value).__name__} {value!r}")
    tokens = value.split(".")
    if not value or any(not token or any(c.isspace() for c in token) for token in tokens):
        raise ValueError(f"{param} must be a subject like 'events.click', got {value!r}")
    if not wildcards and any(token in ("*", ">") for token in tokens):
        raise ValueError(f"{param} must not hold wildcards, got {value!r}")
    return value
