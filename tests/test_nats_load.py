"""``rxbatch load nats://…`` for real: a real ``nats-server -js``, the command in subprocesses.

The delivery promise, tested by faults: a batch is acked only after its
transaction commits (a loader killed while waiting for the database leaves
its messages to be delivered again), a fatal error leaves what was not
committed for the next run, and two loaders on one durable consumer, one of
them killed with SIGKILL half-way, leave every message in the database, with
duplicates only from the batch the kill interrupted (none with ``--upsert``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ._nats import (
    HANG,
    add_stream,
    consumer_info,
    publish,
    publish_json_lines,
    wait_until,
)
from .test_cli import default_signals, one_line_error, summary

COMMAND = [sys.executable, "-m", "rxbatch", "load"]
_names = itertools.count()


@pytest.fixture
def stream(url: str) -> str:
    """A fresh stream that keeps ``<name>.>``."""
    name = f"L{next(_names)}"
    add_stream(url, name, [f"{name}.>"])
    return name


def ids(db: Path, table: str = "t") -> list[int]:
    """The ``id`` column, in commit order (rowid); [] before the table exists."""
    try:
        with contextlib.closing(sqlite3.connect(db)) as connection:
            found = connection.execute(f'SELECT id FROM "{table}" ORDER BY rowid').fetchall()
    except sqlite3.OperationalError:
        return []
    return [row[0] for row in found]


@contextlib.contextmanager
def loading(
    url: str,
    stream: str,
    db: Path,
    *options: str,
    durable: str = "loader",
    preexec: Callable[[], None] = default_signals,
) -> Iterator[subprocess.Popen[bytes]]:
    """``rxbatch load nats://…/<stream>.>`` running; killed if still running at the end."""
    command = [
        *COMMAND, f"{url}/{stream}.>", "--stream", stream, "--durable", durable,
        "--db", str(db), "--table", "t", *options,
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def interrupt(process: subprocess.Popen[bytes]) -> tuple[str, str]:
    """Ctrl-C: exit status 130, no traceback; returns stdout and stderr."""
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=HANG)
    assert process.returncode == 130, err
    assert "Traceback" not in err.decode()
    return out.decode(), err.decode()


def test_loads_the_stream_and_acks_each_batch_after_it_commits(
    url: str, stream: str, tmp_path: Path
) -> None:
    db, letters = tmp_path / "out.db", tmp_path / "dead.jsonl"
    publish_json_lines(url, stream, f"{stream}.click", 2000)
    publish(url, f"{stream}.odd", [b"not json", b"", b'{"id": 2000, "x": NaN}', b'{"id": 2001}'])
    with loading(
        url, stream, db, "--batch-size", "300", "--flush-interval", "0.05",
        "--dead-letter", str(letters),
    ) as process:  # fmt: skip
        wait_until(lambda: len(ids(db)) == 2001, "loaded")
        wait_until(
            lambda: consumer_info(url, stream, "loader").ack_floor.stream_seq == 2004, "acked"
        )
        out, err = interrupt(process)
    assert sorted(ids(db)) == [*range(2000), 2001]
    numbers = summary(out)
    assert (numbers["records read"], numbers["written"], numbers["dead-lettered"]) == (
        "2003", "2001", "2",
    )  # fmt: skip
    assert numbers["blank lines"] == "1"
    dead = [json.loads(line) for line in letters.read_text().splitlines()]
    assert [(d["line"], d["text"]) for d in dead] == [
        (2001, "not json"), (2003, '{"id": 2000, "x": NaN}'),
    ]  # the line is the message's stream sequence  # fmt: skip
    info = consumer_info(url, stream, "loader")
    # dead-lettered messages are terminated: handled, not delivered again
    assert (info.num_ack_pending, info.num_pending, info.num_redelivered) == (0, 0, 0)
    assert "committing the batch in progress" in err


