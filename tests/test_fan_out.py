"""fan_out on virtual time with ImmediateExecutor: outcomes, retry timing,
fallback, routing and the store, exactly."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex.testing import ReactiveTest, TestScheduler

from rxbatch import BatchResult, Node, NodeError, RetryPolicy, Routed, Store, StoreReader, fan_out
from rxbatch.testing import ImmediateExecutor

from ._executors import ManualExecutor

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


@settings(max_examples=150, deadline=None)  # virtual time: a busy machine is not a failure
@given(
    item_plans,
    st.integers(min_value=0, max_value=3),
    st.sampled_from([None, 1, 2, 3]),
    st.integers(min_value=1, max_value=3),
)
def test_conservation_every_item_succeeds_or_fails_once(
    plan: list[list[int]], max_retries: int, chunk_size: int | None, max_concurrency: int
) -> None:
    """For random batches, failures, retry counts and chunks: nothing lost, nothing twice."""
    batches, failures, n = [], {}, 0
    for failure_counts in plan:
        batch = list(range(n, n + len(failure_counts)))
        failures.update(zip(batch, failure_counts, strict=True))
        batches.append(batch)
        n += len(batch)
    exec_ = Flaky(failures)
    policy = RetryPolicy(max_retries=max_retries, base_delay=1, multiplier=1)
    _, messages, _ = run(
        [(210 + i, b) for i, b in enumerate(batches)],
        exec_,
        retry=policy,
        chunk_size=chunk_size,
        max_concurrency=max_concurrency,
    )
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


def test_chunks_take_at_most_chunk_size_items_of_one_batch() -> None:
    scheduler = TestScheduler()
    executor = ManualExecutor()
    xs = scheduler.create_hot_observable(
        on_next(210, [1, 2, 3]), on_next(220, [4, 5, 6, 7, 8, 9]), on_completed(400)
    )
    scheduler.schedule_absolute(300, lambda *_: executor.run_all())
    operator = fan_out(
        Flaky({}), executor=executor, scheduler=scheduler, chunk_size=4, max_concurrency=2
    )
    messages = scheduler.start(lambda: xs.pipe(operator)).messages
    # 210: [1, 2, 3] (its whole batch); 220: [4..7]; at 300, as slots free: [8, 9].
    assert executor.sizes == [3, 4, 2]
    assert [(m.time, m.value.value.results) for m in messages[:-1]] == [
        (300, [2, 4, 6]),
        (300, [8, 10, 12, 14, 16, 18]),
    ]


def test_chunked_retries_rerun_only_the_failed_items_at_backoff_times() -> None:
    exec_ = Flaky({2: 1, 3: 2, 5: 9})
    policy = RetryPolicy(max_retries=2, base_delay=10, multiplier=2)
    _, messages, _ = run([(210, [1, 2, 3, 4, 5])], exec_, retry=policy, chunk_size=3)
    (result,) = (m.value.value for m in messages[:-1])
    # 210: [1, 2, 3] and [4, 5]; 220: 2, 3 and 5 again; 240: 3 and 5 a third time.
    assert messages[0].time == 240
    assert exec_.calls == Counter({1: 1, 2: 2, 3: 3, 4: 1, 5: 3})
    assert result.attempts == (1, 2, 3, 1, 3)
    assert result.results == [2, 4, 6, 8, None] and result.failed_indices == (4,)
    assert isinstance(result.errors[4].__cause__, ValueError)


def test_chunk_size_must_be_a_positive_int() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        fan_out(abs, chunk_size=0)
    with pytest.raises(TypeError, match="chunk_size"):
        fan_out(abs, chunk_size=2.5)  # type: ignore[arg-type]


def type_name(value: object) -> str:
    return type(value).__name__


@pytest.mark.parametrize("bad", ["abc", b"abc", bytearray(b"ab"), {"a": 1}, 42], ids=type_name)
def test_a_batch_that_is_not_a_sequence_of_items_ends_the_stream_with_a_type_error(
    bad: Any,
) -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(210, [1]), on_next(220, bad), on_next(230, [2]), on_completed(900)
    )
    operator = fan_out(Flaky({}), executor=ImmediateExecutor(), scheduler=scheduler)
    messages = scheduler.start(lambda: xs.pipe(operator)).messages
    assert [m.time for m in messages] == [210, 220]
    assert messages[0].value.value.results == [2]
    error = messages[1].value.exception
    assert isinstance(error, TypeError)
    assert "batch must be a sequence of items" in str(error)
    assert type_name(bad) in str(error) and "buffer_with_count" in str(error)
    assert xs.subscriptions == [subscribe(200, 220)]  # the source is let go at once


@pytest.mark.parametrize("raised", [TypeError, ValueError])
def test_an_error_raised_while_reading_a_batch_ends_the_stream_as_it_was_raised(
    raised: type[Exception],
) -> None:
    """A generator batch that raises part-way: its own error, not "not a batch"
    (a TypeError of the generator's was once taken for one)."""

    def items() -> Iterator[int]:
        yield 1
        raise raised("the generator's own bug")

    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(210, [1]), on_next(220, items()), on_next(230, [2]), on_completed(900)
    )
    operator = fan_out(Flaky({}), executor=ImmediateExecutor(), scheduler=scheduler)
    messages = scheduler.start(lambda: xs.pipe(operator)).messages
    assert [m.time for m in messages] == [210, 220]
    error = messages[1].value.exception
    assert type(error) is raised and str(error) == "the generator's own bug"
    assert error.__notes__ == ["raised while fan_out read the items of a batch (generator)"]
    assert xs.subscriptions == [subscribe(200, 220)]


def test_an_executor_that_was_shut_down_fails_every_attempt() -> None:
    executor = ImmediateExecutor()
    executor.shutdown()
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(on_next(210, [1, 2]), on_completed(300))
    operator = fan_out(
        Flaky({}),
        executor=executor,
        scheduler=scheduler,
        retry=RetryPolicy(max_retries=1, base_delay=10),
    )
    messages = scheduler.start(lambda: xs.pipe(operator)).messages
    (result,) = (m.value.value for m in messages[:-1])
    assert messages[0].time == 220 and messages[-1] == on_completed(300)
    assert result.failed_indices == (0, 1) and result.attempts == (2, 2)
    assert all("after shutdown" in str(e.__cause__) for e in result.errors.values())
