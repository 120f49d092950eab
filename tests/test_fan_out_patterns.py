"""The patterns built on fan_out take its executor and chunking options, and
refuse input that is not a collection of items."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops

from rxbatch import (
    RetryPolicy,
    adaptive_fan_out,
    map_reduce,
    process_in_batches,
    worker_pool,
)

from . import _workers
from ._executors import CountingProcessPool


@pytest.mark.parametrize("items", ["abc", b"abc", {"a": 1}], ids=lambda v: type(v).__name__)
def test_process_in_batches_refuses_text_and_mappings(items: Any) -> None:
    with pytest.raises(TypeError, match=r"items must be a sequence of items, got (str|bytes|dict)"):
        process_in_batches(items, str.upper, batch_size=2)


@pytest.mark.parametrize("items", [None, 5], ids=lambda v: type(v).__name__)
def test_items_that_cannot_be_iterated_are_named(items: Any) -> None:
    with pytest.raises(TypeError, match=r"^items must be an iterable of items, got (NoneType|int)"):
        process_in_batches(items, abs, batch_size=2)
    with pytest.raises(TypeError, match=r"^items must be an iterable of items, got (NoneType|int)"):
        map_reduce(items, abs, sum, item_key=bool)


def test_process_in_batches_in_chunks_on_its_own_threads() -> None:
    threads: set[int] = set()

    def square(x: int) -> int:
        threads.add(threading.get_ident())
        return x * x

    squares = process_in_batches(range(50), square, batch_size=10, chunk_size=5)
    assert squares == [x * x for x in range(50)]
    assert threading.get_ident() not in threads


def test_worker_pool_retries_a_failed_item_on_its_own() -> None:
    calls: dict[int, int] = {}
    batches_seen: list[tuple[int, ...]] = []
    lock = threading.Lock()

    def flaky(x: int) -> int:
        with lock:
            calls[x] = calls.get(x, 0) + 1
        if x == 4 and calls[x] == 1:
            raise TimeoutError(x)
        return -x

    results = (
        reactivex.from_iterable(range(6))
        .pipe(
            worker_pool(
                flaky, workers=2, batch_size=3, retry=RetryPolicy(max_retries=1, base_delay=0)
            ),
            ops.to_list(),
        )
        .run()
    )
    batches_seen = [tuple(r.items) for r in results]
    assert batches_seen == [(0, 1, 2), (3, 4, 5)]
    assert [r.results for r in results] == [[0, -1, -2], [-3, -4, -5]]
    assert results[1].attempts == (1, 2, 1) and calls == {0: 1, 1: 1, 2: 1, 3: 1, 4: 2, 5: 1}


def test_adaptive_fan_out_passes_executor_and_chunk_size_through() -> None:
    with CountingProcessPool(2) as pool:
        results = (
            reactivex.from_iterable(range(30))
            .pipe(
                adaptive_fan_out(
                    _workers.square,
                    min_batch=4,
                    max_batch=16,
                    target_latency=60.0,
                    executor=pool,
                    chunk_size=3,
                ),
                ops.to_list(),
            )
            .run()
        )
    assert [x for r in results for x in r.results] == [x * x for x in range(30)]
    assert [len(r.items) for r in results] == [4, 8, 16, 2]
    assert max(pool.sizes) == 3 and sum(pool.sizes) == 30
