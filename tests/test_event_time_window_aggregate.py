"""window_aggregate on the events' own time (``timestamp=``, ``key=``)."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler

from rxbatch import LateItem, WindowResult, read_jsonl, window_aggregate

from .conftest import at

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = 3600


def ts(event: dict[str, Any]) -> float:
    return float(event["ts"])


def write_week_of_events(path: Path, count: int) -> list[dict[str, Any]]:
    """A JSON-lines log: ``count`` events over a week, up to 2 s out of order,
    every 97th exactly on an hour boundary."""
    rng = random.Random(10)
    start = 1_767_225_600  # 2026-01-01T00:00:00Z, on an hour boundary
    events = []
    for n in range(count):
        base = start + n * (7 * 24 * HOUR) / count
        stamp = (base // HOUR) * HOUR if n % 97 == 0 else base - rng.uniform(0, 2)
        events.append({"id": n, "ts": round(stamp, 3), "user": f"u{n % 5}"})
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return events


def test_a_replayed_log_is_windowed_by_its_timestamps_not_by_arrival(tmp_path: Path) -> None:
    # The repro: read_jsonl -> window_aggregate over a week of events
    # gave one window of nearly every event (processing time: the replay
    # takes milliseconds). On event time: one window per hour of the week,
    # each holding exactly the events of its hour.
    log = tmp_path / "events.jsonl"
    events = write_week_of_events(log, 5_000)
    results = (
        read_jsonl(log)
        .pipe(window_aggregate(HOUR, HOUR, len, timestamp=ts, lateness=2), ops.to_list())
        .run()
    )
    expected = Counter(int(e["ts"] // HOUR) * HOUR for e in events)
    assert len(results) == 7 * 24
    assert {int(r.start.timestamp()): r.count for r in results} == expected
    assert all(r.result == r.count and r.end - r.start == timedelta(hours=1) for r in results)
    assert [r.start for r in results] == sorted(r.start for r in results)


def test_keyed_and_incremental_aggregates_agree_with_the_held_items() -> None:
    events = [{"ts": t, "user": u, "ms": m} for t, u, m in [(1, "b", 5), (2, "a", 7), (9, "b", 1)]]

    def total_ms(items: list[dict[str, Any]]) -> int:
        return sum(e["ms"] for e in items)

    def add_ms(total: int, event: dict[str, Any]) -> int:
        return total + int(event["ms"])

    def run(aggregate: Any) -> list[WindowResult[int]]:
        op = window_aggregate(10, 5, aggregate, timestamp=ts, key=lambda e: e["user"])
        return reactivex.from_iterable(events).pipe(op, ops.to_list()).run()  # type: ignore[no-any-return]

    held, incremental = run(total_ms), run((int, add_ms))
    assert (
        held
        == incremental
        == [
            # b's watermark reaches 9: its first window leaves; the rest at completion
            WindowResult(EPOCH - timedelta(seconds=5), EPOCH + timedelta(seconds=5), 1, 5, "b"),
            WindowResult(EPOCH - timedelta(seconds=5), EPOCH + timedelta(seconds=5), 1, 7, "a"),
            WindowResult(EPOCH, EPOCH + timedelta(seconds=10), 1, 7, "a"),
            WindowResult(EPOCH, EPOCH + timedelta(seconds=10), 2, 6, "b"),
            WindowResult(EPOCH + timedelta(seconds=5), EPOCH + timedelta(seconds=15), 1, 1, "b"),
        ]
    )


def test_late_events_go_to_on_late() -> None:
    late: list[LateItem[Any]] = []
    events = [{"ts": 1}, {"ts": 12}, {"ts": 3}]
    op = window_aggregate(10, 10, len, timestamp=ts, on_late=late.append)
    results = reactivex.from_iterable(events).pipe(op, ops.to_list()).run()
    assert [(r.count, r.key) for r in results] == [(1, None), (1, None)]
    assert [entry.item for entry in late] == [{"ts": 3}]


def test_an_incremental_aggregate_on_processing_time(scheduler: TestScheduler) -> None:
    on_next, on_completed = ReactiveTest.on_next, ReactiveTest.on_completed
    xs = scheduler.create_hot_observable(on_next(210, 3), on_next(240, 4), on_completed(320))
    count_and_sum = ((lambda: (0, 0)), (lambda acc, x: (acc[0] + 1, acc[1] + x)))
    messages = scheduler.start(lambda: xs.pipe(window_aggregate(100, 50, count_and_sum))).messages
    assert messages == [
        on_next(250, WindowResult(at(scheduler, 150), at(scheduler, 250), 2, (2, 7))),
        on_next(300, WindowResult(at(scheduler, 200), at(scheduler, 300), 2, (2, 7))),
        on_completed(320),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"key": str}, "^key needs timestamp="),
        ({"on_late": print}, "^on_late needs timestamp="),
        ({"lateness": 5}, "^lateness needs timestamp="),
        ({"idle_timeout": 5}, "^idle_timeout needs timestamp="),
    ],
)
def test_event_time_options_need_a_timestamp(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        window_aggregate(10, 5, len, **options)


def test_a_bad_aggregate_names_the_parameter() -> None:
    with pytest.raises(TypeError, match=r"^aggregate must be"):
        window_aggregate(10, 5, "sum")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^aggregate must be"):
        window_aggregate(10, 5, (int,), timestamp=ts)  # type: ignore[arg-type]
