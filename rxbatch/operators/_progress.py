"""A progress bar as a pass-through operator (tqdm, an optional extra)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SingleAssignmentDisposable

__all__ = ["progress"]

T = TypeVar("T")


def progress(
    total: int | None = None,
    *,
    desc: str | None = None,
    unit: str = "item",
    count: Callable[[T], int] | None = None,
    disable: bool | None = None,
) -> Callable[[Observable[T]], Observable[T]]:
    """Pass everything through while advancing a tqdm progress bar.

    The bar advances by 1 per value, by ``len(value)`` for lists, tuples and
    ``BatchResult``s (their items), or by ``count(value)``. It is
    ``tqdm.auto``'s: a widget in Jupyter, text in a terminal. It closes when
    the source completes or fails and on disposal. ``disable=None`` turns the
    bar off when stderr is not a terminal, as tqdm does. Needs the
    ``rxbatch[progress]`` extra.

    Args:
        total: Expected total, for a percentage and an ETA.
        desc: Label shown before the bar.
        unit: What is counted.
        count: How much one value advances the bar.
        disable: True: no bar; None: no bar unless stderr is a terminal.

    Raises:
        ImportError: tqdm is not installed (names the extra to install).

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> reactivex.of([1, 2], [3]).pipe(progress(3, disable=True), ops.to_list()).run()
        [[1, 2], [3]]
    """
    try:
        from tqdm.auto import tqdm
    except ImportError as error:  # pragma: no cover - exercised without the extra
        raise ImportError("rxbatch.progress needs tqdm: pip install 'rxbatch[progress]'") from error
    if count is not None and not callable(count):
        raise TypeError(f"count must be callable or None, got {count!r}")

    def amount(value: Any) -> int:
        if count is not None:
            return count(value)
        if isinstance(value, list | tuple):
            return len(value)
        items = getattr(value, "items", None)
        return len(items) if isinstance(items, list) else 1

    def operator(source: Observable[T]) -> Observable[T]:
        def subscribe(
            observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            bar = tqdm(total=total, desc=desc, unit=unit, disable=disable)
            lock = threading.Lock()
            upstream = SingleAssignmentDisposable()

            def on_next(value: T) -> None:
                try:
                    step = amount(value)
                except Exception as error:  # in the user's count
                    upstream.dispose()
                    on_error(error)
                    return
                with lock:
                    bar.update(step)
                observer.on_next(value)

            def on_error(error: Exception) -> None:
                close()
                observer.on_error(error)

            def on_completed() -> None:
                close()
                observer.on_completed()

            def close() -> None:
                with lock:
                    bar.close()

            upstream.disposable = source.subscribe(
                on_next, on_error, on_completed, scheduler=scheduler
            )
            return CompositeDisposable(upstream, Disposable(close))

        return Observable(subscribe)

    return operator
