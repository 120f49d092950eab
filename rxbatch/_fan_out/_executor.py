"""The bridge to executors: items waiting for exec, the tasks that run them
(at most ``max_concurrency`` at once), and chunking.

Three ways to run sync exec calls, chosen once per subscription:

* ``DrainRunner`` -- fan_out's own thread pool, and ``ImmediateExecutor``:
  each task is a worker that takes items one at a time from the queue until
  it is empty. Every item is dispatched on its own, as with one task per
  item, but without a future per item.
* ``SubmitRunner`` with chunks of 1 -- any other executor (a thread pool of
  yours is shared fairly with its other work): one ``submit`` per item.
* ``SubmitRunner`` with chunks -- process pools and Dask (automatically), or
  any executor given ``chunk_size``: a task runs several items of one batch
  one after another and returns every item's outcome, so a task round trip
  (pickling, IPC, a scheduler hop) is paid per chunk, not per item. The
  automatic size splits each batch into one chunk per worker of the
  executor (counted when the subscription starts). From a process pool or
  Dask, every task is a chunk, even of one item, and each outcome is
  pickled on its own in the worker: an item whose result cannot be pickled
  (or unpickled) fails alone, not its whole chunk, and never the pool.

``max_concurrency`` counts tasks; since a task runs its items one after
another, it also bounds the exec calls running at once.
"""

from __future__ import annotations

import concurrent.futures
import math
import pickle
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..testing import ImmediateExecutor
from ._items import Task

__all__ = [
    "Runner",
    "Wiring",
    "is_dask_executor",
    "make_runner",
    "run_chunk",
    "run_chunk_pickled",
]

ExecDone = Callable[[Task[Any], bool, Any], None]  # (task, ok, result or exception)
Guard = Callable[..., None]  # runs a callback; anything it raises ends the stream


@dataclass(frozen=True)
class Wiring:
    """What a runner gets from its run."""

    lock: threading.RLock  # the run's lock
    limit: int  # max_concurrency: most tasks at once
    exec: Callable[[Any], Any]  # the node's exec
    done: ExecDone  # where each item's outcome goes
    guard: Guard  # runs callbacks from executors and loops


class Runner:
    """Starts exec for waiting items while fewer than ``limit`` tasks run."""

    def __init__(
        self, wiring: Wiring, owned: concurrent.futures.ThreadPoolExecutor | None = None
    ) -> None:
        self.lock = wiring.lock
        self.limit = wiring.limit
        self.exec = wiring.exec
        self.done = wiring.done
        self.guard = wiring.guard
        self.owned = owned  # fan_out's own pool, shut down with the run
        self.waiting: deque[Task[Any]] = deque()
        self.running = 0  # tasks started and not finished
        self.pumping = False
        self.stopped = False

    def push(self, tasks: Sequence[Task[Any]]) -> None:
        """Queue prepared items for exec (in order) and start what fits."""
        with self.lock:
            if self.stopped:
                return
            self.waiting.extend(tasks)
        self.pump()

    def retry(self, task: Task[Any]) -> None:
        """Queue an item whose retry wait is over, ahead of the rest (old batches first)."""
        with self.lock:
            if self.stopped:
                return
            self.waiting.appendleft(task)
        self.pump()

    def pump(self) -> None:
        """Start tasks while there is work and room; one thread pumps at a time."""
        with self.lock:
            if self.pumping:
                return  # the pumping thread re-checks under the lock before it stops
            self.pumping = True
        while True:
            with self.lock:
                if self.stopped or self.running >= self.limit or not self._wants_task():
                    self.pumping = False
                    return
                self.running += 1
                unit = self._take()
            self._start(unit)

    def task_finished(self) -> None:
        """A task ended: its slot is free."""
        with self.lock:
            self.running -= 1
        self.pump()

    def stop(self) -> None:
        """Start nothing more (and let fan_out's own threads go)."""
        with self.lock:
            self.stopped = True
            self.waiting.clear()
        if self.owned is not None:
            self.owned.shutdown(wait=False, cancel_futures=True)

    def needs_thread(self, thread: threading.Thread) -> str | None:
        """Why blocking ``thread`` would stall the tasks, if it would."""
        if self.owned is not None and thread in self.owned._threads:
            return "one of fan_out's worker threads"
        return None

    # -- what subclasses define (under the lock: _wants_task, _take) -------------

    def _wants_task(self) -> bool:
        return bool(self.waiting)

    def _take(self) -> list[Task[Any]]:
        """Pop the items of the next task and count their attempt."""
        task = self.waiting.popleft()
        task.batch.attempts[task.position] += 1
        return [task]

    def _start(self, unit: list[Task[Any]]) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError


