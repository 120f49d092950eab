"""Store, RetryPolicy, Node and BatchResult on their own."""

from __future__ import annotations

import pickle
import random
from datetime import timedelta

import pytest
import reactivex
from reactivex import operators as ops

from rxbatch import BatchError, BatchResult, Node, NodeError, RetryPolicy, Store, fan_out


class TestStore:
    def test_get_set_delete_contains(self) -> None:
        store = Store()
        assert store.get("missing") is None and store.get("missing", 7) == 7
        store.set("a", 1)
        assert "a" in store and store.get("a") == 1
        store.delete("a")
        store.delete("never there")  # no error
        assert "a" not in store

    def test_ttl_expires_on_the_injected_clock(self) -> None:
        now = [100.0]
        store = Store(ttl=timedelta(seconds=5), clock=lambda: now[0])
        store.set("k", "v")
        now[0] = 104.999
        assert store.get("k") == "v"
        now[0] = 105.0
        assert store.get("k") is None and "k" not in store

    def test_max_entries_evicts_the_least_recently_used(self) -> None:
        store = Store(max_entries=2)
        store.set("a", 1)
        store.set("b", 2)
        assert store.get("a") == 1  # "a" is now the most recently used
        store.set("c", 3)
        assert ("a" in store, "b" in store, "c" in store) == (True, False, True)

    def test_scope_prefixes_keys_and_shares_data(self) -> None:
        store = Store()
        users = store.scope("users")
        users.set(1, "ada")
        assert users.get(1) == "ada" and store.get(1) is None
        assert store.scope("users").get(1) == "ada"
        assert store.get((object(), "users/", 1)) is None  # a user's own tuple key never collides

    def test_reader_is_read_only(self) -> None:
        store = Store()
        store.set("x", 1)
        reader = store.reader()
        assert reader.get("x") == 1
        assert not hasattr(reader, "set") and not hasattr(reader, "delete")

    @pytest.mark.parametrize(
        ("kwargs", "parameter"),
        [({"max_entries": 0}, "max_entries"), ({"ttl": -1}, "ttl"), ({"clock": 3}, "clock")],
    )
    def test_bad_arguments_name_the_parameter(
        self, kwargs: dict[str, object], parameter: str
    ) -> None:
        with pytest.raises((TypeError, ValueError), match=parameter):
            Store(**kwargs)  # type: ignore[arg-type]


class TestRetryPolicy:
    def test_exponential_delays_capped(self) -> None:
        policy = RetryPolicy(base_delay=0.1, multiplier=3.0, max_delay=1.0)
        assert [round(policy.delay(k), 6) for k in (1, 2, 3, 4)] == [0.1, 0.3, 0.9, 1.0]

    def test_jitter_is_within_bounds_and_reproducible(self) -> None:
        make = lambda: RetryPolicy(base_delay=1.0, jitter=0.5, rng=random.Random(7))  # noqa: E731
        first, second = make(), make()
        delays = [first.delay(1) for _ in range(100)]
        assert delays == [second.delay(1) for _ in range(100)]
        assert all(0.5 <= d <= 1.5 for d in delays) and len(set(delays)) > 50

    def test_should_retry_respects_count_and_types(self) -> None:
        policy = RetryPolicy(max_retries=2, retry_on=(TimeoutError,))
        assert policy.should_retry(TimeoutError(), attempts=1)
        assert policy.should_retry(TimeoutError(), attempts=2)
        assert not policy.should_retry(TimeoutError(), attempts=3)
        assert not policy.should_retry(ValueError(), attempts=1)
        assert not RetryPolicy(retry_on=(BaseException,)).should_retry(KeyboardInterrupt(), 1)

    @pytest.mark.parametrize(
        ("kwargs", "parameter"),
        [
            ({"max_retries": -1}, "max_retries"),
            ({"max_retries": 1.5}, "max_retries"),
            ({"base_delay": -0.1}, "base_delay"),
            ({"multiplier": 0.5}, "multiplier"),
            ({"jitter": 2}, "jitter"),
            ({"retry_on": (int,)}, "retry_on"),
        ],
    )
    def test_bad_arguments_name_the_parameter(
        self, kwargs: dict[str, object], parameter: str
    ) -> None:
        with pytest.raises((TypeError, ValueError), match=parameter):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]

    def test_delays_may_be_timedeltas_like_the_operators_timespans(self) -> None:
        policy = RetryPolicy(
            max_retries=3, base_delay=timedelta(milliseconds=250), max_delay=timedelta(seconds=1)
        )
        assert [policy.delay(k) for k in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 1.0]
        assert policy.base_delay == 0.25 and policy.max_delay == 1.0
        assert RetryPolicy(base_delay=timedelta(0)).delay(1) == 0.0

    def test_a_long_run_of_retries_stays_at_the_cap(self) -> None:
        policy = RetryPolicy(max_retries=2000, base_delay=1.0, multiplier=10.0, max_delay=60)
        assert policy.delay(1000) == 60.0

    @pytest.mark.parametrize(
        ("kwargs", "parameter"),
        [
            ({"base_delay": timedelta(seconds=-1)}, "base_delay"),
            ({"max_delay": timedelta.max}, "max_delay"),
            ({"base_delay": 1e20}, "base_delay"),
            ({"max_delay": "1s"}, "max_delay"),
        ],
    )
    def test_bad_delays_name_the_parameter(self, kwargs: dict[str, object], parameter: str) -> None:
        with pytest.raises((TypeError, ValueError), match=parameter):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]

    def test_is_frozen_and_keyword_only(self) -> None:
        with pytest.raises(TypeError):
            RetryPolicy(3)  # type: ignore[misc]
        with pytest.raises(AttributeError):
            RetryPolicy().max_retries = 5  # type: ignore[misc]


