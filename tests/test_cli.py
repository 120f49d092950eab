"""End-to-end tests of the ``rxbatch`` command, run for real in a subprocess.

Faults are real: a full disk is a file-size limit on the process, a broken
dead-letter destination is ``/dev/full``, a closed stderr or a pipe whose
reader went away, a signal is a signal, a crash is SIGKILL.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HANG = 60  # seconds: only a hang reaches this
COMMAND = [sys.executable, "-m", "rxbatch"]


def default_signals() -> None:
    """In the child: SIGINT at its default, whatever the test runner ignores."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def rxbatch(
    *args: str, stdin: str | bytes | None = None, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run(
        [*COMMAND, *args], input=data, capture_output=True, timeout=HANG,
        preexec_fn=preexec or default_signals,
    )  # fmt: skip
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def rows(db: Path, table: str = "t") -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid')]


def count(db: Path, table: str = "t") -> int:
    try:
        with contextlib.closing(sqlite3.connect(db)) as connection:
            return int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
    except sqlite3.OperationalError:  # the table does not exist yet
        return 0


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


def one_line_error(done: subprocess.CompletedProcess[str], status: int, *words: str) -> None:
    """The command failed with ``status`` and exactly one line on stderr, no traceback."""
    assert done.returncode == status, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, done.stderr
    for word in words:
        assert word in errors[0], errors[0]


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


@contextlib.contextmanager
def loading(db: Path, *options: str, source: str = "-") -> Iterator[subprocess.Popen[bytes]]:
    """``rxbatch load`` running, its stdin a pipe; killed if still running at the end."""
    command = [*COMMAND, "load", source, "--db", str(db), "--table", "t", *options]
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=default_signals,
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def unread(process: subprocess.Popen[bytes]) -> int:
    """Bytes written to the process's stdin that it has not read yet (Linux: FIONREAD)."""
    assert process.stdin is not None
    waiting = array.array("i", [0])
    fcntl.ioctl(process.stdin.fileno(), termios.FIONREAD, waiting)
    return waiting[0]


def feed(process: subprocess.Popen[bytes], lines: list[Any]) -> None:
    assert process.stdin is not None
    process.stdin.write("".join(json.dumps(x) + "\n" for x in lines).encode())
    process.stdin.flush()


# -- loading ----------------------------------------------------------------------------


def test_loads_a_file_in_batches_with_schema_evolution(tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [{"id": 1, "kind": "a"}, {"id": 2, "kind": "b", "extra": {"x": [1]}}, {"id": 3}],
    )
    db = tmp_path / "out.db"
    done = rxbatch("load", str(source), "--db", str(db), "--table", "t", "--batch-size", "2")
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
    args = ["load", str(source), "--db", str(db), "--table", "t", "--dead-letter", str(dead)]
    done = rxbatch(*args)
    assert done.returncode == 0, done.stderr
    assert rows(db) == [{"id": 1}, {"id": 2}]
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(d["line"], d["text"]) for d in letters] == [(2, "{broken"), (4, "[1, 2]"), (6, "{}")]
    assert all(d["reason"] for d in letters)
    numbers = summary(done.stdout)
    assert (numbers["dead-lettered"], numbers["blank lines"]) == ("3", "1")
    strict = rxbatch(*args, "--strict")
    assert strict.returncode == 2


def test_a_record_the_database_rejects_is_isolated(tmp_path: Path) -> None:
    db = tmp_path / "out.db"
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v CHECK (v != 13))")
        connection.commit()
    source = write_lines(tmp_path / "in.jsonl", [{"id": n, "v": n} for n in range(1, 21)])
    done = rxbatch("load", str(source), "--db", str(db), "--table", "t", "--batch-size", "8")
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
    assert [r["n"] for r in rows(db)] == list(range(2500))


