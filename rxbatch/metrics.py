"""Progress and batch metrics: numbers you can trust, thread-safe, on one clock."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex import operators as ops

from ._validation import MAX_TIMESPAN, positive_int
from .results import BatchResult
from .scheduler import default_scheduler

__all__ = [
    "BatchMetrics",
    "MetricsPoint",
    "MetricsSnapshot",
    "Progress",
    "ProgressTracker",
    "collect_metrics",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of a ``ProgressTracker``.

    ``rate`` is items per second since the start (0 before anything moved);
    ``eta`` is the seconds left at that rate (None when unknown: no total,
    or nothing processed yet); ``percent`` is None without a total.

    Example:
        >>> Progress(50, 200, 25.0, 10.0, 15.0, 5.0).eta
        15.0
    """

    processed: int
    total: int | None
    percent: float | None
    rate: float
    eta: float | None
    elapsed: float


class ProgressTracker:
    """The seed's progress tracker as a thread-safe object.

    Args:
        total: Items expected (None if unknown).
        clock: Zero-argument callable returning seconds; default
            ``time.monotonic``.

    Example:
        >>> now = [100.0]
        >>> tracker = ProgressTracker(10, clock=lambda: now[0])
        >>> tracker.snapshot().rate, tracker.snapshot().eta
        (0.0, None)
        >>> tracker.update(4); now[0] = 102.0
        >>> tracker.snapshot()
        Progress(processed=4, total=10, percent=40.0, rate=2.0, eta=3.0, elapsed=2.0)
    """

    def __init__(self, total: int | None, *, clock: Callable[[], float] | None = None) -> None:
        if total is not None:
            positive_int("total", total, minimum=0)
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a zero-argument callable, got {clock!r}")
        self.total = total
        self._clock = clock or time.monotonic
        self._start = self._clock()
        self._processed = 0
        self._lock = threading.Lock()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items as processed."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        with self._lock:
            self._processed += n

    def snapshot(self) -> Progress:
        """Where things stand now (frozen)."""
        with self._lock:
            processed = self._processed
        elapsed = max(0.0, self._clock() - self._start)
        rate = processed / elapsed if elapsed > 0 else 0.0
        percent = None
        eta = None
        if self.total is not None:
            percent = 100.0 if self.total == 0 else 100.0 * processed / self.total
            if rate > 0:
                eta = max(0, self.total - processed) / rate
            elif processed >= self.total:
                eta = 0.0
        return Progress(processed, self.total, percent, rate, eta, elapsed)


@dataclass(frozen=True, slots=True)
class MetricsPoint:
    """One batch in the metrics' time series: when, how big, how long, how many failed.

    Example:
        >>> metrics = BatchMetrics()
        >>> metrics.record_batch(size=8, duration=0.2, failed=1)
        >>> point = metrics.snapshot().series[0]
        >>> point.size, point.latency, point.failed
        (8, 0.2, 1)
    """

    time: datetime
    size: int
    latency: float
    failed: int


@dataclass(frozen=True, slots=True, repr=False)
class MetricsSnapshot:
    """Batch metrics at one moment (frozen).

    Latencies are in seconds. ``total_duration`` is the run's span on the
    metrics' clock, from the start of the earliest batch (its recording time
    minus its duration) to the end of the last one: batches that overlap
    (``fan_out`` runs several at once) count once, so it is what a stopwatch
    shows, not the sum of batch latencies. ``throughput`` is ``items`` over
    ``total_duration``. ``mean_duration`` is the mean batch latency and
    ``mean_item_latency`` the summed batch latencies over the items.
    Percentiles are over the batches kept in ``series`` (the most recent
    ``max_points``). The repr shows the headline numbers and the series'
    length, not its points.

    Example:
        >>> metrics = BatchMetrics()
        >>> for seconds in (0.1, 0.2, 0.3, 0.4):
        ...     metrics.record_batch(size=10, duration=seconds)
        >>> snapshot = metrics.snapshot()
        >>> round(snapshot.p50_latency, 3), snapshot.mean_batch_size
        (0.25, 10.0)
    """

    batches: int
    items: int
    failed_batches: int
    failed_items: int
    retries: int
    total_duration: float
    mean_duration: float
    mean_batch_size: float
    mean_item_latency: float
    p50_latency: float
    p95_latency: float
    p99_latency: float
    throughput: float
    series: tuple[MetricsPoint, ...]

    def __repr__(self) -> str:
        return (
            f"MetricsSnapshot(batches={self.batches}, items={self.items}, "
            f"failed_items={self.failed_items}, retries={self.retries}, "
            f"total_duration={self.total_duration:.3g} s, throughput={self.throughput:,.1f}/s, "
            f"p50_latency={self.p50_latency:.3g} s, p95_latency={self.p95_latency:.3g} s, "
            f"series=<{len(self.series)} points>)"
        )


