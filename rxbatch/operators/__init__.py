"""Batching strategies as pipeable Rx operators.

Each function validates its arguments when called and returns a
``Callable[[Observable[T]], Observable[...]]`` for ``Observable.pipe``.
All of them keep the contracts in DESIGN.md: no empty batches, pending items
emitted before ``on_completed`` and before a forwarded ``on_error``, nothing
emitted after disposal, safe under concurrent ``on_next``, and time read only
from the scheduler. Every time window is half-open, ``[start, end)``; the
event-time windows (``tumbling_event_window``, ``sliding_event_window``,
``session_window``) use the items' own timestamps.

Example:
    >>> import reactivex
    >>> from reactivex import operators as ops
    >>> from rxbatch.operators import buffer_with_count
    >>> reactivex.from_iterable(range(7)).pipe(buffer_with_count(3), ops.to_list()).run()
    [[0, 1, 2], [3, 4, 5], [6]]
"""

from ._count import buffer_with_count, sliding_window
from ._event_time import session_window, sliding_event_window, tumbling_event_window
from ._progress import progress
from ._time import buffer_with_time, buffer_with_time_or_count, sliding_window_with_time
from ._weight import buffer_with_weight

__all__ = [
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
]
