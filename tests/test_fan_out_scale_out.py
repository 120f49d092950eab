"""fan_out on other processes: chunked tasks on a process pool and on a real
Dask LocalCluster of worker processes, with per-item outcomes, retries and
results that cannot travel.

One cluster serves the whole module (starting one costs seconds).
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops

from rxbatch import BatchResult, NodeError, RetryPolicy, fan_out, process_in_batches, worker_pool

from . import _workers
from ._executors import CountingProcessPool, CountingSubmits
from .conftest import outcome_of

distributed = pytest.importorskip("distributed")

HANG = 120  # seconds: only a stream that never ends gets here


def counting_dask_executor(client: Any) -> Any:
    """``client.get_executor(pure=False)``, recording the items per task."""
    from distributed.cfexecutor import ClientExecutor

    class CountingDaskExecutor(CountingSubmits, ClientExecutor):  # type: ignore[misc]
        pass

    executor = CountingDaskExecutor(client, pure=False)
    executor.sizes = []
    return executor


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def collect(source: reactivex.Observable[Any]) -> list[BatchResult[Any, Any]]:
    results: list[BatchResult[Any, Any]] = source.pipe(ops.to_list()).run()
    return results


def flaky_batches(directory: Path, n: int, size: int) -> list[list[tuple[str, int]]]:
    tasks = [(str(directory), x) for x in range(n)]
    return [tasks[i : i + size] for i in range(0, n, size)]


def check_flaky_outcomes(results: list[BatchResult[Any, int]], n: int, max_retries: int) -> None:
    """Item x fails x % 4 times: retried until it succeeds or runs out of retries."""
    assert [r.index for r in results] == list(range(len(results)))
    outcomes = [
        (r.results[i], r.attempts[i], i in r.errors) for r in results for i in range(len(r.items))
    ]
    assert len(outcomes) == n
    for x, (result, attempts, failed) in enumerate(outcomes):
        fails = x % 4
        assert attempts == min(fails, max_retries) + 1
        assert failed is (fails > max_retries)
        assert result == (None if failed else x * x)
    for r in results:
        for error in r.errors.values():
            assert isinstance(error, NodeError) and isinstance(error.__cause__, ValueError)
            assert f"failed attempt {max_retries + 1}" in str(error.__cause__)


def test_dask_processes_chunked_with_failing_and_retried_items(
    dask_client: Any, tmp_path: Path
) -> None:
    executor = counting_dask_executor(dask_client)
    results = collect(
        reactivex.from_iterable(flaky_batches(tmp_path, 40, 20)).pipe(
            fan_out(
                _workers.fails_then_squares,
                executor=executor,
                max_concurrency=4,
                retry=RetryPolicy(max_retries=2, base_delay=0),
            )
        )
    )
    check_flaky_outcomes(results, 40, max_retries=2)
    # chunked automatically: a chunk per worker of each batch, ceil(20 / 2);
    # every attempt of every item ran in some task
    assert executor.sizes[:4] == [10, 10, 10, 10] and max(executor.sizes) == 10
    assert sum(executor.sizes) == sum(a for r in results for a in r.attempts)


def test_dask_one_item_per_task_and_pure_executors_refused(dask_client: Any) -> None:
    (result,) = collect(
        reactivex.of([1, 2, 3, 4]).pipe(
            fan_out(
                _workers.fail_on_odd,
                executor=dask_client.get_executor(pure=False),
                chunk_size=1,
                retry=RetryPolicy(max_retries=2, base_delay=0),
            )
        )
    )
    # pure=False: each retry really runs again, rather than returning a cached failure
    assert result.attempts == (3, 1, 3, 1) and result.results == [None, 2, None, 4]
    with pytest.raises(ValueError, match="pure=False"):
        fan_out(_workers.square, executor=dask_client.get_executor())


@pytest.mark.parametrize(("max_concurrency", "sizes"), [(10, [14, 14, 12, 1, 1]), (1, [40, 2])])
def test_process_pool_splits_each_batch_into_a_chunk_per_worker(
    max_concurrency: int, sizes: list[int]
) -> None:
    with CountingProcessPool(3) as pool:
        results = collect(
            reactivex.of(list(range(40)), [40, 41]).pipe(
                fan_out(_workers.square, executor=pool, max_concurrency=max_concurrency)
            )
        )
    assert [r.results for r in results] == [[x * x for x in range(40)], [1600, 1681]]
    # ceil(40 / 3) items per task, then ceil(2 / 3); with max_concurrency=1 only
    # one task runs at a time, so each batch is one chunk
    assert pool.sizes == sizes


def test_process_pool_chunked_with_failing_and_retried_items(tmp_path: Path) -> None:
    with ProcessPoolExecutor(2) as pool:
        results = collect(
            reactivex.from_iterable(flaky_batches(tmp_path, 24, 8)).pipe(
                fan_out(
                    _workers.fails_then_squares,
                    executor=pool,
                    chunk_size=4,
                    retry=RetryPolicy(max_retries=1, base_delay=0),
                )
            )
        )
    check_flaky_outcomes(results, 24, max_retries=1)


def check_awkward_outcomes(results: list[BatchResult[Any, Any]]) -> None:
    """What ``_workers.awkward_results`` over ``range(10)`` must give: every
    outcome that cannot travel fails its own item, with what went wrong."""
    (result,) = results
    assert result.failed_indices == (3, 5, 6, 7, 8)
    assert [result.results[i] for i in (0, 1, 2, 4, 9)] == [0, 1, 2, 4, 9]
    lock, raised, refused, coded, unprintable = (
        result.errors[i].__cause__ for i in (3, 5, 6, 7, 8)
    )
    assert "the result of exec cannot be pickled" in str(lock)
    assert "the UnpicklableError exec raised (holds a lock) cannot be pickled" in str(raised)
    assert isinstance(refused, RuntimeError) and "cannot be rebuilt" in str(refused)
    assert any("unpickling" in note for note in refused.__notes__)
    if isinstance(coded, _workers.NeedsCode):  # Dask's workers pickle exceptions whole
        assert coded.code == 7
    else:
        assert isinstance(coded, TypeError) and "code" in str(coded)
        assert any("unpickling" in note for note in coded.__notes__)
    assert "the Unprintable exec raised (<str() raised RuntimeError>)" in str(unprintable)


# chunk_size=1: one item per task, which must travel the same way as a chunk
# (before, a result that failed to unpickle broke the whole process pool)
@pytest.mark.parametrize("chunk_size", [1, 10])
def test_process_pool_results_that_cannot_travel_fail_alone(chunk_size: int) -> None:
    with ProcessPoolExecutor(2) as pool:
        results, errors = outcome_of(
            reactivex.of(list(range(10))).pipe(
                fan_out(_workers.awkward_results, executor=pool, chunk_size=chunk_size)
            ),
            HANG,
        )
        assert errors == []
        check_awkward_outcomes(results)
        assert pool.submit(abs, -3).result() == 3  # the pool still works


# one item per task: before, a result that could not be pickled left the
# Dask future unsettled and the stream never ended
@pytest.mark.parametrize("chunk_size", [1, 10])
def test_dask_results_that_cannot_travel_fail_alone(dask_client: Any, chunk_size: int) -> None:
    results, errors = outcome_of(
        reactivex.of(list(range(10))).pipe(
            fan_out(
                _workers.awkward_results,
                executor=dask_client.get_executor(pure=False),
                chunk_size=chunk_size,
            )
        ),
        HANG,
    )
    assert errors == []
    check_awkward_outcomes(results)


@pytest.mark.parametrize("chunk_size", [1, 4])
@pytest.mark.parametrize(
    ("exec_", "interrupt"),
    [(_workers.interrupts_at_two, KeyboardInterrupt), (_workers.exits_at_two, SystemExit)],
)
@pytest.mark.parametrize("on", ["process pool", "dask"])
def test_an_interrupt_in_a_worker_ends_the_stream(
    request: pytest.FixtureRequest,
    on: str,
    exec_: Any,
    interrupt: type[BaseException],
    chunk_size: int,
) -> None:
    """Not an item failure, and on Dask not a killed worker (before, the
    interrupt killed one worker after another and came out as KilledWorker)."""
    if on == "dask":
        client = request.getfixturevalue("dask_client")
        workers = set(client.nthreads())
        assert len(workers) == 2
        executor: Any = client.get_executor(pure=False)
    else:
        executor = ProcessPoolExecutor(2)
    try:
        results, errors = outcome_of(
            reactivex.of([0, 1, 2, 3]).pipe(
                fan_out(exec_, executor=executor, chunk_size=chunk_size)
            ),
            HANG,
        )
    finally:
        if on != "dask":
            executor.shutdown()
    assert results == [] and len(errors) == 1 and isinstance(errors[0], interrupt)
    if on == "dask":
        assert set(client.nthreads()) == workers  # none died


@pytest.mark.parametrize("on", ["process pool", "dask"])
def test_an_item_that_cannot_be_pickled_fails_alone(
    request: pytest.FixtureRequest, on: str
) -> None:
    """The chunk never ran: its other items are sent again, as if not yet tried."""
    if on == "dask":
        executor: Any = request.getfixturevalue("dask_client").get_executor(pure=False)
    else:
        executor = ProcessPoolExecutor(2)
    try:
        results, errors = outcome_of(
            reactivex.of([0, 1, threading.Lock(), 3, 4]).pipe(
                fan_out(str, executor=executor, chunk_size=5)
            ),
            HANG,
        )
    finally:
        if on != "dask":
            executor.shutdown()
    assert errors == []
    (result,) = results
    assert result.failed_indices == (2,)
    assert [result.results[i] for i in (0, 1, 3, 4)] == ["0", "1", "3", "4"]
    assert result.attempts == (1, 1, 1, 1, 1)
    problem = result.errors[2].__cause__
    assert isinstance(problem, pickle.PicklingError)
    assert "the item (as prep returned it) cannot be pickled" in str(problem)
    assert "lock" in str(problem)


def test_worker_pool_sends_whole_batches_to_a_process_pool() -> None:
    with CountingProcessPool(2) as pool:
        results = collect(
            reactivex.from_iterable(range(10)).pipe(
                worker_pool(_workers.square, workers=2, batch_size=4, executor=pool)
            )
        )
    assert [r.results for r in results] == [[0, 1, 4, 9], [16, 25, 36, 49], [64, 81]]
    assert pool.sizes == [4, 4, 2]


def test_process_in_batches_on_dask(dask_client: Any) -> None:
    executor = dask_client.get_executor(pure=False)
    squares = process_in_batches(range(30), _workers.square, batch_size=10, executor=executor)
    assert squares == [x * x for x in range(30)]