def test_ctrl_c_commits_the_batch_in_progress_and_acks_it(
    url: str, stream: str, tmp_path: Path
) -> None:
    db = tmp_path / "out.db"
    publish_json_lines(url, stream, f"{stream}.click", 250)
    with loading(url, stream, db, "--batch-size", "100", "--flush-interval", "3600") as process:
        wait_until(lambda: len(ids(db)) == 200, "two full batches")
        acked = lambda: consumer_info(url, stream, "loader").ack_floor.stream_seq  # noqa: E731
        wait_until(lambda: acked() == 200, "their acks (sent after the commit)")
        info = consumer_info(url, stream, "loader")
        assert info.ack_floor.stream_seq == 200 and info.num_ack_pending == 50  # held, not acked
        out, _ = interrupt(process)
    assert sorted(ids(db)) == list(range(250))
    assert summary(out)["written"] == "250"
    info = consumer_info(url, stream, "loader")
    assert (info.ack_floor.stream_seq, info.num_ack_pending) == (250, 0)


def test_a_batch_is_acked_only_after_it_commits_a_kill_before_leaves_it_for_another_delivery(
    url: str, stream: str, tmp_path: Path
) -> None:
    db = tmp_path / "out.db"
    publish_json_lines(url, stream, f"{stream}.click", 100)
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("CREATE TABLE t (id, kind, user)")
        holder.execute("BEGIN IMMEDIATE")  # another writer: the batch waits to commit
        with loading(
            url, stream, db, "--ack-wait", "2", "--retries", "1000", "--busy-timeout", "5",
            "--flush-interval", "0.05",
        ) as process:  # fmt: skip
            wait_until(
                lambda: consumer_info(url, stream, "loader").num_ack_pending == 100, "delivered"
            )
            assert consumer_info(url, stream, "loader").ack_floor.stream_seq == 0  # none acked
            process.kill()
            process.wait(HANG)
        holder.execute("ROLLBACK")
    assert ids(db) == []
    # JetStream delivers them again after ack_wait, here to a second loader
    with loading(url, stream, db, "--flush-interval", "0.05") as process:
        wait_until(lambda: len(ids(db)) == 100, "loaded again")
        interrupt(process)
    assert sorted(ids(db)) == list(range(100))
    info = consumer_info(url, stream, "loader")
    assert (info.ack_floor.stream_seq, info.num_ack_pending, info.num_redelivered) == (100, 0, 0)


def test_a_fatal_error_leaves_what_was_not_committed_to_be_delivered_again(
    url: str, stream: str, tmp_path: Path
) -> None:
    db = tmp_path / "out.db"
    pad = "x" * 200
    publish(
        url, f"{stream}.click", [json.dumps({"id": n, "pad": pad}).encode() for n in range(6000)]
    )
    limit = 600_000  # bytes any file of the loader may grow to: the disk fills

    def full_disk() -> None:
        default_signals()
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    # an hour's ack_wait: the rerun below gets the rest at once only if they were nak'd
    with loading(
        url, stream, db, "--batch-size", "500", "--ack-wait", "3600", preexec=full_disk
    ) as process:
        out, err = process.communicate(timeout=HANG)
    done = subprocess.CompletedProcess(process.args, process.returncode, out.decode(), err.decode())
    one_line_error(done, 1, "rxbatch: error:")
    written = ids(db)
    assert 0 < len(written) < 6000 and sorted(written) == list(range(len(written)))
    info = consumer_info(url, stream, "loader")
    assert info.ack_floor.stream_seq == len(written)  # acked: exactly what was committed
    with loading(url, stream, db, "--batch-size", "500", "--flush-interval", "0.05") as process:
        wait_until(lambda: len(ids(db)) == 6000, "the rest loaded")
        interrupt(process)
    assert sorted(ids(db)) == list(range(6000))


