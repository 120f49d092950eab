"""fan_out on virtual time with ImmediateExecutor: outcomes, retry timing,
fallback, routing and the store, exactly."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex.testing import ReactiveTest, TestScheduler

from rxbatch import BatchResult, Node, NodeError, RetryPolicy, Routed, Store, StoreReader, fan_out
from rxbatch.testing import ImmediateExecutor

on_next, on_completed, on_error = (
    ReactiveTest.on_next,
    ReactiveTest.on_completed,
    ReactiveTest.on_error,
)
subscribe = ReactiveTest.subscribe


class Flaky:
    """An exec that fails ``failures[item]`` times for each item, then doubles it."""

    def __init__(self, failures: dict[int, int], error: type[Exception] = ValueError) -> None:
        self.failures = failures
        self.error = error
        self.calls: Counter[int] = Counter()
        self.times: list[tuple[int, float]] = []

    def __call__(self, item: int) -> int:
        self.calls[item] += 1
        if self.calls[item] <= self.failures.get(item, 0):
            raise self.error(f"item {item} failed")
        return item * 2


def run(
    batches: list[tuple[float, list[Any]]], node: Any, end: float = 900, **options: Any
) -> tuple[TestScheduler, list[Any], Any]:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        [on_next(t, batch) for t, batch in batches] + [on_completed(end)]
    )
    operator = fan_out(node, executor=ImmediateExecutor(), scheduler=scheduler, **options)
    results = scheduler.start(lambda: xs.pipe(operator))
    return scheduler, results.messages, xs


def test_one_result_per_batch_with_every_items_outcome() -> None:
    exec_ = Flaky({2: 99})
    _, messages, xs = run([(210, [1, 2, 3]), (220, []), (230, [4])], exec_)
    first, empty, last = (m.value.value for m in messages[:3])
    assert [m.time for m in messages] == [210, 220, 230, 900]
    assert messages[-1] == on_completed(900)
    assert (first.index, first.items, first.results) == (0, [1, 2, 3], [2, None, 6])
    assert first.failed_indices == (1,) and first.attempts == (1, 1, 1)
    error = first.errors[1]
    assert isinstance(error, NodeError) and error.step == "exec"
    assert isinstance(error.__cause__, ValueError)
    assert (empty.index, empty.items, empty.results, empty.errors) == (1, [], [], {})
    assert last.results == [8] and last.ok
    assert xs.subscriptions == [subscribe(200, 900)]


def test_retry_reruns_only_failed_items_at_backoff_times() -> None:
    exec_ = Flaky({2: 2, 3: 5})
    policy = RetryPolicy(max_retries=3, base_delay=10, multiplier=2, max_delay=1000)
    _, messages, _ = run([(210, [1, 2, 3])], exec_, retry=policy)
    # item 2: fails at 210 and 220 (+10), succeeds at 240 (+20);
    # item 3: fails at 210, 220, 240, 280 (+40): out of retries.
    (result,) = (m.value.value for m in messages[:-1])
    assert messages[0].time == 280
    assert exec_.calls == Counter({1: 1, 2: 3, 3: 4})
    assert result.attempts == (1, 3, 4)
    assert result.results == [2, 4, None] and result.failed_indices == (2,)
    assert result.duration == 70.0  # on the scheduler's clock


def test_only_retry_on_errors_are_retried() -> None:
    exec_ = Flaky({1: 1}, error=KeyError)
    policy = RetryPolicy(max_retries=3, base_delay=1, retry_on=(TimeoutError,))
    _, messages, _ = run([(210, [1])], exec_, retry=policy)
    assert messages[0].value.value.attempts == (1,) and exec_.calls[1] == 1


def test_results_keep_input_order_when_an_earlier_batch_retries() -> None:
    exec_ = Flaky({1: 1})
    policy = RetryPolicy(max_retries=1, base_delay=50, max_delay=50)
    _, ordered, _ = run([(210, [1]), (220, [2])], exec_, retry=policy)
    assert [(m.time, m.value.value.index) for m in ordered[:-1]] == [(260, 0), (260, 1)]
    exec_ = Flaky({1: 1})
    _, unordered, _ = run([(210, [1]), (220, [2])], exec_, retry=policy, ordered=False)
    assert [(m.time, m.value.value.index) for m in unordered[:-1]] == [(220, 1), (260, 0)]


def test_fallback_result_counts_as_success_and_post_sees_it() -> None:
    seen: list[tuple[Any, ...]] = []

    def fallback(prepared: int, error: BaseException) -> str:
        seen.append(("fallback", prepared, type(error).__name__))
        return "default value"

    def post(store: Store, item: int, prepared: int, result: Any) -> Any:
        seen.append(("post", item, result))
        return result

    node = Node(exec=Flaky({1: 9}), fallback=fallback, post=post)
    _, messages, _ = run([(210, [1])], node, retry=RetryPolicy(max_retries=1, base_delay=5))
    result = messages[0].value.value
    assert result.ok and result.results == ["default value"] and result.attempts == (2,)
    assert seen == [("fallback", 1, "ValueError"), ("post", 1, "default value")]


def test_failures_in_each_step_are_wrapped_with_the_step_name() -> None:
    def prep(store: StoreReader, item: str) -> str:
        if item == "bad prep":
            raise LookupError("no config")
        return item

    def exec_(prepared: str) -> str:
        if prepared == "bad exec":
            raise ValueError("cannot")
        return prepared

    def post(store: Store, item: str, prepared: str, result: str) -> str:
        if item == "bad post":
            raise OSError("disk full")
        return result

    def fallback(prepared: str, error: BaseException) -> str:
        raise RuntimeError("no fallback either")

    node = Node(exec=exec_, prep=prep, post=post, fallback=fallback, name="steps")
    items = ["ok", "bad prep", "bad exec", "bad post"]
    _, messages, _ = run([(210, items)], node)
    result = messages[0].value.value
    assert result.results == ["ok", None, None, None]
    steps = {i: (e.node, e.step, type(e.__cause__).__name__) for i, e in result.errors.items()}
    assert steps == {
        1: ("steps", "prep", "LookupError"),
        2: ("steps", "fallback", "RuntimeError"),
        3: ("steps", "post", "OSError"),
    }
    assert result.attempts == (1, 0, 1, 1)  # prep failed: exec never ran


def test_prep_reads_the_store_post_writes_and_routes() -> None:
    class Enrich(Node[dict[str, Any], dict[str, Any]]):
        def prep(self, store: StoreReader, event: dict[str, Any]) -> tuple[Any, Any]:
            assert not hasattr(store, "set")
            return event, store.get("rate")

        def exec(self, prepared: tuple[Any, Any]) -> dict[str, Any]:
            event, rate = prepared
            return {**event, "amount": event["amount"] * rate}

        def post(self, store: Store, event: Any, prepared: Any, result: Any) -> Any:
            store.set("last", event["id"])
            return Routed(result, "big") if result["amount"] > 10 else result

    store = Store()
    store.set("rate", 3)
    events = [{"id": 1, "amount": 2}, {"id": 2, "amount": 5}]
    _, messages, _ = run([(210, events)], Enrich(), store=store)
    result = messages[0].value.value
    assert [r["amount"] for r in result.results] == [6, 15]
    assert result.actions == ("default", "big")
    assert store.get("last") == 2


def test_upstream_error_is_forwarded_after_in_flight_batches() -> None:
    scheduler = TestScheduler()
    error = RuntimeError("source broke")
    xs = scheduler.create_hot_observable(on_next(210, [1]), on_error(220, error))
    policy = RetryPolicy(max_retries=1, base_delay=30)
    operator = fan_out(
        Flaky({1: 1}), executor=ImmediateExecutor(), scheduler=scheduler, retry=policy
    )
    messages = scheduler.start(lambda: xs.pipe(operator)).messages
    assert [m.time for m in messages] == [240, 240]
    assert messages[0].value.value.results == [2] and messages[1] == on_error(240, error)


def test_disposal_stops_retries_and_emissions() -> None:
    exec_ = Flaky({1: 5})
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(on_next(210, [1]), on_completed(900))
    operator = fan_out(
        exec_,
        executor=ImmediateExecutor(),
        scheduler=scheduler,
        retry=RetryPolicy(max_retries=5, base_delay=10),
    )
    messages = scheduler.start(lambda: xs.pipe(operator), disposed=235).messages
    assert messages == []
    assert exec_.calls[1] == 2  # 210 and 220; the 240 retry was cancelled
    assert scheduler._queue.items == [] or all(
        item.is_cancelled() for item, _ in scheduler._queue.items
    )


def test_blocking_the_virtual_time_thread_raises_instead_of_hanging() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(on_next(210, [1]), on_next(220, [2, 3]))
    operator = fan_out(
        Flaky({1: 1}),
        executor=ImmediateExecutor(),
        scheduler=scheduler,
        retry=RetryPolicy(max_retries=1, base_delay=50),
        max_in_flight=2,
    )
    with pytest.raises(RuntimeError, match="virtual-time scheduler"):
        scheduler.start(lambda: xs.pipe(operator))


item_plans = st.lists(
    st.lists(st.integers(min_value=0, max_value=4), max_size=6),  # failures per item
    max_size=6,
)


@settings(max_examples=150)
@given(item_plans, st.integers(min_value=0, max_value=3))
def test_conservation_every_item_succeeds_or_fails_once(
    plan: list[list[int]], max_retries: int
) -> None:
    """For random batches, failures and retry counts: nothing lost, nothing twice."""
    batches, failures, n = [], {}, 0
    for failure_counts in plan:
        batch = list(range(n, n + len(failure_counts)))
        failures.update(zip(batch, failure_counts, strict=True))
        batches.append(batch)
        n += len(batch)
    exec_ = Flaky(failures)
    policy = RetryPolicy(max_retries=max_retries, base_delay=1, multiplier=1)
    _, messages, _ = run([(210 + i, b) for i, b in enumerate(batches)], exec_, retry=policy)
    results: list[BatchResult[int, int]] = [m.value.value for m in messages[:-1]]
    assert messages[-1].value.kind == "C"
    assert [r.index for r in results] == list(range(len(batches)))
    for batch, result in zip(batches, results, strict=True):
        assert result.items == batch and len(result.results) == len(batch)
        for position, item in enumerate(batch):
            fails = failures[item]
            succeeded = fails <= max_retries
            assert (position in result.errors) is not succeeded
            assert result.results[position] == (item * 2 if succeeded else None)
            assert result.attempts[position] == min(fails + 1, max_retries + 1)
        assert len(result.succeeded) + len(result.errors) == len(batch)
