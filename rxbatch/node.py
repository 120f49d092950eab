"""Node: one unit of work in the prep / exec / post / fallback lifecycle."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .store import Store, StoreReader

__all__ = ["STEPS", "Node", "NodeError", "Routed", "describe_error"]

T = TypeVar("T")
R = TypeVar("R")

STEPS = ("prep", "exec", "post", "fallback")


@dataclass(frozen=True, slots=True)
class Routed(Generic[R]):
    """What ``post`` returns to name the route an item takes in a graph.

    Example:
        >>> Routed({"id": 1}, "invalid").action
        'invalid'
    """

    result: R
    action: str


def describe_error(error: BaseException) -> str:
    """``"ValueError: bad item 2"``: an exception's type and message, as a traceback ends.

    Example:
        >>> describe_error(KeyError("ts")), describe_error(TimeoutError())
        ("KeyError: 'ts'", 'TimeoutError')
    """
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class NodeError(Exception):
    """A step of a node failed; the original exception is ``__cause__``.

    ``str()`` and ``repr()`` both name the node, the step and the cause.

    Example:
        >>> try:
        ...     raise NodeError("parse", "exec") from ValueError("bad json")
        ... except NodeError as error:
        ...     print(error, "|", repr(error.__cause__))
        node 'parse' failed in exec: ValueError: bad json | ValueError('bad json')
    """

    def __init__(self, node: str, step: str, cause: BaseException | None = None) -> None:
        self.node = node
        self.step = step
        self._cause_text = "" if cause is None else f": {describe_error(cause)}"
        super().__init__(node, step)

    def __str__(self) -> str:
        cause = self.__cause__
        text = f": {describe_error(cause)}" if cause is not None else self._cause_text
        return f"node {self.node!r} failed in {self.step}{text}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.node, self.step, self.__cause__))


class Node(Generic[T, R]):
    """A unit of work: ``prep`` reads, ``exec`` computes, ``post`` writes and routes.

    Build one from functions, ``Node(exec=fn, prep=..., post=..., fallback=...)``,
    or subclass and override the steps (a subclass needs no constructor
    arguments). Any step may be ``async def``.

    - ``prep(store_reader, item)`` gets a read-only store; returns what exec
      needs (default: the item).
    - ``exec(prepared)`` does the work, sees no store, and is the only step
      retried; it runs on the executor (or the event loop when async).
    - ``fallback(prepared, error)`` runs when exec has failed for good; its
      return value becomes the result and the item counts as succeeded
      (default: re-raise).
    - ``post(store, item, prepared, result)`` may write to the store; returns
      the item's result, or ``Routed(result, action)`` (default: the result).

    Example:
        >>> double = Node(exec=lambda x: 2 * x, name="double")
        >>> double.exec(21), double.name
        (42, 'double')
    """

    name: str

    def __init__(
        self,
        exec: Callable[[Any], Any] | None = None,
        *,
        prep: Callable[[StoreReader, T], Any] | None = None,
        post: Callable[[Store, T, Any, Any], Any] | None = None,
        fallback: Callable[[Any, BaseException], Any] | None = None,
        name: str | None = None,
    ) -> None:
        for step, fn in (("exec", exec), ("prep", prep), ("post", post), ("fallback", fallback)):
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"{step} must be callable, got {fn!r}")
                setattr(self, step, fn)  # the function shadows the default step
        if exec is None and type(self).exec is Node.exec:
            raise TypeError("Node needs an exec function, or a subclass that overrides exec")
        self.name = name or getattr(exec, "__name__", None) or type(self).__name__
        if self.name == "<lambda>":
            self.name = "lambda"

    def prep(self, store: StoreReader, item: T) -> Any:
        """Return what exec needs; reads only (default: the item itself)."""
        return item

    def exec(self, prepared: Any) -> R:  # pragma: no cover - always replaced
        """Do the work; pure and retried on failure."""
        raise NotImplementedError

    def post(self, store: Store, item: T, prepared: Any, result: Any) -> Any:
        """Write to the store and return the item's result (default: ``result``)."""
        return result

    def fallback(self, prepared: Any, error: BaseException) -> R:
        """Give a result after exec failed for good (default: re-raise)."""
        raise error

    @property
    def has_fallback(self) -> bool:
        """Whether this node replaces a failed exec with a fallback result."""
        return not self.is_default("fallback")

    def is_default(self, step: str) -> bool:
        """Whether ``step`` is Node's own default, neither given nor overridden."""
        return step not in vars(self) and getattr(type(self), step) is getattr(Node, step)

    def is_async(self, step: str) -> bool:
        """Whether ``step`` is a coroutine function (``async def``)."""
        return inspect.iscoroutinefunction(getattr(self, step))

    def connect(self, action: str, node: Node[Any, Any]) -> Node[Any, Any]:
        """Route items whose ``post`` returned ``action`` to ``node``; returns ``node``.

        Example:
            >>> a, b, c = (Node(exec=str, name=n) for n in "abc")
            >>> a.connect("default", b).connect("default", c) is c
            True
        """
        if not isinstance(action, str):
            raise TypeError(f"action must be a str, got {action!r}")
        if not isinstance(node, Node):
            raise TypeError(f"node must be a Node, got {node!r}")
        self.successors[action] = node
        return node

    @property
    def successors(self) -> dict[str, Node[Any, Any]]:
        """The nodes this one routes to, by action name."""
        found: dict[str, Node[Any, Any]] | None = self.__dict__.get("_successors")
        if found is None:
            found = self.__dict__["_successors"] = {}
        return found

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
