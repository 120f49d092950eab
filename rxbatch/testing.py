"""Helpers for deterministic tests of pipelines."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import ParamSpec, TypeVar

__all__ = ["ImmediateExecutor"]

P = ParamSpec("P")
R = TypeVar("R")


class ImmediateExecutor(Executor):
    """A ``concurrent.futures.Executor`` that runs each call inline, in ``submit``.

    With it and a ``reactivex.testing.TestScheduler``, ``fan_out`` is fully
    deterministic: exec runs when an item is submitted and retries happen at
    exact virtual times.

    Example:
        >>> ImmediateExecutor().submit(pow, 2, 10).result()
        1024
    """

    def __init__(self) -> None:
        self._shutdown = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
        future: Future[R] = Future()
        future.set_running_or_notify_cancel()
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:  # the future carries it, as a pool's would
            future.set_exception(error)
        else:
            future.set_result(result)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
