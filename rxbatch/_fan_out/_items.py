"""What moves through fan_out: a batch with one outcome slot per item, and
the task of one item between prep and its final outcome."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from ..results import BatchResult

__all__ = ["Batch", "Task", "as_batch", "reject_text_or_mapping"]

T = TypeVar("T")


class Batch(Generic[T]):
    """One admitted batch: its items and, slot by slot, their outcomes so far."""

    __slots__ = (
        "actions",
        "attempts",
        "errors",
        "index",
        "items",
        "remaining",
        "results",
        "started",
    )

    def __init__(self, index: int, items: list[T], started: datetime) -> None:
        n = len(items)
        self.index = index
        self.items = items
        self.started = started
        self.results: list[Any] = [None] * n
        self.errors: dict[int, BaseException] = {}
        self.attempts = [0] * n
        self.actions: list[str] | None = None  # made when a post routes an item
        self.remaining = n

    def route(self, position: int, action: str) -> None:
        if self.actions is None:
            self.actions = ["default"] * len(self.items)
        self.actions[position] = action

    def result(self, duration: float) -> BatchResult[T, Any]:
        n = len(self.items)
        actions = ("default",) * n if self.actions is None else tuple(self.actions)
        return BatchResult(
            self.index,
            self.items,
            self.results,
            self.errors,
            tuple(self.attempts),
            actions,
            duration,
        )


class Task(Generic[T]):
    """One item of a batch, with what its prep returned."""

    __slots__ = ("batch", "position", "prepared")

    def __init__(self, batch: Batch[T], position: int, prepared: Any = None) -> None:
        self.batch = batch
        self.position = position
        self.prepared = prepared


def reject_text_or_mapping(name: str, value: object, hint: str) -> None:
    """Raise ``TypeError`` if ``value`` is a str, bytes or mapping (iterable, but not of items)."""
    if isinstance(value, str | bytes | bytearray | Mapping):
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        raise TypeError(
            f"{name} must be a sequence of items, got {type(value).__name__} {shown}; {hint}"
        )


def as_batch(items: Sequence[T]) -> list[T]:
    """The items of one incoming batch as a new list; ``TypeError`` if it is not a batch.

    What iterating the batch raises (a generator's own error) comes through
    as it is, with a note: it is the batch's error, not a sign of a non-batch.
    """
    hint = "to batch a stream of items, put a buffer operator such as buffer_with_count(n) first"
    reject_text_or_mapping("fan_out: a batch", items, hint)
    try:
        iterator = iter(items)
    except TypeError:
        raise TypeError(
            f"fan_out: a batch must be a sequence of items, got {type(items).__name__} "
            f"{items!r:.60}; {hint}"
        ) from None
    try:
        return list(iterator)
    except Exception as error:
        error.add_note(f"raised while fan_out read the items of a batch ({type(items).__name__})")
        raise
