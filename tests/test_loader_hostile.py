"""Hostile tests of ``rxbatch load`` and ``rxbatch.Loader``: each one was a defect.

Every test here reproduces a defect a hostile probe found: a promise of the
README's "The ``rxbatch`` command" section (or of issue #9) that the loader
broke when a demanding user pushed on it. Each failed before its fix. Real
SQLite, real subprocesses, real signals and file-size limits; no mocks. Waits
poll a condition the kernel reports (a signal handler installed, a process
blocked in ``open``), they never decide the outcome.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import termios
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rxbatch import DeadLetter, Loader, LoadSummary

COMMAND = [sys.executable, "-m", "rxbatch"]
PROMPT = 3.0  # seconds a signal may take to end a load
START = 30.0  # seconds a child may take to start on a loaded machine


# -- helpers ------------------------------------------------------------------------------


def default_signals() -> None:
    """In the child: SIGINT at its default, whatever the test runner ignores."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def rxbatch(
    *args: str,
    stdin: bytes | None = None,
    preexec: Callable[[], None] = default_signals,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*COMMAND, *args], input=stdin, capture_output=True, timeout=timeout, preexec_fn=preexec
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def table_rows(db: Path, table: str = "t") -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()


def sql(db: Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as connection:
        for statement in statements:
            connection.execute(statement)


def load(
    db: Path, lines: list[str], table: str = "t", **options: Any
) -> tuple[LoadSummary, list[DeadLetter]]:
    letters: list[DeadLetter] = []
    summary = Loader(str(db), table, on_dead_letter=letters.append, **options).load(lines)
    return summary, letters


def numbers(output: str) -> dict[str, int]:
    found = {}
    for line in output.splitlines():
        key, _, value = line.partition(":")
        words = value.split()
        if words and words[0].replace(",", "").isdigit():
            found[key.strip()] = int(words[0].replace(",", ""))
    return found


def wait_for(condition: Callable[[], bool], what: str, limit: float = START) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def catches(pid: int, number: int) -> bool:
    """Whether process ``pid`` has a handler installed for signal ``number`` (Linux)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    caught = int(re.search(r"SigCgt:\s*([0-9a-f]+)", status).group(1), 16)  # type: ignore[union-attr]
    return bool(caught & (1 << (number - 1)))


def unread(fd: int) -> int:
    """Bytes waiting in the pipe ``fd`` reads from (FIONREAD)."""
    waiting = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, waiting)
    return waiting[0]


def settled(fd: int, process: subprocess.Popen[bytes]) -> bool:
    """Whether the pipe ``fd`` holds as much as 0.1 s ago (its writer waits or is done)."""
    before = unread(fd)
    time.sleep(0.1)
    return process.poll() is not None or unread(fd) == before > 0


def blocked_in(pid: int, kernel_function: str) -> bool:
    """Whether ``pid`` sleeps in the kernel in ``kernel_function`` (``anon_`` prefixes aside)."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text().strip().endswith(kernel_function)
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def running(args: list[str], **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A child ``rxbatch``; killed at the end if it is still there (a hang)."""
    process = subprocess.Popen(
        [*COMMAND, *args],
        stdout=popen.pop("stdout", subprocess.PIPE),
        stderr=popen.pop("stderr", subprocess.PIPE),
        preexec_fn=default_signals,
        **popen,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def ended_within(process: subprocess.Popen[bytes], seconds: float) -> tuple[int | None, str, str]:
    """The exit status (None: still running after ``seconds``), stdout and stderr."""
    status: int | None
    try:
        out, err = process.communicate(timeout=seconds)
        status = process.returncode
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        status = None
    return status, (out or b"").decode(), (err or b"").decode()


def python(code: str, budget: float) -> tuple[int | None, str]:
    """Run ``code`` in a child interpreter; give it ``budget`` seconds once it is imported.

    ``code`` prints ``start`` when its imports are done (on a loaded machine
    they alone can take seconds). Returns the exit status (None: still
    running when the budget ran out, then killed) and what it printed.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"start"
        status, out, _ = ended_within(process, budget)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    return status, out


# -- resume --------------------------------------------------------------------------------


def test_resume_of_a_growing_file_does_not_cut_its_half_written_last_line(
    tmp_path: Path,
) -> None:
    """A log being appended to is caught mid-line: '{"id": ' now, '2}\\n' a moment later.

    README: "A file that grew is continued (a log appended to)" and "every
    record lands exactly once". Today the half-written last line is loaded
    (dead-lettered as invalid JSON) and checkpointed, so the rerun starts in
    the middle of record 2 and dead-letters its rest: record 2 is never
    written, and every later dead-letter line number is one too high.
    """
    source, db = tmp_path / "app.log", tmp_path / "out.db"
    source.write_bytes(b'{"id": 1}\n{"id": ')
    Loader(str(db), "t", resume=True, on_dead_letter=lambda _: None).load(str(source))
    with source.open("ab") as log:  # the writer finishes its line, and writes another
        log.write(b'2}\n{"id": 3}\n')
    Loader(str(db), "t", resume=True, on_dead_letter=lambda _: None).load(str(source))
    assert [r[0] for r in table_rows(db)] == [1, 2, 3]


def test_resume_never_erases_dead_letters_another_load_appended(tmp_path: Path) -> None:
    """Two loads share one dead-letter file; rerunning the first deletes the second's letters.

    The cut-back meant for letters of a batch that never committed is done
    even when the first load had completed: everything appended to the file
    since its last checkpoint (by any other load) is truncated away.
    """
    db, dead = tmp_path / "out.db", tmp_path / "dead.jsonl"
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"id": 1}\nbad-a\n')
    b.write_text('{"id": 2}\nbad-b\n')
    Loader(str(db), "t", resume=True, dead_letters=str(dead)).load(str(a))  # completes
    Loader(str(db), "u", dead_letters=str(dead)).load(str(b))  # another table, same file
    assert [json.loads(x)["text"] for x in dead.read_text().splitlines()] == ["bad-a", "bad-b"]
    Loader(str(db), "t", resume=True, dead_letters=str(dead)).load(str(a))  # nothing new
    assert [json.loads(x)["text"] for x in dead.read_text().splitlines()] == ["bad-a", "bad-b"]


@pytest.mark.parametrize("fault", ["locked", "disk full"])
def test_a_fault_while_finding_the_resume_checkpoint_is_a_one_line_error(
    tmp_path: Path, fault: str
) -> None:
    """The first ``--resume`` on a database creates ``_rxbatch_loads``, outside every guard.

    Today a writer holding the lock (WAL: the load's own checks pass) gives
    "rxbatch: internal error: Busy: …", and a full disk "internal error:
    OperationalError: disk I/O error" — errors labelled as rxbatch bugs, and
    through the API a private ``Busy`` / raw ``sqlite3`` exception instead of
    ``LoadError``. Only busy errors should be retried, the rest one line.
    """
    db, source = tmp_path / "out.db", tmp_path / "in.jsonl"
    source.write_text('{"a": 1}\n')
    journal = "wal" if fault == "locked" else "delete"
    assert rxbatch("load", str(source), "--db", str(db), "--table", "t",
                   "--journal-mode", journal).returncode == 0  # fmt: skip
    args = ["load", str(source), "--db", str(db), "--table", "t", "--resume"]
    if fault == "locked":
        with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as holder:
            holder.execute("BEGIN IMMEDIATE")
            done = rxbatch(*args, "--busy-timeout", "0.1", "--retries", "0")
            holder.execute("ROLLBACK")
    else:
        size = db.stat().st_size  # no file may grow: the disk is full

        def full_disk() -> None:
            default_signals()
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

        done = rxbatch(*args, preexec=full_disk)
    assert "internal error" not in done.stderr, done.stderr
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr


# -- bad records cost only themselves -----------------------------------------------------


def test_a_unique_on_conflict_rollback_column_rejects_only_the_duplicate(tmp_path: Path) -> None:
    """An existing table's ``UNIQUE ON CONFLICT ROLLBACK``: one duplicate stops the load.

    The loader's plain INSERT inherits the table's ROLLBACK resolution, which
    ends the whole transaction; the savepoint is gone and the load stops with
    "the database refused the batch: no such savepoint: rxbatch_rows",
    writing nothing. README: a record SQLite can't take (a constraint) goes to
    the dead letters and costs only itself (``INSERT OR ABORT`` would).
    """
    db = tmp_path / "out.db"
    sql(db, "CREATE TABLE t (id INTEGER UNIQUE ON CONFLICT ROLLBACK)")
    summary, letters = load(db, ['{"id": 1}', '{"id": 1}', '{"id": 2}'])
    assert (summary.written, summary.dead_lettered) == (2, 1)
    assert [letter.line for letter in letters] == [2]
    assert table_rows(db) == [(1,), (2,)]


def test_ignore_skips_only_conflicting_records_and_dead_letters_bad_ones(tmp_path: Path) -> None:
    """``--ignore`` is ``INSERT OR IGNORE``, which also swallows CHECK and NOT NULL failures.

    README: "--ignore keeps it [the row a record conflicts with] and counts
    the record as ignored"; a record SQLite can't take (a constraint) goes to
    the dead letters with the reason. Today a record breaking a CHECK and
    one missing a NOT NULL column, which conflict with no row at all, are
    counted "ignored (the database kept what it had)" and vanish: no dead
    letter, no reason. (``ON CONFLICT (pk) DO NOTHING`` ignores only conflicts.)
    """
    db = tmp_path / "out.db"
    sql(db, "CREATE TABLE t (id PRIMARY KEY, n CHECK (n > 0), tag NOT NULL)")
    summary, letters = load(
        db,
        [
            '{"id": 1, "n": 1, "tag": "a"}',
            '{"id": 2, "n": -5, "tag": "a"}',  # breaks the CHECK
            '{"id": 3, "n": 1}',  # no tag: NOT NULL
            '{"id": 1, "n": 9, "tag": "b"}',  # conflicts with row 1: ignored
        ],
        on_conflict="ignore",
    )
    assert (summary.written, summary.ignored, summary.dead_lettered) == (1, 1, 2)
    assert [letter.line for letter in letters] == [2, 3]


@pytest.mark.parametrize(
    ("schema", "bad"),
    [
        # a stored generated column that reads the record's JSON text
        ("CREATE TABLE t (p TEXT, k AS (json_extract(p, '$.k')) STORED)", '{"p": "not json"}'),
        # a CHECK that overflows for one value only
        ("CREATE TABLE t (p, CHECK (abs(p) >= 0))", '{"p": -9223372036854775808}'),
    ],
)
def test_an_error_caused_by_one_records_values_costs_only_that_record(
    tmp_path: Path, schema: str, bad: str
) -> None:
    """SQLITE_ERROR raised for one record's values ("malformed JSON", "integer overflow").

    Today it is sorted as an error no retry can fix and the whole load stops
    (LoadError, 0 written, 3 not written), though the other records are
    fine: the record alone could be tried, as constraint errors are.
    """
    db = tmp_path / "out.db"
    sql(db, schema)
    good = ['{"p": "{\\"k\\": 1}"}', '{"p": "{\\"k\\": 3}"}']
    summary, letters = load(db, [good[0], bad, good[1]])
    assert (summary.written, summary.dead_lettered) == (2, 1)
    assert [letter.line for letter in letters] == [2]


def test_a_key_naming_a_hidden_column_is_never_silently_dropped(tmp_path: Path) -> None:
    """FTS5's hidden columns (``rank``, the table's own name) match a key, then vanish.

    ``{"body": "hello", "rank": 5}`` is counted as written and stored as
    ``("hello",)``: the value of ``rank`` is lost without a word. README:
    "Values are never silently changed"; a key that can't become a column
    is dead-lettered.
    """
    db = tmp_path / "out.db"
    sql(db, "CREATE VIRTUAL TABLE t USING fts5(body)")
    summary, letters = load(db, ['{"body": "hello", "rank": 5}', '{"body": "x", "t": "y"}',
                                 '{"body": "ok"}'])  # fmt: skip
    assert sorted(letter.line for letter in letters) == [1, 2]
    assert summary.written == 1 and table_rows(db) == [("ok",)]


def test_a_record_with_more_keys_than_sqlite_has_columns_is_refused_quickly(
    tmp_path: Path,
) -> None:
    """One hostile line of 3,000 keys stalls the load for minutes (100,000 keys: hours).

    Each key is an ALTER TABLE in its own savepoint, each slower as the
    table widens, and after SQLite's 2,000-column limit every further key
    still costs a failing ALTER. The record is dead-lettered in the end, but
    the load is stuck meanwhile: measured 34 s for 2,500 keys, 80 s for
    5,000. (It also leaves the 1,999 columns added for the rejected record.)
    """
    db = tmp_path / "out.db"
    code = f"""
        import json
        from rxbatch import Loader
        wide = json.dumps({{f"c{{i}}": i for i in range(3000)}})
        print("start", flush=True)
        summary = Loader({str(db)!r}, "t", on_dead_letter=lambda _: None).load(
            ['{{"id": 1}}', wide, '{{"id": 2}}'])
        print("done", summary.written, summary.dead_lettered, flush=True)
    """
    status, out = python(code, budget=4.0)
    assert status == 0, "a single wide record held the load for more than 4 s"
    assert out.split() == ["done", "2", "1"]


# -- schema and names ---------------------------------------------------------------------


def test_a_trigger_sharing_the_tables_name_does_not_hide_the_table(tmp_path: Path) -> None:
    """Triggers have their own namespace; the target lookup does not say ``type='table'``.

    A database with a trigger named ``events`` (on another table) and a
    table ``events``: today ``Loader(db, "events")`` is refused with
    "'events' is a trigger, not a table" (the same for the command, exit 2).
    """
    db = tmp_path / "out.db"
    sql(
        db,
        "CREATE TABLE audit (n)",
        "CREATE TABLE raw (n)",
        "CREATE TRIGGER events AFTER INSERT ON raw BEGIN INSERT INTO audit VALUES (1); END",
        "CREATE TABLE events (n)",
    )
    summary, _ = load(db, ['{"n": 1}'], table="events")
    assert summary.written == 1 and table_rows(db, "events") == [(1,)]


# -- sources (Python API) -----------------------------------------------------------------


def test_a_text_file_already_read_from_loses_no_lines(tmp_path: Path) -> None:
    """``f = open(path); next(f)  # skip a header``, then ``Loader.load(f)``.

    The loader reads ``f.buffer`` underneath the text layer, which has
    already buffered the whole (small) file: it sees nothing, and reports
    ``read=0`` as a complete load. Five records are silently lost.
    """
    source, db = tmp_path / "in.jsonl", tmp_path / "out.db"
    source.write_text("# a header line\n" + "".join(f'{{"id": {i}}}\n' for i in range(5)))
    with source.open(encoding="utf-8") as text:
        assert text.readline() == "# a header line\n"
        summary, _ = load(db, text)  # type: ignore[arg-type]
    assert (summary.read, summary.written) == (5, 5)


def test_a_generator_that_raises_systemexit_does_not_hang_the_load(tmp_path: Path) -> None:
    """The reader thread catches ``Exception`` only; a ``BaseException`` kills it silently.

    The input is then never closed and ``load()`` waits forever (measured:
    still waiting after 10 s; Ctrl-C is the only way out). Any exception a
    source raises should end the load with a summary.
    """
    code = f"""
        import rxbatch
        print("start", flush=True)
        def lines():
            yield '{{"a": 1}}'
            raise SystemExit(3)
        try:
            rxbatch.Loader({str(tmp_path / "out.db")!r}, "t").load(lines())
        except BaseException as error:
            print("raised", type(error).__name__)
        else:
            print("returned")
    """
    status, _ = python(code, budget=PROMPT)
    assert status is not None, "load() never returned"


# -- the command: signals, destinations, start-up -------------------------------------------


def test_sigterm_while_waiting_for_a_locked_database_at_start_up_exits_promptly(
    tmp_path: Path,
) -> None:
    """A signal during the start-up lock wait is ignored until every retry is used.

    ``stop()`` only ends the input, and the start-up wait only looks at
    ``abort()``: with ``--busy-timeout 30`` SIGTERM takes 30 s, then the
    command says "is locked by another connection" with exit status 2
    instead of 143. Nothing was read, so there is nothing to commit first.
    """
    db, source = tmp_path / "out.db", tmp_path / "in.jsonl"
    source.write_text('{"a": 1}\n')
    sql(db, "PRAGMA journal_mode=delete", "CREATE TABLE t (a)")
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")  # another process is writing
        args = ["load", str(source), "--db", str(db), "--table", "t", "--busy-timeout", "30",
                "--retries", "0"]  # fmt: skip
        with running(args) as process:
            wait_for(lambda: catches(process.pid, signal.SIGTERM), "handlers installed")
            process.send_signal(signal.SIGTERM)
            status, _, err = ended_within(process, PROMPT)
        holder.execute("ROLLBACK")
    assert status == 128 + signal.SIGTERM, (status, err)


def test_ctrl_c_stops_a_load_whose_dead_letter_fifo_has_no_reader(tmp_path: Path) -> None:
    """``--dead-letter`` naming a FIFO nobody reads: opening it blocks the main thread.

    Neither the first nor the second Ctrl-C can stop it (the handlers only
    set flags; ``open`` is retried after each signal): the command hangs
    until SIGKILL. README: a second Ctrl-C "stops at once".
    """
    db, source, fifo = tmp_path / "out.db", tmp_path / "in.jsonl", tmp_path / "dead.fifo"
    source.write_text('{"a": 1}\nbad\n')
    os.mkfifo(fifo)
    args = ["load", str(source), "--db", str(db), "--table", "t", "--dead-letter", str(fifo)]
    with running(args) as process:
        wait_for(
            lambda: blocked_in(process.pid, "wait_for_partner") or process.poll() is not None,
            "blocked opening the FIFO",
        )
        if process.poll() is not None:  # refused such a destination up front: fine
            assert process.returncode == 2
            return
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
        status, _, err = ended_within(process, PROMPT)
    assert status == 130, (status, err)


def test_ctrl_c_while_the_command_is_still_importing_prints_no_traceback(tmp_path: Path) -> None:
    """Ctrl-C during start-up, before ``main()``: a KeyboardInterrupt traceback of imports.

    Importing rxbatch takes over a second on a busy machine (reactivex,
    asyncio, click). To hit that window every time, the child runs with
    ``-X importtime`` into a pipe of one page that the test stops reading:
    the child blocks mid-import, and gets SIGINT there. README: "no
    traceback", Ctrl-C exits 130.
    """
    source = tmp_path / "in.jsonl"
    source.write_text('{"a": 1}\n')
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ: one page
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", *COMMAND[1:], "load", str(source),
         "--db", str(tmp_path / "out.db"), "--table", "t"],
        stdout=subprocess.DEVNULL, stderr=write_end, preexec_fn=default_signals,
    )  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end, "rb", buffering=0) as err:
        try:
            seen = b""
            while b"reactivex" not in seen:  # rxbatch's own imports have begun
                piece = err.read(64)
                assert piece, "the child ended before importing rxbatch"
                seen += piece
            # The child writes a line per module it imports: once the pipe is
            # full its next write waits, mid-import. Wait until the pipe stops
            # filling (full, or the child past its imports), then Ctrl-C.
            wait_for(lambda: settled(err.fileno(), process), "the pipe to stop filling")
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            rest = seen + err.read()
        finally:
            if process.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(START)
            if process.poll() is None:
                process.kill()
                process.wait()
    text = rest.decode(errors="replace")
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-800:]
    assert process.returncode in (130, -signal.SIGINT)