class TestNode:
    def test_subclass_needs_no_constructor_arguments(self) -> None:
        class Double(Node[int, int]):
            def exec(self, prepared: int) -> int:
                return prepared * 2

        node = Double()
        assert node.exec(4) == 8 and node.name == "Double" and not node.has_fallback

    def test_functions_replace_the_default_steps(self) -> None:
        def parse(text: str) -> int:
            return int(text)

        node = Node(exec=parse, fallback=lambda prepared, error: -1)
        assert node.name == "parse" and node.has_fallback and node.fallback("x", ValueError()) == -1

    def test_exec_is_required_and_must_be_callable(self) -> None:
        with pytest.raises(TypeError, match="exec"):
            Node()
        with pytest.raises(TypeError, match="exec must be callable"):
            Node(exec=42)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="post must be callable"):
            Node(exec=abs, post="no")  # type: ignore[arg-type]

    def test_async_steps_are_detected(self) -> None:
        async def fetch(url: str) -> str:
            return url

        assert Node(exec=fetch).is_async("exec") and not Node(exec=abs).is_async("exec")

    def test_node_error_names_node_and_step(self) -> None:
        error = NodeError("enrich", "post")
        error.__cause__ = KeyError("rates")
        assert str(error) == "node 'enrich' failed in post: KeyError: 'rates'"
        assert (error.node, error.step) == ("enrich", "post")
        assert repr(error) == "NodeError(\"node 'enrich' failed in post: KeyError: 'rates'\")"


def failing_tenfold(x: int) -> int:
    if x == 2:
        raise ValueError(f"bad item {x}")
    return 10 * x


def test_batch_error_names_the_first_failing_items_own_exception() -> None:
    (result,) = reactivex.of([0, 1, 2, 3]).pipe(fan_out(failing_tenfold), ops.to_list()).run()
    with pytest.raises(BatchError) as caught:
        result.raise_for_errors()
    error = caught.value
    assert str(error) == (
        "batch 0: 1 of 4 items failed; first, item 2: ValueError: bad item 2 "
        "(node 'failing_tenfold', exec)"
    )
    # The chain leads to the item's own exception: BatchError <- NodeError <- ValueError.
    node_error = error.__cause__
    assert isinstance(node_error, NodeError) and node_error is result.errors[2]
    assert isinstance(node_error.__cause__, ValueError)
    assert str(node_error.__cause__) == "bad item 2"


def test_batch_error_survives_pickling_with_its_message_and_cause() -> None:
    error = BatchError(1, (0,), [None], {0: KeyError("k")})
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) == "batch 1: 1 of 1 items failed; first, item 0: KeyError: 'k'"
    assert isinstance(copy.__cause__, KeyError)


def test_batch_result_views_and_raise_for_errors() -> None:
    boom = ValueError("boom")
    result = BatchResult(
        4, ["a", "b", "c"], ["A", None, "C"], {1: boom}, (1, 3, 1), ("default",) * 3, 0.25
    )
    assert not result.ok and result.failed_indices == (1,) and result.failed_items == ["b"]
    assert result.succeeded == [("a", "A"), ("c", "C")]
    with pytest.raises(BatchError) as caught:
        result.raise_for_errors()
    error = caught.value
    assert (error.batch_index, error.failed_indices) == (4, (1,))
    assert error.partial_results == ["A", None, "C"] and error.errors == {1: boom}
    assert str(error) == "batch 4: 1 of 3 items failed; first, item 1: ValueError: boom"
    assert error.__cause__ is boom
    BatchResult(0, [], [], {}, (), (), 0.0).raise_for_errors()  # ok: nothing raised
