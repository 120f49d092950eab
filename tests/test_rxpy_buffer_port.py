"""RxPY's own buffer tests, ported, with rxbatch's answer beside reactivex's.

The marbles and the reactivex expectations are those of RxPY's
``tests/test_observable/test_bufferwithcount.py``, ``test_bufferwithtime.py``
and ``test_bufferwithtimeorcount.py`` (batches shown joined, as RxPY does).
Asserting them here checks the port against reactivex itself; each rxbatch
line beside them is what rxbatch does with the same input. Every difference
they reveal is a row of the README's "Where rxbatch differs from reactivex's
buffers" table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
ERROR = RuntimeError("ex")
Operator = Callable[[Observable[Any]], Observable[Any]]


def xs_messages(end: Recorded[Any]) -> list[Recorded[Any]]:
    """RxPY's marbles for the count and time buffers: 1 before subscription, 2..9 after."""
    return [
        on_next(150, 1),
        on_next(210, 2),
        on_next(240, 3),
        on_next(280, 4),
        on_next(320, 5),
        on_next(350, 6),
        on_next(380, 7),
        on_next(420, 8),
        on_next(470, 9),
        end,
    ]


# RxPY's marbles for buffer_with_time_or_count.
TIME_OR_COUNT_XS = [
    on_next(205, 1),
    on_next(210, 2),
    on_next(240, 3),
    on_next(280, 4),
    on_next(320, 5),
    on_next(350, 6),
    on_next(370, 7),
    on_next(420, 8),
    on_next(470, 9),
    on_completed(600),
]


def run(
    messages: list[Recorded[Any]],
    operator: Callable[[TestScheduler], Operator],
    disposed: int = 1000,
) -> list[tuple[float, str]]:
    """(time, batch joined by commas) per emission, (time, "completed"/"error") at the end."""
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(messages)
    results = scheduler.start(lambda: xs.pipe(operator(scheduler)), disposed=disposed)
    out: list[tuple[float, str]] = []
    for message in results.messages:
        kind = message.value.kind
        if kind == "N":
            batch = message.value.value
            items = getattr(batch, "items", batch)  # a TimeWindow's items
            out.append((message.time, ",".join(str(x) for x in items)))
        else:
            out.append((message.time, "completed" if kind == "C" else "error"))
    return out


DONE, FAILED = on_completed(600), on_error(600, ERROR)


# -- buffer_with_count(count): the same, except the partial batch at an error -----


def test_buffer_with_count_partial_window() -> None:
    theirs = run(xs_messages(DONE), lambda s: ops.buffer_with_count(5))
    ours = run(xs_messages(DONE), lambda s: rxbatch.buffer_with_count(5))
    assert theirs == ours == [(350, "2,3,4,5,6"), (600, "7,8,9"), (600, "completed")]


def test_buffer_with_count_full_windows() -> None:
    theirs = run(xs_messages(DONE), lambda s: ops.buffer_with_count(2))
    ours = run(xs_messages(DONE), lambda s: rxbatch.buffer_with_count(2))
    expected = [(240, "2,3"), (320, "4,5"), (380, "6,7"), (470, "8,9"), (600, "completed")]
    assert theirs == ours == expected


def test_buffer_with_count_error_loses_the_partial_batch_in_reactivex_only() -> None:
    theirs = run(xs_messages(FAILED), lambda s: ops.buffer_with_count(3))
    ours = run(xs_messages(FAILED), lambda s: rxbatch.buffer_with_count(3))
    assert theirs == [(280, "2,3,4"), (380, "5,6,7"), (600, "error")]
    assert ours == [(280, "2,3,4"), (380, "5,6,7"), (600, "8,9"), (600, "error")]


def test_buffer_with_count_disposed() -> None:
    theirs = run(xs_messages(DONE), lambda s: ops.buffer_with_count(3), disposed=370)
    ours = run(xs_messages(DONE), lambda s: rxbatch.buffer_with_count(3), disposed=370)
    assert theirs == ours == [(280, "2,3,4")]


# -- buffer_with_count(count, skip) vs sliding_window(size, step) -----------------
# reactivex opens a window every `skip` items and emits it when it holds `count`
# (it looks forward; every open window, partial ones too, at completion).
# rxbatch emits, after every `step`-th item, the last `size` items (it looks back).