def test_invalid_utf8_costs_only_its_line(tmp_path: Path) -> None:
    """Repro: a traceback, and 309 of 1,000 earlier valid lines never written."""
    db = tmp_path / "out.db"
    lines = [json.dumps({"n": n}).encode() for n in range(1000)]
    lines[500] = b'{"n": "caf\xe9"}'  # Latin-1, not UTF-8
    done = rxbatch("load", "-", "--db", str(db), "--table", "t", stdin=b"\n".join(lines) + b"\n")
    assert done.returncode == 0, done.stderr
    assert [r["n"] for r in rows(db)] == [n for n in range(1000) if n != 500]
    (letter,) = [json.loads(x.split("dead letter: ")[1]) for x in done.stderr.splitlines()]
    assert (letter["line"], letter["text"]) == (501, '{"n": "caf\\xe9"}')
    assert "UTF-8" in letter["reason"]


def test_line_ends_bom_and_separators_inside_lines(tmp_path: Path) -> None:
    db = tmp_path / "out.db"
    data = (
        b"\xef\xbb\xbf"
        + b'{"n": 1, "s": "a\rb"}\r\n'
        + b'{"n": 2, "s": "\xe2\x80\xa8\x1c\x0c\xc2\xa0"}\n'  # U+2028, \x1c, \x0c, NBSP
        + b"\n   \n"
        + b'{"n": 3}\x0c\n'  # a form feed after the object: not JSON whitespace
        + b'{"n": 4}'
    )
    done = rxbatch("load", "-", "--db", str(db), "--table", "t", stdin=data)
    assert done.returncode == 0, done.stderr
    assert rows(db) == [
        {"n": 1, "s": "a\rb"},
        {"n": 2, "s": "\u2028\x1c\x0c\xa0"},
        {"n": 4, "s": None},
    ]
    (letter,) = [json.loads(x.split("dead letter: ")[1]) for x in done.stderr.splitlines()]
    assert letter["line"] == 5  # as wc -l and editors count
    numbers = summary(done.stdout)
    assert (numbers["records read"], numbers["blank lines"]) == ("4", "2")


def test_records_are_committed_while_the_input_pauses(tmp_path: Path) -> None:
    """What batch loaders that flush only when full or at the end cannot do."""
    db = tmp_path / "out.db"
    with loading(db, "--flush-interval", "0.2", "--batch-size", "1000") as process:
        feed(process, [{"n": n} for n in range(3)])
        # The batch is far from full and stdin stays open: only the flush
        # interval can commit these three records.
        wait_until(lambda: count(db) == 3)
        assert process.poll() is None  # still running, input still open
        feed(process, [{"n": 3}])
        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(HANG) == 0
    assert count(db) == 4


# -- signals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "status"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
)
def test_a_signal_with_stdin_open_commits_what_was_read_and_exits_promptly(
    tmp_path: Path, signum: int, status: int
) -> None:
    db = tmp_path / "out.db"
    with loading(db, "--flush-interval", "3600", "--batch-size", "100") as process:
        feed(process, [{"n": n} for n in range(250)])  # two full batches, 50 waiting for an hour
        wait_until(lambda: count(db) == 200)
        process.send_signal(signum)
        # stdin stays open (tail -f | rxbatch load -): the exit must not wait for it
        assert process.wait(HANG) == status
        assert process.stdout is not None and process.stderr is not None
        out, err = process.stdout.read().decode(), process.stderr.read().decode()
    assert "committing the batch in progress" in err and "Traceback" not in err
    numbers = summary(out)
    assert numbers["records read"] == numbers["written"] == "250"
    assert [r["n"] for r in rows(db)] == list(range(250))  # the partial batch too


def test_ctrl_c_while_reading_a_fifo_exits_130(tmp_path: Path) -> None:
    db, fifo = tmp_path / "out.db", tmp_path / "events.fifo"
    os.mkfifo(fifo)
    with (
        loading(db, "--flush-interval", "0.05", source=str(fifo)) as process,
        open(fifo, "w") as writer,  # the writer stays open
    ):
        writer.write(json.dumps({"n": 1}) + "\n")
        writer.flush()
        wait_until(lambda: count(db) == 1)
        process.send_signal(signal.SIGINT)
        assert process.wait(HANG) == 130
    assert rows(db) == [{"n": 1}]


