"""buffer_with_weight: virtual time, properties, bad weights."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reactivex.testing import ReactiveTest, TestScheduler

from rxbatch.operators import buffer_with_weight

on_next, on_completed, on_error = (
    ReactiveTest.on_next,
    ReactiveTest.on_completed,
    ReactiveTest.on_error,
)
subscribe = ReactiveTest.subscribe


def test_flushes_at_the_limit_before_overflow_and_alone_when_too_heavy(
    scheduler: TestScheduler,
) -> None:
    xs = scheduler.create_hot_observable(
        on_next(210, "aa"),
        on_next(220, "bb"),  # total 4: at the limit, leaves now
        on_next(230, "ccc"),
        on_next(240, "dd"),  # 3 + 2 > 4: "ccc" leaves first
        on_next(250, "eeeeeeee"),  # heavier than the limit: "dd", then it alone
        on_next(260, "f"),
        on_completed(300),
    )
    results = scheduler.start(lambda: xs.pipe(buffer_with_weight(4, weight=len)))
    assert results.messages == [
        on_next(220, ["aa", "bb"]),
        on_next(240, ["ccc"]),
        on_next(250, ["dd"]),
        on_next(250, ["eeeeeeee"]),
        on_next(300, ["f"]),
        on_completed(300),
    ]


def test_timespan_flushes_a_light_batch(scheduler: TestScheduler) -> None:
    xs = scheduler.create_hot_observable(on_next(210, 1), on_next(220, 1), on_completed(500))
    results = scheduler.start(
        lambda: xs.pipe(buffer_with_weight(100, weight=float, timespan=50, scheduler=scheduler))
    )
    assert results.messages == [on_next(260, [1, 1]), on_completed(500)]


@pytest.mark.parametrize("bad", [-1, float("nan"), "3", None])
def test_a_bad_weight_errors_the_stream_after_the_pending_batch(
    scheduler: TestScheduler, bad: Any
) -> None:
    xs = scheduler.create_hot_observable(
        on_next(210, "ok"), on_next(220, "bad"), on_next(230, "never"), on_completed(300)
    )
    results = scheduler.start(
        lambda: xs.pipe(buffer_with_weight(10, weight=lambda s: bad if s == "bad" else 1))
    )
    assert results.messages[0] == on_next(220, ["ok"])
    assert results.messages[1].time == 220 and results.messages[1].value.kind == "E"
    assert "'bad'" in str(results.messages[1].value.exception)
    assert len(results.messages) == 2
    assert xs.subscriptions == [subscribe(200, 220)]


def test_an_error_in_the_weight_function_is_forwarded(scheduler: TestScheduler) -> None:
    xs = scheduler.create_hot_observable(on_next(210, {"size": 1}), on_next(220, {}))
    results = scheduler.start(lambda: xs.pipe(buffer_with_weight(10, weight=lambda d: d["size"])))
    assert results.messages[0] == on_next(220, [{"size": 1}])
    assert isinstance(results.messages[1].value.exception, KeyError)


@pytest.mark.parametrize(
    ("kwargs", "error", "parameter"),
    [
        ({"max_weight": 0, "weight": len}, ValueError, "max_weight"),
        ({"max_weight": float("inf"), "weight": len}, ValueError, "max_weight"),
        ({"max_weight": "5", "weight": len}, TypeError, "max_weight"),
        ({"max_weight": 5, "weight": 3}, TypeError, "weight"),
        ({"max_weight": 5, "weight": len, "timespan": 0}, ValueError, "timespan"),
    ],
)
def test_bad_arguments_fail_at_creation(
    kwargs: dict[str, Any], error: type[Exception], parameter: str
) -> None:
    with pytest.raises(error, match=parameter):
        buffer_with_weight(**kwargs)


@given(st.lists(st.integers(min_value=0, max_value=30), max_size=80), st.integers(1, 25))
def test_batches_conserve_items_and_respect_the_limit(weights: list[int], limit: int) -> None:
    scheduler = TestScheduler()
    items = list(enumerate(weights))
    xs = scheduler.create_hot_observable(
        [on_next(201 + i, item) for i, item in enumerate(items)] + [on_completed(1000)]
    )
    results = scheduler.start(
        lambda: xs.pipe(buffer_with_weight(limit, weight=lambda item: item[1]))
    )
    batches = [m.value.value for m in results.messages[:-1]]
    assert [item for batch in batches for item in batch] == items
    for batch in batches:
        total = sum(w for _, w in batch)
        assert batch and (total <= limit or len(batch) == 1)
    for before, after in pairwise(batches):
        # a batch left early only because the next item would not fit
        assert sum(w for _, w in before) >= limit or sum(w for _, w in before) + after[0][1] > limit
