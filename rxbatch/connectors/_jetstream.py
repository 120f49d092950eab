"""One JetStream pull subscription on an event loop: connect, fetch while there is room,
settle what was processed, close.

A ``Connection`` lives on one event loop (an ``AsyncIOScheduler``'s, or a
private ``LoopThread``); only the methods marked thread-safe may be called
from elsewhere. Every message fetched is *pending* until it is settled (ack,
nak or term); the pump fetches only while fewer than ``max_pending`` are, so
a slow pipeline holds a bounded number of messages, and whatever is still
pending when the connection closes is nak'd, so that it is delivered again
at once rather than after the consumer's ``ack_wait``.

Each fetch uses up a delivery of every message it brings, processed or not.
A message still pending at close on its last allowed delivery (the
consumer's ``max_deliver``) would never be delivered again, nak'd or not:
it is dead-lettered instead (published to ``dead_letter_subject`` with the
reason, then terminated). Without a dead-letter subject it is counted as
*abandoned* and logged (``rxbatch.connectors.nats``, a warning): it stays
in the stream, and the consumer will not deliver it again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo

from .._loop_thread import LoopThread

__all__ = ["Connection", "Counts", "JetStreamError", "Settings", "redact", "reply_fields"]

T = TypeVar("T")
Held = list[tuple[int, Msg]]  # messages just fetched, with the ids they are pending under

CLOSE_TIMEOUT = 5.0  # seconds to flush acks and close before giving up on the server
_RETRY_PAUSE = 0.1  # seconds between fetches while the client reconnects
_log = logging.getLogger("rxbatch.connectors.nats")


class JetStreamError(Exception):
    """JetStream could not be used: the message names the server, stream or consumer, and why.

    ``usage`` is True when the arguments are at fault (no such stream, a
    consumer set up for another subject) rather than the world (the server
    cannot be reached, the connection was lost).

    Example:
        >>> error = JetStreamError("no stream 'EVENTS' on nats://127.0.0.1:4222", usage=True)
        >>> str(error), error.usage
        ("no stream 'EVENTS' on nats://127.0.0.1:4222", True)
    """

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class Settings:
    """Where the consumer is, and how rxbatch creates it if it does not exist yet."""

    servers: tuple[str, ...]
    stream: str
    durable: str
    subject: str | None
    ack_wait: float
    max_deliver: int | None  # None: unlimited
    connect_options: Mapping[str, Any]

    @property
    def server(self) -> str:
        """The first server's URL as it may be shown: no password or token."""
        return redact(self.servers[0])

    @property
    def where(self) -> str:
        return f"{self.server} (stream {self.stream!r}, consumer {self.durable!r})"


def redact(url: str) -> str:
    """``url`` with its password, or its token, replaced by ``***`` (for messages).

    Example:
        >>> redact("nats://u:secret@127.0.0.1:4222"), redact("nats://tok@host/x")
        ('nats://u:***@127.0.0.1:4222', 'nats://***@host/x')
        >>> redact("nats://127.0.0.1:4222")
        'nats://127.0.0.1:4222'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{sep}{user + ':***' if colon else '***'}@{host}{slash}{path}"


class Counts:
    """What the connections of one consumer did; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fetched = self.acked = self.retried = self.dead_lettered = self.pending = 0
        self.abandoned = 0

    def add(
        self, *, fetched: int = 0, acked: int = 0, retried: int = 0, dead_lettered: int = 0,
        abandoned: int = 0, settled: int = 0,
    ) -> None:  # fmt: skip
        with self.lock:
            self.fetched += fetched
            self.acked += acked
            self.retried += retried
            self.dead_lettered += dead_lettered
            self.abandoned += abandoned
            self.pending += fetched - settled


def reply_fields(reply: str) -> tuple[int, int]:
    """A JetStream message's stream sequence and delivery count, from its reply subject.

    (``Msg.metadata`` parses the same and more: a timestamp and two objects
    per message, which the loader's hot path does without.)

    Example:
        >>> reply_fields("$JS.ACK.EVENTS.app.2.17.40.1700000000000000000.5")
        (17, 2)
        >>> reply_fields("$JS.ACK._.ACC.EVENTS.app.1.18.41.1700000000000000000.4.tok")
        (18, 1)
    """
    tokens = reply.split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>...
        return int(tokens[5]), int(tokens[4])
    # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<stream seq>...
    return int(tokens[Msg.Ack.StreamSeq]), int(tokens[Msg.Ack.NumDelivered])


