"""Pictures of batching: metrics over time, and marble diagrams of operators.

Needs the ``rxbatch[plot]`` extra (matplotlib) for figures; ``marble_text``
and ``marble_run`` need nothing more than rxbatch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from reactivex import Observable
from reactivex.notification import OnNext
from reactivex.testing import ReactiveTest, TestScheduler

from .metrics import BatchMetrics, MetricsSnapshot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["MarbleRun", "marble_diagram", "marble_run", "marble_text", "plot_metrics"]


def _pyplot() -> Any:
    try:
        from matplotlib import pyplot
    except ImportError as error:  # pragma: no cover - exercised without the extra
        raise ImportError("rxbatch.plot needs matplotlib: pip install 'rxbatch[plot]'") from error
    return pyplot


@dataclass(frozen=True, slots=True)
class MarbleRun:
    """A virtual-time run of an operator: what went in and what came out, when.

    ``inputs`` are ``(time, item)``; ``outputs`` are ``(time, items)`` with
    each emitted batch's items (a ``TimeWindow``'s ``items`` for time windows);
    ``end`` is when the source completed.
    """

    name: str
    inputs: tuple[tuple[float, Any], ...]
    outputs: tuple[tuple[float, tuple[Any, ...]], ...]
    end: float


def marble_run(
    name: str,
    make_operator: Callable[[TestScheduler], Callable[[Observable[Any]], Observable[Any]]],
    inputs: Sequence[tuple[int, Any]],
    end: int,
) -> MarbleRun:
    """Run ``make_operator(scheduler)`` over ``inputs`` on a fresh ``TestScheduler``.

    Items arrive at their times (ticks after subscription at 200 read
    best) and the source completes at ``end``.

    Example:
        >>> from rxbatch import buffer_with_count
        >>> events = [(210, "a"), (220, "b"), (230, "c")]
        >>> run = marble_run("count 2", lambda s: buffer_with_count(2), events, 300)
        >>> run.outputs
        ((220.0, ('a', 'b')), (300.0, ('c',)))
    """
    scheduler = TestScheduler()
    messages = [ReactiveTest.on_next(t, item) for t, item in inputs]
    xs = scheduler.create_hot_observable([*messages, ReactiveTest.on_completed(end)])
    results = scheduler.start(lambda: xs.pipe(make_operator(scheduler)), disposed=end + 1)
    outputs = []
    for message in results.messages:
        if isinstance(message.value, OnNext):
            value: Any = message.value.value
            items: Sequence[Any] = getattr(value, "items", value)
            outputs.append((float(message.time), tuple(items)))
    return MarbleRun(name, tuple((float(t), x) for t, x in inputs), tuple(outputs), float(end))


def marble_text(run: MarbleRun, *, width: int = 60) -> str:
    """A marble diagram for terminals: the input line, then one line per batch.

    Each batch line shows ``[`` and ``]`` under its first and last item (``*``
    when they share a column) and ``>`` at its emission time, if later.

    Example:
        >>> from rxbatch import buffer_with_count
        >>> events = [(210, "a"), (220, "b"), (230, "c")]
        >>> run = marble_run("count 2", lambda s: buffer_with_count(2), events, 300)
        >>> print(marble_text(run, width=30))
        count 2
        input   a--b--c----------------------|
        batch 0 [--]
        batch 1       *---------------------->
    """
    start = min([t for t, _ in run.inputs] + [run.end])
    span = max(run.end - start, 1e-9)

    def column(t: float) -> int:
        return round((t - start) / span * (width - 1))

    line = ["-"] * (width + len(run.inputs))
    placed: dict[float, int] = {}  # an item's column, shifted right past a neighbour
    free = 0
    for t, item in run.inputs:
        at = max(column(t), free)
        line[at] = str(item)[:1]
        placed.setdefault(t, at)
        free = at + 1
    line[max(column(run.end), free)] = "|"
    del line[max(column(run.end), free) + 1 :]
    rows = [run.name, "input   " + "".join(line).rstrip()]
    arrival: dict[Any, float] = {}
    for t, item in run.inputs:
        arrival.setdefault(item, t)

    def where(t: float) -> int:
        return placed.get(t, column(t))

    for index, (emitted, items) in enumerate(run.outputs):
        row = [" "] * len(line)
        times = [arrival[item] for item in items if item in arrival] or [emitted]
        first, last = where(min(times)), where(max(times))
        out = max(column(emitted), last)
        for c in range(first, max(last, out) + 1):
            row[c] = "-"
        row[first] = "["
        row[last] = "]" if last != first else "*"  # "*": the batch's items share a column
        if out != last:
            row[out] = ">"
        rows.append(f"batch {index:<2d}" + "".join(row).rstrip())
    return "\n".join(rows)


def marble_diagram(*runs: MarbleRun) -> Figure:
    """Draw marble diagrams of one or more runs, one panel each, on a shared time axis.

    Input items are dots on the top line; each emitted batch is a bracket
    under the items it holds, ending in a marker at its emission time.
    Returns the matplotlib ``Figure``.
    """
    if not runs:
        raise ValueError("runs: give at least one MarbleRun")
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(
        len(runs), 1, figsize=(10, 1.6 + 1.3 * len(runs)), sharex=True, squeeze=False
    )
    for ax, run in zip(axes[:, 0], runs, strict=True):
        arrival: dict[Any, float] = {}
        for t, item in run.inputs:
            arrival.setdefault(item, t)
        ax.axhline(0, color="0.6", lw=1)
        ax.scatter([t for t, _ in run.inputs], [0] * len(run.inputs), s=60, zorder=3, label="input")
        for t, item in run.inputs:
            ax.annotate(str(item), (t, 0), textcoords="offset points", xytext=(0, 7), ha="center")
        ax.axvline(run.end, color="0.3", lw=2)
        for index, (emitted, items) in enumerate(run.outputs):
            y = -(1 + index % 4) * 0.5
            times = [arrival[item] for item in items if item in arrival] or [emitted]
            ax.plot([min(times), max(times)], [y, y], color=f"C{1 + index % 8}", lw=3)
            ax.plot([max(times), emitted], [y, y], color=f"C{1 + index % 8}", lw=1, ls=":")
            ax.scatter([emitted], [y], marker=">", color=f"C{1 + index % 8}", zorder=3)
        ax.set_yticks([])
        ax.set_ylim(-2.4, 0.8)
        ax.set_title(run.name, loc="left", fontsize=10)
    axes[-1, 0].set_xlabel("virtual time (ticks)")
    figure.tight_layout()
    return cast("Figure", figure)


def plot_metrics(metrics: BatchMetrics | MetricsSnapshot) -> Figure:
    """Throughput and latency over time, batch sizes, and failures, in four panels.

    The throughput panel shows each batch's own rate (its size over its
    latency) beside the whole run's (``snapshot.throughput``): when batches
    run side by side the run is faster than any one of them, by about the
    number in flight. Returns the matplotlib ``Figure``.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> metrics = BatchMetrics()
        >>> metrics.record_batch(size=100, duration=0.5)
        >>> plot_metrics(metrics).axes[0].get_title()
        'items/s: each batch alone vs the whole run'
    """
    snapshot = metrics.snapshot() if isinstance(metrics, BatchMetrics) else metrics
    if not isinstance(snapshot, MetricsSnapshot):
        raise TypeError(f"metrics must be a BatchMetrics or MetricsSnapshot, got {metrics!r}")
    pyplot = _pyplot()
    figure, ((ax_rate, ax_latency), (ax_sizes, ax_failed)) = pyplot.subplots(
        2, 2, figsize=(11, 6.5)
    )
    series = snapshot.series
    if series:
        origin = series[0].time
        times = [(p.time - origin).total_seconds() for p in series]
        rates = [p.size / p.latency if p.latency > 0 else 0.0 for p in series]
        ax_rate.plot(times, rates, marker=".", lw=1, label="one batch: its size / its latency")
        # Batches overlap (fan_out runs several at once), so the run moves
        # faster than any one batch: draw the run's rate beside them.
        ax_rate.axhline(
            snapshot.throughput,
            color="C2",
            ls="--",
            label=f"whole run: {snapshot.throughput:,.0f} items/s",
        )
        ax_rate.legend(loc="best", fontsize=8)
        ax_latency.plot(times, [p.latency * 1000 for p in series], marker=".", lw=1)
        ax_latency.axhline(snapshot.p95_latency * 1000, color="C3", ls="--", label="p95")
        ax_latency.legend(loc="upper right")
        ax_sizes.hist([p.size for p in series], bins=min(30, max(1, len(series))))
        ax_failed.bar(times, [p.failed for p in series], width=_bar_width(times), color="C3")
    ax_rate.set(
        title="items/s: each batch alone vs the whole run", xlabel="seconds", ylabel="items / s"
    )
    ax_latency.set(title="batch latency", xlabel="seconds", ylabel="ms")
    ax_sizes.set(title="batch sizes", xlabel="items per batch", ylabel="batches")
    ax_failed.set(title="failed items per batch", xlabel="seconds", ylabel="items")
    figure.suptitle(
        f"{snapshot.batches:,} batches, {snapshot.items:,} items, "
        f"{snapshot.failed_items:,} failed, {snapshot.retries:,} retries, "
        f"{snapshot.throughput:,.0f} items/s"
    )
    figure.tight_layout()
    return cast("Figure", figure)


def _bar_width(times: list[float]) -> float:
    if len(times) < 2:
        return 1.0
    return max(1e-6, 0.8 * (times[-1] - times[0]) / len(times))