class DrainRunner(Runner):
    """Workers that take items one at a time until the queue is empty."""

    def __init__(
        self,
        wiring: Wiring,
        *,
        executor: concurrent.futures.Executor,
        owned: concurrent.futures.ThreadPoolExecutor | None,
    ) -> None:
        super().__init__(wiring, owned)
        self.executor = executor
        self.starting = 0  # workers started that have not taken an item yet

    def _wants_task(self) -> bool:
        return len(self.waiting) > self.starting

    def _take(self) -> list[Task[Any]]:
        self.starting += 1
        return []

    def _start(self, unit: list[Task[Any]]) -> None:
        try:
            self.executor.submit(self.guard, self._drain)
        except Exception as error:  # shut down: every waiting item's attempt fails
            with self.lock:
                self.starting -= 1
                self.running -= 1
                failed = list(self.waiting)
                self.waiting.clear()
            for task in failed:
                task.batch.attempts[task.position] += 1
                self.done(task, False, error)

    def _drain(self) -> None:
        lock, waiting, exec_, done = self.lock, self.waiting, self.exec, self.done
        with lock:
            self.starting -= 1
        while True:
            try:  # popleft is atomic: no lock on every item's way
                task = None if self.stopped else waiting.popleft()
            except IndexError:
                task = None
            if task is None:
                with lock:  # stop only if nothing came in meanwhile (push pumps under it)
                    if self.stopped or not waiting:
                        self.running -= 1
                        return
                continue
            task.batch.attempts[task.position] += 1  # the item is this worker's now
            try:
                result = exec_(task.prepared)
            except BaseException as error:
                done(task, False, error)
            else:
                done(task, True, result)


