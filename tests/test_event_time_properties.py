"""Property tests of the event-time windows against a batch reference.

Events are ``(index, key, ms)``: event times in whole milliseconds, so the
reference computes window bounds in exact integers. Disorder "within
lateness" means every event is at most ``lateness`` behind the largest time
seen before it (the bounded out-of-orderness the watermark assumes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import reactivex
from hypothesis import given, settings
from hypothesis import strategies as st

from rxbatch import LateItem, session_window, sliding_event_window, tumbling_event_window

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Event = tuple[int, str, int]  # (index, key, milliseconds)
Window = tuple[str | None, int, int, list[int]]  # (key, start ms, end ms, indices)


def seconds(event: Event) -> float:
    return event[2] / 1000


def key_of(event: Event) -> str:
    return event[1]


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


@st.composite
def events(draw: st.DrawFn, max_disorder: int | None) -> list[Event]:
    """Events whose times move forward by steps of 0..60 ms, each pushed back
    by up to ``max_disorder`` ms (None: anywhere, any disorder). Times are
    multiples of 5 ms, as sizes and lateness are, so that items, window
    bounds and watermarks often coincide exactly."""
    steps = draw(st.lists(st.integers(0, 12).map(lambda n: 5 * n), max_size=80))
    keys = draw(st.lists(st.sampled_from("abc"), min_size=len(steps), max_size=len(steps)))
    base, out = draw(st.integers(-500, 500)), []
    for index, (step, key) in enumerate(zip(steps, keys, strict=True)):
        base += step
        back = 5 * draw(st.integers(0, max_disorder // 5)) if max_disorder is not None else 0
        jump = 5 * draw(st.integers(-600, 600)) if max_disorder is None else 0
        out.append((index, key, base - back + jump))
    return out


def stream(
    make: Callable[[Callable[[LateItem[Event]], None]], Any], items: list[Event]
) -> tuple[list[Window], list[Event]]:
    late: list[LateItem[Event]] = []
    windows: list[Any] = []
    errors: list[Exception] = []
    reactivex.from_iterable(items).pipe(make(late.append)).subscribe(windows.append, errors.append)
    assert errors == []
    got = [(w.key, ms(w.start), ms(w.end), [item[0] for item in w.items]) for w in windows]
    return got, [entry.item for entry in late]


def fixed_reference(
    items: list[Event], size: int, slide: int, offset: int, keyed: bool
) -> list[Window]:
    """Every event in every window ``[offset + k*slide, ... + size)`` holding its time."""
    grouped: dict[tuple[str | None, int], list[int]] = defaultdict(list)
    for index, key, t in items:
        start = t - (t - offset) % slide
        while start > t - size:
            grouped[(key if keyed else None, start)].append(index)
            start -= slide
    return [(key, start, start + size, indices) for (key, start), indices in grouped.items()]


def session_reference(items: list[Event], gap: int, keyed: bool) -> list[Window]:
    """Per key, the runs of events (by time) less than ``gap`` apart."""
    by_key: dict[str | None, list[Event]] = defaultdict(list)
    for event in items:
        by_key[event[1] if keyed else None].append(event)
    out: list[Window] = []
    for key, group in by_key.items():
        ordered = sorted(group, key=lambda e: e[2])
        run_: list[Event] = [ordered[0]]
        for event in ordered[1:]:
            if event[2] - run_[-1][2] < gap:
                run_.append(event)
            else:
                out.append(_session(key, run_, gap))
                run_ = [event]
        out.append(_session(key, run_, gap))
    return out


def _session(key: str | None, run_: list[Event], gap: int) -> Window:
    return (key, run_[0][2], run_[-1][2] + gap, sorted(e[0] for e in run_))


def by_end_then_key(windows: list[Window]) -> list[Window]:
    return sorted(windows, key=lambda w: (w[2], w[0] or "", w[1]))


def assert_each_key_in_end_order(windows: list[Window]) -> None:
    ends: dict[str | None, list[int]] = defaultdict(list)
    for key, _, end, _ in windows:
        ends[key].append(end)
    assert all(e == sorted(e) for e in ends.values())


sizes = st.integers(1, 40).map(lambda n: 10 * n)
lateness_ms = st.integers(0, 60).map(lambda n: 5 * n)


def assert_streams_the_batch_answer(
    make: Callable[..., Any], items: list[Event], keyed: bool, lateness: int, expected: list[Window]
) -> None:
    """``make(**options)`` over ``items`` (disorder within ``lateness``): no
    late item, the reference's windows, each key's in end order."""
    got, late = stream(
        lambda on_late: make(
            timestamp=seconds,
            key=key_of if keyed else None,
            lateness=lateness / 1000,
            on_late=on_late,
        ),
        items,
    )
    assert late == []
    assert by_end_then_key(got) == by_end_then_key(expected)
    assert_each_key_in_end_order(got)


@settings(max_examples=150)
@given(st.data(), sizes, st.integers(0, 999), lateness_ms, st.booleans())
def test_tumbling_within_lateness_equals_the_batch_reference(
    data: st.DataObject, size: int, offset: int, lateness: int, keyed: bool
) -> None:
    items = data.draw(events(lateness))
    assert_streams_the_batch_answer(
        lambda **options: tumbling_event_window(size / 1000, offset=offset / 1000, **options),
        items,
        keyed,
        lateness,
        fixed_reference(items, size, size, offset % size, keyed),
    )


@settings(max_examples=150)
@given(st.data(), sizes, st.integers(1, 4), lateness_ms, st.booleans())
def test_sliding_within_lateness_equals_the_batch_reference(
    data: st.DataObject, size: int, per_window: int, lateness: int, keyed: bool
) -> None:
    slide = max(1, size // per_window)
    items = data.draw(events(lateness))
    assert_streams_the_batch_answer(
        lambda **options: sliding_event_window(size / 1000, slide / 1000, **options),
        items,
        keyed,
        lateness,
        fixed_reference(items, size, slide, 0, keyed),
    )


@settings(max_examples=150)
@given(st.data(), sizes, lateness_ms, st.booleans())
def test_sessions_within_lateness_equal_the_batch_reference(
    data: st.DataObject, gap: int, lateness: int, keyed: bool
) -> None:
    items = data.draw(events(lateness))
    assert_streams_the_batch_answer(
        lambda **options: session_window(gap / 1000, **options),
        items,
        keyed,
        lateness,
        session_reference(items, gap, keyed) if items else [],
    )


@settings(max_examples=150)
@given(st.data(), sizes, lateness_ms)
def test_aggregates_equal_the_held_items_reduced(
    data: st.DataObject, size: int, lateness: int
) -> None:
    items = data.draw(events(None))  # any disorder: late items too

    def sum_ms(total: int, event: Event) -> int:
        return total + event[2]

    def operators(aggregate: Any) -> list[Callable[[Any], Any]]:
        common: dict[str, Any] = {
            "timestamp": seconds,
            "key": key_of,
            "lateness": lateness / 1000,
            "on_late": lambda _: None,
        }
        if aggregate is not None:
            common["aggregate"] = aggregate
        return [
            tumbling_event_window(size / 1000, **common),
            sliding_event_window(size / 1000, size / 2000, **common),
            session_window(size / 1000, **common),
        ]

    for held_op, aggregate_op in zip(
        operators(None), operators((int, sum_ms, int.__add__)), strict=True
    ):
        held: list[Any] = []
        reduced: list[Any] = []
        reactivex.from_iterable(items).pipe(held_op).subscribe(held.append)
        reactivex.from_iterable(items).pipe(aggregate_op).subscribe(reduced.append)
        assert [(r.key, r.start, r.end, r.count, r.result) for r in reduced] == [
            (w.key, w.start, w.end, len(w.items), sum(e[2] for e in w.items)) for w in held
        ]


@settings(max_examples=200)
@given(st.data(), sizes, lateness_ms, st.sampled_from(["tumbling", "sliding", "session"]))
def test_any_input_on_time_items_plus_late_items_is_the_input(
    data: st.DataObject, size: int, lateness: int, kind: str
) -> None:
    items = data.draw(events(None))
    slide = size // 4
    common: dict[str, Any] = {"timestamp": seconds, "key": key_of, "lateness": lateness / 1000}
    makers: dict[str, Callable[[Any], Any]] = {
        "tumbling": lambda on_late: tumbling_event_window(size / 1000, on_late=on_late, **common),
        "sliding": lambda on_late: sliding_event_window(
            size / 1000, slide / 1000, on_late=on_late, **common
        ),
        "session": lambda on_late: session_window(size / 1000, on_late=on_late, **common),
    }
    got, late = stream(makers[kind], items)
    windows_of: dict[int, int] = defaultdict(int)
    for key, start, end, indices in got:
        for index in indices:
            _, item_key, t = items[index]
            assert item_key == key and start <= t < end
            windows_of[index] += 1
    late_indices = [event[0] for event in late]
    assert len(late_indices) == len(set(late_indices))
    assert set(windows_of).isdisjoint(late_indices)
    assert sorted([*windows_of, *late_indices]) == [event[0] for event in items]
    most = -(-size // slide) if kind == "sliding" else 1
    assert all(1 <= n <= most for n in windows_of.values())
    assert_each_key_in_end_order(got)
