"""Shared helpers: virtual-time tests, and a real NATS server per test module."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from reactivex import Observable, abc
from reactivex.testing import TestScheduler


class TimerLog:
    """A scheduler that forwards to a TestScheduler and logs the timers asked of it.

    Give it to an operator as ``scheduler=`` to see exactly which timers the
    operator schedules (``due``, in virtual ticks), apart from the test
    scheduler's own bookkeeping.
    """

    def __init__(self, scheduler: TestScheduler) -> None:
        self.scheduler = scheduler
        self.due: list[float] = []

    @property
    def now(self) -> datetime:
        return self.scheduler.now

    def schedule(self, action: Any, state: Any = None) -> abc.DisposableBase:
        return self.scheduler.schedule(action, state)

    def schedule_relative(self, duetime: Any, action: Any, state: Any = None) -> abc.DisposableBase:
        return self.schedule_absolute(
            self.scheduler.add(self.scheduler.clock, duetime), action, state
        )

    def schedule_absolute(self, duetime: Any, action: Any, state: Any = None) -> abc.DisposableBase:
        self.due.append(self.scheduler.to_seconds(duetime))
        return self.scheduler.schedule_absolute(duetime, action, state)


@pytest.fixture
def scheduler() -> TestScheduler:
    return TestScheduler()


def at(scheduler: TestScheduler, ticks: float) -> datetime:
    """The datetime a TestScheduler reports at virtual time ``ticks``."""
    return scheduler.to_datetime(float(ticks))


def join_new_threads(before: set[threading.Thread], timeout: float = 10.0) -> list[str]:
    """Join every thread started since ``before``, except rxbatch's long-lived timer threads.

    A thread that ends "soon" (reactivex's ``.run()`` thread exits a moment
    after the result is handed over) is waited for, not raced. Returns the
    names of those still alive after ``timeout`` seconds in all.
    """
    deadline = time.monotonic() + timeout

    def transient(thread: threading.Thread) -> bool:
        return thread not in before and not thread.name.startswith("rxbatch-timer")

    for thread in threading.enumerate():
        if transient(thread):
            thread.join(max(0.0, deadline - time.monotonic()))
    return [t.name for t in threading.enumerate() if transient(t) and t.is_alive()]


def outcome_of(
    source: Observable[Any], seconds: float, *, scheduler: abc.SchedulerBase | None = None
) -> tuple[list[Any], list[BaseException]]:
    """Subscribe to ``source`` and wait for it to end: every value and error.

    A stream that does not end within ``seconds`` fails the test (a hang
    guard, far above the time the cases take) instead of hanging the suite.
    """
    values: list[Any] = []
    errors: list[BaseException] = []
    ended = threading.Event()

    def on_error(error: BaseException) -> None:
        errors.append(error)
        ended.set()

    source.subscribe(values.append, on_error, ended.set, scheduler=scheduler)
    assert ended.wait(seconds), "the stream never ended"
    return values, errors


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``nats-server -js`` on a free port, for the test module; its URL."""
    from ._nats import nats_server  # imports nats-py only where a test asks for a server

    with nats_server(tmp_path_factory.mktemp("nats")) as server:
        yield server
