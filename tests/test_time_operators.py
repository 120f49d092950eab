"""Virtual-time tests of buffer_with_time, buffer_with_time_or_count and
sliding_window_with_time: exact emission times, and exactly which timers run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from reactivex.subject import Subject
from reactivex.testing import ReactiveTest, TestScheduler

from rxbatch import TimeWindow
from rxbatch.operators import buffer_with_time, buffer_with_time_or_count, sliding_window_with_time

from .conftest import TimerLog, at

on_next, on_completed, on_error = (
    ReactiveTest.on_next,
    ReactiveTest.on_completed,
    ReactiveTest.on_error,
)
subscribe = ReactiveTest.subscribe


class TestBufferWithTime:
    def events(self, scheduler: TestScheduler) -> object:
        return scheduler.create_hot_observable(
            on_next(210, "a"),
            on_next(250, "b"),
            on_next(300, "c"),  # at a window's end: belongs to the next window
            on_next(420, "d"),
            # idle from 500 to 750: no empty batches, no timers
            on_next(750, "e"),
            on_completed(780),
        )

    def test_tumbling_windows_aligned_to_subscription(self, scheduler: TestScheduler) -> None:
        xs = self.events(scheduler)
        timers = TimerLog(scheduler)
        results = scheduler.start(lambda: xs.pipe(buffer_with_time(100, scheduler=timers)))
        assert results.messages == [
            on_next(300, ["a", "b"]),
            on_next(400, ["c"]),
            on_next(500, ["d"]),
            on_next(780, ["e"]),  # pending at completion
            on_completed(780),
        ]
        assert xs.subscriptions == [subscribe(200, 780)]
        assert timers.due == [300, 400, 500, 800]  # none for the idle windows

    def test_accepts_a_timedelta_and_the_subscribe_scheduler(
        self, scheduler: TestScheduler
    ) -> None:
        xs = self.events(scheduler)
        results = scheduler.start(lambda: xs.pipe(buffer_with_time(timedelta(seconds=100))))
        assert [m.time for m in results.messages] == [300, 400, 500, 780, 780]

    def test_emits_pending_items_before_an_error(self, scheduler: TestScheduler) -> None:
        error = RuntimeError("boom")
        xs = scheduler.create_hot_observable(on_next(210, 1), on_next(220, 2), on_error(250, error))
        results = scheduler.start(lambda: xs.pipe(buffer_with_time(100)))
        assert results.messages == [on_next(250, [1, 2]), on_error(250, error)]

    def test_disposal_mid_window_cancels_the_timer(self, scheduler: TestScheduler) -> None:
        xs = self.events(scheduler)
        results = scheduler.start(lambda: xs.pipe(buffer_with_time(100)), disposed=260)
        assert results.messages == []
        assert xs.subscriptions == [subscribe(200, 260)]
        assert scheduler._queue.items == []  # the window timer at 300 is gone


class TestBufferWithTimeOrCount:
    def test_flushes_on_count_then_timer_then_completion(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, 1), on_next(220, 2), on_next(230, 3),  # count reached
            on_next(300, 4),  # timer: 300 + 50
            on_next(400, 5), on_completed(420),  # flushed at completion
        )  # fmt: skip
        timers = TimerLog(scheduler)
        results = scheduler.start(
            lambda: xs.pipe(buffer_with_time_or_count(50, 3, scheduler=timers))
        )
        assert results.messages == [
            on_next(230, [1, 2, 3]),
            on_next(350, [4]),
            on_next(420, [5]),
            on_completed(420),
        ]
        assert xs.subscriptions == [subscribe(200, 420)]
        # 260 is the timer of the first batch, which count flushed: it fires,
        # finds nothing pending and does not re-arm while the stream is idle.
        assert timers.due == [260, 350, 450]

    def test_timer_starts_at_the_first_item_not_on_a_grid(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(on_next(290, "late"), on_completed(1000))
        results = scheduler.start(lambda: xs.pipe(buffer_with_time_or_count(100, 10)))
        assert results.messages == [on_next(390, ["late"]), on_completed(1000)]

    def test_leftover_timer_never_flushes_the_next_batch_early(
        self, scheduler: TestScheduler
    ) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, 1), on_next(220, 2), on_next(230, 3),  # count flush; its timer is due 260
            on_next(250, 4),  # a new batch, due 300
            on_completed(500),
        )  # fmt: skip
        timers = TimerLog(scheduler)
        results = scheduler.start(
            lambda: xs.pipe(buffer_with_time_or_count(50, 3, scheduler=timers))
        )
        assert results.messages == [on_next(230, [1, 2, 3]), on_next(300, [4]), on_completed(500)]
        assert timers.due == [260, 300]  # the 260 timer re-armed for 300

    def test_busy_stream_schedules_about_one_timer_per_timespan(
        self, scheduler: TestScheduler
    ) -> None:
        # 100 items one tick apart in batches of 2: 50 batches, 2 timers.
        xs = scheduler.create_hot_observable(
            [on_next(201 + i, i) for i in range(100)] + [on_completed(400)]
        )
        timers = TimerLog(scheduler)
        results = scheduler.start(
            lambda: xs.pipe(buffer_with_time_or_count(50, 2, scheduler=timers))
        )
        assert len(results.messages) == 51
        assert timers.due == [251, 301]

    def test_idle_stream_schedules_no_timers(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(on_completed(900))
        timers = TimerLog(scheduler)
        results = scheduler.start(
            lambda: xs.pipe(buffer_with_time_or_count(10, 5, scheduler=timers))
        )
        assert results.messages == [on_completed(900)]
        assert timers.due == []

    def test_emits_pending_batch_before_an_error(self, scheduler: TestScheduler) -> None:
        error = RuntimeError("boom")
        xs = scheduler.create_hot_observable(on_next(210, 1), on_error(230, error))
        results = scheduler.start(lambda: xs.pipe(buffer_with_time_or_count(50, 3)))
        assert results.messages == [on_next(230, [1]), on_error(230, error)]

    def test_disposal_mid_batch_emits_nothing_and_cancels_the_timer(
        self, scheduler: TestScheduler
    ) -> None:
        xs = scheduler.create_hot_observable(on_next(210, 1), on_next(220, 2), on_completed(500))
        results = scheduler.start(lambda: xs.pipe(buffer_with_time_or_count(50, 3)), disposed=240)
        assert results.messages == []
        assert xs.subscriptions == [subscribe(200, 240)]
        assert all(item.duetime != at(scheduler, 260) for item, _ in scheduler._queue.items)

    def test_subscriber_error_in_a_timer_flush_goes_to_on_error(
        self, scheduler: TestScheduler
    ) -> None:
        # A timer flush has no caller to raise to: the error goes downstream
        # and the source is unsubscribed.
        xs = scheduler.create_hot_observable(on_next(210, 1), on_next(300, 2), on_completed(500))
        received: list[object] = []
        failure = ValueError("subscriber failed")

        def on_batch(batch: list[int]) -> None:
            raise failure

        def create(*_: object) -> None:
            xs.pipe(buffer_with_time_or_count(50, 3, scheduler=scheduler)).subscribe(
                on_batch, received.append, lambda: received.append("completed")
            )

        scheduler.schedule_absolute(200, create)
        scheduler.start()
        assert received == [failure]
        assert xs.subscriptions == [subscribe(200, 260)]


class TestSlidingWindowWithTime:
    def window(
        self, scheduler: TestScheduler, start: int, end: int, items: list[str]
    ) -> TimeWindow[str]:
        return TimeWindow(at(scheduler, start), at(scheduler, end), items)

    def test_overlapping_windows_every_slide(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, "a"),
            on_next(260, "b"),
            on_next(300, "c"),  # at a tick: in the windows that start there, [start, end)
            on_next(410, "d"),
            on_completed(420),
        )
        timers = TimerLog(scheduler)
        results = scheduler.start(
            lambda: xs.pipe(sliding_window_with_time(100, 50, scheduler=timers))
        )
        w = self.window
        assert results.messages == [
            on_next(250, w(scheduler, 150, 250, ["a"])),
            on_next(300, w(scheduler, 200, 300, ["a", "b"])),
            on_next(350, w(scheduler, 250, 350, ["b", "c"])),
            on_next(400, w(scheduler, 300, 400, ["c"])),
            on_next(420, w(scheduler, 350, 450, ["d"])),  # the 450 window, early
            on_completed(420),
        ]
        # "c" is held until the 450 window starts after it; "d" arrives before
        # that tick, which completion cancels.
        assert timers.due == [250, 300, 350, 400, 450]

    def test_an_item_at_a_tick_belongs_to_the_next_window_whoever_runs_first(
        self, scheduler: TestScheduler
    ) -> None:
        # The hot observable's items are scheduled before the operator's
        # timers, so "b" at 250 arrives before the 250 tick runs; it still
        # belongs to [250, 300), like an item arriving just after the tick.
        xs = scheduler.create_hot_observable(
            on_next(210, "a"), on_next(250, "b"), on_next(300, "c"), on_completed(320)
        )
        results = scheduler.start(lambda: xs.pipe(sliding_window_with_time(50, 50)))
        assert results.messages == [
            on_next(250, self.window(scheduler, 200, 250, ["a"])),
            on_next(300, self.window(scheduler, 250, 300, ["b"])),
            on_next(320, self.window(scheduler, 300, 350, ["c"])),
            on_completed(320),
        ]

    def test_an_item_at_the_completion_instant_of_a_tick(self, scheduler: TestScheduler) -> None:
        # Completion at 300 comes before the 300 tick's timer: the window
        # [250, 300) is complete and leaves as it would have; "c", at 300, is
        # in the window in progress, [300, 350).
        xs = scheduler.create_hot_observable(
            on_next(260, "b"), on_next(300, "c"), on_completed(300)
        )
        results = scheduler.start(lambda: xs.pipe(sliding_window_with_time(50, 50)))
        assert results.messages == [
            on_next(300, self.window(scheduler, 250, 300, ["b"])),
            on_next(300, self.window(scheduler, 300, 350, ["c"])),
            on_completed(300),
        ]

    def test_the_boundary_agrees_with_buffer_with_time(self) -> None:
        events = [on_next(210, "a"), on_next(250, "b"), on_next(299, "c"), on_next(300, "d")]

        def run(operator: Any) -> list[Any]:
            scheduler = TestScheduler()
            xs = scheduler.create_hot_observable(*events, on_completed(400))
            return [m.value.value for m in scheduler.start(lambda: xs.pipe(operator)).messages[:-1]]

        batches = run(buffer_with_time(50))
        windows = [w.items for w in run(sliding_window_with_time(50, 50))]
        assert batches == windows == [["a"], ["b", "c"], ["d"]]

    def test_hopping_windows_sample_the_stream(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, "a"),  # in no window: (230, 250] starts after it
            on_next(240, "b"),
            on_next(345, "c"),
            on_completed(500),
        )
        results = scheduler.start(lambda: xs.pipe(sliding_window_with_time(20, 50)))
        assert results.messages == [
            on_next(250, self.window(scheduler, 230, 250, ["b"])),
            on_next(350, self.window(scheduler, 330, 350, ["c"])),
            on_completed(500),
        ]

    def test_last_window_is_emitted_before_an_error(self, scheduler: TestScheduler) -> None:
        error = RuntimeError("boom")
        xs = scheduler.create_hot_observable(
            on_next(210, "a"), on_next(260, "b"), on_error(280, error)
        )
        results = scheduler.start(lambda: xs.pipe(sliding_window_with_time(100, 50)))
        assert results.messages == [
            on_next(250, self.window(scheduler, 150, 250, ["a"])),
            on_next(280, self.window(scheduler, 200, 300, ["a", "b"])),
            on_error(280, error),
        ]

    def test_no_repeat_at_completion_without_new_items(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(on_next(210, "a"), on_completed(260))
        results = scheduler.start(lambda: xs.pipe(sliding_window_with_time(100, 50)))
        assert results.messages == [
            on_next(250, self.window(scheduler, 150, 250, ["a"])),
            on_completed(260),
        ]

    def test_disposal_emits_nothing_more(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(on_next(210, "a"), on_completed(500))
        results = scheduler.start(lambda: xs.pipe(sliding_window_with_time(100, 50)), disposed=240)
        assert results.messages == []
        assert xs.subscriptions == [subscribe(200, 240)]
        assert scheduler._queue.items == []


class TestItemAtTheInstantATimerAlreadyFired:
    """An item can reach an operator at the very tick its window closed, after
    that window's timer ran (here: the item is scheduled after the timer).
    It must land in the next window, never in none."""

    def feed(self, scheduler: TestScheduler, subject: Subject[str]) -> None:
        scheduler.schedule_absolute(210, lambda *_: subject.on_next("a"))
        # Scheduled at 220, after the operator armed its 250 timer at 210,
        # so at 250 the timer runs first.
        scheduler.schedule_absolute(
            220, lambda *_: scheduler.schedule_absolute(250, lambda *_: subject.on_next("b"))
        )
        scheduler.schedule_absolute(400, lambda *_: subject.on_completed())

    def test_tumbling_time_windows(self, scheduler: TestScheduler) -> None:
        subject: Subject[str] = Subject()
        self.feed(scheduler, subject)
        results = scheduler.start(lambda: subject.pipe(sliding_window_with_time(50, 50)))
        assert results.messages == [
            on_next(250, TimeWindow(at(scheduler, 200), at(scheduler, 250), ["a"])),
            on_next(300, TimeWindow(at(scheduler, 250), at(scheduler, 300), ["b"])),
            on_completed(400),
        ]

    def test_buffer_with_time(self, scheduler: TestScheduler) -> None:
        subject: Subject[str] = Subject()
        self.feed(scheduler, subject)
        results = scheduler.start(lambda: subject.pipe(buffer_with_time(50)))
        assert results.messages == [on_next(250, ["a"]), on_next(300, ["b"]), on_completed(400)]


class LateTimers(TimerLog):
    """Timers that fire ``lag`` ticks after they are due, like a busy timer thread."""

    def __init__(self, scheduler: TestScheduler, lag: float) -> None:
        super().__init__(scheduler)
        self.lag = lag

    def schedule_absolute(self, duetime: Any, action: Any, state: Any = None) -> Any:
        late = self.scheduler.to_seconds(duetime) + self.lag
        return super().schedule_absolute(late, action, state)


def test_windows_whose_timer_is_late_are_emitted_before_completion(
    scheduler: TestScheduler,
) -> None:
    xs = scheduler.create_hot_observable(
        on_next(210, "a"), on_next(260, "b"), on_next(305, "c"), on_completed(310)
    )
    late = LateTimers(scheduler, lag=30)
    results = scheduler.start(lambda: xs.pipe(sliding_window_with_time(50, 50, scheduler=late)))
    assert results.messages == [
        on_next(280, TimeWindow(at(scheduler, 200), at(scheduler, 250), ["a"])),  # 30 late
        on_next(310, TimeWindow(at(scheduler, 250), at(scheduler, 300), ["b"])),  # overdue
        on_next(310, TimeWindow(at(scheduler, 300), at(scheduler, 350), ["c"])),  # in progress
        on_completed(310),
    ]
