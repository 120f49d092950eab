"""rxbatch: fast, correct batching and batch processing on RxPY (reactivex).

Example:
    >>> import reactivex
    >>> from reactivex import operators as ops
    >>> import rxbatch
    >>> source = reactivex.from_iterable(range(5))
    >>> source.pipe(rxbatch.buffer_with_time_or_count(1.0, 2), ops.to_list()).run()
    [[0, 1], [2, 3], [4]]
"""

from ._fan_out import fan_out
from .node import Node, NodeError, Routed
from .operators import (
    buffer_with_count,
    buffer_with_time,
    buffer_with_time_or_count,
    sliding_window,
    sliding_window_with_time,
)
from .results import BatchError, BatchResult, TimeWindow
from .retry import RetryPolicy
from .scheduler import MonotonicTimerScheduler, default_scheduler
from .store import Store, StoreReader

__version__ = "0.1.0"

__all__ = [
    "BatchError",
    "BatchResult",
    "MonotonicTimerScheduler",
    "Node",
    "NodeError",
    "RetryPolicy",
    "Routed",
    "Store",
    "StoreReader",
    "TimeWindow",
    "__version__",
    "buffer_with_count",
    "buffer_with_time",
    "buffer_with_time_or_count",
    "default_scheduler",
    "fan_out",
    "sliding_window",
    "sliding_window_with_time",
]
