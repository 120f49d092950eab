"""Virtual-time tests of buffer_with_count and sliding_window."""

from __future__ import annotations

import reactivex
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler

from rxbatch.operators import buffer_with_count, sliding_window

on_next, on_completed, on_error = (
    ReactiveTest.on_next,
    ReactiveTest.on_completed,
    ReactiveTest.on_error,
)
subscribe = ReactiveTest.subscribe


def five_items(scheduler: TestScheduler, end: object) -> object:
    return scheduler.create_hot_observable(
        on_next(150, 0),  # before subscription: never seen
        on_next(210, 1),
        on_next(220, 2),
        on_next(230, 3),
        on_next(240, 4),
        on_next(250, 5),
        end,
    )


class TestBufferWithCount:
    def test_flushes_every_count_items_and_the_rest_at_completion(
        self, scheduler: TestScheduler
    ) -> None:
        xs = five_items(scheduler, on_completed(300))
        results = scheduler.start(lambda: xs.pipe(buffer_with_count(2)))
        assert results.messages == [
            on_next(220, [1, 2]),
            on_next(240, [3, 4]),
            on_next(300, [5]),
            on_completed(300),
        ]
        assert xs.subscriptions == [subscribe(200, 300)]

    def test_emits_pending_items_before_forwarding_an_error(self, scheduler: TestScheduler) -> None:
        error = RuntimeError("upstream failed")
        xs = five_items(scheduler, on_error(300, error))
        results = scheduler.start(lambda: xs.pipe(buffer_with_count(3)))
        assert results.messages == [
            on_next(230, [1, 2, 3]),
            on_next(300, [4, 5]),
            on_error(300, error),
        ]
        assert xs.subscriptions == [subscribe(200, 300)]

    def test_exact_multiple_emits_no_empty_batch_at_completion(
        self, scheduler: TestScheduler
    ) -> None:
        xs = scheduler.create_hot_observable(on_next(210, 1), on_next(220, 2), on_completed(230))
        results = scheduler.start(lambda: xs.pipe(buffer_with_count(2)))
        assert results.messages == [on_next(220, [1, 2]), on_completed(230)]

    def test_empty_source_emits_nothing(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(on_completed(230))
        results = scheduler.start(lambda: xs.pipe(buffer_with_count(2)))
        assert results.messages == [on_completed(230)]

    def test_disposal_mid_batch_emits_nothing_more(self, scheduler: TestScheduler) -> None:
        xs = five_items(scheduler, on_completed(300))
        results = scheduler.start(lambda: xs.pipe(buffer_with_count(3)), disposed=245)
        assert results.messages == [on_next(230, [1, 2, 3])]
        assert xs.subscriptions == [subscribe(200, 245)]

    def test_count_one_emits_each_item_alone(self, scheduler: TestScheduler) -> None:
        xs = scheduler.create_hot_observable(
            on_next(210, "a"), on_next(220, "b"), on_completed(230)
        )
        results = scheduler.start(lambda: xs.pipe(buffer_with_count(1)))
        assert results.messages == [on_next(210, ["a"]), on_next(220, ["b"]), on_completed(230)]

    def test_state_is_per_subscription(self) -> None:
        operator = buffer_with_count(2)
        source = reactivex.from_iterable(range(3)).pipe(operator, ops.to_list())
        assert source.run() == [[0, 1], [2]]
        assert source.run() == [[0, 1], [2]]

    def test_two_concurrent_subscriptions_keep_separate_batches(
        self, scheduler: TestScheduler
    ) -> None:
        xs = five_items(scheduler, on_completed(300))
        batched = xs.pipe(buffer_with_count(2))
        first, second = scheduler.create_observer(), scheduler.create_observer()
        scheduler.schedule_absolute(200, lambda *_: batched.subscribe(first))
        scheduler.schedule_absolute(225, lambda *_: batched.subscribe(second))
        scheduler.start()
        assert first.messages == [
            on_next(220, [1, 2]),
            on_next(240, [3, 4]),
            on_next(300, [5]),
            on_completed(300),
        ]
        assert second.messages == [on_next(240, [3, 4]), on_next(300, [5]), on_completed(300)]

    def test_error_raised_downstream_reaches_the_caller_of_on_next(self) -> None:
        # As in reactivex: an exception in a subscriber's on_next propagates to
        # the producer, and from_iterable turns it into on_error.
        errors: list[Exception] = []

        def fail(_: list[int]) -> None:
            raise ValueError("subscriber failed")

        reactivex.from_iterable(range(4)).pipe(buffer_with_count(2)).subscribe(fail, errors.append)
        assert [str(e) for e in errors] == ["subscriber failed"]


class TestSlidingWindow:
    def test_overlapping_windows_every_step(self, scheduler: TestScheduler) -> None:
        xs = five_items(scheduler, on_completed(300))
        results = scheduler.start(lambda: xs.pipe(sliding_window(3, 2)))
        assert results.messages == [
            on_next(220, [1, 2]),
            on_next(240, [2, 3, 4]),
            on_next(300, [4, 5]),  # the window in progress: the next step's, so far
            on_completed(300),
        ]

    def test_step_one_emits_after_every_item(self, scheduler: TestScheduler) -> None:
        xs = five_items(scheduler, on_completed(300))
        results = scheduler.start(lambda: xs.pipe(sliding_window(2)))
        assert results.messages == [
            on_next(210, [1]),
            on_next(220, [1, 2]),
            on_next(230, [2, 3]),
            on_next(240, [3, 4]),
            on_next(250, [4, 5]),
            on_completed(300),  # nothing new since the last window: no repeat
        ]

    def test_step_larger_than_size_samples_the_stream(self, scheduler: TestScheduler) -> None:
        xs = five_items(scheduler, on_completed(300))
        results = scheduler.start(lambda: xs.pipe(sliding_window(1, 3)))
        # 4 and 5 fall in the gap before the next window (which would hold
        # the 6th item): nothing is emitted at completion.
        assert results.messages == [on_next(230, [3]), on_completed(300)]

    def test_emits_the_last_window_before_an_error(self, scheduler: TestScheduler) -> None:
        error = RuntimeError("boom")
        xs = five_items(scheduler, on_error(300, error))
        results = scheduler.start(lambda: xs.pipe(sliding_window(2, 4)))
        assert results.messages == [on_next(240, [3, 4]), on_error(300, error)]  # 5: in a gap

    def test_emits_the_window_in_progress_before_an_error(self, scheduler: TestScheduler) -> None:
        error = RuntimeError("boom")
        xs = five_items(scheduler, on_error(300, error))
        results = scheduler.start(lambda: xs.pipe(sliding_window(2, 3)))
        assert results.messages == [
            on_next(230, [2, 3]),
            on_next(300, [5]),  # the window of items 5 and 6, so far; 4 is in the gap
            on_error(300, error),
        ]

    def test_disposal_emits_nothing_more(self, scheduler: TestScheduler) -> None:
        xs = five_items(scheduler, on_completed(300))
        results = scheduler.start(lambda: xs.pipe(sliding_window(2, 2)), disposed=235)
        assert results.messages == [on_next(220, [1, 2])]
        assert xs.subscriptions == [subscribe(200, 235)]

    def test_tumbling_windows_hand_over_every_item_once(self) -> None:
        windows = reactivex.from_iterable(range(4)).pipe(sliding_window(3, 3), ops.to_list()).run()
        assert windows == [[0, 1, 2], [3]]

    def test_nothing_new_at_completion_emits_nothing(self, scheduler: TestScheduler) -> None:
        xs = five_items(scheduler, on_completed(300))
        results = scheduler.start(lambda: xs.pipe(sliding_window(4, 5)))
        assert results.messages == [on_next(250, [2, 3, 4, 5]), on_completed(300)]

    def test_each_window_is_a_new_list(self) -> None:
        windows = reactivex.from_iterable(range(4)).pipe(sliding_window(2), ops.to_list()).run()
        windows[0].append(99)
        assert windows == [[0, 99], [0, 1], [1, 2], [2, 3]]
