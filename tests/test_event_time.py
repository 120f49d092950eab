"""Virtual-time tests of the event-time windows: exact emission times.

Items are ``(name, seconds)`` or ``(name, seconds, key)``: the event time is
in the item; the virtual time of ``on_next`` is when it arrives.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler

from rxbatch import (
    EventTimeError,
    LateItem,
    LateItemError,
    TimeWindow,
    WindowResult,
    session_window,
    sliding_event_window,
    tumbling_event_window,
)

from .conftest import TimerLog
from .test_threads import PER_PRODUCER, PRODUCERS, produce

on_next, on_completed, on_error = (
    ReactiveTest.on_next,
    ReactiveTest.on_completed,
    ReactiveTest.on_error,
)
subscribe = ReactiveTest.subscribe
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """An event time, ``seconds`` after the epoch."""
    return EPOCH + timedelta(seconds=seconds)


def time_of(event: tuple[Any, ...]) -> float:
    return float(event[1])


def key_of(event: tuple[Any, ...]) -> str:
    return str(event[2])


def window(start: float, end: float, items: list[Any], key: Any = None) -> TimeWindow[Any]:
    return TimeWindow(at(start), at(end), items, key)


A1, B5, C10, D25 = ("a", 1), ("b", 5), ("c", 10), ("d", 25)


class TestTumbling:
    def test_in_order_each_window_leaves_when_the_watermark_reaches_its_end(
        self, scheduler: TestScheduler
    ) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, A1),
            on_next(220, B5),
            on_next(230, C10),  # time 10: [0, 10) is complete; c starts [10, 20)
            on_next(240, D25),  # passes 20: [10, 20) leaves
            on_completed(300),  # the open window leaves, then completion
        )
        results = scheduler.start(lambda: xs.pipe(tumbling_event_window(10, timestamp=time_of)))
        assert results.messages == [
            on_next(230, window(0, 10, [A1, B5])),
            on_next(240, window(10, 20, [C10])),
            on_next(300, window(20, 30, [D25])),
            on_completed(300),
        ]

    def test_disorder_within_lateness_keeps_arrival_order_and_loses_nothing(
        self, scheduler: TestScheduler
    ) -> None:
        times = [1, 8, 4, 12, 9, 16, 21]  # at most 5 s behind the largest time seen
        xs = scheduler.create_hot_observable(
            *[on_next(210 + 10 * i, ("e", t)) for i, t in enumerate(times)], on_completed(300)
        )
        late: list[LateItem[Any]] = []
        results = scheduler.start(
            lambda: xs.pipe(
                tumbling_event_window(10, timestamp=time_of, lateness=5, on_late=late.append)
            )
        )
        assert results.messages == [
            # 16 moves the watermark to 11: [0, 10) leaves, in arrival order
            on_next(260, window(0, 10, [("e", 1), ("e", 8), ("e", 4), ("e", 9)])),
            on_next(300, window(10, 20, [("e", 12), ("e", 16)])),  # watermark 16 at most
            on_next(300, window(20, 30, [("e", 21)])),
            on_completed(300),
        ]
        assert late == []

    def test_late_items_go_to_on_late_with_their_key_time_and_watermark(
        self, scheduler: TestScheduler
    ) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 1, "k")),
            on_next(220, ("b", 12, "k")),  # [0, 10) leaves
            on_next(230, ("late", 5, "k")),  # its only window has left
            on_next(240, ("c", 13, "k")),
            on_completed(300),
        )
        late: list[LateItem[Any]] = []
        results = scheduler.start(
            lambda: xs.pipe(
                tumbling_event_window(10, timestamp=time_of, key=key_of, on_late=late.append)
            )
        )
        assert late == [LateItem(("late", 5, "k"), "k", at(5), at(12))]
        assert results.messages == [
            on_next(220, window(0, 10, [("a", 1, "k")], "k")),
            on_next(300, window(10, 20, [("b", 12, "k"), ("c", 13, "k")], "k")),
            on_completed(300),
        ]

    def test_without_on_late_a_late_item_ends_the_stream_after_the_open_windows(
        self, scheduler: TestScheduler
    ) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, A1), on_next(220, ("b", 12)), on_next(230, B5), on_completed(300)
        )
        results = scheduler.start(lambda: xs.pipe(tumbling_event_window(10, timestamp=time_of)))
        *windows, (time, failure) = [(m.time, m.value) for m in results.messages]
        assert windows == [
            (220, on_next(220, window(0, 10, [A1])).value),
            (230, on_next(230, window(10, 20, [("b", 12)])).value),
        ]
        assert time == 230 and failure.kind == "E"
        error = failure.exception
        assert isinstance(error, LateItemError) and isinstance(error, EventTimeError)
        assert error.item == B5 and error.late == LateItem(B5, None, at(5), at(12))
        assert "on_late=" in str(error) and "lateness=" in str(error)
        assert xs.subscriptions == [subscribe(200, 230)]

    def test_in_order_input_with_zero_lateness_has_no_late_item(self) -> None:
        events = [("e", t) for t in (0, 0, 3, 9.999999, 10, 10, 25, 40)]
        windows = (
            reactivex.from_iterable(events)
            .pipe(tumbling_event_window(10, timestamp=time_of), ops.to_list())
            .run()
        )
        assert [[t for _, t in w.items] for w in windows] == [
            [0, 0, 3, 9.999999],
            [10, 10],
            [25],
            [40],
        ]

    def test_windows_are_aligned_to_the_epoch_plus_offset(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 1)),
            on_next(220, ("b", 3)),
            on_next(230, ("c", 14)),
            on_completed(300),
        )
        results = scheduler.start(
            lambda: xs.pipe(tumbling_event_window(10, timestamp=time_of, offset=3))
        )
        assert results.messages == [
            on_next(220, window(-7, 3, [("a", 1)])),  # "b", at 3, starts [3, 13)
            on_next(230, window(3, 13, [("b", 3)])),
            on_next(300, window(13, 23, [("c", 14)])),
            on_completed(300),
        ]

    def test_aware_datetimes_in_any_zone_and_epoch_seconds_give_the_same_windows(self) -> None:
        plus_two = timezone(timedelta(hours=2))
        seconds = [0.5, 59.999999, 60.0, 61.25, 3600.0]
        as_datetimes = [at(s).astimezone(plus_two) for s in seconds]

        def run(items: list[Any]) -> list[tuple[datetime, datetime, int]]:
            op = tumbling_event_window(60, timestamp=lambda x: x)
            windows = reactivex.from_iterable(items).pipe(op, ops.to_list()).run()
            return [(w.start, w.end, len(w.items)) for w in windows]

        assert (
            run(seconds)
            == run(as_datetimes)
            == [
                (at(0), at(60), 2),
                (at(60), at(120), 2),
                (at(3600), at(3660), 1),
            ]
        )
        assert run(seconds)[0][0].tzinfo is UTC

    def test_incremental_aggregate_keeps_one_accumulator_per_window(
        self, scheduler: TestScheduler
    ) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("x", 1, "a")),
            on_next(220, ("y", 2, "b")),
            on_next(230, ("z", 3, "a")),
            on_completed(300),
        )
        calls: list[str] = []

        def add(total: int, event: tuple[Any, ...]) -> int:
            calls.append(event[0])
            return total + int(event[1])

        results = scheduler.start(
            lambda: xs.pipe(
                tumbling_event_window(10, timestamp=time_of, key=key_of, aggregate=(int, add))
            )
        )
        assert results.messages == [
            on_next(300, WindowResult(at(0), at(10), 2, 4, "a")),  # ties at 10: key order
            on_next(300, WindowResult(at(0), at(10), 1, 2, "b")),
            on_completed(300),
        ]
        assert calls == ["x", "y", "z"]


class TestKeys:
    def test_each_key_has_its_own_watermark(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a1", 1, "a")),
            on_next(220, ("b1", 2, "b")),
            on_next(230, ("a2", 15, "a")),  # a's watermark passes 10; b's does not
            on_next(240, ("b2", 8, "b")),  # on time for b
            on_next(250, ("b3", 30, "b")),
            on_completed(300),
        )
        results = scheduler.start(
            lambda: xs.pipe(tumbling_event_window(10, timestamp=time_of, key=key_of))
        )
        assert results.messages == [
            on_next(230, window(0, 10, [("a1", 1, "a")], "a")),
            on_next(250, window(0, 10, [("b1", 2, "b"), ("b2", 8, "b")], "b")),
            on_next(300, window(10, 20, [("a2", 15, "a")], "a")),
            on_next(300, window(30, 40, [("b3", 30, "b")], "b")),
            on_completed(300),
        ]

    def test_ties_leave_in_key_order_and_unsortable_keys_in_first_seen_order(self) -> None:
        def run(keys: list[Any]) -> list[Any]:
            events = [("e", 1, k) for k in keys]
            op = tumbling_event_window(10, timestamp=time_of, key=lambda e: e[2])
            return [w.key for w in reactivex.from_iterable(events).pipe(op, ops.to_list()).run()]

        assert run(["c", "a", "b"]) == ["a", "b", "c"]
        assert run([3, None, "x"]) == [3, None, "x"]  # no order between them


class TestSliding:
    def test_an_item_is_in_every_window_that_holds_its_time(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 3)),
            on_next(220, ("b", 10)),
            on_next(230, ("c", 21)),
            on_completed(300),
        )
        results = scheduler.start(lambda: xs.pipe(sliding_event_window(10, 5, timestamp=time_of)))
        assert results.messages == [
            on_next(220, window(-5, 5, [("a", 3)])),  # "b" at 10: watermark 10
            on_next(220, window(0, 10, [("a", 3)])),
            on_next(230, window(5, 15, [("b", 10)])),
            on_next(230, window(10, 20, [("b", 10)])),
            on_next(300, window(15, 25, [("c", 21)])),
            on_next(300, window(20, 30, [("c", 21)])),
            on_completed(300),
        ]

    def test_an_item_some_of_whose_windows_left_joins_the_rest_and_is_not_late(
        self, scheduler: TestScheduler
    ) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 12)),  # watermark 12: [0, 10) and [5, 15) would be... open
            on_next(220, ("b", 21)),  # watermark 21: [5, 15) and [10, 20) leave
            on_next(230, ("c", 18)),  # in [10, 20) (left) and [15, 25) (open)
            on_next(240, ("d", 9)),  # in [0, 10) and [5, 15): both left -> late
            on_completed(300),
        )
        late: list[LateItem[Any]] = []
        results = scheduler.start(
            lambda: xs.pipe(sliding_event_window(10, 5, timestamp=time_of, on_late=late.append))
        )
        assert results.messages == [
            on_next(220, window(5, 15, [("a", 12)])),
            on_next(220, window(10, 20, [("a", 12)])),
            on_next(300, window(15, 25, [("b", 21), ("c", 18)])),
            on_next(300, window(20, 30, [("b", 21)])),
            on_completed(300),
        ]
        assert late == [LateItem(("d", 9), None, at(9), at(21))]


class TestSessions:
    def test_an_item_that_bridges_two_sessions_merges_them(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 0)),  # [0, 10)
            on_next(220, ("b", 15)),  # [15, 25)
            on_next(230, ("c", 7)),  # [7, 17) overlaps both: one session [0, 25)
            on_next(240, ("d", 50)),  # watermark 50 - 20 = 30: the session leaves
            on_completed(300),
        )
        results = scheduler.start(
            lambda: xs.pipe(session_window(10, timestamp=time_of, lateness=20))
        )
        assert results.messages == [
            on_next(240, window(0, 25, [("a", 0), ("b", 15), ("c", 7)])),  # arrival order
            on_next(300, window(50, 60, [("d", 50)])),
            on_completed(300),
        ]

    def test_items_exactly_gap_apart_are_in_different_sessions(self) -> None:
        events = [("a", 0), ("b", 10), ("c", 19.999999)]
        op = session_window(10, timestamp=time_of)
        sessions = reactivex.from_iterable(events).pipe(op, ops.to_list()).run()
        assert sessions == [window(0, 10, [("a", 0)]), window(10, 29.999999, events[1:])]

    def test_merging_sessions_merge_their_accumulators(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 0, "u")),
            on_next(220, ("b", 15, "u")),
            on_next(230, ("x", 3, "v")),
            on_next(240, ("c", 7, "u")),
            on_completed(300),
        )
        merges: list[tuple[str, str]] = []

        def merge(earlier: str, later: str) -> str:
            merges.append((earlier, later))
            return earlier + later

        names = (str, lambda acc, e: acc + e[0], merge)
        results = scheduler.start(
            lambda: xs.pipe(
                session_window(10, timestamp=time_of, key=key_of, lateness=20, aggregate=names)
            )
        )
        assert merges == [("a", "b")]
        assert results.messages == [
            on_next(300, WindowResult(at(3), at(13), 1, "x", "v")),
            on_next(300, WindowResult(at(0), at(25), 3, "abc", "u")),
            on_completed(300),
        ]

    def test_a_late_item_is_one_no_open_session_takes(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 0)),
            on_next(220, ("b", 30)),  # watermark 30: [0, 10) leaves
            on_next(230, ("c", 21)),  # [21, 31) overlaps the open [30, 40): joins it
            on_next(240, ("d", 5)),  # [5, 15): nothing open there, ended -> late
            on_completed(300),
        )
        late: list[LateItem[Any]] = []
        results = scheduler.start(
            lambda: xs.pipe(session_window(10, timestamp=time_of, on_late=late.append))
        )
        assert results.messages == [
            on_next(220, window(0, 10, [("a", 0)])),
            on_next(300, window(21, 40, [("b", 30), ("c", 21)])),
            on_completed(300),
        ]
        assert late == [LateItem(("d", 5), None, at(5), at(30))]


class TestExactBoundaries:
    """Items, window ends and watermarks that coincide exactly."""

    def test_an_item_whose_window_ended_exactly_at_the_watermark_is_late(self) -> None:
        late: list[LateItem[Any]] = []
        windows = (
            reactivex.of(("a", 1), ("b", 13), ("c", 9.999999), ("d", 10))
            .pipe(tumbling_event_window(10, timestamp=time_of, lateness=3, on_late=late.append))
            .pipe(ops.to_list())
            .run()
        )
        assert late == [LateItem(("c", 9.999999), None, at(9.999999), at(10))]
        assert windows == [window(0, 10, [("a", 1)]), window(10, 20, [("b", 13), ("d", 10)])]

    def test_a_session_leaves_when_the_watermark_reaches_its_end(
        self, scheduler: TestScheduler
    ) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 0)), on_next(220, ("b", 10)), on_completed(300)
        )
        results = scheduler.start(lambda: xs.pipe(session_window(10, timestamp=time_of)))
        assert results.messages == [
            on_next(220, window(0, 10, [("a", 0)])),
            on_next(300, window(10, 20, [("b", 10)])),
            on_completed(300),
        ]

    def test_sessions_that_only_touch_do_not_merge(self) -> None:
        events = [("a", 0), ("b", 20), ("c", 10)]  # c's [10, 20) touches both
        sessions = (
            reactivex.from_iterable(events)
            .pipe(session_window(10, timestamp=time_of, lateness=100), ops.to_list())
            .run()
        )
        assert sessions == [
            window(0, 10, [("a", 0)]),
            window(10, 20, [("c", 10)]),
            window(20, 30, [("b", 20)]),
        ]

    def test_a_session_item_whose_window_ends_at_the_watermark_is_late(self) -> None:
        late: list[LateItem[Any]] = []
        sessions = (
            reactivex.of(("a", 0), ("b", 30), ("c", 15))
            .pipe(session_window(10, timestamp=time_of, lateness=5, on_late=late.append))
            .pipe(ops.to_list())
            .run()
        )
        assert late == [LateItem(("c", 15), None, at(15), at(25))]  # [15, 25), watermark 25
        assert sessions == [window(0, 10, [("a", 0)]), window(30, 40, [("b", 30)])]


class TestIdleTimeout:
    def test_a_quiet_stream_emits_its_window_as_its_clock_moves_on(
        self, scheduler: TestScheduler
    ) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 3)),  # window [0, 10); watermark 3
            on_next(300, ("b", 4)),  # after the watermark moved past 10: late
            on_completed(400),
        )
        timers = TimerLog(scheduler)
        late: list[LateItem[Any]] = []
        results = scheduler.start(
            lambda: xs.pipe(
                tumbling_event_window(
                    10, timestamp=time_of, idle_timeout=5, on_late=late.append, scheduler=timers
                )
            )
        )
        # Quiet from 210: after 5 s the watermark moves with the clock, and
        # reaches 10 seven seconds after "a".
        assert results.messages == [on_next(217, window(0, 10, [("a", 3)])), on_completed(400)]
        assert timers.due == [217]
        assert late == [LateItem(("b", 4), None, at(4), at(3 + 90))]

    def test_the_watermark_waits_for_the_idle_timeout_first(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 9)), on_next(212, ("b", 9.5)), on_completed(400)
        )
        results = scheduler.start(
            lambda: xs.pipe(tumbling_event_window(10, timestamp=time_of, idle_timeout=20))
        )
        # "b" restarts the wait: 20 s after 212.
        assert results.messages == [
            on_next(232, window(0, 10, [("a", 9), ("b", 9.5)])),
            on_completed(400),
        ]

    def test_a_quiet_key_is_not_held_back_by_a_busy_one(self, scheduler: TestScheduler) -> None:
        busy = [on_next(200 + 2 * i, ("b", 100 + i, "busy")) for i in range(1, 20)]
        xs = scheduler.create_hot_observable(
            on_next(201, ("q", 5, "quiet")), *busy, on_completed(300)
        )
        results = scheduler.start(
            lambda: xs.pipe(
                tumbling_event_window(10, timestamp=time_of, key=key_of, idle_timeout=3)
            )
        )
        messages = [(m.time, m.value.value.key, m.value.value.start) for m in results.messages[:-1]]
        # quiet: watermark 5 at 201, 10 five seconds later; busy windows
        # leave with their own items (110 arrives at 220).
        assert messages[:2] == [(206, "quiet", at(0)), (220, "busy", at(100))]

    def test_idle_timers_stop_when_no_window_is_open(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(on_next(210, ("a", 3)), on_completed(1000))
        timers = TimerLog(scheduler)
        scheduler.start(
            lambda: xs.pipe(
                tumbling_event_window(10, timestamp=time_of, idle_timeout=1, scheduler=timers)
            )
        )
        assert timers.due == [217]


class TestTermination:
    def test_an_upstream_error_emits_the_open_windows_first(self, scheduler: TestScheduler) -> None:
        error = RuntimeError("upstream")
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 1, "y")), on_next(220, ("b", 2, "x")), on_error(230, error)
        )
        results = scheduler.start(
            lambda: xs.pipe(tumbling_event_window(10, timestamp=time_of, key=key_of))
        )
        assert results.messages == [
            on_next(230, window(0, 10, [("b", 2, "x")], "x")),
            on_next(230, window(0, 10, [("a", 1, "y")], "y")),
            on_error(230, error),
        ]

    def test_disposal_emits_nothing_more_and_cancels_the_timer(
        self, scheduler: TestScheduler
    ) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, ("a", 1)), on_next(220, ("b", 30)), on_completed(500)
        )
        results = scheduler.start(
            lambda: xs.pipe(tumbling_event_window(10, timestamp=time_of, idle_timeout=50)),
            disposed=240,
        )
        assert results.messages == [on_next(220, window(0, 10, [("a", 1)]))]
        assert xs.subscriptions == [subscribe(200, 240)]
        assert scheduler._queue.items == []

    def test_state_is_per_subscription(self) -> None:
        op = tumbling_event_window(10, timestamp=time_of)
        first = reactivex.of(A1, C10).pipe(op, ops.to_list()).run()
        second = reactivex.of(B5).pipe(op, ops.to_list()).run()
        assert first == [window(0, 10, [A1]), window(10, 20, [C10])]
        assert second == [window(0, 10, [B5])]


class TestBadItems:
    @pytest.mark.parametrize(
        ("stamp", "message"),
        [
            (datetime(2026, 1, 1), r"is a naive datetime, datetime\.datetime\(2026, 1, 1, 0, 0\)"),
            (None, r"is None, not a time"),
            (float("nan"), r"is nan, not a time"),
            (True, r"is True, not a time"),
            ("12:00", r"is '12:00', not a time"),
            (1e300, r"out of the range"),
        ],
        ids=["naive", "none", "nan", "bool", "str", "huge"],
    )
    def test_a_timestamp_that_is_not_a_time_ends_the_stream_naming_the_item(
        self, scheduler: TestScheduler, stamp: Any, message: str
    ) -> None:
        bad = ("bad", stamp)
        xs = scheduler.create_hot_observable(
            on_next(210, A1), on_next(220, bad), on_next(230, B5), on_completed(300)
        )
        results = scheduler.start(
            lambda: xs.pipe(tumbling_event_window(10, timestamp=lambda e: e[1]))
        )
        assert results.messages[0] == on_next(220, window(0, 10, [A1]))  # open windows first
        failure = results.messages[1]
        assert failure.time == 220 and len(results.messages) == 2
        error = failure.value.exception
        assert isinstance(error, EventTimeError) and error.item == bad
        assert f"the timestamp of {bad!r}" in str(error)
        assert re.search(message, str(error))
        assert xs.subscriptions == [subscribe(200, 220)]

    def test_a_timestamp_function_that_raises_is_the_cause(self) -> None:
        def broken(event: dict[str, float]) -> float:
            return event["ts"]

        errors: list[Exception] = []
        reactivex.of({"ts": 1.0}, {"time": 2.0}).pipe(
            tumbling_event_window(10, timestamp=broken)
        ).subscribe(on_error=errors.append)
        (error,) = errors
        assert isinstance(error, EventTimeError) and error.item == {"time": 2.0}
        assert str(error) == "timestamp({'time': 2.0}) raised KeyError('ts')"
        assert isinstance(error.__cause__, KeyError)

    def test_a_key_function_that_raises_is_the_cause(self) -> None:
        errors: list[Exception] = []
        reactivex.of(("a", 1)).pipe(
            tumbling_event_window(10, timestamp=time_of, key=lambda e: e[2])
        ).subscribe(on_error=errors.append)
        (error,) = errors
        assert isinstance(error, EventTimeError) and isinstance(error.__cause__, IndexError)
        assert str(error).startswith("key(('a', 1)) raised IndexError")

    @pytest.mark.parametrize("broken", ["init", "add", "on_late"])
    def test_errors_in_the_aggregate_or_on_late_go_to_on_error(self, broken: str) -> None:
        failure = ValueError(broken)

        def fail(*_: Any) -> Any:
            raise failure

        init = fail if broken == "init" else int
        add = fail if broken == "add" else (lambda n, _: n + 1)
        on_late = fail if broken == "on_late" else None
        messages: list[Any] = []
        reactivex.of(("a", 12), ("b", 1)).pipe(
            tumbling_event_window(10, timestamp=time_of, aggregate=(init, add), on_late=on_late)
        ).subscribe(messages.append, messages.append)
        assert messages[-1] is failure
        if broken == "on_late":  # "a" is emitted before the error
            assert messages[:-1] == [WindowResult(at(10), at(20), 1, 1)]


class TestArguments:
    @pytest.mark.parametrize(
        ("make", "error", "message"),
        [
            (lambda: tumbling_event_window(0, timestamp=time_of), ValueError, "^size must be > 0"),
            (lambda: sliding_event_window(10, 0, timestamp=time_of), ValueError, "^slide must be"),
            (
                lambda: sliding_event_window(10, 11, timestamp=time_of),
                ValueError,
                "^slide must be <= size",
            ),
            (lambda: session_window(-1, timestamp=time_of), ValueError, "^gap must be > 0"),
            (
                lambda: tumbling_event_window(10, timestamp=time_of, lateness=-1),
                ValueError,
                r"^lateness must be >= 0, got -1",
            ),
            (
                lambda: tumbling_event_window(10, timestamp=time_of, lateness="2s"),
                TypeError,
                "^lateness must be seconds",
            ),
            (lambda: tumbling_event_window(10, timestamp="ts"), TypeError, "^timestamp must be"),
            (
                lambda: tumbling_event_window(10, timestamp=time_of, key="k"),
                TypeError,
                "^key must be callable",
            ),
            (
                lambda: tumbling_event_window(10, timestamp=time_of, on_late=[]),
                TypeError,
                "^on_late must be callable",
            ),
            (
                lambda: tumbling_event_window(10, timestamp=time_of, aggregate=(int,)),
                TypeError,
                r"^aggregate must be \(init, add\)",
            ),
            (
                lambda: session_window(10, timestamp=time_of, aggregate=(int, max)),
                TypeError,
                r"^session_window's aggregate must be \(init, add, merge\)",
            ),
            (
                lambda: tumbling_event_window(10, timestamp=time_of, idle_timeout=0),
                ValueError,
                "^idle_timeout must be > 0",
            ),
            (
                lambda: tumbling_event_window(10, timestamp=time_of, scheduler=TestScheduler()),
                ValueError,
                "^scheduler is used only with idle_timeout",
            ),
            (
                lambda: tumbling_event_window(10, timestamp=time_of, offset=None),
                TypeError,
                "^offset must be seconds",
            ),
            (
                lambda: tumbling_event_window(10, timestamp=time_of, offset=float("inf")),
                ValueError,
                "^offset must be a finite",
            ),
        ],
    )
    def test_bad_arguments_fail_at_creation_naming_the_parameter(
        self, make: Any, error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            make()

    def test_timedeltas_and_a_zero_lateness_are_accepted(self) -> None:
        op = sliding_event_window(
            timedelta(minutes=1),
            timedelta(seconds=30),
            timestamp=time_of,
            lateness=timedelta(0),
            offset=timedelta(seconds=-5),
        )
        windows = reactivex.of(("a", 0)).pipe(op, ops.to_list()).run()
        assert [(w.start, w.end) for w in windows] == [(at(-35), at(25)), (at(-5), at(55))]


def test_concurrent_producers_lose_and_duplicate_nothing() -> None:
    # Producer p sends (p, n) for n = 0, 1, ...: event time n / 100 s, key n % 3.
    windows = produce(
        tumbling_event_window(
            1, timestamp=lambda pn: pn[1] / 100, key=lambda pn: pn[1] % 3, lateness=1_000
        )
    ).received
    items = [item for w in windows for item in w.items]
    assert sorted(items) == sorted((p, n) for p in range(PRODUCERS) for n in range(PER_PRODUCER))
    for w in windows:
        assert all(w.start <= at(n / 100) < w.end and n % 3 == w.key for _, n in w.items)