def test_buffer_with_count_skip_less() -> None:
    theirs = run(xs_messages(DONE), lambda s: ops.buffer_with_count(3, 1))
    ours = run(xs_messages(DONE), lambda s: rxbatch.sliding_window(3, 1))
    assert theirs == [
        (280, "2,3,4"),
        (320, "3,4,5"),
        (350, "4,5,6"),
        (380, "5,6,7"),
        (420, "6,7,8"),
        (470, "7,8,9"),
        (600, "8,9"),
        (600, "9"),
        (600, "completed"),
    ]
    assert ours == [
        (210, "2"),
        (240, "2,3"),
        (280, "2,3,4"),
        (320, "3,4,5"),
        (350, "4,5,6"),
        (380, "5,6,7"),
        (420, "6,7,8"),
        (470, "7,8,9"),
        (600, "completed"),
    ]


def test_buffer_with_count_skip_and_count_overlap() -> None:
    theirs = run(xs_messages(DONE), lambda s: ops.buffer_with_count(3, 2))
    ours = run(xs_messages(DONE), lambda s: rxbatch.sliding_window(3, 2))
    assert theirs == [
        (280, "2,3,4"),
        (350, "4,5,6"),
        (420, "6,7,8"),
        (600, "8,9"),
        (600, "completed"),
    ]
    assert ours == [
        (240, "2,3"),
        (320, "3,4,5"),
        (380, "5,6,7"),
        (470, "7,8,9"),
        (600, "completed"),
    ]


def test_buffer_with_count_skip_more() -> None:
    # Hopping windows: both skip items, but reactivex keeps the first `count`
    # of every `skip`, rxbatch the last `size` before each step.
    theirs = run(xs_messages(DONE), lambda s: ops.buffer_with_count(2, 3))
    ours = run(xs_messages(DONE), lambda s: rxbatch.sliding_window(2, 3))
    assert theirs == [(240, "2,3"), (350, "5,6"), (470, "8,9"), (600, "completed")]
    # At completion rxbatch emits the window in progress: the next step's
    # window holds "9" so far ("8" falls in the hop's gap).
    assert ours == [(280, "3,4"), (380, "6,7"), (600, "9"), (600, "completed")]


# -- buffer_with_time(timespan): the same grid, but no empty lists ------------------


def test_buffer_with_time_basic_same() -> None:
    theirs = run(xs_messages(DONE), lambda s: ops.buffer_with_time(100, scheduler=s))
    ours = run(xs_messages(DONE), lambda s: rxbatch.buffer_with_time(100))
    assert theirs == [(300, "2,3,4"), (400, "5,6,7"), (500, "8,9"), (600, ""), (600, "completed")]
    assert ours == [(300, "2,3,4"), (400, "5,6,7"), (500, "8,9"), (600, "completed")]


# -- buffer_with_time(timespan, timeshift) vs sliding_window_with_time(size, slide) --
# reactivex's windows START at t0 + k*shift and are emitted `timespan` later;
# rxbatch's END at t0 + k*slide (k >= 1), holding what arrived in the `size`
# before. Same length, a different phase: rxbatch's first window leaves at 270,
# reactivex's at 300. reactivex also emits the empty windows and, at
# completion, every window still open.


def test_buffer_with_time_basic() -> None:
    theirs = run(xs_messages(DONE), lambda s: ops.buffer_with_time(100, 70, scheduler=s))
    ours = run(xs_messages(DONE), lambda s: rxbatch.sliding_window_with_time(100, 70))
    assert theirs == [
        (300, "2,3,4"),
        (370, "4,5,6"),
        (440, "6,7,8"),
        (510, "8,9"),
        (580, ""),
        (600, ""),
        (600, "completed"),
    ]
    # [170, 270), [240, 340), [310, 410), [380, 480), [450, 550): 3 arrived at
    # 240, on the boundary, and is in the window that starts there.
    assert ours == [
        (270, "2,3"),
        (340, "3,4,5"),
        (410, "5,6,7"),
        (480, "7,8,9"),
        (550, "9"),
        (600, "completed"),
    ]


def test_buffer_with_time_error() -> None:
    theirs = run(xs_messages(FAILED), lambda s: ops.buffer_with_time(100, 70, scheduler=s))
    ours = run(xs_messages(FAILED), lambda s: rxbatch.sliding_window_with_time(100, 70))
    assert theirs[-2:] == [(580, ""), (600, "error")]
    assert ours[-2:] == [(550, "9"), (600, "error")]