def test_a_second_ctrl_c_while_waiting_on_a_lock_stops_at_once(tmp_path: Path) -> None:
    """Repro: ~1.9 M lines dead-lettered 'cannot schedule new futures after shutdown'."""
    db = tmp_path / "out.db"
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("CREATE TABLE t (n)")
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock throughout
        with loading(db, "--retries", "1000", "--busy-timeout", "5") as process:
            feed(process, [{"n": n} for n in range(5000)])
            assert process.stderr is not None
            wait_until(lambda: unread(process) == 0)  # read: it waits for the lock
            process.send_signal(signal.SIGINT)
            first = process.stderr.readline().decode()
            assert "committing the batch in progress" in first
            process.send_signal(signal.SIGINT)
            assert process.wait(HANG) == 130
            assert process.stdout is not None
            out, err = process.stdout.read().decode(), process.stderr.read().decode()
        holder.execute("ROLLBACK")
    assert "dead letter" not in err and "Traceback" not in err
    numbers = summary(out)
    assert (numbers["written"], numbers["dead-lettered"]) == ("0", "0")
    # Everything read was rolled back (on a loaded machine the signal can even
    # come between the read and the batch: then nothing was read yet).
    assert numbers.get("not written", "0") == numbers["records read"]
    assert count(db) == 0


# -- faults: one line, an exit status, the summary ---------------------------------------


def test_a_full_disk_stops_the_load_with_the_committed_prefix(tmp_path: Path) -> None:
    """Repro: 145,000 records dead-lettered on a full disk, exit status 0."""
    db, source = tmp_path / "out.db", tmp_path / "in.jsonl"
    write_lines(source, [{"n": n, "pad": "x" * 200} for n in range(20_000)])
    limit = 1_000_000  # bytes any file of the child may grow to: the disk fills

    def full_disk() -> None:
        default_signals()
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = rxbatch("load", str(source), "--db", str(db), "--table", "t", "--batch-size", "500",
                   preexec=full_disk)  # fmt: skip
    one_line_error(done, 1, "rxbatch: error:")
    assert "full" in done.stderr or "disk" in done.stderr or "I/O" in done.stderr
    numbers = summary(done.stdout)
    written = [r["n"] for r in rows(db)]
    assert written == list(range(len(written))) and 0 < len(written) < 20_000
    assert numbers["written"] == str(len(written)) and numbers["dead-lettered"] == "0"
    assert int(numbers["not written"]) == int(numbers["records read"]) - len(written)


def test_dead_letters_to_dev_full_stop_the_load(tmp_path: Path) -> None:
    db = tmp_path / "out.db"
    lines = [json.dumps({"n": n}) if n != 1500 else "bad" for n in range(3000)]
    done = rxbatch("load", "-", "--db", str(db), "--table", "t", "--dead-letter", "/dev/full",
                   stdin="\n".join(lines) + "\n")  # fmt: skip
    one_line_error(done, 1, "/dev/full", "No space left")
    written = [r["n"] for r in rows(db)]
    assert written == list(range(len(written))) and len(written) < 1500  # nothing after the bad
    assert summary(done.stdout)["dead-lettered"] == "0"


def test_a_closed_stderr_stops_the_load_at_the_first_dead_letter(tmp_path: Path) -> None:
    db = tmp_path / "out.db"

    def closed_stderr() -> None:
        default_signals()
        os.close(2)

    lines = [json.dumps({"n": n}) if n != 1500 else "bad" for n in range(3000)]
    done = rxbatch("load", "-", "--db", str(db), "--table", "t", stdin="\n".join(lines) + "\n",
                   preexec=closed_stderr)  # fmt: skip
    assert done.returncode == 1
    assert summary(done.stdout)["dead-lettered"] == "0" and "stderr is closed" in done.stdout
    assert [r["n"] for r in rows(db)] == list(range(1000))


