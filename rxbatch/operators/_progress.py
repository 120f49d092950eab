"""A progress bar as a pass-through operator (tqdm, an optional extra)."""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SingleAssignmentDisposable

__all__ = ["progress"]

T = TypeVar("T")

_HAND_EVERY = 0.02  # seconds between tqdm.update calls


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
    ``BatchResult``s (their items), or by ``count(value)``. In Jupyter it is
    a widget (``rxbatch[notebook]`` brings ipywidgets); without ipywidgets,
    and in a terminal, it is tqdm's text bar, with no warning. It closes when
    the source completes or fails and on disposal. Needs the
    ``rxbatch[progress]`` extra.

    Args:
        total: Expected total, for a percentage and an ETA.
        desc: Label shown before the bar.
        unit: What is counted.
        count: How much one value advances the bar.
        disable: True: no bar; False: a bar; None: a bar in Jupyter or when
            stderr is a terminal, none in logs and pipes.

    Raises:
        ImportError: tqdm is not installed (names the extra to install).

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> reactivex.of([1, 2], [3]).pipe(progress(3, disable=True), ops.to_list()).run()
        [[1, 2], [3]]
    """
    try:
        from tqdm import std
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
            in_jupyter = _in_jupyter()
            hidden = not (in_jupyter or _is_terminal(sys.stderr)) if disable is None else disable
            bar_class = _widget_bar() if in_jupyter else None
            bar = (bar_class or std.tqdm)(total=total, desc=desc, unit=unit, disable=hidden)
            lock = threading.Lock()
            upstream = SingleAssignmentDisposable()
            pending = 0  # counted, not yet handed to tqdm
            handed_at = 0.0
            update, monotonic = bar.update, time.monotonic

            def on_next(value: T) -> None:
                nonlocal pending, handed_at
                try:
                    step = amount(value)
                except Exception as error:  # in the user's count
                    upstream.dispose()
                    on_error(error)
                    return
                with lock:
                    pending += step
                    # tqdm redraws at most every 0.1 s anyway; handing it the
                    # count every 20 ms keeps the bar current at a fraction
                    # of the cost of a call per value.
                    now = monotonic()
                    if now - handed_at >= _HAND_EVERY:
                        update(pending)
                        pending, handed_at = 0, now
                observer.on_next(value)

            def on_error(error: Exception) -> None:
                close()
                observer.on_error(error)

            def on_completed() -> None:
                close()
                observer.on_completed()

            def close() -> None:
                nonlocal pending
                with lock:
                    if pending and not bar.disable:
                        bar.update(pending)
                    pending = 0
                    bar.close()

            upstream.disposable = source.subscribe(
                on_next, on_error, on_completed, scheduler=scheduler
            )
            return CompositeDisposable(upstream, Disposable(close))

        return Observable(subscribe)

    return operator


def _in_jupyter() -> bool:
    """Whether this runs in a Jupyter kernel (as tqdm.autonotebook decides)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _widget_bar() -> Any:
    """tqdm's ipywidgets bar, or None when ipywidgets is missing (then: text, no warning)."""
    try:
        importlib.import_module("ipywidgets")
    except ImportError:
        return None
    from tqdm import notebook

    return notebook.tqdm


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
