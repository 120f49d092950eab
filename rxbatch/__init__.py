"""rxbatch: fast, correct batching and batch processing on RxPY (reactivex).

Example:
    >>> import reactivex
    >>> from reactivex import operators as ops
    >>> import rxbatch
    >>> source = reactivex.from_iterable(range(5))
    >>> source.pipe(rxbatch.buffer_with_time_or_count(1.0, 2), ops.to_list()).run()
    [[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Where each public name lives. The package imports a module only when one
# of its names is first used, so `import rxbatch` is quick, and the command
# (`python -m rxbatch`, `rxbatch`) can catch a Ctrl-C that comes while it
# is still importing.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "._fan_out": ("fan_out",),
    ".graph": ("Graph",),
    ".load": (
        "DeadLetter",
        "LoadedBatch",
        "Loader",
        "LoadError",
        "LoadSummary",
    ),
    ".metrics": (
        "BatchMetrics",
        "MetricsPoint",
        "MetricsSnapshot",
        "Progress",
        "ProgressTracker",
        "collect_metrics",
    ),
    ".node": (
        "Node",
        "NodeError",
        "Routed",
    ),
    ".operators": (
        "buffer_with_count",
        "buffer_with_time",
        "buffer_with_time_or_count",
        "buffer_with_weight",
        "progress",
        "session_window",
        "sliding_event_window",
        "sliding_window",
        "sliding_window_with_time",
        "tumbling_event_window",
    ),
    ".patterns": (
        "BatchSizer",
        "adaptive_fan_out",
        "map_reduce",
        "map_reduce_operator",
        "process_in_batches",
        "stream_batches",
        "window_aggregate",
        "worker_pool",
    ),
    ".results": (
        "BatchError",
        "BatchResult",
        "EventTimeError",
        "LateItem",
        "LateItemError",
        "MapReduceResult",
        "TimeWindow",
        "WindowResult",
    ),
    ".retry": ("RetryPolicy",),
    ".scheduler": (
        "MonotonicTimerScheduler",
        "default_scheduler",
        "timer_clock",
    ),
    ".sources": (
        "BadLineError",
        "read_jsonl",
        "read_lines",
    ),
    ".store": (
        "Store",
        "StoreReader",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

if TYPE_CHECKING:  # what type checkers and IDEs see: the same names, imported
    from ._fan_out import fan_out
    from .graph import Graph
    from .load import (
        DeadLetter,
        LoadedBatch,
        Loader,
        LoadError,
        LoadSummary,
    )
    from .metrics import (
        BatchMetrics,
        MetricsPoint,
        MetricsSnapshot,
        Progress,
        ProgressTracker,
        collect_metrics,
    )
    from .node import (
        Node,
        NodeError,
        Routed,
    )
    from .operators import (
        buffer_with_count,
        buffer_with_time,
        buffer_with_time_or_count,
        buffer_with_weight,
        progress,
        session_window,
        sliding_event_window,
        sliding_window,
        sliding_window_with_time,
        tumbling_event_window,
    )
    from .patterns import (
        BatchSizer,
        adaptive_fan_out,
        map_reduce,
        map_reduce_operator,
        process_in_batches,
        stream_batches,
        window_aggregate,
        worker_pool,
    )
    from .results import (
        BatchError,
        BatchResult,
        EventTimeError,
        LateItem,
        LateItemError,
        MapReduceResult,
        TimeWindow,
        WindowResult,
    )
    from .retry import RetryPolicy
    from .scheduler import (
        MonotonicTimerScheduler,
        default_scheduler,
        timer_clock,
    )
    from .sources import (
        BadLineError,
        read_jsonl,
        read_lines,
    )
    from .store import (
        Store,
        StoreReader,
    )

__all__ = [
    "BadLineError",
    "BatchError",
    "BatchMetrics",
    "BatchResult",
    "BatchSizer",
    "DeadLetter",
    "EventTimeError",
    "Graph",
    "LateItem",
    "LateItemError",
    "LoadError",
    "LoadSummary",
    "LoadedBatch",
    "Loader",
    "MapReduceResult",
    "MetricsPoint",
    "MetricsSnapshot",
    "MonotonicTimerScheduler",
    "Node",
    "NodeError",
    "Progress",
    "ProgressTracker",
    "RetryPolicy",
    "Routed",
    "Store",
    "StoreReader",
    "TimeWindow",
    "WindowResult",
    "__version__",
    "adaptive_fan_out",
    "buffer_with_count",
    "buffer_with_time",
    "buffer_with_time_or_count",
    "buffer_with_weight",
    "collect_metrics",
    "default_scheduler",
    "fan_out",
    "map_reduce",
    "map_reduce_operator",
    "process_in_batches",
    "progress",
    "read_jsonl",
    "read_lines",
    "session_window",
    "sliding_event_window",
    "sliding_window",
    "sliding_window_with_time",
    "stream_batches",
    "timer_clock",
    "tumbling_event_window",
    "window_aggregate",
    "worker_pool",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'rxbatch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
