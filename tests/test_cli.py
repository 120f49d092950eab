"""End-to-end tests of the ``rxbatch`` command, run for real in a subprocess."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HANG = 60  # seconds: only a hang reaches this


def rxbatch(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rxbatch", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=HANG,
    )


def rows(db: Path, table: str = "events") -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid')]


def summary(output: str) -> dict[str, str]:
    return {
        key.strip(): value.strip().split()[0].replace(",", "")
        for key, value in (line.split(":", 1) for line in output.splitlines() if ":" in line)
    }


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


def test_loads_a_file_in_batches_with_schema_evolution(tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [{"id": 1, "kind": "a"}, {"id": 2, "kind": "b", "extra": {"x": [1]}}, {"id": 3}],
    )
    db = tmp_path / "out.db"
    done = rxbatch("load", str(source), "--db", str(db), "--table", "events", "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    assert rows(db) == [
        {"id": 1, "kind": "a", "extra": None},
        {"id": 2, "kind": "b", "extra": '{"x": [1]}'},  # a new key added a column
        {"id": 3, "kind": None, "extra": None},
    ]
    numbers = summary(done.stdout)
    assert (numbers["records read"], numbers["written"], numbers["dead-lettered"]) == (
        "3",
        "3",
        "0",
    )
    assert numbers["batches"] == "2"


def test_malformed_lines_go_to_the_dead_letter_file_with_line_numbers(tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "in.jsonl", [{"id": 1}, "{broken", "", "[1, 2]", {"id": 2}, "{}"]
    )
    db, dead = tmp_path / "out.db", tmp_path / "dead.jsonl"
    args = ["load", str(source), "--db", str(db), "--table", "events", "--dead-letter", str(dead)]
    done = rxbatch(*args)
    assert done.returncode == 0, done.stderr
    assert rows(db) == [{"id": 1}, {"id": 2}]
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert sorted((d["line"], d["text"]) for d in letters) == [
        (2, "{broken"),
        (4, "[1, 2]"),
        (6, "{}"),
    ]
    assert all(d["reason"] for d in letters)
    assert summary(done.stdout)["dead-lettered"] == "3"
    strict = rxbatch(*args, "--strict")
    assert strict.returncode == 2


def test_a_record_the_database_rejects_is_isolated(tmp_path: Path) -> None:
    db = tmp_path / "out.db"
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, v CHECK (v != 13))")
        connection.commit()
    source = write_lines(tmp_path / "in.jsonl", [{"id": n, "v": n} for n in range(1, 21)])
    done = rxbatch("load", str(source), "--db", str(db), "--table", "events", "--batch-size", "8")
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in rows(db)] == [n for n in range(1, 21) if n != 13]
    (letter,) = [
        json.loads(line.split("dead letter: ", 1)[1])
        for line in done.stderr.splitlines()
        if "dead letter" in line
    ]
    assert letter["line"] == 13 and "CHECK constraint failed" in letter["reason"]


def test_reads_stdin(tmp_path: Path) -> None:
    db = tmp_path / "out.db"
    stdin = "".join(json.dumps({"n": n}) + "\n" for n in range(2500))
    done = rxbatch("load", "-", "--db", str(db), "--table", "t", "--no-progress", stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert [r["n"] for r in rows(db, "t")] == list(range(2500))


def test_records_are_committed_while_the_input_pauses(tmp_path: Path) -> None:
    """What batch loaders that flush only when full or at the end cannot do."""
    db = tmp_path / "out.db"
    with loading(db, "--flush-interval", "0.2", "--batch-size", "1000") as process:
        assert process.stdin is not None
        for n in range(3):
            process.stdin.write(json.dumps({"n": n}) + "\n")
        process.stdin.flush()
        written_at = time.monotonic()
        # The batch is far from full and stdin stays open: only the flush
        # interval can commit these three records.
        wait_for_rows(db, 3)
        latency = time.monotonic() - written_at
        assert process.poll() is None  # still running, input still open
        process.stdin.write(json.dumps({"n": 3}) + "\n")
        process.stdin.close()
        assert process.wait(HANG) == 0
    assert _count(db) == 4
    # Flush interval 0.2 s; the rest is process start-up on a loaded machine.
    assert latency < 10


@contextlib.contextmanager
def loading(db: Path, *options: str) -> Iterator[subprocess.Popen[str]]:
    """``rxbatch load -`` running, its stdin a pipe; killed if still running at the end."""
    command = [sys.executable, "-m", "rxbatch", "load", "-", "--db", str(db), "--table", "t"]
    with subprocess.Popen(
        [*command, *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def wait_for_rows(db: Path, count: int) -> None:
    deadline = time.monotonic() + HANG
    while _count(db) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _count(db) == count


def _count(db: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(db)) as connection:
            return int(connection.execute("SELECT count(*) FROM t").fetchone()[0])
    except sqlite3.OperationalError:  # the table does not exist yet
        return 0


def test_ctrl_c_commits_what_was_read_and_prints_the_summary(tmp_path: Path) -> None:
    db = tmp_path / "out.db"
    with loading(db, "--flush-interval", "30", "--batch-size", "100") as process:
        assert process.stdin is not None
        for n in range(250):  # two full batches, and 50 waiting for a 30 s timer
            process.stdin.write(json.dumps({"n": n}) + "\n")
        process.stdin.flush()
        wait_for_rows(db, 200)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=HANG)
    assert process.returncode == 130, err
    numbers = summary(out)
    assert numbers["records read"] == numbers["written"] == "250"
    assert "interrupted" in out
    assert [r["n"] for r in rows(db, "t")] == list(range(250))  # the partial batch too


def test_help_describes_the_commands() -> None:
    top = rxbatch("--help")
    assert top.returncode == 0 and "load" in top.stdout and "demo" in top.stdout
    load = rxbatch("load", "--help")
    for option in ("--db", "--table", "--batch-size", "--flush-interval", "--workers",
                   "--retries", "--dead-letter", "--progress", "--strict"):  # fmt: skip
        assert option in load.stdout


def test_bad_options_are_refused_with_a_message(tmp_path: Path) -> None:
    done = rxbatch("load", "-", "--db", str(tmp_path / "x.db"), "--table", "t", "--batch-size", "0")
    assert done.returncode == 2 and "--batch-size" in done.stderr


def test_demo_loads_generated_events(tmp_path: Path) -> None:
    done = rxbatch("demo", "--events", "3000")
    assert done.returncode == 0, done.stderr
    numbers = summary(done.stdout)
    assert numbers["records read"] == "3000"
    assert int(numbers["written"]) + int(numbers["dead-lettered"]) == 3000
    assert 0 < int(numbers["dead-lettered"]) < 100


@pytest.mark.parametrize("table", ['we"ird', "select"])
def test_table_names_are_quoted(tmp_path: Path, table: str) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"a b": 1, 'c"d': 2}])
    done = rxbatch("load", str(source), "--db", str(tmp_path / "x.db"), "--table", table)
    assert done.returncode == 0, done.stderr
    assert rows(tmp_path / "x.db", table.replace('"', '""')) == [{"a b": 1, 'c"d': 2}]


def test_a_loader_loads_once(tmp_path: Path) -> None:
    from rxbatch import Loader

    loader = Loader(str(tmp_path / "x.db"), "t")
    assert loader.load(['{"a": 1}']).written == 1
    with pytest.raises(RuntimeError, match="loads once"):
        loader.load(['{"a": 2}'])
