"""The seed's batch-processing patterns, built from the operators and fan_out.

| the seed's pattern | here |
|---|---|
| simple batch processor | ``process_in_batches`` |
| map-reduce | ``map_reduce``, ``map_reduce_operator`` |
| continuous batching (StreamBatcher) | ``stream_batches`` |
| window-based processing (WindowProcessor) | ``window_aggregate`` |
| worker pool (BatchWorkerPool) | ``worker_pool`` |
| dynamic batch sizing | ``adaptive_fan_out``, ``BatchSizer`` |
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import reactivex
from reactivex import Observable, abc, typing
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.subject import Subject

from ._fan_out import fan_out
from ._fan_out._items import reject_text_or_mapping
from ._validation import iterable, positive_int, positive_timespan
from .node import Node, NodeError
from .operators import (
    buffer_with_count,
    buffer_with_time_or_count,
    sliding_event_window,
    sliding_window_with_time,
)
from .operators import progress as progress_bar
from .results import (
    BatchError,
    BatchResult,
    LateItem,
    MapReduceResult,
    TimeWindow,
    WindowResult,
)
from .retry import RetryPolicy

__all__ = [
    "BatchSizer",
    "adaptive_fan_out",
    "map_reduce",
    "map_reduce_operator",
    "process_in_batches",
    "stream_batches",
    "window_aggregate",
    "worker_pool",
]

T = TypeVar("T")
R = TypeVar("R")
A = TypeVar("A")


def process_in_batches(
    items: Iterable[T],
    node: Node[T, R] | Callable[[T], R],
    *,
    batch_size: int,
    max_concurrency: int = 10,
    retry: RetryPolicy | None = None,
    progress: bool = False,
    executor: Executor | None = None,
    chunk_size: int | None = None,
) -> list[R]:
    """Process a finite iterable in batches and return the results in input order.

    Every batch is processed, even after a failure; if any item failed (after
    retries), one ``BatchError`` for the whole run is raised at the end:
    ``failed_indices`` and ``errors`` by position in the whole input,
    ``partial_results`` one slot per input item, ``batch_index`` the first
    failing batch. Items are read from ``items`` as room frees up, so a long
    generator is not drained into memory ahead of the work.

    Args:
        items: The input, any iterable but a str, bytes or mapping.
        node: A ``Node`` or a plain function (its exec).
        batch_size: Items per batch.
        max_concurrency: Most tasks running at once (see ``fan_out``).
        retry: Retry policy for failed items.
        progress: Show a progress bar (needs ``rxbatch[progress]``).
        executor: Where exec runs, as in ``fan_out``: a process pool or Dask
            (``client.get_executor(pure=False)``) for CPU-bound work.
        chunk_size: Most items per executor task, as in ``fan_out``.

    Raises:
        TypeError, ValueError: an argument is invalid (named in the message),
            e.g. ``items`` that cannot be iterated.
        BatchError: some items failed; carries every result and error.

    Example:
        >>> process_in_batches(range(5), lambda x: x * x, batch_size=2)
        [0, 1, 4, 9, 16]
    """
    positive_int("batch_size", batch_size)
    reject_text_or_mapping("items", items, "pass a list of the items")
    iterable("items", items)
    stages: list[Callable[[Observable[Any]], Observable[Any]]] = [
        buffer_with_count(batch_size),
        fan_out(
            node,
            max_concurrency=max_concurrency,
            retry=retry,
            executor=executor,
            chunk_size=chunk_size,
            max_in_flight=max(2 * batch_size, 2 * max_concurrency * (chunk_size or 1)),
        ),
    ]
    if progress:
        total = len(items) if isinstance(items, Sequence) else None
        stages.append(progress_bar(total, desc="items"))
    batches: list[BatchResult[T, R]] = (
        reactivex.from_iterable(items).pipe(*stages, ops.to_list()).run()  # type: ignore[call-overload]
    )
    results: list[Any] = []
    errors: dict[int, BaseException] = {}
    first_failed: int | None = None
    for batch in batches:
        offset = len(results)
        for position, error in batch.errors.items():
            errors[offset + position] = error
        if batch.errors and first_failed is None:
            first_failed = batch.index
        results.extend(batch.results)
    if first_failed is not None:
        raise BatchError(first_failed, tuple(sorted(errors)), results, errors)
    return results


def map_reduce_operator(
    mapper: Callable[[T], A],
    reducer: Callable[[list[A]], R],
    *,
    item_key: Callable[[T], Hashable] | None = None,
    mapped_key: Callable[[A], Hashable] | None = None,
    concurrency: int = 10,
    strict: bool = False,
) -> Callable[[Observable[T]], Observable[MapReduceResult[R]]]:
    """``map_reduce`` as an operator: one ``MapReduceResult`` when the source completes.

    Takes the same arguments as ``map_reduce``; with ``strict=True`` a run in
    which any item failed ends with ``BatchError`` instead.

    Example:
        >>> import reactivex
        >>> op = map_reduce_operator(len, sum, mapped_key=lambda n: n % 2)
        >>> reactivex.of("a", "bb", "ccc").pipe(op).run().aggregates
        {1: 4, 0: 2}
    """
    if not callable(mapper):
        raise TypeError(f"mapper must be callable, got {mapper!r}")
    if not callable(reducer):
        raise TypeError(f"reducer must be callable, got {reducer!r}")
    if (item_key is None) == (mapped_key is None):
        raise TypeError(
            "map_reduce needs exactly one of item_key= (a function of each input item) "
            "or mapped_key= (a function of the mapper's result)"
        )
    for name, fn in (("item_key", item_key), ("mapped_key", mapped_key)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable, got {fn!r}")
    positive_int("concurrency", concurrency)

    def step(name: str, fn: Callable[[Any], Any], value: Any) -> Any:
        try:
            return fn(value)
        except Exception as error:
            raise NodeError("map_reduce", name) from error

    def map_and_key(item: T) -> tuple[Hashable, A]:
        if item_key is not None:
            group = step("item_key", item_key, item)
            return group, step("mapper", mapper, item)
        assert mapped_key is not None
        mapped = step("mapper", mapper, item)
        return step("mapped_key", mapped_key, mapped), mapped

    def operator(source: Observable[T]) -> Observable[MapReduceResult[R]]:
        def subscribe(
            observer: abc.ObserverBase[MapReduceResult[R]],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            groups: dict[Hashable, list[A]] = {}
            errors: dict[int, BaseException] = {}
            seen = 0

            def on_batch(batch: BatchResult[T, tuple[Hashable, A]]) -> None:
                nonlocal seen
                for position, outcome in enumerate(batch.results):
                    if position in batch.errors:
                        # fan_out's NodeError wraps the one naming our step.
                        error = batch.errors[position]
                        errors[seen + position] = error.__cause__ or error
                    else:
                        assert outcome is not None
                        group, mapped = outcome
                        groups.setdefault(group, []).append(mapped)
                seen += len(batch.items)

            def on_completed() -> None:
                try:
                    aggregates = {group: reducer(values) for group, values in groups.items()}
                    result = MapReduceResult(aggregates, seen - len(errors), errors)
                    if strict:
                        result.raise_for_errors()
                except Exception as error:  # the user's reducer, or strict
                    observer.on_error(error)
                    return
                observer.on_next(result)
                observer.on_completed()

            return source.pipe(
                buffer_with_count(max(64, 4 * concurrency)),
                fan_out(map_and_key, max_concurrency=concurrency),
            ).subscribe(on_batch, observer.on_error, on_completed, scheduler=scheduler)

        return Observable(subscribe)

    return operator


def map_reduce(
    items: Iterable[T],
    mapper: Callable[[T], A],
    reducer: Callable[[list[A]], R],
    *,
    item_key: Callable[[T], Hashable] | None = None,
    mapped_key: Callable[[A], Hashable] | None = None,
    concurrency: int = 10,
    strict: bool = False,
) -> MapReduceResult[R]:
    """Map items in parallel, group the mapped values by key, reduce each group.

    Give exactly one key function, named by what it receives:
    ``item_key(item)`` gets the input item (``item_key=lambda e: e["ts"] //
    60``), ``mapped_key(value)`` gets what ``mapper`` returned.
    ``reducer`` gets one group's mapped values in input order.

    An item whose mapper or key function raises is left out of the groups
    and listed in ``errors`` by its input position (a ``NodeError`` naming
    the function, the original as ``__cause__``); ``result.ok`` is then
    False. With ``strict=True`` such a run raises ``BatchError`` instead of
    returning.

    Args:
        items: The input, any iterable.
        mapper: Function of one item; runs on a thread pool.
        reducer: Function of one group's list of mapped values.
        item_key: Group key from the input item.
        mapped_key: Group key from the mapper's result.
        concurrency: Most mapper calls at once.
        strict: Raise ``BatchError`` if any item failed.

    Raises:
        TypeError: not exactly one of ``item_key`` and ``mapped_key``, or
            ``items`` cannot be iterated.
        BatchError: with ``strict``, some items failed (positions in the input).

    Example:
        >>> words = ["apple", "bob", "cherry", "dates"]
        >>> result = map_reduce(words, len, sum, mapped_key=lambda n: "long" if n > 4 else "short")
        >>> result.aggregates, result.count, result.ok
        ({'long': 16, 'short': 3}, 4, True)
        >>> map_reduce(words, len, sum, item_key=lambda word: word[0]).aggregates["b"]
        3
    """
    iterable("items", items)
    operator = map_reduce_operator(
        mapper,
        reducer,
        item_key=item_key,
        mapped_key=mapped_key,
        concurrency=concurrency,
        strict=strict,
    )
    result: MapReduceResult[R] = reactivex.from_iterable(items).pipe(operator).run()
    return result


def stream_batches(
    node: Node[T, R] | Callable[[T], R],
    *,
    batch_size: int,
    flush_interval: typing.RelativeTime,
    max_concurrency: int = 10,
    scheduler: abc.SchedulerBase | None = None,
    **fan_out_options: Any,
) -> Callable[[Observable[T]], Observable[BatchResult[T, R]]]:
    """The seed's StreamBatcher as one operator: time-or-count batches into ``fan_out``.

    A batch leaves at ``batch_size`` items or ``flush_interval`` after its
    first item (the seed's ticker also fires while idle; this timer does not),
    then every item is processed; results come in input order. ``retry``,
    ``executor``, ``chunk_size``, ``max_in_flight``, ``ordered`` and ``store`` pass through.

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> op = stream_batches(str.upper, batch_size=2, flush_interval=1.0)
        >>> [r.results for r in reactivex.of("a", "b", "c").pipe(op, ops.to_list()).run()]
        [['A', 'B'], ['C']]
    """
    positive_timespan("flush_interval", flush_interval)
    batch = buffer_with_time_or_count(flush_interval, batch_size, scheduler=scheduler)
    process = fan_out(node, max_concurrency=max_concurrency, scheduler=scheduler, **fan_out_options)

    def operator(source: Observable[T]) -> Observable[BatchResult[T, R]]:
        return source.pipe(batch, process)

    return operator


def window_aggregate(
    size: typing.RelativeTime,
    slide: typing.RelativeTime,
    aggregate: Callable[[list[T]], R] | tuple[Callable[[], R], Callable[[R, T], R]],
    *,
    timestamp: Callable[[T], datetime | float] | None = None,
    key: Callable[[T], Hashable] | None = None,
    lateness: typing.RelativeTime = 0,
    idle_timeout: typing.RelativeTime | None = None,
    on_late: Callable[[LateItem[T]], object] | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[T]], Observable[WindowResult[R]]]:
    """The seed's WindowProcessor: every ``slide``, the last ``size`` of items, reduced.

    ``aggregate`` is a function of a window's items, or ``(init, add)`` to
    fold them one at a time (``add(add(init(), item1), item2)...``) without
    holding them. Without ``timestamp`` the windows are on processing time
    (``sliding_window_with_time``: when items arrive); with it, on the items'
    own time (``sliding_event_window``, aligned to the epoch), optionally per
    ``key``, with ``lateness``, ``idle_timeout`` and ``on_late`` as there.
    An error ``aggregate`` raises ends the stream. Unlike the seed, which
    rescans the whole window on every event, expiring old items costs
    amortized O(1) per item, and idle time costs nothing.

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> op = window_aggregate(60.0, 10.0, sum)
        >>> reactivex.of(1, 2, 3).pipe(op).run().result
        6
        >>> events = [{"ts": 5, "n": 1}, {"ts": 65, "n": 2}, {"ts": 70, "n": 4}]
        >>> op = window_aggregate(60, 60, len, timestamp=lambda e: e["ts"])
        >>> [(r.start.minute, r.result) for r in reactivex.from_iterable(events).pipe(
        ...     op, ops.to_list()).run()]
        [(0, 1), (1, 2)]
    """
    if isinstance(aggregate, tuple):
        if len(aggregate) != 2 or not all(map(callable, aggregate)):
            raise TypeError(f"aggregate must be (init, add), both callable, got {aggregate!r}")
    elif not callable(aggregate):
        raise TypeError(
            f"aggregate must be a function of a window's items or (init, add), got {aggregate!r}"
        )
    event_time: dict[str, Any] = {
        "key": key,
        "lateness": lateness,
        "idle_timeout": idle_timeout,
        "on_late": on_late,
    }
    windows: Callable[[Observable[T]], Observable[TimeWindow[T]]]
    if timestamp is None:
        for name, value in event_time.items():
            if value is not None and not (name == "lateness" and value == 0):
                raise ValueError(
                    f"{name} needs timestamp=: windows on arrival time are not keyed and "
                    "have no late items; give the items' own time to window by it"
                )
        windows = sliding_window_with_time(size, slide, scheduler=scheduler)
    elif isinstance(aggregate, tuple):  # folded as items arrive: no items held
        return sliding_event_window(
            size, slide, timestamp=timestamp, aggregate=aggregate, scheduler=scheduler, **event_time
        )
    else:
        windows = sliding_event_window(
            size, slide, timestamp=timestamp, scheduler=scheduler, **event_time
        )
    reduce_items = _items_reducer(aggregate)

    def reduce(window: TimeWindow[T]) -> WindowResult[R]:
        return WindowResult(
            window.start, window.end, len(window.items), reduce_items(window.items), window.key
        )

    def operator(source: Observable[T]) -> Observable[WindowResult[R]]:
        return source.pipe(windows, ops.map(reduce))

    return operator


def _items_reducer(
    aggregate: Callable[[list[T]], R] | tuple[Callable[[], R], Callable[[R, T], R]],
) -> Callable[[list[T]], R]:
    """``aggregate`` as a function of a window's items."""
    if not isinstance(aggregate, tuple):
        return aggregate
    init, add = aggregate

    def fold(items: list[T]) -> R:
        return functools.reduce(add, items, init())

    return fold


def worker_pool(
    node: Node[T, R] | Callable[[T], R],
    *,
    workers: int,
    batch_size: int,
    retry: RetryPolicy | None = None,
    executor: Executor | None = None,
) -> Callable[[Observable[T]], Observable[BatchResult[T, R]]]:
    """The seed's BatchWorkerPool: whole batches handed to ``workers`` workers.

    Items are cut into batches of ``batch_size``; each batch is one task (a
    chunk, in ``fan_out``'s terms) that one worker runs item after item;
    results come out in input order even when workers finish out of order.
    A failed item is retried on its own. (The seed starts a goroutine per
    batch; here the number of workers is the bound.)

    Args:
        node: A ``Node`` or a plain function (its exec).
        workers: Most batches running at once.
        batch_size: Items per batch.
        retry: Retry policy for failed items.
        executor: Where the batches run, as in ``fan_out``; default: a thread
            pool of ``workers`` threads. A process pool or Dask
            (``client.get_executor(pure=False)``) sends each batch to a worker
            process as one task.

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> op = worker_pool(lambda x: -x, workers=2, batch_size=2)
        >>> [r.results for r in reactivex.of(1, 2, 3).pipe(op, ops.to_list()).run()]
        [[-1, -2], [-3]]
    """
    positive_int("workers", workers)
    positive_int("batch_size", batch_size)
    batches = buffer_with_count(batch_size)
    process = fan_out(
        node, max_concurrency=workers, chunk_size=batch_size, executor=executor, retry=retry
    )

    def operator(source: Observable[T]) -> Observable[BatchResult[T, R]]:
        return source.pipe(batches, process)

    return operator


class BatchSizer:
    """The seed's dynamic batch sizing rule, as a small pure class.

    Starts at ``min_batch``. After each batch: doubles (up to ``max_batch``)
    while the latency per item is under half of ``target_latency``, shrinks
    to 3/4 when it is over the target, halves when the batch failed; never
    below ``min_batch`` nor above ``max_batch``.

    Example:
        >>> sizer = BatchSizer(10, 100, target_latency=0.01)
        >>> [sizer.record(sizer.size, sizer.size * t) for t in (0.001, 0.001, 0.02, 0.008)]
        [20, 40, 30, 30]
        >>> sizer.record(30, 0.1, failed=True)
        15
    """

    def __init__(self, min_batch: int, max_batch: int, target_latency: float | timedelta) -> None:
        positive_int("min_batch", min_batch)
        positive_int("max_batch", max_batch)
        if max_batch < min_batch:
            raise ValueError(f"max_batch must be >= min_batch ({min_batch}), got {max_batch}")
        self.min_batch = min_batch
        self.max_batch = max_batch
        self.target = positive_timespan("target_latency", target_latency).total_seconds()
        self.size = min_batch

    def record(self, batch_size: int, duration: float, failed: bool = False) -> int:
        """Account for one batch and return the size of the next."""
        if failed:
            size = self.size // 2
        else:
            per_item = duration / max(batch_size, 1)
            if per_item < self.target / 2:
                size = self.size * 2
            elif per_item > self.target:
                size = self.size * 3 // 4
            else:
                size = self.size
        self.size = min(self.max_batch, max(self.min_batch, size))
        return self.size


def adaptive_fan_out(
    node: Node[T, R] | Callable[[T], R],
    *,
    min_batch: int,
    max_batch: int,
    target_latency: float | timedelta,
    max_concurrency: int = 10,
    batch_retries: int = 2,
    scheduler: abc.SchedulerBase | None = None,
    **fan_out_options: Any,
) -> Callable[[Observable[T]], Observable[BatchResult[T, R]]]:
    """Batches whose size follows ``BatchSizer`` toward a latency target.

    One batch is processed at a time (its items in parallel through
    ``fan_out``), so each batch's latency, measured on the scheduler's clock,
    is its own. After a batch with failures the size halves and its failed
    items are retried first, at the smaller size, up to ``batch_retries``
    times; every item appears in exactly one emitted ``BatchResult``, with its
    final outcome, and results are numbered in the order they leave.
    ``fan_out`` options such as ``executor``, ``chunk_size`` and ``retry``
    pass through.

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> op = adaptive_fan_out(abs, min_batch=2, max_batch=8, target_latency=1.0)
        >>> results = reactivex.from_iterable(range(-7, 7)).pipe(op, ops.to_list()).run()
        >>> [len(r.items) for r in results]
        [2, 4, 8]
    """
    sizer_args = (min_batch, max_batch, target_latency)
    BatchSizer(*sizer_args)  # validates now, not at subscription
    positive_int("batch_retries", batch_retries, minimum=0)
    process = fan_out(node, max_concurrency=max_concurrency, scheduler=scheduler, **fan_out_options)

    def operator(source: Observable[T]) -> Observable[BatchResult[T, R]]:
        def subscribe(
            observer: abc.ObserverBase[BatchResult[T, R]],
            subscribe_scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            state = _Adaptive(BatchSizer(*sizer_args), batch_retries, observer)
            inner = state.batches.pipe(process).subscribe(
                state.on_result, state.on_error, scheduler=subscribe_scheduler
            )
            outer = source.subscribe(
                state.on_item, state.on_error, state.on_source_done, scheduler=subscribe_scheduler
            )
            return CompositeDisposable(outer, inner, Disposable(state.stop))

        return Observable(subscribe)

    return operator


class _Adaptive(Generic[T, R]):
    """One subscription of adaptive_fan_out: feeds fan_out one batch at a time."""

    def __init__(
        self, sizer: BatchSizer, retries: int, observer: abc.ObserverBase[BatchResult[T, R]]
    ) -> None:
        self.sizer = sizer
        self.retries = retries
        self.observer = observer
        self.batches: Subject[list[T]] = Subject()
        self.lock = threading.RLock()
        self.pending: deque[tuple[T, int]] = deque()  # (item, retries used)
        self.in_batch: list[tuple[T, int]] = []
        self.busy = False
        self.driving = False
        self.source_done = False
        self.stopped = False
        self.emitted = 0

    def on_item(self, item: T) -> None:
        with self.lock:
            self.pending.append((item, 0))
        self._next()

    def on_source_done(self) -> None:
        with self.lock:
            self.source_done = True
        self._next()

    def on_error(self, error: Exception) -> None:
        with self.lock:
            if self.stopped:
                return
            self.stopped = True
        self.observer.on_error(error)

    def stop(self) -> None:
        with self.lock:
            self.stopped = True

    def _next(self) -> None:
        """Start the next batch if idle and one is ready; complete when all is done.

        One thread drives at a time: a result delivered inline (a synchronous
        executor) re-enters here and returns, and the driving loop goes on,
        so the stack does not grow with the number of batches.
        """
        with self.lock:
            if self.driving:
                return
            self.driving = True
        while True:
            with self.lock:
                batch: list[T] | None = None
                if self.busy or self.stopped:
                    pass
                elif self.source_done and not self.pending:
                    self.stopped = True
                    self.driving = False
                    break
                elif len(self.pending) >= self.sizer.size or (self.source_done and self.pending):
                    count = min(self.sizer.size, len(self.pending))
                    self.in_batch = [self.pending.popleft() for _ in range(count)]
                    self.busy = True
                    batch = [item for item, _ in self.in_batch]
                if batch is None:
                    self.driving = False
                    return
            self.batches.on_next(batch)
        self.batches.on_completed()
        self.observer.on_completed()

    def on_result(self, result: BatchResult[T, R]) -> None:
        with self.lock:
            if self.stopped:
                return
            self.sizer.record(len(result.items), result.duration, failed=not result.ok)
            retried = [
                position
                for position, (_, used) in enumerate(self.in_batch)
                if position in result.errors and used < self.retries
            ]
            self.pending.extendleft(
                (self.in_batch[p][0], self.in_batch[p][1] + 1) for p in reversed(retried)
            )
            retried_set = set(retried)
            keep = [p for p in range(len(result.items)) if p not in retried_set]
            out = None
            if keep:
                out = replace(
                    result,
                    index=self.emitted,
                    items=[result.items[p] for p in keep],
                    results=[result.results[p] for p in keep],
                    errors={i: result.errors[p] for i, p in enumerate(keep) if p in result.errors},
                    attempts=tuple(result.attempts[p] for p in keep),
                    actions=tuple(result.actions[p] for p in keep),
                )
                self.emitted += 1
            self.busy = False
        if out is not None:
            self.observer.on_next(out)
        self._next()
