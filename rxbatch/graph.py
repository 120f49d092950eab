"""Graph: nodes connected by action names, run as one node."""

from __future__ import annotations

import inspect
from typing import Any

from .node import Node, NodeError, Routed
from .store import Store, StoreReader

__all__ = ["Graph"]


class Graph(Node[Any, Any]):
    """Run each item through nodes connected by the actions their ``post`` returns.

    An item enters ``start``; the action its ``post`` returns
    (``Routed(result, action)``, else ``"default"``) picks the next node, which
    gets the result as its item. A node with no successors ends the route; a
    node with successors but none for the action is an error naming both. A
    route longer than ``max_steps`` (a cycle that does not end) fails the item.
    A ``Graph`` is a ``Node``: ``fan_out(Graph(a))`` runs every item through
    the graph, the final action lands in ``BatchResult.actions``, and a retry
    re-runs the route from ``start``. Each node's own steps keep their roles
    (prep reads, post writes fan_out's store, fallback stands in for exec);
    the nodes must be sync and the graph runs in-process (threads, not a
    process pool).

    Example:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> from rxbatch import Routed, fan_out
        >>> def check(store, item, prepared, n):
        ...     return Routed(n, "valid" if n >= 0 else "invalid")
        >>> validate = Node(exec=int, post=check, name="validate")
        >>> validate.connect("valid", Node(exec=lambda n: n * 10, name="scale"))
        Node(name='scale')
        >>> validate.connect("invalid", Node(exec=lambda n: 0, name="zero"))
        Node(name='zero')
        >>> results = reactivex.of(["4", "-2"]).pipe(fan_out(Graph(validate)), ops.to_list())
        >>> (result,) = results.run()
        >>> result.results, result.actions
        ([40, 0], ('default', 'default'))
    """

    def __init__(self, start: Node[Any, Any], *, max_steps: int = 100, name: str | None = None):
        if not isinstance(start, Node):
            raise TypeError(f"start must be a Node, got {start!r}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
        self.start = start
        self.max_steps = max_steps
        self.name = name or f"graph({start.name})"

    def prep(self, store: StoreReader, item: Any) -> tuple[Any, Store]:
        return item, store._writable()

    def exec(self, prepared: tuple[Any, Store]) -> Routed[Any]:
        value, store = prepared
        node = self.start
        for _ in range(self.max_steps):
            value, action = _run(node, store, value)
            if not node.successors:
                return Routed(value, action)
            following = node.successors.get(action)
            if following is None:
                raise LookupError(
                    f"node {node.name!r} returned action {action!r}, but it routes only "
                    f"{sorted(node.successors)}"
                )
            node = following
        raise RuntimeError(
            f"graph {self.name!r} stopped after max_steps={self.max_steps} steps at node "
            f"{node.name!r}: a cycle that does not end?"
        )

    def post(self, store: Store, item: Any, prepared: Any, result: Routed[Any]) -> Routed[Any]:
        return result


def _run(node: Node[Any, Any], store: Store, item: Any) -> tuple[Any, str]:
    """One node's steps, inline; failures wrapped in NodeError naming node and step."""
    step = "prep"
    try:
        prepared = _sync(node, step, node.prep(store.reader(), item))
        step = "exec"
        try:
            result = _sync(node, step, node.exec(prepared))
        except Exception as error:
            if not node.has_fallback:
                raise
            step = "fallback"
            result = _sync(node, step, node.fallback(prepared, error))
        step = "post"
        posted = _sync(node, step, node.post(store, item, prepared, result))
    except NodeError:
        raise
    except Exception as error:
        raise NodeError(node.name, step) from error
    if isinstance(posted, Routed):
        return posted.result, posted.action
    return posted, "default"


def _sync(node: Node[Any, Any], step: str, value: Any) -> Any:
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()
        raise TypeError(f"a Graph runs sync nodes only; {node.name!r}.{step} is async")
    return value
