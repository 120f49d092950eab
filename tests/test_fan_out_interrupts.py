"""KeyboardInterrupt and SystemExit raised by a node's step end the stream:
they are not item failures, nothing hangs, and no thread dies from them.

Pipelines are subscribed on a new thread, as ``.run()`` does, so an
exception that escaped would kill that thread (pytest reports it) rather
than the test. No test waits on a timer; ``END`` is a bound only a hang
reaches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import reactivex
from reactivex.scheduler import NewThreadScheduler

from rxbatch import BatchResult, Node, Store, StoreReader, fan_out
from rxbatch.testing import ImmediateExecutor

from .conftest import outcome_of

END = 20  # seconds: only a hang gets here

INTERRUPTS = [KeyboardInterrupt, SystemExit]


def run_to_end(
    batches: list[list[int]], operator: Callable[[Any], Any]
) -> tuple[list[BatchResult[int, Any]], list[BaseException]]:
    """Subscribe on a new thread; wait for the stream to end."""
    source = reactivex.from_iterable(batches).pipe(operator)
    return outcome_of(source, END, scheduler=NewThreadScheduler())


def raise_on_two(kind: type[BaseException]) -> Callable[[int], int]:
    def check(x: int) -> int:
        if x == 2:
            raise kind(f"raised for item {x}")
        return x

    return check


def nodes(kind: type[BaseException]) -> dict[str, Node[int, int]]:
    """For each step, a node whose step raises ``kind`` on item 2."""
    check = raise_on_two(kind)

    def prep(store: StoreReader, x: int) -> int:
        return check(x)

    def post(store: Store, x: int, prepared: int, result: int) -> int:
        return check(result)

    def always_fails(x: int) -> int:
        raise ValueError(x)

    def fallback(prepared: int, error: BaseException) -> int:
        return check(prepared)

    class AsyncExec(Node[int, int]):
        async def exec(self, prepared: int) -> int:
            await asyncio.sleep(0)
            return check(prepared)

    class AsyncPost(Node[int, int]):
        def exec(self, prepared: int) -> int:
            return prepared

        async def post(self, store: Store, x: int, prepared: int, result: int) -> int:
            await asyncio.sleep(0)
            return check(result)

    return {
        "prep": Node(exec=abs, prep=prep),
        "exec": Node(exec=check),
        "post": Node(exec=abs, post=post),
        "fallback": Node(exec=always_fails, fallback=fallback),
        "async exec": AsyncExec(),
        "async post": AsyncPost(),
    }


STEPS = list(nodes(KeyboardInterrupt))


@pytest.mark.parametrize("kind", INTERRUPTS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("step", STEPS)
def test_an_interrupt_in_a_step_ends_the_stream(kind: type[BaseException], step: str) -> None:
    _, errors = run_to_end([[1], [2, 3], [4]], fan_out(nodes(kind)[step]))
    assert len(errors) == 1 and type(errors[0]) is kind
    assert str(errors[0]) == "raised for item 2"


@pytest.mark.parametrize("kind", INTERRUPTS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("step", ["post", "fallback", "exec"])
def test_the_worker_thread_of_a_pool_survives_an_interrupt(
    kind: type[BaseException], step: str
) -> None:
    with ThreadPoolExecutor(1) as pool:  # one thread: if it died, nothing would run again
        _, errors = run_to_end([[1, 2, 3]], fan_out(nodes(kind)[step], executor=pool))
        assert [type(e) for e in errors] == [kind]
        assert pool.submit(int, "7").result(timeout=END) == 7


@pytest.mark.parametrize("step", ["prep", "exec", "post"])
def test_an_interrupt_on_the_producers_thread_ends_the_stream_and_returns(step: str) -> None:
    """Inline (ImmediateExecutor, subscribed on this thread): on_error gets it."""
    errors: list[BaseException] = []
    completed: list[bool] = []
    try:
        reactivex.of([1], [2, 3], [4]).pipe(
            fan_out(nodes(KeyboardInterrupt)[step], executor=ImmediateExecutor())
        ).subscribe(on_error=errors.append, on_completed=lambda: completed.append(True))
    except BaseException as escaped:  # before the fix it escaped to the caller
        pytest.fail(f"{type(escaped).__name__} escaped instead of ending the stream")
    assert [type(e) for e in errors] == [KeyboardInterrupt] and not completed


def test_run_raises_the_interrupt() -> None:
    with pytest.raises(SystemExit, match="raised for item 2"):
        reactivex.of([1], [2]).pipe(fan_out(nodes(SystemExit)["post"])).run()


def test_an_ordinary_error_in_a_step_is_still_an_item_failure() -> None:
    results, errors = run_to_end([[1, 2, 3]], fan_out(nodes(ValueError)["post"]))
    assert errors == [] and results[0].failed_indices == (1,)