def test_buffer_with_time_disposed() -> None:
    theirs = run(
        xs_messages(DONE), lambda s: ops.buffer_with_time(100, 70, scheduler=s), disposed=370
    )
    ours = run(xs_messages(DONE), lambda s: rxbatch.sliding_window_with_time(100, 70), disposed=370)
    assert theirs == [(300, "2,3,4")]
    assert ours == [(270, "2,3"), (340, "3,4,5")]


# -- buffer_with_time_or_count: where the timer starts ------------------------------
# reactivex opens a window at the subscription and again at every flush, by
# count or by time, and starts its timer then: after the count flush at 240,
# "4" (at 280) leaves at 310, having waited 30 of the 70. rxbatch starts the
# timer at a batch's first item: "4" starts a batch due at 350, which "6"
# fills at that very instant.


def test_buffer_with_time_or_count_basic() -> None:
    theirs = run(TIME_OR_COUNT_XS, lambda s: ops.buffer_with_time_or_count(70, 3, scheduler=s))
    ours = run(TIME_OR_COUNT_XS, lambda s: rxbatch.buffer_with_time_or_count(70, 3))
    assert theirs == [
        (240, "1,2,3"),
        (310, "4"),
        (370, "5,6,7"),
        (440, "8"),
        (510, "9"),
        (580, ""),
        (600, ""),
        (600, "completed"),
    ]
    assert ours == [(240, "1,2,3"), (350, "4,5,6"), (440, "7,8"), (540, "9"), (600, "completed")]


def test_buffer_with_time_or_count_error() -> None:
    failing = [*TIME_OR_COUNT_XS[:-1], on_error(600, ERROR)]
    theirs = run(failing, lambda s: ops.buffer_with_time_or_count(70, 3, scheduler=s))
    ours = run(failing, lambda s: rxbatch.buffer_with_time_or_count(70, 3))
    assert theirs[-2:] == [(580, ""), (600, "error")]
    assert ours[-2:] == [(540, "9"), (600, "error")]


def test_buffer_with_time_or_count_disposed() -> None:
    theirs = run(
        TIME_OR_COUNT_XS,
        lambda s: ops.buffer_with_time_or_count(70, 3, scheduler=s),
        disposed=370,
    )
    ours = run(TIME_OR_COUNT_XS, lambda s: rxbatch.buffer_with_time_or_count(70, 3), disposed=370)
    assert theirs == [(240, "1,2,3"), (310, "4"), (370, "5,6,7")]
    assert ours == [(240, "1,2,3"), (350, "4,5,6")]


# -- the boundary rule: an item that arrives exactly when a window ends --------------

BOUNDARY_XS = [on_next(250, "a"), on_next(300, "b"), on_next(350, "c"), on_completed(420)]


def test_an_item_on_a_window_boundary() -> None:
    # reactivex: the item joins whichever window is open when it is delivered;
    # on a TestScheduler the hot source's item runs before the timer of the
    # same instant, so "b" at 300 closes [200, 300] (on real time, a race).
    theirs = run(BOUNDARY_XS, lambda s: ops.buffer_with_time(100, scheduler=s))
    assert theirs == [(300, "a,b"), (400, "c"), (420, ""), (420, "completed")]
    # rxbatch's buffer_with_time: half-open [start, end), whatever runs first.
    ours = run(BOUNDARY_XS, lambda s: rxbatch.buffer_with_time(100))
    assert ours == [(300, "a"), (400, "b,c"), (420, "completed")]
    # reactivex's overlapping windows hold an item at either end: "b" is in
    # [200, 300] and in [250, 350], and "c" at 350 in [250, 350] too.
    theirs = run(BOUNDARY_XS, lambda s: ops.buffer_with_time(100, 50, scheduler=s))
    assert theirs[:3] == [(300, "a,b"), (350, "b,c"), (400, "c")]
    # rxbatch's sliding_window_with_time: [end - size, end) too, so "b" at 300
    # is in the windows starting at 250 and 300, not in the one ending at 300.
    ours = run(BOUNDARY_XS, lambda s: rxbatch.sliding_window_with_time(100, 50))
    assert ours == [(300, "a"), (350, "a,b"), (400, "b,c"), (420, "completed")]