def test_dead_letters_to_a_pipe_whose_reader_left_stop_the_load(tmp_path: Path) -> None:
    """``rxbatch load … 2>&1 | head -1``: no hang, no traceback."""
    db = tmp_path / "out.db"
    lines = "".join((json.dumps({"n": n}) if n % 100 else "bad") + "\n" for n in range(1, 5001))
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [*COMMAND, "load", "-", "--db", str(db), "--table", "t", "--batch-size", "100"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=write_end,
        preexec_fn=default_signals,
    )  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end, "rb") as head:
        assert process.stdin is not None
        process.stdin.write(lines.encode())
        process.stdin.close()
        assert head.readline().startswith(b"dead letter: ")
    assert process.wait(HANG) == 1  # stopped at the next dead letter it could not write
    assert 0 < count(db) < 4950


DB, TABLE = ["--db", "{tmp}/x.db"], ["--table", "t"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--db", "{tmp}/missing/x.db", *TABLE], ["--db", "does not exist"]),
        (["--db", "{tmp}/text.db", *TABLE], ["--db", "not a SQLite database"]),
        (["--db", "{tmp}", *TABLE], ["--db", "directory"]),
        ([*DB, "--table", ""], ["table", "non-empty"]),
        ([*DB, "--table", "sqlite_stat1"], ["reserved"]),
        (["--db", "{tmp}/views.db", "--table", "v"], ["--table", "view"]),
        ([*DB, *TABLE, "--flush-interval", "nan"], ["--flush-interval"]),
        ([*DB, *TABLE, "--flush-interval", "inf"], ["--flush-interval"]),
        ([*DB, *TABLE, "--flush-interval", "1e20"], ["--flush-interval"]),
        ([*DB, *TABLE, "--flush-interval", "1e-7"], ["--flush-interval"]),
        ([*DB, *TABLE, "--flush-interval", "soon"], ["--flush-interval"]),
        ([*DB, *TABLE, "--batch-size", "0"], ["--batch-size"]),
        ([*DB, *TABLE, "--upsert"], ["--pk"]),
        ([*DB, *TABLE, "--upsert", "--ignore", "--pk", "id"], ["exclude each other"]),
        ([*DB, *TABLE, "--resume"], ["--resume", "stdin"]),
        ([*DB, *TABLE, "--pk", ","], ["--pk"]),
        ([*DB, *TABLE, "--journal-mode", "off"], ["--journal-mode"]),
        ([*DB, *TABLE, "--no-such-option"], ["no-such-option"]),
        ([*DB], ["--table"]),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], words: list[str]) -> None:
    (tmp_path / "text.db").write_text("plain text, not a database\n" * 200)
    with contextlib.closing(sqlite3.connect(tmp_path / "views.db")) as connection:
        connection.execute("CREATE VIEW v AS SELECT 1 AS a")
    filled = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = rxbatch("load", "-", *filled, stdin='{"id": 1}\n')
    one_line_error(done, 2, *words)


def test_a_read_only_database_is_a_usage_error(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute("CREATE TABLE t (n)")
    if os.geteuid() == 0:  # root writes anyway: make the file immutable
        made = subprocess.run(["chattr", "+i", str(db)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"chattr +i is not available here: {made.stderr.decode().strip()}")
    else:
        db.chmod(0o444)
    try:
        done = rxbatch("load", "-", "--db", str(db), "--table", "t", stdin='{"n": 1}\n')
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(db)], check=True)
    one_line_error(done, 2, "--db", "read-only")


# -- rerun without duplicates, resume after a crash --------------------------------------


def test_pk_upsert_rerun_leaves_no_duplicates(tmp_path: Path) -> None:
    db, source = tmp_path / "out.db", tmp_path / "in.jsonl"
    write_lines(source, [{"id": n, "v": n} for n in range(500)])
    args = ["load", str(source), "--db", str(db), "--table", "t", "--pk", "id", "--upsert"]
    assert rxbatch(*args).returncode == 0
    write_lines(source, [{"id": n, "v": -n} for n in range(250, 750)])
    again = rxbatch(*args)
    assert again.returncode == 0, again.stderr
    assert [(r["id"], r["v"]) for r in rows(db)] == [(n, n if n < 250 else -n) for n in range(750)]