def test_a_closed_stdin_is_a_one_line_error_not_an_internal_error(tmp_path: Path) -> None:
    """``rxbatch load - … <&-``: "rxbatch: internal error: OSError: [Errno 9] Bad file
    descriptor (set RXBATCH_TRACEBACK=1 to see where)" — reported as a bug of
    rxbatch's, where a missing source file is a one-line usage error (exit 2).
    """

    def closed_stdin() -> None:
        default_signals()
        os.close(0)

    done = rxbatch("load", "-", "--db", str(tmp_path / "out.db"), "--table", "t",
                   preexec=closed_stdin)  # fmt: skip
    assert "internal error" not in done.stderr, done.stderr
    assert done.returncode in (1, 2) and len(done.stderr.strip().splitlines()) == 1


def test_a_full_disk_never_leaves_a_torn_or_uncounted_dead_letter(tmp_path: Path) -> None:
    """The disk fills while a batch's dead letters are being appended to the file.

    The load stops (good) and the batch is rolled back, but the bytes that
    did reach the file stay: about 40 whole letters the summary counts as "not
    written" and a torn last line. A rerun appends after the torn line and
    repeats those letters. The file can take letters back (``mark`` /
    ``take_back``); a failed hand-over doesn't.
    """
    db, source, dead = tmp_path / "out.db", tmp_path / "in.jsonl", tmp_path / "dead.jsonl"
    source.write_text(("x" * 1000 + "\n") * 400)  # 400 lines, none JSON
    limit = 100_000

    def full_disk() -> None:
        default_signals()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = rxbatch("load", str(source), "--db", str(db), "--table", "t", "--dead-letter",
                   str(dead), "--batch-size", "50", preexec=full_disk)  # fmt: skip
    assert done.returncode == 1, done.stderr
    data = dead.read_bytes()
    assert data.endswith(b"\n"), f"torn last dead letter: …{data[-40:]!r}"
    letters = [json.loads(line) for line in data.splitlines()]
    assert len(letters) == numbers(done.stdout)["dead-lettered"]


