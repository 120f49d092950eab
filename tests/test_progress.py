"""The progress operator: counts, closing, threads, and the missing extra."""

from __future__ import annotations

import sys
import threading
from typing import Any, ClassVar

import nbformat
import pytest
import reactivex
from nbclient import NotebookClient
from reactivex import operators as ops
from reactivex.subject import Subject
from reactivex.testing import ReactiveTest, TestScheduler

import rxbatch
from rxbatch import BatchResult, buffer_with_count, fan_out, progress
from rxbatch.testing import ImmediateExecutor


class Bars:
    """Stands in for tqdm's text bar and keeps every bar made, to inspect them."""

    made: ClassVar[list[Bars]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.n = 0
        self.closed = 0
        self.disable = kwargs.get("disable") is True
        self.lock = threading.Lock()
        Bars.made.append(self)

    def update(self, n: int) -> None:
        assert self.lock.acquire(blocking=False), "update called concurrently"
        self.n += n
        self.lock.release()

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> type[Bars]:
    import tqdm.std

    Bars.made = []
    monkeypatch.setattr(tqdm.std, "tqdm", Bars)
    return Bars


def test_counts_items_lists_and_batch_results(bars: type[Bars]) -> None:
    values = (
        reactivex.from_iterable(range(10)).pipe(progress(10, disable=False), ops.to_list()).run()
    )
    assert values == list(range(10)) and bars.made[-1].n == 10
    reactivex.from_iterable(range(10)).pipe(buffer_with_count(3), progress(disable=False)).run()
    assert bars.made[-1].n == 10
    reactivex.from_iterable(range(7)).pipe(
        buffer_with_count(3), fan_out(abs, executor=ImmediateExecutor()), progress(disable=False)
    ).run()
    assert bars.made[-1].n == 7
    reactivex.of("ab", "cde").pipe(progress(count=len, unit="char", disable=False)).run()
    assert bars.made[-1].n == 5 and bars.made[-1].kwargs["unit"] == "char"


def test_closes_on_completion_error_and_disposal(bars: type[Bars]) -> None:
    reactivex.of(1).pipe(progress()).run()
    assert bars.made[-1].closed >= 1
    with pytest.raises(RuntimeError):
        reactivex.throw(RuntimeError("x")).pipe(progress()).run()
    assert bars.made[-1].closed >= 1
    subscription = Subject().pipe(progress()).subscribe()
    subscription.dispose()
    assert bars.made[-1].closed >= 1


def test_an_error_in_count_is_forwarded(bars: type[Bars]) -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(ReactiveTest.on_next(210, "a"))
    results = scheduler.start(lambda: xs.pipe(progress(count=lambda v: 1 // 0)))
    assert isinstance(results.messages[0].value.exception, ZeroDivisionError)
    assert xs.subscriptions == [ReactiveTest.subscribe(200, 210)]


def test_safe_when_values_arrive_on_several_threads(bars: type[Bars]) -> None:
    subject: Subject[int] = Subject()
    seen: list[int] = []
    lock = threading.Lock()

    def on_value(value: int) -> None:
        with lock:
            seen.append(value)

    subject.pipe(progress(4000, disable=False)).subscribe(on_value)
    threads = [
        threading.Thread(target=lambda p=p: [subject.on_next(p) for _ in range(1000)])
        for p in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    subject.on_completed()
    assert len(seen) == 4000 and bars.made[-1].n == 4000


def test_missing_tqdm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    with pytest.raises(ImportError, match=r"rxbatch\[progress\]"):
        rxbatch.progress()


def test_bad_count_fails_at_creation() -> None:
    with pytest.raises(TypeError, match="count"):
        progress(count=3)  # type: ignore[arg-type]


def test_a_real_bar_reaches_its_total(capsys: pytest.CaptureFixture[str]) -> None:
    reactivex.from_iterable(range(500)).pipe(
        buffer_with_count(50), progress(500, disable=False)
    ).run()
    assert "500/500" in capsys.readouterr().err


def test_batch_result_counts_its_items(bars: type[Bars]) -> None:
    result = BatchResult(0, [1, 2, 3], [1, 2, 3], {}, (1, 1, 1), ("default",) * 3, 0.0)
    reactivex.of(result).pipe(progress(disable=False)).run()
    assert bars.made[-1].n == 3


def test_without_a_terminal_or_jupyter_the_default_is_no_bar(bars: type[Bars]) -> None:
    reactivex.of(1).pipe(progress()).run()  # pytest captures stderr: not a terminal
    assert bars.made[-1].kwargs["disable"] is True
    reactivex.of(1).pipe(progress(disable=False)).run()
    assert bars.made[-1].kwargs["disable"] is False


PIPELINE_CELL = """
import reactivex, rxbatch
reactivex.from_iterable(range(100)).pipe(
    rxbatch.buffer_with_count(10), rxbatch.progress(100, desc="items")
).run();
"""


def run_in_jupyter(*cells: str) -> list[dict[str, Any]]:
    """Run ``cells`` in a real Jupyter kernel; return the last cell's outputs."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs: list[dict[str, Any]] = notebook.cells[-1].outputs
    return outputs


def test_in_jupyter_the_default_bar_is_a_widget() -> None:
    outputs = run_in_jupyter(PIPELINE_CELL)
    widgets = [
        o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(widgets) == 1
    assert [o for o in outputs if o.get("name") == "stderr"] == []  # no warning


def test_in_jupyter_without_ipywidgets_a_text_bar_and_no_warning() -> None:
    outputs = run_in_jupyter('import sys; sys.modules["ipywidgets"] = None', PIPELINE_CELL)
    stderr = "".join(o["text"] for o in outputs if o.get("name") == "stderr")
    assert "items: 100%" in stderr and "100/100" in stderr
    assert "Warning" not in stderr and "IProgress" not in stderr
    assert not [o for o in outputs if "data" in o]