class BatchMetrics:
    """Thread-safe batch metrics: counts, means, latency percentiles, a bounded series.

    Args:
        scheduler: Clock for timestamps and throughput (a ``TestScheduler``
            gives exact numbers); default: rxbatch's monotonic scheduler.
        max_points: Most batches kept in the time series (older ones drop
            off; the totals keep counting).

    Example:
        >>> metrics = BatchMetrics()
        >>> metrics.record_batch(size=100, duration=0.5, failed=2)
        >>> metrics.record_batch(size=50, duration=0.25)
        >>> s = metrics.snapshot()
        >>> s.batches, s.items, s.failed_items, s.mean_item_latency
        (2, 150, 2, 0.005)
    """

    def __init__(
        self, *, scheduler: abc.SchedulerBase | None = None, max_points: int = 10_000
    ) -> None:
        positive_int("max_points", max_points)
        self._clock = scheduler or default_scheduler()
        self._lock = threading.Lock()
        self._series: deque[MetricsPoint] = deque(maxlen=max_points)
        self._batches = self._items = self._failed_batches = self._failed_items = 0
        self._retries = 0
        self._duration = 0.0  # summed batch latencies
        self._start: datetime | None = None  # start of the earliest batch
        self._last: datetime | None = None  # end of the last batch

    def record(self, result: BatchResult[Any, Any]) -> None:
        """Account for one ``BatchResult`` (size, duration, failures, retries)."""
        attempts = result.attempts  # each item's: retries are those past the first
        retries = sum(attempts) - len(attempts) + attempts.count(0)  # C speed, no loop
        self.record_batch(len(result.items), result.duration, len(result.errors), retries)

    def record_batch(self, size: int, duration: float, failed: int = 0, retries: int = 0) -> None:
        """Account for one batch given by its numbers."""
        if size < 0 or failed < 0 or retries < 0 or failed > size:
            raise ValueError(
                f"need 0 <= failed <= size and retries >= 0, got size={size}, "
                f"failed={failed}, retries={retries}"
            )
        if not 0 <= duration <= MAX_TIMESPAN.total_seconds():  # NaN fails too
            raise ValueError(f"duration must be seconds >= 0 (at most 100 years), got {duration!r}")
        now = self._clock.now
        with self._lock:
            self._batches += 1
            self._items += size
            self._failed_batches += failed > 0
            self._failed_items += failed
            self._retries += retries
            self._duration += duration
            started = now - timedelta(seconds=duration)
            if self._start is None or started < self._start:
                self._start = started
            self._last = now
            self._series.append(MetricsPoint(now, size, duration, failed))

    def snapshot(self) -> MetricsSnapshot:
        """The metrics now (frozen)."""
        with self._lock:
            series = tuple(self._series)
            batches, items, duration = self._batches, self._items, self._duration
            span = (self._last - self._start).total_seconds() if self._start and self._last else 0
            failed_batches, failed_items, retries = (
                self._failed_batches,
                self._failed_items,
                self._retries,
            )
        latencies = sorted(point.latency for point in series)
        return MetricsSnapshot(
            batches=batches,
            items=items,
            failed_batches=failed_batches,
            failed_items=failed_items,
            retries=retries,
            total_duration=span,
            mean_duration=duration / batches if batches else 0.0,
            mean_batch_size=items / batches if batches else 0.0,
            mean_item_latency=duration / items if items else 0.0,
            p50_latency=_percentile(latencies, 50),
            p95_latency=_percentile(latencies, 95),
            p99_latency=_percentile(latencies, 99),
            throughput=items / span if span > 0 else 0.0,
            series=series,
        )


def _percentile(ordered: list[float], percent: float) -> float:
    """Linear-interpolated percentile of sorted values (0 when empty)."""
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * percent / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def collect_metrics(
    metrics: BatchMetrics,
) -> Callable[[Observable[BatchResult[T, Any]]], Observable[BatchResult[T, Any]]]:
    """Tap a ``BatchResult`` stream into ``metrics``, passing every result on.

    Example:
        >>> import reactivex
        >>> from rxbatch import fan_out
        >>> metrics = BatchMetrics()
        >>> _ = reactivex.of([1, 2], [3]).pipe(fan_out(abs), collect_metrics(metrics)).run()
        >>> metrics.snapshot().items
        3
    """
    if not isinstance(metrics, BatchMetrics):
        raise TypeError(f"metrics must be a BatchMetrics, got {metrics!r}")
    return ops.do_action(metrics.record)
