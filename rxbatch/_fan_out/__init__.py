"""fan_out: run a node over every item of every batch, with bounded
concurrency, retry of only the failed items, chunked tasks, and backpressure.

Each rule lives in one part:

| part | rule |
|---|---|
| ``_run`` | the steps of one item (prep, exec, retry or fallback, post) and how a run ends |
| ``_admission`` | ``max_in_flight``: when a batch is admitted, and how its producer waits |
| ``_executor`` | sync exec on an executor: ``max_concurrency`` tasks, one item or a chunk each |
| ``_aio`` | async steps on an event loop, and their outcome back |
| ``_retry`` | the wait before a retry, on the scheduler |
| ``_emission`` | one ``BatchResult`` per batch, in order, then the terminal notification |
| ``_items`` | a batch and its outcome slots; what counts as a batch |
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from .._validation import positive_int
from ..node import Node
from ..results import BatchResult
from ..retry import RetryPolicy
from ..store import Store
from ._executor import is_dask_executor
from ._run import Options, Run

__all__ = ["fan_out"]

T = TypeVar("T")
R = TypeVar("R")

_NO_RETRY = RetryPolicy(max_retries=0)


def fan_out(
    node: Node[T, R] | Callable[[T], R],
    *,
    max_concurrency: int = 10,
    ordered: bool = True,
    store: Store | None = None,
    retry: RetryPolicy | None = None,
    executor: concurrent.futures.Executor | None = None,
    chunk_size: int | None = None,
    max_in_flight: int | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[Sequence[T]]], Observable[BatchResult[T, R]]]:
    """Process every item of every batch with ``node``; one ``BatchResult`` per batch.

    An item that fails (after retries and fallback) is recorded in its batch's
    result and never errors the stream: every input item ends up either with
    a result or in ``errors``. A ``KeyboardInterrupt`` or ``SystemExit``
    raised by a step is not an item failure: it ends the stream (``on_error``).

    Args:
        node: A ``Node``, or a plain function used as its exec.
        max_concurrency: Most tasks running at once, across all batches (even
            when the executor has more workers). A task is one item's exec, or
            a chunk of items run one after another, so this also bounds the
            exec calls running at once.
        ordered: Emit results in input order (else in completion order).
        store: Shared state for prep (read-only) and post; default: a new
            ``Store`` per subscription.
        retry: Which exec failures to retry and how long to wait; default: none.
            Waits are scheduled on ``scheduler``, never slept on a worker.
        executor: Runs sync exec calls. Default: a thread pool of
            ``max_concurrency`` threads owned by the subscription and shut
            down when it ends. Any ``concurrent.futures.Executor`` works and
            is never shut down by rxbatch: a ``ProcessPoolExecutor`` for
            CPU-bound nodes (exec, the items and the results must pickle:
            define functions at module level), or Dask's
            ``client.get_executor(pure=False)`` (with Dask's default
            ``pure=True`` a retry would get the cached failure back, so that is
            refused).
        chunk_size: Most items per executor task, all from one batch; each
            item keeps its own outcome, retries and fallback. Default
            (``None``): on a process pool or Dask, each batch is split into
            one chunk per worker, ``ceil(len(batch) / workers)`` items (the
            workers counted when the subscription starts, at most
            ``max_concurrency``), so a task's round trip is paid per chunk;
            elsewhere one item per task (fan_out's own pool hands items to
            its threads one by one).
        max_in_flight: Backpressure: most items admitted whose results are not
            yet delivered downstream (results waiting for their turn, or for a
            subscriber that blocks, count too, so memory stays bounded). A
            batch that does not fit blocks the producing thread in ``on_next``
            until there is room (a batch larger than the limit is admitted
            once nothing else is in flight). On a thread that runs an event
            loop nothing blocks: the batch waits in a queue, in its turn, and
            an async source of :mod:`rxbatch.aio` upstream pulls nothing more
            until it is admitted (a synchronous source on the loop cannot be
            paused: its batches queue up). Blocking another thread fan_out
            itself needs (its own workers, the scheduler's thread, or a
            virtual-time scheduler's) raises ``RuntimeError`` instead.
        scheduler: Clock for durations and retry waits. Default: the scheduler
            given to ``subscribe`` where rxbatch's timers honour it
            (:func:`rxbatch.timer_clock`: virtual time, asyncio, event loops),
            else a timer thread of rxbatch's. ``async def`` steps run on the
            loop of an ``AsyncIOScheduler`` given here or, failing that, to
            ``subscribe``; else on a private event loop thread per
            subscription. Disposal cancels the steps still running.

    Raises:
        TypeError, ValueError: an argument is invalid (named in the message).
            A batch that is a ``str``, ``bytes`` or a mapping, or not iterable,
            ends the stream with a ``TypeError`` after the batches before it;
            an exception raised while reading a batch (a generator's own)
            ends it the same way, as it was raised.

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> batches = reactivex.of([1, 2], [3])
        >>> [r.results for r in batches.pipe(fan_out(lambda x: x * 10), ops.to_list()).run()]
        [[10, 20], [30]]
    """
    if isinstance(node, Node):
        the_node: Node[T, R] = node
    elif callable(node):
        the_node = Node(exec=node)
    else:
        raise TypeError(f"node must be a Node or a callable exec, got {node!r}")
    positive_int("max_concurrency", max_concurrency)
    if chunk_size is not None:
        positive_int("chunk_size", chunk_size)
    if max_in_flight is not None:
        positive_int("max_in_flight", max_in_flight)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy or None, got {retry!r}")
    if executor is not None and not isinstance(executor, concurrent.futures.Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {executor!r}")
    if store is not None and not isinstance(store, Store):
        raise TypeError(f"store must be a Store or None, got {store!r}")
    if scheduler is not None and not isinstance(scheduler, abc.SchedulerBase):
        raise TypeError(f"scheduler must be a reactivex scheduler, got {scheduler!r}")
    if is_dask_executor(executor) and getattr(executor, "_kwargs", {}).get("pure", True):
        raise ValueError(
            "executor: a Dask executor must be made with client.get_executor(pure=False); "
            "with pure=True Dask caches results and a retry would return the cached failure"
        )
    options = Options(
        node=the_node,
        max_concurrency=max_concurrency,
        ordered=ordered,
        store=store,
        retry=retry or _NO_RETRY,
        executor=executor,
        chunk_size=chunk_size,
        max_in_flight=max_in_flight,
        scheduler=scheduler,
    )

    def operator(source: Observable[Sequence[T]]) -> Observable[BatchResult[T, R]]:
        def subscribe(
            observer: abc.ObserverBase[BatchResult[T, R]],
            subscribe_scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            run = Run(options, observer, subscribe_scheduler)
            run.upstream.disposable = source.subscribe(
                run.on_next, run.on_error, run.on_completed, scheduler=subscribe_scheduler
            )
            return CompositeDisposable(Disposable(run.dispose), run.upstream)

        return Observable(subscribe)

    return operator
