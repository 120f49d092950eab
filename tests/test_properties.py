"""Property tests: for any items and arrival times, on virtual time (the
batching operators, and fan_out with chunks on a slow executor).

Arrival times are strictly increasing ticks after the subscription at 200;
the source completes (or fails) some ticks after the last item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reactivex
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import Observable
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler

from rxbatch import RetryPolicy, fan_out
from rxbatch.operators import (
    buffer_with_count,
    buffer_with_time,
    buffer_with_time_or_count,
    sliding_window,
    sliding_window_with_time,
)

from ._executors import ManualExecutor

on_next, on_completed, on_error = (
    ReactiveTest.on_next,
    ReactiveTest.on_completed,
    ReactiveTest.on_error,
)

# Every test here runs on virtual time, so none has a wall-clock deadline: on
# a saturated machine an example may take long without anything being wrong.
gaps = st.lists(st.integers(min_value=1, max_value=40), max_size=60)
tail = st.integers(min_value=1, max_value=200)
ends_in_error = st.booleans()


def run(
    arrival_gaps: list[int],
    end_after: int,
    fail: bool,
    operator: Callable[[TestScheduler], Callable[[Observable[Any]], Observable[Any]]],
) -> tuple[list[tuple[int, int]], list[tuple[float, Any]], float]:
    """Feed items 0..n-1 at the given gaps; return arrivals, emissions, end time."""
    scheduler = TestScheduler()
    arrivals, time = [], 200
    for item, gap in enumerate(arrival_gaps):
        time += gap
        arrivals.append((time, item))
    end = time + end_after
    error = RuntimeError("end")
    terminal = on_error(end, error) if fail else on_completed(end)
    xs = scheduler.create_hot_observable([on_next(t, i) for t, i in arrivals] + [terminal])
    results = scheduler.start(lambda: xs.pipe(operator(scheduler)), disposed=100_000)
    *emitted, last = results.messages
    assert last == terminal, "the terminal notification is forwarded after every batch"
    return arrivals, [(m.time, m.value.value) for m in emitted], end


@settings(deadline=None)
@given(gaps, tail, ends_in_error, st.integers(min_value=1, max_value=10))
def test_buffer_with_count_conserves_items(
    gaps: list[int], end: int, fail: bool, count: int
) -> None:
    arrivals, emitted, _ = run(gaps, end, fail, lambda s: buffer_with_count(count))
    batches = [batch for _, batch in emitted]
    assert [i for batch in batches for i in batch] == [i for _, i in arrivals]
    assert all(len(batch) == count for batch in batches[:-1])
    assert all(0 < len(batch) <= count for batch in batches)


@settings(deadline=None)
@given(gaps, tail, ends_in_error, st.integers(min_value=1, max_value=10), st.integers(1, 80))
def test_buffer_with_time_or_count_bounds_size_and_wait(
    gaps: list[int], end: int, fail: bool, count: int, timespan: int
) -> None:
    arrivals, emitted, _ = run(
        gaps, end, fail, lambda s: buffer_with_time_or_count(timespan, count, scheduler=s)
    )
    assert [i for _, batch in emitted for i in batch] == [i for _, i in arrivals]
    arrived = dict((i, t) for t, i in arrivals)
    for time, batch in emitted:
        assert 0 < len(batch) <= count
        assert all(time - arrived[i] <= timespan for i in batch), "no item waits past timespan"
        # A batch leaves early only because it is full or the source ended.
        if len(batch) < count and time - arrived[batch[0]] < timespan:
            assert (time, batch) == emitted[-1]


@settings(deadline=None)
@given(gaps, tail, ends_in_error, st.integers(1, 80))
def test_buffer_with_time_emits_each_item_at_its_window_end(
    gaps: list[int], end: int, fail: bool, timespan: int
) -> None:
    arrivals, emitted, end_time = run(
        gaps, end, fail, lambda s: buffer_with_time(timespan, scheduler=s)
    )
    assert [i for _, batch in emitted for i in batch] == [i for _, i in arrivals]
    arrived = dict((i, t) for t, i in arrivals)
    for time, batch in emitted:
        assert batch
        for i in batch:
            window_end = 200 + ((arrived[i] - 200) // timespan + 1) * timespan
            assert time == min(window_end, end_time)


def sliding_reference(items: list[int], size: int, step: int) -> list[list[int]]:
    """Window k (k >= 1) holds items (k*step - size, k*step], 1-based; the
    last one, at completion, what has arrived of it if anything new has."""
    windows, end = [], step
    while end <= len(items):
        windows.append(items[max(0, end - size) : end])
        end += step
    if len(items) > max(end - step, end - size):
        windows.append(items[max(0, end - size) :])
    return windows


@settings(deadline=None)
@given(gaps, tail, ends_in_error, st.integers(1, 8), st.integers(1, 8))
def test_sliding_window_matches_reference(
    gaps: list[int], end: int, fail: bool, size: int, step: int
) -> None:
    arrivals, emitted, _ = run(gaps, end, fail, lambda s: sliding_window(size, step))
    items = [i for _, i in arrivals]
    assert [window for _, window in emitted] == sliding_reference(items, size, step)


@given(st.integers(0, 600), st.integers(1, 40), st.integers(1, 60))
def test_sliding_window_matches_reference_past_its_buffer_trims(
    n: int, size: int, step: int
) -> None:
    # Long enough inputs that the buffer is trimmed (every 2*size + step + 64).
    windows: list[list[int]] = []
    reactivex.from_iterable(range(n)).pipe(sliding_window(size, step)).subscribe(windows.append)
    assert windows == sliding_reference(list(range(n)), size, step)


def sliding_time_reference(
    arrivals: list[tuple[int, int]], end: int, size: int, slide: int
) -> list[tuple[int, int, list[int]]]:
    """(emitted at, window end, items) per the documented semantics: at each
    tick ``end`` the items of ``[end - size, end)``; at completion the window
    in progress (ending at the first tick after it), if items arrived since
    the last tick."""
    out, last_tick = [], 200
    tick = 200 + slide
    while tick <= end:  # a tick at the completion instant: its window is complete
        items = [i for t, i in arrivals if tick - size <= t < tick]
        if items:
            out.append((tick, tick, items))
        last_tick = tick
        tick += slide
    if any(t >= last_tick for t, _ in arrivals):
        items = [i for t, i in arrivals if tick - size <= t]
        if items:
            out.append((end, tick, items))
    return out


@settings(max_examples=200, deadline=None)
@given(gaps, tail, ends_in_error, st.integers(1, 100), st.integers(1, 60))
def test_sliding_window_with_time_matches_reference(
    gaps: list[int], end: int, fail: bool, size: int, slide: int
) -> None:
    scheduler_box: list[TestScheduler] = []

    def operator(s: TestScheduler) -> Callable[[Observable[Any]], Observable[Any]]:
        scheduler_box.append(s)
        return sliding_window_with_time(size, slide, scheduler=s)

    arrivals, emitted, end_time = run(gaps, end, fail, operator)
    (s,) = scheduler_box
    got = [(time, s.to_seconds(w.end), w.items) for time, w in emitted]
    assert got == [
        (t, float(e), items)
        for t, e, items in sliding_time_reference(arrivals, end_time, size, slide)
    ]
    for _, window in emitted:
        assert window.end - window.start == s.to_timedelta(float(size))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 3), max_size=5), max_size=6),  # failures per item
    st.lists(st.integers(1, 30), min_size=6, max_size=6),  # gaps between batches
    st.integers(0, 2),  # max_retries
    st.sampled_from([None, 1, 2, 4]),  # chunk_size
    st.integers(1, 3),  # max_concurrency
    st.integers(1, 6),  # ticks between the executor's task runs
    st.booleans(),  # ordered
    ends_in_error,
)
def test_fan_out_conserves_items_with_chunks_and_a_slow_executor(
    plan: list[list[int]],
    batch_gaps: list[int],
    max_retries: int,
    chunk_size: int | None,
    max_concurrency: int,
    worker_period: int,
    ordered: bool,
    fail: bool,
) -> None:
    """Every item ends exactly once with the outcome its failures call for,
    tasks never exceed max_concurrency nor chunk_size, and the terminal
    notification comes after every batch's result."""
    scheduler = TestScheduler()
    executor = ManualExecutor()
    calls: dict[int, int] = {}
    failures: dict[int, int] = {}
    batches: list[list[int]] = []
    for failure_counts in plan:
        start = len(failures)
        batch = list(range(start, start + len(failure_counts)))
        failures.update(zip(batch, failure_counts, strict=True))
        batches.append(batch)

    def exec_(item: int) -> int:
        calls[item] = calls.get(item, 0) + 1
        if calls[item] <= failures[item]:
            raise ValueError(item)
        return -item

    times = [200 + sum(batch_gaps[: i + 1]) for i in range(len(batches))]
    end = 200 + sum(batch_gaps) + 1
    terminal = on_error(end, RuntimeError("end")) if fail else on_completed(end)
    xs = scheduler.create_hot_observable(
        [on_next(t, b) for t, b in zip(times, batches, strict=True)] + [terminal]
    )

    ended: list[bool] = []

    def work(_: Any, __: Any = None) -> None:  # the executor's worker: one task per period
        executor.run_one()
        if not ended:
            scheduler.schedule_relative(worker_period, work)

    scheduler.schedule_absolute(201, work)
    operator = fan_out(
        exec_,
        executor=executor,
        scheduler=scheduler,
        retry=RetryPolicy(max_retries=max_retries, base_delay=1, multiplier=1),
        chunk_size=chunk_size,
        max_concurrency=max_concurrency,
        ordered=ordered,
    )
    track_end = ops.do_action(
        on_completed=lambda: ended.append(True), on_error=lambda _: ended.append(True)
    )
    messages = scheduler.start(lambda: xs.pipe(operator, track_end), disposed=10_000).messages
    *emitted, last = messages
    assert last.value.kind == terminal.value.kind and last.time >= end
    results = [m.value.value for m in emitted]
    indices = [r.index for r in results]
    if ordered:
        assert indices == list(range(len(batches)))
    assert sorted(indices) == list(range(len(batches)))  # each batch once
    for result in results:
        assert result.items == batches[result.index]
        for position, item in enumerate(result.items):
            succeeded = failures[item] <= max_retries
            assert (position in result.errors) is not succeeded
            assert result.results[position] == (-item if succeeded else None)
            assert result.attempts[position] == calls[item] == min(failures[item], max_retries) + 1
    assert executor.peak <= max_concurrency
    assert all(size <= (chunk_size or 1) for size in executor.sizes)
