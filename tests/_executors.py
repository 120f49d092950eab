"""Executors for deterministic tests of fan_out's task handling."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from rxbatch._fan_out._executor import run_chunk_pickled


class ManualExecutor(Executor):
    """Queues tasks and runs them (inline) only when told: a pool whose workers are busy.

    ``sizes`` records the items each task carried (a chunk's length, else 1),
    in the order the tasks ran; ``peak`` the most tasks queued at once.
    """

    def __init__(self) -> None:
        self.queued: list[Callable[[], None]] = []
        self.sizes: list[int] = []
        self.peak = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.queued.append(lambda: self._run(future, fn, args))
        self.peak = max(self.peak, len(self.queued))
        return future

    def _run(self, future: Future[Any], fn: Any, args: tuple[Any, ...]) -> None:
        self.sizes.append(len(args[1]) if len(args) == 2 else 1)  # (exec, chunk) or (item,)
        future.set_running_or_notify_cancel()
        try:
            result = fn(*args)
        except BaseException as error:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run_one(self) -> bool:
        """Run the oldest queued task; False if none was queued."""
        if not self.queued:
            return False
        self.queued.pop(0)()
        return True

    def run_all(self) -> None:
        """Run tasks, including those queued meanwhile, until none is left."""
        while self.run_one():
            pass


class CountingSubmits:
    """Mixed into an executor: records how many items each task carried."""

    sizes: list[int]

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.sizes.append(len(args[1]) if fn is run_chunk_pickled else 1)
        return super().submit(fn, *args, **kwargs)  # type: ignore[misc]


class CountingProcessPool(CountingSubmits, ProcessPoolExecutor):
    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.sizes = []