def test_resume_needs_a_file_and_ignores_nothing(tmp_path: Path) -> None:
    db, source = tmp_path / "out.db", tmp_path / "in.jsonl"
    write_lines(source, [{"n": n} for n in range(10)])
    args = ["load", str(source), "--db", str(db), "--table", "t", "--resume"]
    first, second = rxbatch(*args), rxbatch(*args)
    assert first.returncode == second.returncode == 0
    assert summary(second.stdout)["records read"] == "0"
    assert "resumed after" in second.stdout and count(db) == 10


def test_resume_after_sigkill_at_random_points_loads_every_record_once(tmp_path: Path) -> None:
    """20 SIGKILLs at random points, then a last run: the table equals the input, row by row."""
    db, source = tmp_path / "out.db", tmp_path / "in.jsonl"
    total = 60_000
    lines = [{"n": n, "s": f"event {n}"} if n % 997 else "not json" for n in range(total)]
    write_lines(source, lines)
    dead = tmp_path / "dead.jsonl"
    command = [*COMMAND, "load", str(source), "--db", str(db), "--table", "t", "--resume",
               "--batch-size", "500", "--dead-letter", str(dead), "--no-progress"]  # fmt: skip
    rng = random.Random(20)
    kills = 0
    while kills < 20:
        before = count(db)
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              preexec_fn=default_signals) as process:  # fmt: skip
            deadline = time.monotonic() + HANG
            while count(db) <= before and process.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.03))  # a random point, often inside a transaction
            if process.poll() is not None:
                break  # it finished before we could kill it
            process.kill()
            process.wait(HANG)
        kills += 1
    last = subprocess.run(command, capture_output=True, timeout=HANG)
    assert last.returncode == 0, last.stderr
    expected = [x for x in lines if isinstance(x, dict)]
    assert [(r["n"], r["s"]) for r in rows(db)] == [(x["n"], x["s"]) for x in expected]
    letters = [json.loads(x)["line"] for x in dead.read_text().splitlines()]
    assert letters == [n + 1 for n in range(total) if n % 997 == 0]  # each dead letter once
    assert kills == 20


# -- the command itself ------------------------------------------------------------------


def test_help_describes_the_commands() -> None:
    top = rxbatch("--help")
    assert top.returncode == 0 and "load" in top.stdout and "demo" in top.stdout
    load = rxbatch("load", "--help")
    options = ["--db", "--table", "--batch-size", "--flush-interval", "--workers", "--retries",
               "--busy-timeout", "--pk", "--upsert", "--replace", "--ignore", "--resume",
               "--journal-mode", "--dead-letter", "--progress", "--strict"]  # fmt: skip
    for option in options:
        assert option in load.stdout
    assert "WAL" in load.stdout


def test_the_progress_bar_counts_lines_and_dead_letters_keep_their_own_lines(
    tmp_path: Path,
) -> None:
    db = tmp_path / "out.db"
    lines = "".join((json.dumps({"n": n}) if n % 50 else "bad") + "\n" for n in range(1, 301))
    done = rxbatch("load", "-", "--db", str(db), "--table", "t", "--progress",
                   "--batch-size", "100", stdin=lines)  # fmt: skip
    assert done.returncode == 0, done.stderr
    pieces = [p for p in done.stderr.replace("\r", "\n").splitlines() if p.strip()]
    letters = [p for p in pieces if "dead letter" in p]
    assert len(letters) == 6 and all(p.startswith("dead letter: ") for p in letters)
    bars = [p for p in pieces if p.startswith("loaded")]
    assert bars and "300" in bars[-1] and "dead=6" in bars[-1]


def test_demo_loads_generated_events() -> None:
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
