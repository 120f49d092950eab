"""ProgressTracker (freezegun), BatchMetrics (virtual time), plots (headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
import reactivex
from freezegun import freeze_time
from reactivex import operators as ops
from reactivex.testing import TestScheduler

from rxbatch import (
    BatchMetrics,
    BatchResult,
    ProgressTracker,
    buffer_with_count,
    buffer_with_time_or_count,
    collect_metrics,
    fan_out,
    sliding_window,
)
from rxbatch.plot import marble_diagram, marble_run, marble_text, plot_metrics
from rxbatch.testing import ImmediateExecutor

matplotlib.use("Agg")


class TestProgressTracker:
    def test_rate_and_eta_follow_the_wall_clock(self) -> None:
        with freeze_time("2026-11-28 12:00:00") as frozen:
            tracker = ProgressTracker(100)
            start = tracker.snapshot()
            assert (start.processed, start.rate, start.eta, start.percent) == (0, 0.0, None, 0.0)
            frozen.tick(4)
            assert tracker.snapshot().eta is None  # nothing moved: no rate, no ETA
            tracker.update(20)
            progress = tracker.snapshot()
            assert (progress.rate, progress.eta, progress.percent) == (5.0, 16.0, 20.0)
            assert progress.elapsed == 4.0
            tracker.update(80)
            frozen.tick(1)
            done = tracker.snapshot()
            assert (done.processed, done.percent, done.eta) == (100, 100.0, 0.0)

    def test_no_total_means_no_percent_or_eta(self) -> None:
        now = [0.0]
        tracker = ProgressTracker(None, clock=lambda: now[0])
        tracker.update(3)
        now[0] = 1.5
        snapshot = tracker.snapshot()
        assert (snapshot.rate, snapshot.percent, snapshot.eta) == (2.0, None, None)

    def test_bad_input(self) -> None:
        with pytest.raises(ValueError, match="total"):
            ProgressTracker(-1)
        with pytest.raises(ValueError, match="n must be"):
            ProgressTracker(3).update(-2)


def result(size: int, duration: float, failed: int = 0, attempts: int = 1) -> BatchResult[int, int]:
    errors: dict[int, BaseException] = {i: ValueError(i) for i in range(failed)}
    return BatchResult(
        0,
        list(range(size)),
        [None] * size,
        errors,
        (attempts,) * size,
        ("default",) * size,
        duration,
    )


class TestBatchMetrics:
    def test_exact_numbers_on_virtual_time(self) -> None:
        scheduler = TestScheduler()
        metrics = BatchMetrics(scheduler=scheduler)
        batches = [(100, result(10, 1.0)), (150, result(30, 2.0, failed=3, attempts=2)),
                   (300, result(20, 3.0))]  # fmt: skip
        for t, r in batches:
            scheduler.schedule_absolute(t, lambda *_, r=r: metrics.record(r))
        scheduler.start()
        s = metrics.snapshot()
        assert (s.batches, s.items, s.failed_batches, s.failed_items) == (3, 60, 1, 3)
        assert s.retries == 30  # every item of the second batch ran twice
        # from the first batch's start (100 - 1.0) to the last batch's end (300)
        assert s.total_duration == 201.0
        assert s.mean_duration == 2.0 and s.mean_batch_size == 20.0
        assert s.mean_item_latency == 0.1  # 6 s over 60 items, not the last batch's 0.15
        assert s.p50_latency == 2.0 and s.p95_latency == pytest.approx(2.9)
        assert s.throughput == 60 / 201  # items over total_duration
        assert [p.size for p in s.series] == [10, 30, 20]

    def test_total_duration_is_the_runs_not_the_sum_of_overlapping_batches(self) -> None:
        """Four batches of 10 s each running side by side took 13 s, not 40 s (the bug)."""
        scheduler = TestScheduler()
        metrics = BatchMetrics(scheduler=scheduler)
        for end in (10, 11, 12, 13):  # each started 10 s before it ended
            scheduler.schedule_absolute(end, lambda *_: metrics.record_batch(25, 10.0))
        scheduler.start()
        s = metrics.snapshot()
        assert s.total_duration == 13.0 and s.mean_duration == 10.0
        assert s.throughput == 100 / 13.0

    def test_one_batch_has_a_throughput_of_its_own(self) -> None:
        scheduler = TestScheduler()
        metrics = BatchMetrics(scheduler=scheduler)
        scheduler.schedule_absolute(5, lambda *_: metrics.record_batch(50, 2.0))
        scheduler.start()
        s = metrics.snapshot()
        assert (s.total_duration, s.throughput) == (2.0, 25.0)

    def test_repr_is_short_however_long_the_series(self) -> None:
        metrics = BatchMetrics()
        for _ in range(10_000):
            metrics.record_batch(size=10, duration=0.01)
        text = repr(metrics.snapshot())
        assert len(text) < 400, text[:400]
        assert text.startswith("MetricsSnapshot(batches=10000, items=100000, failed_items=0")
        assert "series=<10000 points>" in text

    def test_series_is_bounded_but_totals_keep_counting(self) -> None:
        metrics = BatchMetrics(max_points=5)
        for n in range(12):
            metrics.record_batch(size=n + 1, duration=0.1)
        s = metrics.snapshot()
        assert len(s.series) == 5 and s.batches == 12 and s.items == sum(range(1, 13))

    def test_empty_metrics_are_all_zero(self) -> None:
        s = BatchMetrics().snapshot()
        assert (s.batches, s.mean_item_latency, s.p99_latency, s.throughput) == (0, 0.0, 0.0, 0.0)

    def test_collect_metrics_taps_a_pipeline(self) -> None:
        metrics = BatchMetrics()
        results = (
            reactivex.from_iterable(range(10))
            .pipe(
                buffer_with_count(4),
                fan_out(abs, executor=ImmediateExecutor()),
                collect_metrics(metrics),
                ops.to_list(),
            )
            .run()
        )
        assert len(results) == 3 and metrics.snapshot().items == 10

    def test_bad_input(self) -> None:
        with pytest.raises(ValueError, match="failed"):
            BatchMetrics().record_batch(size=2, duration=1.0, failed=3)
        for duration in (-1.0, float("nan"), float("inf"), 1e20):
            with pytest.raises(ValueError, match="duration must be"):
                BatchMetrics().record_batch(size=2, duration=duration)
        with pytest.raises(TypeError, match="metrics"):
            collect_metrics("metrics")  # type: ignore[arg-type]


def test_plot_metrics_draws_four_labelled_panels(tmp_path: Path) -> None:
    metrics = BatchMetrics()
    for n in range(20):
        metrics.record_batch(size=50 + n, duration=0.01 * (1 + n % 4), failed=n % 3)
    figure = plot_metrics(metrics)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == [
        "items/s: each batch alone vs the whole run",
        "batch latency",
        "batch sizes",
        "failed items per batch",
    ]
    per_batch, whole_run = figure.axes[0].lines
    assert len(per_batch.get_xdata()) == 20
    throughput = metrics.snapshot().throughput
    assert list(whole_run.get_ydata()) == [throughput, throughput]
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels == [
        "one batch: its size / its latency",
        f"whole run: {throughput:,.0f} items/s",
    ]
    assert len(figure.axes[3].patches) == 20  # one bar per batch
    path = tmp_path / "metrics.png"
    figure.savefig(path)
    assert path.stat().st_size > 10_000


EVENTS = [(210, "a"), (215, "b"), (220, "c"), (300, "d"), (420, "e")]


def test_marble_diagram_draws_one_panel_per_strategy(tmp_path: Path) -> None:
    runs = [
        marble_run("count 2", lambda s: buffer_with_count(2), EVENTS, 500),
        marble_run(
            "time or count", lambda s: buffer_with_time_or_count(50, 2, scheduler=s), EVENTS, 500
        ),
        marble_run("sliding 3", lambda s: sliding_window(3), EVENTS, 500),
    ]
    assert runs[1].outputs == (
        (215.0, ("a", "b")),
        (270.0, ("c",)),
        (350.0, ("d",)),
        (470.0, ("e",)),
    )
    figure = marble_diagram(*runs)
    assert [ax.get_title(loc="left") for ax in figure.axes] == [
        "count 2",
        "time or count",
        "sliding 3",
    ]
    # per panel: the baseline, the end, and a bracket and a dotted tail per batch
    assert [len(ax.lines) for ax in figure.axes] == [2 + 2 * len(r.outputs) for r in runs]
    path = tmp_path / "marbles.png"
    figure.savefig(path)
    assert path.stat().st_size > 10_000


def test_marble_text_places_items_and_batches_on_a_timeline() -> None:
    run = marble_run(
        "time or count", lambda s: buffer_with_time_or_count(50, 2, scheduler=s), EVENTS, 500
    )
    lines = marble_text(run, width=30).splitlines()
    assert lines[0] == "time or count"
    # "a" and "b" fall in one column at this width: "b" moves one to the right
    assert lines[1].startswith("input   abc") and lines[1].endswith("|")
    assert len(lines) == 2 + len(run.outputs)
    assert all(line.startswith("batch ") for line in lines[2:])
