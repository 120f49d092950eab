"""Ordered emission: each batch's ``BatchResult``, in input order (or in
completion order), then the terminal notification once every admitted batch
is out.

Whatever thread finishes a batch queues its result; one thread at a time
delivers the queue, never under the lock, so downstream is never called
concurrently and never from inside fan_out's critical sections.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from reactivex import abc

from ..results import BatchResult

__all__ = ["Emitter"]

T = TypeVar("T")
R = TypeVar("R")


class _End:
    """The terminal notification: completion, or the error the stream ends with."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Emitter(Generic[T, R]):
    """Numbers batches as they are admitted and delivers their results.

    Methods other than ``flush`` are called with ``lock`` held.
    """

    def __init__(
        self,
        observer: abc.ObserverBase[BatchResult[T, R]],
        lock: threading.RLock,
        *,
        ordered: bool,
        on_subscriber_error: Callable[[BaseException], object],
        delivered: Callable[[BatchResult[T, R]], None],
        release: Callable[[], None],
    ) -> None:
        self.observer = observer
        self.lock = lock
        self.ordered = ordered
        self.on_subscriber_error = on_subscriber_error  # on_next raised: end the stream
        self.delivered = delivered  # on_next returned: the result is downstream's now
        self.release = release  # after the terminal notification
        self.next_index = 0
        self.open = 0  # admitted batches not yet done
        self.done: dict[int, BatchResult[T, R]] = {}  # done early, waiting for their turn
        self.next_to_emit = 0
        self.ready: deque[BatchResult[T, R] | _End] = deque()
        self.emitting = False
        self.emitting_thread: int | None = None  # the thread in ``flush``, delivering
        self.upstream_ended = False
        self.upstream_error: BaseException | None = None
        self.ending = False  # the terminal notification is queued: queue nothing more

    def open_batch(self) -> int:
        """A batch was admitted: its index."""
        index = self.next_index
        self.next_index += 1
        self.open += 1
        return index

    def close_batch(self, result: BatchResult[T, R]) -> None:
        """A batch is done: queue its result in its turn."""
        self.open -= 1
        if self.ending:
            return
        if self.ordered:
            if result.index != self.next_to_emit:
                self.done[result.index] = result
                return
            self.ready.append(result)
            self.next_to_emit += 1
            while self.next_to_emit in self.done:
                self.ready.append(self.done.pop(self.next_to_emit))
                self.next_to_emit += 1
        else:
            self.ready.append(result)
        self._end_if_all_out()

    def end(self, error: BaseException | None) -> bool:
        """Upstream ended: end downstream once every admitted batch is out. False if it had."""
        if self.upstream_ended or self.ending:
            return False
        self.upstream_ended = True
        self.upstream_error = error
        self._end_if_all_out()
        return True

    def fail(self, error: BaseException) -> bool:
        """End downstream with ``error`` now, dropping results not yet delivered.

        False if the stream was already ending.
        """
        if self.ending:
            return False
        self.ready.clear()
        self.done.clear()
        self.ending = True
        self.ready.append(_End(error))
        return True

    def stop(self) -> None:
        """Disposed: deliver nothing more."""
        self.ending = True
        self.ready.clear()
        self.done.clear()

    def _end_if_all_out(self) -> None:
        if self.upstream_ended and not self.open and not self.ending:
            self.ending = True
            self.ready.append(_End(self.upstream_error))

    def flush(self) -> None:
        """Deliver what is queued, in order; one thread at a time, never under the lock.

        An exception raised by the subscriber's ``on_next`` ends the stream
        (``on_subscriber_error``); one raised by its terminal notification has
        no one left to go to and propagates to this thread's caller.
        """
        if not self.ready:
            return  # whoever queues a result calls flush afterwards
        with self.lock:
            if self.emitting:
                return  # the emitting thread re-checks under the lock before it stops
            self.emitting = True
            self.emitting_thread = threading.get_ident()
        while True:
            with self.lock:
                if not self.ready:
                    self.emitting = False
                    self.emitting_thread = None
                    return
                item = self.ready.popleft()
            if isinstance(item, _End):
                try:
                    _deliver_end(self.observer, item.error)
                finally:
                    with self.lock:
                        self.emitting = False
                        self.emitting_thread = None
                    self.release()
                return
            try:
                self.observer.on_next(item)
            except BaseException as error:
                self.on_subscriber_error(error)
            else:
                self.delivered(item)


def _deliver_end(observer: abc.ObserverBase[Any], error: BaseException | None) -> None:
    if error is None:
        observer.on_completed()
    else:
        # reactivex types on_error for Exception; KeyboardInterrupt and
        # SystemExit end the stream too, and .run() raises them as they are.
        observer.on_error(cast(Exception, error))