@pytest.mark.parametrize("what", ["database", "source"])
def test_a_dead_letter_file_that_is_the_database_or_the_source_is_refused(
    tmp_path: Path, what: str
) -> None:
    """``--dead-letter`` pointing at the database, or at the file being loaded.

    The database: 300 letters are appended to ``events.db`` and then
    overwritten by SQLite's pages — all lost, while the summary says
    "dead-lettered: 300" and exit status 0. The source: the loader reads its
    own dead letters back and writes them as rows (columns ``line``,
    ``reason``, ``text`` appear; read 3,300 of a 3,000-line file).
    """
    db, source = tmp_path / "events.db", tmp_path / "events.jsonl"
    source.write_text(
        "".join((json.dumps({"id": i}) if i % 10 else f"bad line {i}") + "\n" for i in range(3000))
    )
    dead = db if what == "database" else source
    done = rxbatch("load", str(source), "--db", str(db), "--table", "t", "--dead-letter",
                   str(dead), "--batch-size", "100", "--journal-mode", "delete")  # fmt: skip
    if done.returncode == 2:  # refused up front: fine
        return
    got = numbers(done.stdout)
    assert got["records read"] == 3000, "the load read its own dead letters"
    kept = [line for line in dead.read_bytes().split(b"\n") if line.startswith(b'{"line": ')]
    assert len(kept) == got["dead-lettered"] == 300, "dead letters were overwritten"
