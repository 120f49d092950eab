"""The seed's patterns, each reproducing the behaviour the seed describes."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler

from rxbatch import (
    BatchError,
    BatchSizer,
    Graph,
    Node,
    NodeError,
    RetryPolicy,
    Routed,
    Store,
    WindowResult,
    adaptive_fan_out,
    fan_out,
    map_reduce,
    map_reduce_operator,
    process_in_batches,
    stream_batches,
    window_aggregate,
    worker_pool,
)
from rxbatch.testing import ImmediateExecutor

from .conftest import at

on_next, on_completed = ReactiveTest.on_next, ReactiveTest.on_completed
HANG = 30


class TestProcessInBatches:
    def test_returns_results_in_input_order(self) -> None:
        assert process_in_batches(iter(range(25)), lambda x: -x, batch_size=4) == [
            -x for x in range(25)
        ]

    def test_one_batch_error_for_the_whole_run_by_global_position(self) -> None:
        def fail_on_multiples_of_seven(x: int) -> int:
            if x and x % 7 == 0:
                raise ValueError(x)
            return x

        with pytest.raises(BatchError) as caught:
            process_in_batches(range(20), fail_on_multiples_of_seven, batch_size=5)
        error = caught.value
        assert error.failed_indices == (7, 14) and set(error.errors) == {7, 14}
        assert error.batch_index == 1  # item 7 is in the second batch
        assert len(error.partial_results) == 20
        assert error.partial_results[6] == 6 and error.partial_results[7] is None
        assert "2 of 20 items failed; first, item 7: ValueError: 7" in str(error)
        assert isinstance(error.__cause__, NodeError) and error.__cause__ is error.errors[7]

    def test_retries_and_progress_bar(self) -> None:
        calls: dict[int, int] = {}

        def flaky(x: int) -> int:
            calls[x] = calls.get(x, 0) + 1
            if calls[x] == 1:
                raise TimeoutError
            return x

        policy = RetryPolicy(max_retries=1, base_delay=0)
        assert process_in_batches([1, 2], flaky, batch_size=1, retry=policy, progress=True) == [
            1,
            2,
        ]


EVENTS = [{"ts": ts, "value": ts % 5} for ts in range(0, 40, 3)]


class TestMapReduce:
    EVENTS: ClassVar[list[dict[str, int]]] = EVENTS

    def test_item_key_groups_by_a_function_of_the_input_item(self) -> None:
        result = map_reduce(
            self.EVENTS, lambda e: e["value"], sum, item_key=lambda e: e["ts"] // 10
        )
        expected: dict[int, int] = {}
        for event in self.EVENTS:
            expected[event["ts"] // 10] = expected.get(event["ts"] // 10, 0) + event["value"]
        assert result.aggregates == expected and result.count == len(self.EVENTS)
        assert result.ok and result.errors == {}

    def test_mapped_key_groups_by_a_function_of_the_mappers_result(self) -> None:
        words = ["kafka", "rx", "dask", "tqdm", "asyncio"]
        result = map_reduce(words, len, sum, mapped_key=lambda n: "long" if n > 4 else "short")
        assert result.aggregates == {"long": 12, "short": 10} and result.count == 5

    @pytest.mark.parametrize(
        "keys",
        [{}, {"item_key": len, "mapped_key": len}],
        ids=["neither", "both"],
    )
    def test_exactly_one_key_function_is_required(self, keys: dict[str, Any]) -> None:
        with pytest.raises(TypeError, match=r"item_key.*mapped_key"):
            map_reduce(["a"], len, sum, **keys)
        with pytest.raises(TypeError, match=r"item_key.*mapped_key"):
            map_reduce_operator(len, sum, **keys)

    def test_the_old_ambiguous_key_keyword_is_refused(self) -> None:
        with pytest.raises(TypeError, match="key"):
            map_reduce(["a"], len, sum, key=len)  # type: ignore[call-arg]

    def test_a_key_function_that_fails_on_every_item_is_visible(self) -> None:
        # The repro: the natural key on the item, given where the mapped value
        # is expected, failed every item and quietly returned {}.
        result = map_reduce(self.EVENTS, lambda e: e["value"], sum, mapped_key=lambda e: e["ts"])
        assert result.aggregates == {} and result.count == 0 and not result.ok
        assert sorted(result.errors) == list(range(len(self.EVENTS)))
        error = result.errors[0]
        assert isinstance(error, NodeError) and (error.node, error.step) == (
            "map_reduce",
            "mapped_key",
        )
        assert isinstance(error.__cause__, TypeError)
        pattern = r"item 0: TypeError: .*\(node 'map_reduce', mapped_key\)"
        with pytest.raises(BatchError, match=pattern):
            result.raise_for_errors()

    def test_strict_raises_batch_error_naming_the_first_failed_item(self) -> None:
        def mapper(word: str) -> str:
            if word == "boom":
                raise ValueError(f"cannot map {word!r}")
            return word.upper()

        words = ["b", "a", "boom", "c", "ab"]
        with pytest.raises(BatchError) as caught:
            map_reduce(words, mapper, "+".join, mapped_key=len, strict=True)
        error = caught.value
        assert error.failed_indices == (2,) and len(error.partial_results) == 5
        assert str(error) == (
            "batch 0: 1 of 5 items failed; first, item 2: ValueError: cannot map 'boom' "
            "(node 'map_reduce', mapper)"
        )
        assert isinstance(error.__cause__, NodeError)
        assert isinstance(error.__cause__.__cause__, ValueError)
        op = map_reduce_operator(mapper, "+".join, mapped_key=len, strict=True)
        with pytest.raises(BatchError):
            reactivex.from_iterable(words).pipe(op).run()

    def test_groups_in_input_order_and_reports_failed_items(self) -> None:
        def mapper(word: str) -> str:
            if word == "boom":
                raise ValueError(word)
            return word.upper()

        result = map_reduce(
            ["b", "a", "boom", "c", "ab"],
            mapper,
            lambda values: "+".join(values),
            mapped_key=len,
            concurrency=3,
        )
        assert result.aggregates == {1: "B+A+C", 2: "AB"}
        assert result.count == 4
        assert list(result.errors) == [2] and isinstance(result.errors[2].__cause__, ValueError)

    def test_as_an_operator_on_a_finite_observable(self) -> None:
        op = map_reduce_operator(lambda x: x * x, sum, mapped_key=lambda v: v % 2)
        (result,) = reactivex.from_iterable(range(5)).pipe(op, ops.to_list()).run()
        assert result.aggregates == {0: 0 + 4 + 16, 1: 1 + 9} and result.count == 5

    def test_a_failing_reducer_errors_the_stream(self) -> None:
        with pytest.raises(ZeroDivisionError):
            map_reduce([1, 2], lambda x: x, lambda values: 1 // 0, mapped_key=lambda v: v)


def test_stream_batches_flushes_a_partial_batch_on_the_interval_and_at_completion(
    scheduler: TestScheduler,
) -> None:
    xs = scheduler.create_hot_observable(
        on_next(210, 1), on_next(211, 2), on_next(212, 3),  # full batch
        on_next(300, 4),  # partial: flushed at 300 + 25
        on_next(400, 5), on_completed(410),  # flushed at completion
    )  # fmt: skip
    op = stream_batches(
        lambda x: x * 10,
        batch_size=3,
        flush_interval=25,
        scheduler=scheduler,
        executor=ImmediateExecutor(),
    )
    messages = scheduler.start(lambda: xs.pipe(op)).messages
    assert [(m.time, m.value.value.results) for m in messages[:-1]] == [
        (212, [10, 20, 30]),
        (325, [40]),
        (410, [50]),
    ]
    assert [m.value.value.index for m in messages[:-1]] == [0, 1, 2]


def test_window_aggregate_reduces_each_window(scheduler: TestScheduler) -> None:
    xs = scheduler.create_hot_observable(
        on_next(210, 3), on_next(240, 4), on_next(260, 5), on_completed(320)
    )
    messages = scheduler.start(lambda: xs.pipe(window_aggregate(100, 50, sum))).messages
    assert messages == [
        on_next(250, WindowResult(at(scheduler, 150), at(scheduler, 250), 2, 7)),
        on_next(300, WindowResult(at(scheduler, 200), at(scheduler, 300), 3, 12)),
        on_completed(320),
    ]


def test_worker_pool_keeps_order_when_workers_finish_out_of_order() -> None:
    first_may_finish = threading.Event()
    finished: list[int] = []
    threads: dict[int, set[int]] = {}

    def work(x: int) -> int:
        batch = x // 3
        threads.setdefault(batch, set()).add(threading.get_ident())
        if batch == 0:
            assert first_may_finish.wait(HANG)
        finished.append(x)
        if batch == 1 and x == 5:
            first_may_finish.set()  # batch 1 done: now let batch 0 finish
        return x * 2

    results = (
        reactivex.from_iterable(range(7))
        .pipe(worker_pool(work, workers=2, batch_size=3), ops.to_list())
        .run()
    )
    assert [r.index for r in results] == [0, 1, 2]
    assert [r.results for r in results] == [[0, 2, 4], [6, 8, 10], [12]]
    assert finished.index(5) < finished.index(0)  # batch 1 finished first
    assert all(len(t) == 1 for t in threads.values())  # a batch stays on one worker


class TestBatchSizer:
    def test_follows_the_seeds_rule_for_a_scripted_latency_profile(self) -> None:
        sizer = BatchSizer(4, 64, target_latency=0.010)  # 10 ms per item
        per_item = [0.001, 0.002, 0.006, 0.006, 0.001, 0.001, 0.020, 0.012, 0.008]
        sizes = [sizer.record(sizer.size, sizer.size * latency) for latency in per_item]
        #         fast  fast  ok  ok  fast  fast(cap)  slow  slow  ok
        assert sizes == [8, 16, 16, 16, 32, 64, 48, 36, 36]
        assert sizer.record(36, 0.0, failed=True) == 18
        for _ in range(5):
            sizer.record(sizer.size, 1.0, failed=True)
        assert sizer.size == 4  # never below min_batch

    @pytest.mark.parametrize(
        ("args", "parameter"),
        [((0, 8, 1.0), "min_batch"), ((8, 4, 1.0), "max_batch"), ((1, 8, 0), "target_latency")],
    )
    def test_bad_arguments(self, args: tuple[Any, ...], parameter: str) -> None:
        with pytest.raises(ValueError, match=parameter):
            BatchSizer(*args)


def test_adaptive_fan_out_sizes_follow_latency_on_virtual_time() -> None:
    """Each item takes a scripted virtual time; the batch sizes react to it."""
    scheduler = TestScheduler()

    def work(x: int) -> int:
        # items below 100 are fast (1 tick), the rest slow (30 ticks), against
        # a 10-tick target per item
        scheduler.sleep(1 if x < 100 else 30)
        return x

    xs = scheduler.create_hot_observable(
        [on_next(201, x) for x in range(160)] + [on_completed(202)]
    )
    op = adaptive_fan_out(
        work,
        min_batch=4,
        max_batch=32,
        target_latency=10,
        scheduler=scheduler,
        executor=ImmediateExecutor(),
    )
    messages = scheduler.start(lambda: xs.pipe(op), disposed=10**9).messages
    sizes = [len(m.value.value.items) for m in messages[:-1]]
    assert sizes[:5] == [4, 8, 16, 32, 32]  # fast: doubles to the cap
    assert sum(sizes) == 160
    slow = sizes[5:]
    # 8 fast and 24 slow items: 22.75 ticks per item, over target: 3/4;
    # then all slow: 3/4 again; then the 12 items left.
    assert slow == [32, 24, 12]
    assert [x for m in messages[:-1] for x in m.value.value.results] == list(range(160))


def test_adaptive_fan_out_halves_and_retries_failed_items() -> None:
    calls: dict[int, int] = {}

    def flaky(x: int) -> int:
        calls[x] = calls.get(x, 0) + 1
        if x == 5 and calls[x] < 2:
            raise ValueError(x)
        if x == 6:
            raise KeyError(x)
        return x

    results = (
        reactivex.from_iterable(range(8))
        .pipe(
            adaptive_fan_out(flaky, min_batch=2, max_batch=8, target_latency=10.0, batch_retries=1),
            ops.to_list(),
        )
        .run()
    )
    outcome = {
        item: (r.results[i], i in r.errors) for r in results for i, item in enumerate(r.items)
    }
    assert sorted(outcome) == list(range(8))  # every item exactly once
    assert outcome[5] == (5, False) and outcome[6] == (None, True)
    assert calls[5] == 2 and calls[6] == 2  # retried once each, at the smaller size
    assert [r.index for r in results] == list(range(len(results)))


class TestGraph:
    def build(self) -> Node[Any, Any]:
        def validate(store: Store, item: Any, prepared: Any, value: int) -> Any:
            store.set("validated", store.get("validated", 0) + 1)
            return Routed(value, "valid" if value >= 0 else "invalid")

        check = Node(exec=int, post=validate, name="validate")
        check.connect("valid", Node(exec=lambda v: v * 10, name="scale")).connect(
            "default", Node(exec=lambda v: v + 1, name="bump")
        )
        check.connect("invalid", Node(exec=lambda v: 0, name="zero"))
        return check

    def test_routes_each_item_by_action(self) -> None:
        store = Store()
        (result,) = (
            reactivex.of(["3", "-4", "x"])
            .pipe(fan_out(Graph(self.build()), store=store), ops.to_list())
            .run()
        )
        assert result.results == [31, 0, None]
        assert store.get("validated") == 2
        error = result.errors[2]
        assert isinstance(error, NodeError) and isinstance(error.__cause__, NodeError)
        assert (error.__cause__.node, error.__cause__.step) == ("validate", "exec")

    def test_a_missing_route_is_an_error_naming_node_and_action(self) -> None:
        a = Node(exec=str, post=lambda s, i, p, r: Routed(r, "odd"), name="a")
        a.connect("even", Node(exec=str, name="b"))
        (result,) = reactivex.of([1]).pipe(fan_out(Graph(a)), ops.to_list()).run()
        message = str(result.errors[0].__cause__)
        assert "'a'" in message and "'odd'" in message

    def test_cycles_are_bounded_by_max_steps(self) -> None:
        loop = Node(exec=lambda n: n + 1, name="loop")
        loop.connect("default", loop)
        (result,) = (
            reactivex.of([0])
            .pipe(fan_out(Graph(loop, max_steps=5), executor=ImmediateExecutor()), ops.to_list())
            .run()
        )
        assert "max_steps=5" in str(result.errors[0].__cause__)