class SubmitRunner(Runner):
    """One ``submit`` per item, or per chunk of items of one batch."""

    def __init__(
        self,
        wiring: Wiring,
        *,
        executor: concurrent.futures.Executor,
        owned: concurrent.futures.ThreadPoolExecutor | None,
        chunk_size: int | None,
        workers: int,
        pickled: bool,
    ) -> None:
        super().__init__(wiring, owned)
        self.executor = executor
        self.chunk_size = chunk_size  # None: one chunk per worker, of each batch
        self.workers = workers
        self.run_chunk = run_chunk_pickled if pickled else run_chunk
        self.unpack = _unpickled_outcomes if pickled else _outcomes
        # Outcomes from another process always travel through run_chunk_pickled,
        # even one item's: exec's own return there would have to pickle whole
        # (an outcome that fails to unpickle breaks a process pool for good,
        # one that fails to pickle leaves a Dask future unsettled forever).
        self.single = 0 if pickled else 1
        self.dumps = _dumps_for(executor) if pickled else None

    def _take(self) -> list[Task[Any]]:
        waiting = self.waiting
        first = waiting.popleft()
        batch = first.batch
        batch.attempts[first.position] += 1
        chunk = [first]
        size = self.chunk_size or math.ceil(len(batch.items) / self.workers)
        while len(chunk) < size and waiting and waiting[0].batch is batch:
            task = waiting.popleft()
            batch.attempts[task.position] += 1
            chunk.append(task)
        return chunk

    def _start(self, unit: list[Task[Any]]) -> None:
        try:
            if len(unit) == self.single:
                future = self.executor.submit(self.exec, unit[0].prepared)
            else:
                prepared = [task.prepared for task in unit]
                future = self.executor.submit(self.run_chunk, self.exec, prepared)
        except Exception as error:  # e.g. the executor was shut down
            future = concurrent.futures.Future()
            future.set_exception(error)
        future.add_done_callback(partial(self.guard, self._finished, unit))

    def _finished(self, unit: list[Task[Any]], future: concurrent.futures.Future[Any]) -> None:
        self.task_finished()
        try:
            value = future.result()
        except BaseException as error:  # the task as a whole failed: so did each item
            stuck = self._stuck_items(unit, error)
            if stuck:  # ... unless it never ran, for items that could not travel
                self._requeue([task for task in unit if task not in stuck])
                for task, problem in stuck.items():
                    self.done(task, False, problem)
                return
            for task in unit:
                self.done(task, False, error)
            return
        if len(unit) == self.single:
            self.done(unit[0], True, value)
            return
        for task, (ok, outcome) in zip(unit, self.unpack(value), strict=True):
            self.done(task, ok, outcome)

    def _stuck_items(
        self, unit: list[Task[Any]], error: BaseException
    ) -> dict[Task[Any], Exception]:
        """The items of a task that failed to pickle, if that is why it failed.

        A task whose arguments cannot be pickled never ran; the items that
        can be are sent again, so one bad item fails alone, not its chunk.
        """
        if self.dumps is None or not isinstance(
            error, pickle.PicklingError | TypeError | AttributeError
        ):
            return {}
        stuck: dict[Task[Any], Exception] = {}
        for task in unit:
            try:
                self.dumps(task.prepared)
            except Exception as failure:
                problem = pickle.PicklingError(
                    "the item (as prep returned it) cannot be pickled to send it to the worker: "
                    f"{type(failure).__name__}: {_text_of(failure)}"
                )
                problem.__cause__ = failure
                stuck[task] = problem
        return stuck

    def _requeue(self, tasks: list[Task[Any]]) -> None:
        """Send items again, in order and ahead of the rest, as if not yet tried."""
        if not tasks:
            return
        with self.lock:
            if self.stopped:
                return
            for task in tasks:
                task.batch.attempts[task.position] -= 1
            self.waiting.extendleft(reversed(tasks))
        self.pump()


def run_chunk(exec_: Callable[[Any], Any], prepared: list[Any]) -> tuple[list[Any], dict[int, Any]]:
    """Run ``exec_`` over a chunk in this process: ``(results, errors by position)``.

    ``KeyboardInterrupt`` and ``SystemExit`` are not an item's outcome: they
    end the chunk, and fan_out ends the stream with them.
    """
    results: list[Any] = []
    errors: dict[int, Any] = {}
    for position, value in enumerate(prepared):
        try:
            results.append(exec_(value))
        except Exception as error:
            results.append(None)
            errors[position] = error
    return results, errors


def run_chunk_pickled(exec_: Callable[[Any], Any], prepared: list[Any]) -> bytes:
    """Run ``exec_`` over a chunk in a worker process; every outcome pickled on its own.

    The outcomes go back as one ``bytes`` (a pickled list of each outcome's
    pickle): an outcome that cannot be pickled, or unpickled, fails its item
    alone, and the chunk travels as one object (Dask sends every ``bytes`` of
    a result as a frame of its own, which costs more than the pickling).

    A ``KeyboardInterrupt`` or ``SystemExit`` (any ``BaseException`` that is not
    an ``Exception``) ends the chunk: it is the outcome of its item and of
    every item after it, and fan_out ends the stream with it. It is returned,
    not raised, because it would kill a Dask worker (which then runs the
    chunk again elsewhere, until Dask gives up with ``KilledWorker``).
    """
    outcomes: list[bytes] = []
    for value in prepared:
        try:
            outcome: tuple[bool, Any] = (True, exec_(value))
        except Exception as error:
            outcome = (False, error)
        except BaseException as interrupt:
            payload = _pickled_outcome((False, interrupt))
            outcomes += [payload] * (len(prepared) - len(outcomes))
            break
        outcomes.append(_pickled_outcome(outcome))
    return pickle.dumps(outcomes, pickle.HIGHEST_PROTOCOL)


