"""read_lines and read_jsonl: content, bad lines, disposal, backpressure."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from reactivex import operators as ops

from rxbatch import BadLineError, BatchResult, Node, buffer_with_count, fan_out
from rxbatch.sources import read_jsonl, read_lines

HANG = 30


def test_read_lines_strips_line_endings_only(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_bytes(b"one\r\n  two  \n\nlast")
    assert read_lines(path).pipe(ops.to_list()).run() == ["one", "  two  ", "", "last"]
    assert read_lines(str(path)).pipe(ops.count()).run() == 4


def test_read_jsonl_parses_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"id": 1}\n\n   \n[1, 2]\n"text"\n', encoding="utf-8")
    assert read_jsonl(path).pipe(ops.to_list()).run() == [{"id": 1}, [1, 2], "text"]


def test_a_malformed_line_errors_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"id": 1}\n{"id": \n{"id": 3}\n', encoding="utf-8")
    seen: list[Any] = []
    with pytest.raises(BadLineError) as caught:
        read_jsonl(path).pipe(ops.do_action(seen.append)).run()
    assert (caught.value.line_number, caught.value.line) == (2, '{"id": ')
    assert f"{path}:2: invalid JSON" in str(caught.value)
    assert seen == [{"id": 1}]


def test_on_bad_line_receives_the_line_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"id": 1}\nnope\n{"id": 3}\n', encoding="utf-8")
    bad: list[tuple[int, str, str]] = []
    values = read_jsonl(
        path, on_bad_line=lambda n, line, e: bad.append((n, line, type(e).__name__))
    )
    assert values.pipe(ops.to_list()).run() == [{"id": 1}, {"id": 3}]
    assert bad == [(2, "nope", "JSONDecodeError")]


def test_an_error_in_on_bad_line_is_forwarded(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("nope\n", encoding="utf-8")

    def refuse(number: int, line: str, error: Exception) -> None:
        raise RuntimeError(f"line {number} refused")

    with pytest.raises(RuntimeError, match="line 1 refused"):
        read_jsonl(path, on_bad_line=refuse).run()


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.jsonl"):
        read_jsonl(tmp_path / "absent.jsonl").run()


def test_bad_arguments_fail_at_creation(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="path"):
        read_lines(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoding"):
        read_lines(tmp_path / "x", encoding="no-such-codec")
    with pytest.raises(TypeError, match="on_bad_line"):
        read_jsonl(tmp_path / "x", on_bad_line="skip")  # type: ignore[arg-type]


def test_disposal_stops_reading_and_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("".join(f"{n}\n" for n in range(100_000)), encoding="utf-8")
    got_one, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        got_one.set()
        assert release.wait(HANG)

    subscription = read_lines(path).subscribe(on_line)
    assert got_one.wait(HANG)
    reader = next(t for t in threading.enumerate() if t.name.startswith("rxbatch-read-lines"))
    subscription.dispose()
    release.set()
    reader.join(HANG)
    assert not reader.is_alive()
    assert len(seen) <= 2  # the line being delivered, and at most one already read


def test_backpressure_throttles_reading(tmp_path: Path) -> None:
    """A slow node behind fan_out(max_in_flight) holds reading to a bounded lead."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(3000)), encoding="utf-8")
    read = [0]
    done = [0]
    lead = [0]
    lock = threading.Lock()

    def count_read(_: Any) -> None:
        with lock:
            read[0] += 1
            lead[0] = max(lead[0], read[0] - done[0])

    def slow(event: dict[str, int]) -> int:
        time.sleep(0.0002)  # stands in for I/O; nothing is asserted about time
        with lock:
            done[0] += 1
        return event["n"]

    results: list[BatchResult[Any, int]] = (
        read_jsonl(path)
        .pipe(
            ops.do_action(count_read),
            buffer_with_count(50),
            fan_out(Node(exec=slow), max_concurrency=4, max_in_flight=200),
            ops.to_list(),
        )
        .run()
    )
    assert [r for batch in results for r in batch.results] == list(range(3000))
    # in flight (200) + the batch being formed (50) + the one waiting for room (50)
    assert lead[0] <= 300
