"""Bad arguments fail when the operator is created, naming the parameter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from rxbatch import BatchSizer, stream_batches, window_aggregate
from rxbatch.operators import (
    buffer_with_count,
    buffer_with_time,
    buffer_with_time_or_count,
    buffer_with_weight,
    sliding_window,
    sliding_window_with_time,
)

BAD_COUNTS: list[tuple[Any, type[Exception]]] = [
    (0, ValueError),
    (-3, ValueError),
    (2.0, TypeError),
    ("10", TypeError),
    (None, TypeError),
    (True, TypeError),
]
BAD_SPANS: list[tuple[Any, type[Exception]]] = [
    (0, ValueError),
    (-1.5, ValueError),
    (timedelta(0), ValueError),
    (timedelta(seconds=-1), ValueError),
    (float("nan"), ValueError),
    (float("inf"), ValueError),
    ("1s", TypeError),
    (None, TypeError),
    (False, TypeError),
    # Longer than any clock can schedule: overflowed or hung when armed.
    (1e12, ValueError),
    (1e20, ValueError),
    (timedelta.max, ValueError),
    (timedelta(days=36_526), ValueError),
]
GOOD_SPAN, GOOD_COUNT = 1.0, 5

CALLS: list[tuple[str, str, Callable[[Any], object]]] = [
    ("buffer_with_count", "count", lambda v: buffer_with_count(v)),
    ("buffer_with_time_or_count", "count", lambda v: buffer_with_time_or_count(GOOD_SPAN, v)),
    ("sliding_window", "size", lambda v: sliding_window(v)),
    ("sliding_window", "step", lambda v: sliding_window(GOOD_COUNT, v)),
]
SPAN_CALLS: list[tuple[str, str, Callable[[Any], object]]] = [
    ("buffer_with_time", "timespan", lambda v: buffer_with_time(v)),
    ("buffer_with_time_or_count", "timespan", lambda v: buffer_with_time_or_count(v, GOOD_COUNT)),
    ("sliding_window_with_time", "size", lambda v: sliding_window_with_time(v, GOOD_SPAN)),
    ("sliding_window_with_time", "slide", lambda v: sliding_window_with_time(GOOD_SPAN, v)),
    ("buffer_with_weight", "timespan", lambda v: buffer_with_weight(10, weight=len, timespan=v)),
    (
        "stream_batches",
        "flush_interval",
        lambda v: stream_batches(abs, batch_size=1, flush_interval=v),
    ),
    ("window_aggregate", "size", lambda v: window_aggregate(v, GOOD_SPAN, len)),
    ("BatchSizer", "target_latency", lambda v: BatchSizer(1, 2, v)),
]


@pytest.mark.parametrize(("value", "error"), BAD_COUNTS)
@pytest.mark.parametrize(
    ("name", "parameter", "call"), CALLS, ids=[f"{n}-{p}" for n, p, _ in CALLS]
)
def test_bad_count_names_the_parameter(
    name: str, parameter: str, call: Callable[[Any], object], value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=rf"^{parameter} must be"):
        call(value)


@pytest.mark.parametrize(("value", "error"), BAD_SPANS)
@pytest.mark.parametrize(
    ("name", "parameter", "call"), SPAN_CALLS, ids=[f"{n}-{p}" for n, p, _ in SPAN_CALLS]
)
def test_bad_timespan_names_the_parameter(
    name: str, parameter: str, call: Callable[[Any], object], value: Any, error: type[Exception]
) -> None:
    if name == "buffer_with_weight" and value is None:
        pytest.skip("timespan=None means no timer")
    with pytest.raises(error, match=rf"^{parameter} must be"):
        call(value)


def test_the_message_shows_the_bad_value() -> None:
    with pytest.raises(ValueError, match=r"count must be >= 1, got 0"):
        buffer_with_count(0)
    with pytest.raises(TypeError, match=r"timespan must be seconds .* got str '5'"):
        buffer_with_time("5")


def test_options_after_the_first_positional_ones_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        buffer_with_time(1.0, None)  # type: ignore[misc]
    with pytest.raises(TypeError):
        buffer_with_time_or_count(1.0, 5, None)  # type: ignore[misc]


def test_too_long_a_timespan_says_how_long_is_allowed() -> None:
    with pytest.raises(
        ValueError, match=r"^size must be at most 100 years .* got 1000000000000.0$"
    ):
        sliding_window_with_time(1e12, 1.0)


def test_reactivex_extra_positional_arguments_point_to_the_sliding_windows() -> None:
    with pytest.raises(TypeError, match=r"second one, 1\. .* rxbatch\.sliding_window\(size, step"):
        buffer_with_count(3, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"0\.5\. .*\.sliding_window_with_time\(size, slide"):
        buffer_with_time(1.0, 0.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("span", [0.5, 2, timedelta(milliseconds=1), timedelta(days=36_525)])
def test_good_timespans_are_accepted(span: Any) -> None:
    assert callable(buffer_with_time(span))
    assert callable(sliding_window_with_time(span, span))