class Connection:
    """One connection and pull subscription to a durable consumer, used on its loop."""

    def __init__(
        self,
        settings: Settings,
        loop: asyncio.AbstractEventLoop,
        counts: Counts,
        private: LoopThread | None = None,
    ) -> None:
        self.s = settings
        self.loop = loop
        self.counts = counts
        self.private = private  # the loop's thread, when the loop is ours
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.sub: JetStreamContext.PullSubscription | None = None
        self.max_deliver = settings.max_deliver
        self.ack_wait = settings.ack_wait
        # where messages released unprocessed on their last delivery go (set by acknowledge)
        self.dead_letter_subject: str | None = None
        self.pending: dict[int, Msg] = {}
        self.next_id = 0
        self.stopping = False
        self.closed = False
        self.room: asyncio.Event | None = None  # set when pending shrinks (made on the loop)
        self.settled: asyncio.Event | None = None  # set when nothing is pending
        self.settling: set[asyncio.Task[None]] = set()
        self.pumping: asyncio.Task[Any] | None = None
        self.max_wait = 0.0
        self.problems: list[str] = []  # what the client reported along the way

    # -- thread-safe ---------------------------------------------------------------------

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coroutine`` on the loop; a closed loop gives a failed future."""
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        except RuntimeError:  # the loop is closed
            coroutine.close()
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            future.set_exception(JetStreamError(f"{self.s.where}: the connection has closed"))
            return future

    def call_soon(self, function: Callable[..., object], *args: Any) -> bool:
        """Call ``function(*args)`` on the loop; False if the loop has closed."""
        try:
            self.loop.call_soon_threadsafe(function, *args)
        except RuntimeError:
            return False
        return True

    def request_stop(self) -> None:
        """Fetch no more (thread-safe): the pump returns after the fetch in progress."""
        self.call_soon(self._stop_fetching)

    # -- on the loop ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, check the stream, find or create the consumer, and bind to it.

        Raises:
            JetStreamError: saying what is missing or unreachable.
        """
        self.room, self.settled = asyncio.Event(), asyncio.Event()
        self.settled.set()
        options: dict[str, Any] = {
            "name": "rxbatch",
            "error_cb": self._problem,
            "disconnected_cb": _nothing,
            "reconnected_cb": _nothing,
            "closed_cb": _nothing,
            **self.s.connect_options,
        }
        # The first connection gives up after two quick tries of each server
        # (the client's default: two minutes); a connection lost later is
        # reconnected as the options say.
        later = {
            "max_reconnect_attempts": options.get("max_reconnect_attempts", 60),
            "reconnect_time_wait": options.get("reconnect_time_wait", 2),
        }
        options.update(max_reconnect_attempts=1, reconnect_time_wait=_RETRY_PAUSE)
        try:
            self.nc = await nats.connect(list(self.s.servers), **options)
        except Exception as error:
            reason = _describe(error)
            if isinstance(error, nats.errors.NoServersError) and self.problems:
                reason = self.problems[-1]  # why the last try failed
            servers = ", ".join(redact(server) for server in self.s.servers)
            raise JetStreamError(f"cannot connect to {servers}: {reason}") from error
        self.nc.options.update(later)
        try:
            self.js = self.nc.jetstream()
            await self._check_stream(self.js)
            info = await self._consumer(self.js)
            self.sub = await self.js.pull_subscribe_bind(
                durable=self.s.durable, stream=self.s.stream
            )
        except BaseException as error:
            await self._disconnect()
            if isinstance(error, JetStreamError | asyncio.CancelledError):
                raise
            raise JetStreamError(f"{self.s.where}: {_describe(error)}") from error
        max_deliver = info.config.max_deliver
        self.max_deliver = max_deliver if max_deliver is not None and max_deliver > 0 else None
        self.ack_wait = info.config.ack_wait or self.s.ack_wait

    async def _check_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.s.stream)
        except nats.js.errors.NotFoundError:
            raise JetStreamError(
                f"no stream {self.s.stream!r} on {self.s.server}: create it first "
                "(the stream decides which subjects are kept, and for how long)",
                usage=True,
            ) from None

    async def _consumer(self, js: JetStreamContext) -> ConsumerInfo:
        """The durable consumer: created (explicit acks, pull) if missing, else checked."""
        s = self.s
        try:
            info = await js.consumer_info(s.stream, s.durable)
        except nats.js.errors.NotFoundError:
            config = ConsumerConfig(
                durable_name=s.durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=s.ack_wait,
                max_deliver=s.max_deliver if s.max_deliver is not None else -1,
                filter_subject=s.subject,
                max_ack_pending=-1,  # each process bounds what it holds itself
            )
            try:
                info = await js.add_consumer(s.stream, config)
            except nats.js.errors.BadRequestError as refused:
                try:  # another process created it meanwhile?
                    info = await js.consumer_info(s.stream, s.durable)
                except nats.js.errors.NotFoundError:
                    raise JetStreamError(
                        f"cannot create consumer {s.durable!r} on stream {s.stream!r}: "
                        f"{refused.description or refused}",
                        usage=True,
                    ) from refused
        config = info.config
        problem = None
        if config.deliver_subject:
            problem = "is a push consumer (it has a deliver subject); rxbatch pulls"
        elif config.ack_policy not in (AckPolicy.EXPLICIT, None):
            problem = f"acknowledges with {config.ack_policy}; rxbatch needs explicit acks"
        elif s.subject is not None and (config.filter_subject or None) not in (None, s.subject):
            problem = f"filters subject {config.filter_subject!r}, not {s.subject!r}"
        if problem is not None:
            raise JetStreamError(
                f"consumer {s.durable!r} of stream {s.stream!r} {problem}", usage=True
            )
        return cast(ConsumerInfo, info)

    async def pump(
        self, deliver: Callable[[Held], None], *, batch: int, max_pending: int, max_wait: float
    ) -> None:
        """Fetch while fewer than ``max_pending`` messages are pending; hand each fetch over.

        Returns once stopping (after the fetch in progress). ``deliver`` gets
        the messages with their ids, already pending.

        Raises:
            JetStreamError: the connection closed for good, or the consumer is gone.
        """
        assert self.room is not None and self.sub is not None and self.nc is not None
        self.pumping = asyncio.current_task()
        self.max_wait = max_wait
        while not self.stopping:
            room = max_pending - len(self.pending)
            if room <= 0:
                self.room.clear()
                await self.room.wait()
                continue
            try:
                messages = await self.sub.fetch(min(batch, room), timeout=max_wait)
            except TimeoutError:  # nothing came (nats' TimeoutError is one too)
                continue
            except (nats.errors.ConnectionReconnectingError, nats.errors.StaleConnectionError):
                await asyncio.sleep(_RETRY_PAUSE)
                continue
            except nats.errors.Error as error:
                if not self.nc.is_closed and self.nc.is_reconnecting:
                    await asyncio.sleep(_RETRY_PAUSE)
                    continue
                raise JetStreamError(f"{self.s.where}: cannot fetch: {_describe(error)}") from error
            if self.nc.is_closed:
                raise JetStreamError(f"{self.s.where}: the connection has closed")
            start = self.next_id
            self.next_id += len(messages)
            held = list(zip(range(start, self.next_id), messages, strict=True))
            self.pending.update(held)
            self.settled.clear()  # type: ignore[union-attr]
            self.counts.add(fetched=len(held))
            deliver(held)

    def settle_soon(
        self,
        ack: Collection[int],
        term: Collection[int] = (),
        nak: Sequence[tuple[int, float]] = (),
        dead: Sequence[tuple[int, str, str, int]] = (),
    ) -> asyncio.Task[None]:
        """Start settling these pending messages (see ``settle``); the task is kept until done."""
        task = self.loop.create_task(self.settle(ack, term, nak, dead))
        self.settling.add(task)
        task.add_done_callback(self._settled)
        return task

    def _settled(self, task: asyncio.Task[None]) -> None:
        self.settling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._note(str(task.exception()))  # the messages will be delivered again

    async def settle(
        self,
        ack: Collection[int],
        term: Collection[int] = (),
        nak: Sequence[tuple[int, float]] = (),
        dead: Sequence[tuple[int, str, str, int]] = (),
    ) -> None:
        """Ack, term, nak (id, delay) and dead-letter (id, subject, reason, deliveries).

        A dead letter is published to its subject with JetStream (a stream
        must keep it) before its message is terminated. Messages no longer
        pending (nak'd when the connection closed) are left alone.

        Raises:
            JetStreamError: a dead letter could not be published (its message
                is left pending), or the connection closed.
        """
        pending = self.pending
        done = {"acked": 0, "retried": 0, "dead_lettered": 0}
        try:
            for ids, answer, kind in ((ack, Msg.ack, "acked"), (term, Msg.term, "dead_lettered")):
                for message_id in ids:
                    message = pending.pop(message_id, None)
                    if message is not None:
                        done[kind] += 1
                        await answer(message)
            for message_id, delay in nak:
                message = pending.pop(message_id, None)
                if message is not None:
                    done["retried"] += 1
                    await message.nak(delay=delay or None)
            for message_id, subject, reason, deliveries in dead:
                message = pending.get(message_id)
                if message is not None:
                    await self._dead_letter(message, subject, reason, deliveries)
                    del pending[message_id]
                    done["dead_lettered"] += 1
                    await message.term()
        except JetStreamError:
            raise
        except Exception as error:
            raise JetStreamError(
                f"{self.s.where}: cannot acknowledge: {_describe(error)}"
            ) from error
        finally:
            self.counts.add(**done, settled=sum(done.values()))
            self._released()

    async def _dead_letter(self, message: Msg, subject: str, reason: str, deliveries: int) -> None:
        assert self.js is not None
        stream_sequence, _ = reply_fields(message.reply)
        headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("Nats-")}
        headers.update({
            "Rxbatch-Reason": " ".join(reason.split())[:4000],  # one line: a header can't break
            "Rxbatch-Stream": self.s.stream,
            "Rxbatch-Subject": message.subject,
            "Rxbatch-Sequence": str(stream_sequence),
            "Rxbatch-Deliveries": str(deliveries),
        })  # fmt: skip
        what = f"message {stream_sequence} of stream {self.s.stream!r}"
        try:
            await self.js.publish(subject, message.data, headers=headers)
        except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
            raise JetStreamError(
                f"cannot dead-letter {what} to {subject!r}: no stream keeps that subject "
                "(add it to a stream); the message was not terminated",
                usage=True,
            ) from None
        except Exception as error:
            raise JetStreamError(
                f"cannot dead-letter {what} to {subject!r}: {_describe(error)}; "
                "the message was not terminated"
            ) from error

    def _released(self) -> None:
        assert self.room is not None and self.settled is not None
        self.room.set()
        if not self.pending:
            self.settled.set()

    def _stop_fetching(self) -> None:
        self.stopping = True
        if self.room is not None:
            self.room.set()

    async def close(self, *, settle_within: float = 0.0) -> None:
        """Fetch no more; wait up to ``settle_within`` s for the pending to be settled;
        nak the rest; flush and close. Never raises (what went wrong is in ``problems``)."""
        self._stop_fetching()
        if self.closed:
            return
        self.closed = True
        pumping = self.pumping
        if pumping is not None and pumping is not asyncio.current_task() and not pumping.done():
            # Its fetch ends within max_wait: what it brings is pending, and nak'd below.
            await asyncio.wait({pumping}, timeout=self.max_wait + CLOSE_TIMEOUT)
            pumping.cancel()
        if self.settling:
            await asyncio.wait(set(self.settling), timeout=CLOSE_TIMEOUT)
        if settle_within > 0 and self.settled is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.settled.wait(), settle_within)
        left, self.pending = list(self.pending.values()), {}
        last: list[Msg] = []  # on their last delivery: dead-lettered, not nak'd
        again: list[Msg] = []
        for message in left:
            (last if self._on_last_delivery(message) else again).append(message)
        try:
            for message in again:  # delivered again at once, not after ack_wait
                await message.nak()
        except Exception as error:
            self._note(f"could not nak {len(again)} messages: {_describe(error)}")
        self.counts.add(settled=len(again))
        await self._release_last(last)
        await self._disconnect()

    def _on_last_delivery(self, message: Msg) -> bool:
        return self.max_deliver is not None and reply_fields(message.reply)[1] >= self.max_deliver

    async def _release_last(self, messages: list[Msg]) -> None:
        """Dead-letter messages that are on their last delivery and were not processed.

        JetStream delivers such a message no more, nak'd or not: dead-lettered,
        it is not lost. Without a dead-letter subject (or if publishing
        fails) it is counted as abandoned and logged.
        """
        subject, dead = self.dead_letter_subject, 0
        reason = (
            "not processed: the consumer stopped during its last delivery "
            f"(max_deliver {self.max_deliver})"
        )
        try:
            if subject is not None:
                for message in messages:
                    deliveries = reply_fields(message.reply)[1]
                    await self._dead_letter(message, subject, reason, deliveries)
                    await message.term()
                    dead += 1
        except Exception as error:
            self._note(_describe(error))
            _log.warning("%s: %s", self.s.where, _describe(error))
        abandoned = len(messages) - dead
        self.counts.add(dead_lettered=dead, abandoned=abandoned, settled=len(messages))
        if abandoned:
            why = "no dead-letter subject is known" if subject is None else "dead-lettering failed"
            problem = (
                f"{self.s.where}: {abandoned} messages were released unprocessed on their last "
                f"delivery (max_deliver {self.max_deliver}) and {why}: JetStream will not "
                "deliver them again (they stay in the stream)"
            )
            self._note(problem)
            _log.warning("%s", problem)

    async def _disconnect(self) -> None:
        nc = self.nc
        if nc is None or nc.is_closed:
            return
        try:
            if self.sub is not None:
                await self.sub.unsubscribe()
            await nc.flush(timeout=int(CLOSE_TIMEOUT))  # the server has every ack
        except Exception as error:
            self._note(f"could not flush the acknowledgements: {_describe(error)}")
        with contextlib.suppress(Exception):
            await nc.close()

    async def _problem(self, error: Exception) -> None:
        self._note(_describe(error))

    def _note(self, problem: str) -> None:
        self.problems = [*self.problems[-9:], problem]


async def _nothing() -> None:
    """A connection callback with nothing to do (the client insists on coroutines)."""


def _describe(error: BaseException) -> str:
    text = str(error)
    name = type(error).__name__
    return f"{name}: {text}" if text and text != name else name
