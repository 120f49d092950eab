"""Where rxbatch's operators differ from reactivex's ``buffer_with_*``, side by
side on the same virtual-time input. Each test asserts what both libraries do
today, so a change on either side shows up here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from reactivex import Observable
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.recorded import Recorded

import rxbatch

on_next, on_completed, on_error = (
    ReactiveTest.on_next,
    ReactiveTest.on_completed,
    ReactiveTest.on_error,
)

Operator = Callable[[Observable[Any]], Observable[Any]]
ERROR = RuntimeError("upstream failed")


def run(events: list[Recorded[Any]], operator: Callable[[TestScheduler], Operator]) -> list[Any]:
    """The messages ``operator`` emits for ``events`` on a fresh TestScheduler."""
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(events)
    return scheduler.start(lambda: xs.pipe(operator(scheduler))).messages


TWO_THEN_IDLE = [on_next(290, "a"), on_next(295, "b"), on_completed(520)]
TWO_THEN_ERROR = [on_next(210, "a"), on_next(220, "b"), on_error(250, ERROR)]


def test_time_or_count_timer_starts_at_the_first_item_and_idle_emits_nothing() -> None:
    theirs = run(TWO_THEN_IDLE, lambda s: ops.buffer_with_time_or_count(100, 3, s))
    ours = run(TWO_THEN_IDLE, lambda s: rxbatch.buffer_with_time_or_count(100, 3))
    # reactivex: windows on a grid from subscription, so "a" waits 10 ticks,
    # not 100, and every idle window and the completion emit an empty list.
    assert theirs == [
        on_next(300, ["a", "b"]),
        on_next(400, []),
        on_next(500, []),
        on_next(520, []),
        on_completed(520),
    ]
    # rxbatch: the batch leaves timespan after its first item; no empty lists.
    assert ours == [on_next(390, ["a", "b"]), on_completed(520)]


def test_time_windows_emit_no_empty_lists() -> None:
    theirs = run(TWO_THEN_IDLE, lambda s: ops.buffer_with_time(100, scheduler=s))
    ours = run(TWO_THEN_IDLE, lambda s: rxbatch.buffer_with_time(100))
    assert [m.value.value for m in theirs[:-1]] == [["a", "b"], [], [], []]
    assert ours == [on_next(300, ["a", "b"]), on_completed(520)]


def test_pending_items_are_emitted_before_an_error() -> None:
    # reactivex loses "a" and "b"; rxbatch hands them over, then the error.
    assert run(TWO_THEN_ERROR, lambda s: ops.buffer_with_count(5)) == [on_error(250, ERROR)]
    assert run(TWO_THEN_ERROR, lambda s: rxbatch.buffer_with_count(5)) == [
        on_next(250, ["a", "b"]),
        on_error(250, ERROR),
    ]
    assert run(TWO_THEN_ERROR, lambda s: ops.buffer_with_time_or_count(100, 5, s)) == [
        on_error(250, ERROR)
    ]
    assert run(TWO_THEN_ERROR, lambda s: rxbatch.buffer_with_time_or_count(100, 5)) == [
        on_next(250, ["a", "b"]),
        on_error(250, ERROR),
    ]


def test_sliding_window_looks_back_where_reactivex_looks_forward() -> None:
    # reactivex's buffer_with_count(3, 1) opens a window at each item and
    # emits it when it holds 3 items, or all of them at completion (partial
    # windows). rxbatch's sliding_window(3) emits, after each item, the last
    # 3 items seen: the view a moving average needs.
    theirs = run(TWO_THEN_IDLE, lambda s: ops.buffer_with_count(3, 1))
    ours = run(TWO_THEN_IDLE, lambda s: rxbatch.sliding_window(3))
    assert theirs == [on_next(520, ["a", "b"]), on_next(520, ["b"]), on_completed(520)]
    assert ours == [on_next(290, ["a"]), on_next(295, ["a", "b"]), on_completed(520)]


def test_count_buffers_agree() -> None:
    theirs = run(TWO_THEN_IDLE, lambda s: ops.buffer_with_count(2))
    ours = run(TWO_THEN_IDLE, lambda s: rxbatch.buffer_with_count(2))
    assert theirs == ours == [on_next(295, ["a", "b"]), on_completed(520)]


def test_an_item_at_a_boundary_is_in_the_window_that_starts_there() -> None:
    # The item at 250 is scheduled before the window timers at 250: reactivex
    # puts it in the window that ends at 250 (with the opposite order, in the
    # next one); rxbatch's windows are [start, end) whatever runs first.
    events = [on_next(210, "a"), on_next(250, "b"), on_next(300, "c"), on_completed(320)]
    theirs = run(events, lambda s: ops.buffer_with_time(50, scheduler=s))
    ours = run(events, lambda s: rxbatch.buffer_with_time(50))
    assert [m.value.value for m in theirs[:2]] == [["a", "b"], ["c"]]
    assert [m.value.value for m in ours[:3]] == [["a"], ["b"], ["c"]]
    sliding = run(events, lambda s: rxbatch.sliding_window_with_time(50, 50))
    assert [m.value.value.items for m in sliding[:3]] == [["a"], ["b"], ["c"]]


def test_reactivex_extra_positional_arguments_point_to_the_sliding_windows() -> None:
    assert callable(ops.buffer_with_count(3, 1)) and callable(ops.buffer_with_time(1.0, 0.5))
    with pytest.raises(TypeError, match=r"sliding_window\(size, step\)"):
        rxbatch.buffer_with_count(3, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sliding_window_with_time\(size, slide\)"):
        rxbatch.buffer_with_time(1.0, 0.5)  # type: ignore[arg-type]