@pytest.mark.parametrize("upsert", [False, True], ids=["plain", "pk-upsert"])
def test_two_loaders_on_one_durable_one_killed_half_way_lose_nothing(
    url: str, stream: str, tmp_path: Path, upsert: bool
) -> None:
    """SIGKILL one of two loaders sharing a durable consumer, at a random point half-way.

    Plain: each loader has its own database, so what each committed is
    known. Every message is in one of them; a message is in both only if the
    killed loader committed it and died before its ack reached JetStream,
    which can only be its last batches committed: the tail of its table.
    With ``--pk id --upsert`` into one table: every message exactly once.
    """
    total, batch = 20_000, 500
    publish_json_lines(url, stream, f"{stream}.click", total)
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    if upsert:
        second = first
    options = ["--batch-size", str(batch), "--flush-interval", "0.05", "--ack-wait", "3"]
    if upsert:
        options += ["--pk", "id", "--upsert", "--retries", "100"]
    kill_at = random.randrange(total * 3 // 10, total * 7 // 10)
    with (
        loading(url, stream, first, *options) as killed,
        loading(url, stream, second, *options) as survivor,
    ):
        if upsert:
            wait_until(lambda: len(ids(first)) >= kill_at, "half-way")
        else:
            wait_until(
                lambda: len(ids(first)) > 0 and len(ids(first)) + len(ids(second)) >= kill_at
            )
        killed.kill()
        killed.wait(HANG)
        in_killed = ids(first)
        everything = lambda: set(ids(first)) | set(ids(second))  # noqa: E731
        wait_until(lambda: len(everything()) == total, "every message loaded")
        interrupt(survivor)
    assert everything() == set(range(total))
    if upsert:
        assert len(ids(first)) == total  # exactly once
        return
    in_survivor = ids(second)
    assert len(set(in_killed)) == len(in_killed) and len(set(in_survivor)) == len(in_survivor)
    twice = set(in_killed) & set(in_survivor)
    assert len(twice) <= 2 * batch  # at most what the killed loader held
    assert twice == set(in_killed[len(in_killed) - len(twice) :])  # its last commits, unacked


@pytest.mark.parametrize(
    ("args", "status", "words"),
    [
        (["--resume"], 2, ["--resume is for files", "--durable"]),
        (["--durable", ""], 2, ["--durable must be a name"]),
        (["--stream", "NOPE"], 2, ["no stream 'NOPE'"]),
        (["--ack-wait", "nan"], 2, ["--ack-wait must be between"]),
    ],
)
def test_nats_usage_errors_are_one_line(
    url: str, stream: str, tmp_path: Path, args: list[str], status: int, words: list[str]
) -> None:
    command = [*COMMAND, f"{url}/{stream}.>", "--stream", stream, "--durable", "d",
               "--db", str(tmp_path / "x.db"), "--table", "t", *args]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=HANG)
    one_line_error(done, status, *words)


@pytest.mark.parametrize(
    ("source", "args", "status", "words"),
    [
        ("nats://127.0.0.1:1/x", ["--stream", "S", "--durable", "d"], 1, ["cannot connect"]),
        ("nats://127.0.0.1:1/x", ["--stream", "S"], 2, ["needs --stream and --durable"]),
        (
            "nats://127.0.0.1:1",
            ["--stream", "S", "--durable", "d"],
            2,
            ["nats://HOST:PORT/SUBJECT"],
        ),
        ("-", ["--stream", "S"], 2, ["--stream and --durable are for a nats:// SOURCE"]),
        (
            "nats://u:secret@127.0.0.1:1/x",
            ["--stream", "S", "--durable", "d"],
            1,
            ["cannot connect to nats://u:***@127.0.0.1:1"],
        ),
        ("nats://tok@127.0.0.1:1/x", ["--stream", "S", "--durable", "d"], 1, ["nats://***@"]),
        ("nats://u:secret@127.0.0.1:1", ["--stream", "S", "--durable", "d"], 2, ["u:***@"]),
        ("nats://127.0.0.1:abc/x", ["--stream", "S", "--durable", "d"], 2, ["SOURCE", "'abc'"]),
        ("nats://127.0.0.1:99999/x", ["--stream", "S", "--durable", "d"], 2, ["SOURCE", "99999"]),
        ("nats://127.0.0.1:-1/x", ["--stream", "S", "--durable", "d"], 2, ["SOURCE", "'-1'"]),
    ],
)
def test_nats_source_errors_without_a_server_are_one_line(
    tmp_path: Path, source: str, args: list[str], status: int, words: list[str]
) -> None:
    command = [*COMMAND, source, "--db", str(tmp_path / "x.db"), "--table", "t", *args]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=HANG, stdin=subprocess.DEVNULL
    )
    one_line_error(done, status, *words)
    assert "secret" not in done.stdout + done.stderr and "tok@" not in done.stderr
