"""Window bounds side by side with a peer: bytewax 0.21's windowers on an
``EventClock``, fed the same generated events.

Tumbling and sliding windows agree exactly (both half-open, aligned to a
fixed instant). Sessions differ by one documented rule: bytewax joins two
items at most ``gap`` apart, rxbatch (like Flink and Beam) items less than
``gap`` apart; so rxbatch's sessions with ``gap`` equal bytewax's with
``gap`` minus one microsecond, and a session's end is its last item plus
``gap`` here, the last item itself there.

bytewax ships wheels for Python 3.11 and 3.12 only (none for 3.13, and no
source distribution), so the ``test`` extra installs it on those versions
and this module is skipped on 3.13.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

if sys.version_info >= (3, 13):  # pragma: no cover - depends on the interpreter
    pytest.skip("bytewax 0.21 has no wheel for Python 3.13", allow_module_level=True)

import bytewax.operators as op
import reactivex
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import (
    EventClock,
    SessionWindower,
    SlidingWindower,
    TumblingWindower,
    Windower,
    collect_window,
)
from bytewax.testing import TestingSink, TestingSource, run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rxbatch import session_window, sliding_event_window, tumbling_event_window

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOW = datetime(2030, 1, 1, tzinfo=UTC)  # bytewax's system clock, frozen: no drift
Event = tuple[int, str, datetime]  # (index, key, event time)
Bounds = set[tuple[str, datetime, datetime, tuple[int, ...]]]  # key, start, end, indices


def event_time(event: Event) -> datetime:
    return event[2]


def key_of(event: Event) -> str:
    return event[1]


def frozen_now() -> datetime:
    return NOW


@st.composite
def events(draw: st.DrawFn) -> list[Event]:
    """Some exactly on window bounds (whole seconds), some not; in any order
    (both sides allow a day of lateness, so none is late)."""
    start = EPOCH + timedelta(days=draw(st.integers(0, 20_000)))
    steps = draw(
        st.lists(
            st.one_of(st.integers(0, 4).map(lambda s: s * 1_000_000), st.integers(0, 3_000_000)),
            min_size=1,
            max_size=60,
        )
    )
    keys = draw(st.lists(st.sampled_from("xyz"), min_size=len(steps), max_size=len(steps)))
    out, at = [], start
    for index, (step, key) in enumerate(zip(steps, keys, strict=True)):
        at += timedelta(microseconds=step)
        out.append((index, key, at))
    return draw(st.permutations(out))


def bytewax_windows(items: list[Event], windower: Windower[Any]) -> Bounds:
    flow = Dataflow("bounds")
    stream = op.input("in", flow, TestingSource(items, batch_size=7))
    keyed = op.key_on("key", stream, key_of)
    clock = EventClock(
        event_time, wait_for_system_duration=timedelta(days=1), now_getter=frozen_now
    )
    out = collect_window("collect", keyed, clock, windower)
    collected: list[Any] = []
    metas: list[Any] = []
    op.output("down", out.down, TestingSink(collected))
    op.output("meta", out.meta, TestingSink(metas))
    run_main(flow)
    bounds = {(key, wid): (meta.open_time, meta.close_time) for key, (wid, meta) in metas}
    return {
        (key, *bounds[(key, wid)], tuple(sorted(e[0] for e in values)))
        for key, (wid, values) in collected
    }


def rxbatch_windows(items: list[Event], operator: Any) -> Bounds:
    windows: list[Any] = []
    reactivex.from_iterable(items).pipe(operator).subscribe(windows.append)
    return {(w.key, w.start, w.end, tuple(sorted(e[0] for e in w.items))) for w in windows}


OURS: dict[str, Any] = {"timestamp": event_time, "key": key_of, "lateness": timedelta(days=1)}
PEER = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PEER
@given(events(), st.integers(1, 10), st.integers(0, 9))
def test_tumbling_windows_match_bytewax(items: list[Event], size_s: int, offset_s: int) -> None:
    size, offset = timedelta(seconds=size_s), timedelta(seconds=offset_s)
    ours = rxbatch_windows(items, tumbling_event_window(size, offset=offset, **OURS))
    theirs = bytewax_windows(items, TumblingWindower(length=size, align_to=EPOCH + offset))
    assert ours == theirs


@PEER
@given(events(), st.integers(1, 10), st.integers(1, 4))
def test_sliding_windows_match_bytewax(items: list[Event], size_s: int, per_window: int) -> None:
    size = timedelta(seconds=size_s)
    slide = size / per_window
    ours = rxbatch_windows(items, sliding_event_window(size, slide, **OURS))
    theirs = bytewax_windows(items, SlidingWindower(length=size, offset=slide, align_to=EPOCH))
    assert ours == theirs


@PEER
@given(events(), st.integers(1, 5))
def test_sessions_match_bytewax_with_its_inclusive_gap(items: list[Event], gap_s: int) -> None:
    gap = timedelta(seconds=gap_s)
    ours = {
        (key, start, end - gap, indices)  # bytewax's close time is the last item's
        for key, start, end, indices in rxbatch_windows(items, session_window(gap, **OURS))
    }
    theirs = bytewax_windows(items, SessionWindower(gap=gap - timedelta(microseconds=1)))
    assert ours == theirs


def test_the_session_gap_rule_differs_exactly_at_gap() -> None:
    items: list[Event] = [(0, "x", EPOCH), (1, "x", EPOCH + timedelta(seconds=5))]
    gap = timedelta(seconds=5)
    ours = rxbatch_windows(items, session_window(gap, timestamp=event_time, key=key_of))
    theirs = bytewax_windows(items, SessionWindower(gap=gap))
    assert sorted(indices for *_, indices in ours) == [(0,), (1,)]  # 5 s apart: two
    assert sorted(indices for *_, indices in theirs) == [(0, 1)]  # bytewax: one
