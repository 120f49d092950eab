"""Shared helpers for virtual-time tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from reactivex import abc
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