def _pickled_outcome(outcome: tuple[bool, Any]) -> bytes:
    """``outcome`` pickled; if it cannot be, an error that says so in its place."""
    try:
        return pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        ok, value = outcome
        what = (
            "the result of exec"
            if ok
            else f"the {type(value).__name__} exec raised ({_text_of(value)})"
        )
        message = (
            f"{what} cannot be pickled to send it back from the worker: "
            f"{type(error).__name__}: {_text_of(error)}"
        )
    if ok or isinstance(value, Exception):
        problem: BaseException = pickle.PicklingError(message)
    else:  # an interrupt still ends the stream
        problem = (
            KeyboardInterrupt(message)
            if isinstance(value, KeyboardInterrupt)
            else SystemExit(message)
        )
    return pickle.dumps((False, problem), pickle.HIGHEST_PROTOCOL)


def _text_of(error: BaseException) -> str:
    """``str(error)``, or a stand-in if that raises."""
    try:
        return str(error)
    except Exception as failure:
        return f"<str() raised {type(failure).__name__}>"


def _outcomes(value: tuple[list[Any], dict[int, Any]]) -> list[tuple[bool, Any]]:
    results, errors = value
    return [
        (False, errors[position]) if position in errors else (True, result)
        for position, result in enumerate(results)
    ]


def _unpickled_outcomes(payloads: bytes) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    for payload in pickle.loads(payloads):
        try:
            outcomes.append(pickle.loads(payload))
        except Exception as error:
            error.add_note("while unpickling an item's outcome sent back from the worker")
            outcomes.append((False, error))
    return outcomes


def is_dask_executor(executor: object) -> bool:
    """Whether ``executor`` is (made from) Dask's ``client.get_executor()``; Dask not imported."""
    return any(
        cls.__name__ == "ClientExecutor" and cls.__module__.startswith("distributed.")
        for cls in type(executor).__mro__
    )


def _dumps_for(executor: concurrent.futures.Executor) -> Callable[[Any], bytes]:
    """How ``executor`` pickles a task's arguments (Dask falls back to cloudpickle)."""
    if is_dask_executor(executor):
        try:
            import cloudpickle  # type: ignore[import-untyped]

            dumps: Callable[[Any], bytes] = cloudpickle.dumps
            return dumps
        except ImportError:  # pragma: no cover - Dask depends on it
            pass
    return partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL)


def _worker_count(executor: concurrent.futures.Executor) -> int | None:
    """How many tasks ``executor`` runs at once, where it says (process pools, Dask)."""
    if isinstance(executor, concurrent.futures.ProcessPoolExecutor):
        workers: object = executor._max_workers  # type: ignore[attr-defined]
    elif is_dask_executor(executor):
        try:
            workers = sum(executor._client.nthreads().values())  # type: ignore[attr-defined]
        except Exception:  # an asynchronous or closed client: no count
            return None
    else:
        return None
    return workers if isinstance(workers, int) and workers > 0 else None


def _crosses_processes(executor: concurrent.futures.Executor) -> bool:
    """Whether ``executor`` runs tasks in other processes: results travel pickled."""
    return isinstance(executor, concurrent.futures.ProcessPoolExecutor) or is_dask_executor(
        executor
    )


def make_runner(
    wiring: Wiring, *, executor: concurrent.futures.Executor | None, chunk_size: int | None
) -> Runner:
    """The runner for sync exec calls on ``executor`` (None: a pool of fan_out's own)."""
    owned = None
    if executor is None:
        owned = concurrent.futures.ThreadPoolExecutor(
            wiring.limit, thread_name_prefix="rxbatch-fan-out"
        )
        executor = owned
    if chunk_size is None and (owned is not None or isinstance(executor, ImmediateExecutor)):
        return DrainRunner(wiring, executor=executor, owned=owned)
    remote = _crosses_processes(executor)
    workers = wiring.limit
    if chunk_size is None and not remote:
        chunk_size = 1
    elif chunk_size is None:
        workers = min(wiring.limit, _worker_count(executor) or wiring.limit)
    return SubmitRunner(
        wiring,
        executor=executor,
        owned=owned,
        chunk_size=chunk_size,
        workers=workers,
        pickled=remote,
    )
