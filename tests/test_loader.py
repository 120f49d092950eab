"""The Loader on a real SQLite database: every record written or dead-lettered, once.

Each test here is a repro of the loader issue (#9): bad records cost only
themselves, column names follow SQLite's rules, values are never silently
changed, faults end cleanly with exact accounting, conflicts and resume.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rxbatch import DeadLetter, Loader, LoadError, LoadSummary

HANG = 60


def rows(db: Path, table: str = "t", order: str = "rowid") -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(r) for r in connection.execute(f'SELECT * FROM "{table}" ORDER BY {order}')]


def sql(db: Path, *statements: str) -> list[tuple[Any, ...]]:
    """Run statements on a fresh connection (autocommit); return the last one's rows."""
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as connection:
        result: list[tuple[Any, ...]] = []
        for statement in statements:
            result = connection.execute(statement).fetchall()
        return result


def load(
    db: Path, lines: list[Any], table: str = "t", **options: Any
) -> tuple[LoadSummary, list[DeadLetter]]:
    """Load ``lines`` (dicts become JSON; bytes and str are lines as they are)."""
    encoded = [
        line if isinstance(line, bytes) else (line if isinstance(line, str) else json.dumps(line))
        for line in lines
    ]
    letters: list[DeadLetter] = []
    summary = Loader(str(db), table, on_dead_letter=letters.append, **options).load(encoded)
    return summary, letters


def accounted(summary: LoadSummary) -> int:
    return summary.written + summary.ignored + summary.dead_lettered + summary.not_written


# -- bad records cost only themselves ------------------------------------------------


def test_an_integer_beyond_64_bits_costs_only_its_record(tmp_path: Path) -> None:
    summary, letters = load(
        tmp_path / "x.db", ['{"n": 1}', '{"n": 18446744073709551616}', '{"n": 3}']
    )
    assert (summary.written, summary.dead_lettered) == (2, 1)
    assert rows(tmp_path / "x.db") == [{"n": 1}, {"n": 3}]
    assert letters[0].line == 2 and "64-bit" in letters[0].reason


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"n": 2, "s": "\\ud800"}', "lone surrogate"),  # a lone surrogate in a value
        ('{"n": 2, "k\\u0000y": 1}', "cannot be added"),  # a NUL in a key
        ('{"n": 2, "deep": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"n": 2, "x": ' + "9" * 5000 + "}", "invalid JSON"),  # beyond Python's int digits limit
        ('{"n": 2, "x": NaN}', "NaN"),
        ('{"n": 2, "x": 1e400}', "too large for a 64-bit float"),
        ('{"n": 2, "x": -1' + "0" * 250 + "e99}", "too large for a 64-bit float"),
        ('{"n": 2, "x": 1' + "0" * 400 + ".5}", "too large for a 64-bit float"),
        ('{"n": 2, "x": {"y": Infinity}}', "NaN or Infinity"),
    ],
)
def test_any_per_record_failure_isolates_that_record(tmp_path: Path, bad: str, reason: str) -> None:
    db = tmp_path / "x.db"
    summary, letters = load(db, [{"n": 1}, bad, {"n": 3}], batch_size=10)
    assert [r["n"] for r in rows(db)] == [1, 3]
    assert (summary.written, summary.dead_lettered, summary.complete) == (2, 1, True)
    assert letters[0].line == 2 and reason in letters[0].reason, letters[0].reason
    # No transaction is left open: another connection can write at once.
    with contextlib.closing(sqlite3.connect(db, timeout=0, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")


def test_no_write_lock_is_held_while_the_input_is_idle(tmp_path: Path) -> None:
    db, more = tmp_path / "x.db", threading.Event()

    def lines() -> Iterator[str]:
        yield '{"n": 1}'
        yield '{"n": 18446744073709551616}'  # a failure in the first batch
        assert more.wait(HANG)  # the stream goes quiet
        yield '{"n": 3}'

    loader = Loader(str(db), "t", flush_interval=0.01, on_dead_letter=lambda _: None)
    loading = threading.Thread(target=loader.load, args=(lines(),))
    loading.start()
    try:
        wait_until(lambda: count(db) == 1)
        with contextlib.closing(sqlite3.connect(db, timeout=0, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # would raise "database is locked"
            other.execute("ROLLBACK")
    finally:
        more.set()
        loading.join(HANG)
    assert [r["n"] for r in rows(db)] == [1, 3]


# -- column names follow SQLite's rules ------------------------------------------------


def test_keys_match_columns_case_insensitively(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sql(db, "CREATE TABLE t (ID INTEGER, Name TEXT)")
    summary, letters = load(db, [{"id": 1, "name": "a"}, {"Id": 2, "NAME": "b", "Extra": 1},
                                 {"extra": 2, "id": 3}])  # fmt: skip
    assert letters == [] and summary.written == 3
    assert rows(db) == [
        {"ID": 1, "Name": "a", "Extra": None},
        {"ID": 2, "Name": "b", "Extra": 1},
        {"ID": 3, "Name": None, "Extra": 2},
    ]


def test_a_record_with_keys_differing_only_in_case_is_dead_lettered_alone(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    summary, letters = load(db, [{"a": 1}, '{"a": 2, "A": 3}', {"a": 4}])
    assert [r["a"] for r in rows(db)] == [1, 4]
    assert letters[0].line == 2 and (summary.written, summary.dead_lettered) == (2, 1)
    assert "'a' and 'A' name the same column" in letters[0].reason


def test_only_ascii_letters_fold(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    load(db, [{"ä": 1, "Ä": 2}])  # SQLite folds ASCII only: two columns
    assert rows(db) == [{"ä": 1, "Ä": 2}]


def test_a_failed_column_add_never_poisons_later_batches(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    lines: list[Any] = [{"id": n} for n in range(5000)]
    lines[1500] = {"id": 1500, "extra": "x", "bad\u0000key": 1}  # extra can be added, bad can't
    summary, letters = load(db, lines, batch_size=1000)
    assert (summary.written, summary.dead_lettered) == (4999, 1)
    assert [r["id"] for r in rows(db)] == [n for n in range(5000) if n != 1500]
    assert letters[0].line == 1501 and "cannot be added" in letters[0].reason
    columns = [row[1] for row in sql(db, "PRAGMA table_info(t)")]
    assert columns == ["id", "extra"]  # the column that could be added was
    more, _ = load(db, [{"id": 9, "extra": "y", "other": 1}])
    assert more.written == 1 and rows(db)[-1] == {"id": 9, "extra": "y", "other": 1}


def test_two_loaders_adding_different_columns_at_once_both_succeed(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    load(db, [{"id": 0}])
    start = threading.Barrier(2, timeout=HANG)
    results: dict[str, LoadSummary] = {}

    def run(key: str) -> None:
        start.wait()
        batch = [{"id": n, key: n} for n in range(2000)]
        results[key] = load(db, batch, batch_size=100)[0]

    threads = [threading.Thread(target=run, args=(key,)) for key in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG)
    assert results["left"].written == results["right"].written == 2000
    assert sql(db, "SELECT count(*), count(left), count(right) FROM t") == [(4001, 2000, 2000)]


def test_an_existing_tables_defaults_are_honoured(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sql(db, "CREATE TABLE t (id INTEGER, kind TEXT DEFAULT 'none', at TEXT DEFAULT 'today')")
    load(db, [{"id": 1}, {"id": 2, "kind": "click"}, {"id": 3, "kind": None}, {"id": 4}])
    assert rows(db) == [
        {"id": 1, "kind": "none", "at": "today"},
        {"id": 2, "kind": "click", "at": "today"},
        {"id": 3, "kind": None, "at": "today"},  # an explicit null stays null
        {"id": 4, "kind": "none", "at": "today"},
    ]


def test_a_strict_table_rejects_only_the_records_that_need_it(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sql(db, "CREATE TABLE t (id INTEGER, n INTEGER) STRICT")
    summary, letters = load(db, [{"id": 1, "n": 5}, {"id": 2, "n": "five"}, {"id": 3, "new": 1},
                                 {"id": 4}])  # fmt: skip
    assert [r["id"] for r in rows(db)] == [1, 4]
    reasons = {letter.line: letter.reason for letter in letters}
    assert "cannot store TEXT value in INTEGER column" in reasons[2]
    assert "cannot be added" in reasons[3] and "datatype" in reasons[3]
    assert summary.complete


def test_generated_columns_cannot_be_given_values(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sql(db, "CREATE TABLE t (a, b AS (a * 2))")
    summary, letters = load(db, [{"a": 1}, {"a": 2, "B": 5}])
    assert sql(db, "SELECT a, b FROM t") == [(1, 2)]
    assert "generated" in letters[0].reason and summary.complete


# -- values are never silently changed -----------------------------------------------


def test_non_finite_numbers_are_stored_exactly_or_dead_lettered(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    summary, letters = load(
        db, ['{"x": Infinity}', '{"x": -Infinity}', '{"x": NaN}', '{"x": 1e400}', '{"x": 1.5}']
    )
    assert sql(db, "SELECT x, typeof(x) FROM t") == [
        (math.inf, "real"),
        (-math.inf, "real"),
        (1.5, "real"),
    ]
    assert [letter.line for letter in letters] == [3, 4] and summary.complete


def test_big_integers_are_dead_lettered_and_64_bit_ones_kept(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    edge = [2**63 - 1, -(2**63), 2**63, -(2**63) - 1]
    summary, letters = load(db, [{"n": n} for n in edge])
    assert [r["n"] for r in rows(db)] == edge[:2]
    assert [letter.line for letter in letters] == [3, 4] and summary.dead_lettered == 2


def test_nested_values_are_readable_json_text(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    load(db, [{"id": 1, "m": {"city": "東京", "tags": ["a", "b"]}, "s": "[not nested]"}])
    assert rows(db) == [{"id": 1, "m": '{"city": "東京", "tags": ["a", "b"]}', "s": "[not nested]"}]
    assert sql(db, "SELECT json_extract(m, '$.tags[1]') FROM t WHERE m LIKE '%東京%'") == [("b",)]


def test_bytes_lines_are_strict_utf8_and_shown_escaped(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    summary, letters = load(db, [b'{"a": 1}', b'{"a": "\xff\xfe"}', b'{"a": "\xc3\xa9"}'])
    assert [r["a"] for r in rows(db)] == [1, "é"]
    assert letters[0].text == '{"a": "\\xff\\xfe"}' and "UTF-8" in letters[0].reason
    assert (summary.read, summary.written, summary.dead_lettered) == (3, 2, 1)


# -- nothing both written and dead-lettered, nothing twice -----------------------------


def test_a_lock_after_a_rejected_record_never_writes_a_record_twice(tmp_path: Path) -> None:
    """Repro: a constraint split the batch, a lock made the whole batch retry: [1,2,1,2,3]."""
    db = tmp_path / "x.db"
    sql(db, "PRAGMA journal_mode=DELETE", "CREATE TABLE t (id INTEGER, CHECK (id != 4))")
    reader = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM t").fetchall()  # a read lock: commits must wait

    def release() -> None:
        # The loader has inserted and waits to commit: its journal exists.
        wait_until(lambda: (tmp_path / "x.db-journal").exists())
        reader.execute("COMMIT")

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        summary, letters = load(db, [{"id": n} for n in range(1, 8)], retries=20, busy_timeout=0.2)
    finally:
        releaser.join(HANG)
        reader.close()
    assert [r["id"] for r in rows(db)] == [1, 2, 3, 5, 6, 7]
    assert [letter.line for letter in letters] == [4]
    assert (summary.written, summary.dead_lettered) == (6, 1)


# -- faults end cleanly ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "table", "param", "message"),
    [
        (None, "", "table", "non-empty"),
        (None, "sqlite_master", "table", "reserved"),
        (None, "_rxbatch_loads", "table", "checkpoints"),
        ("CREATE VIEW v AS SELECT 1 AS a", "v", "table", "is a view"),
        ("CREATE TABLE t (a); CREATE INDEX i ON t (a)", "I", "table", "is a index"),
    ],
)
def test_a_target_that_is_not_a_table_is_refused_naming_it(
    tmp_path: Path, setup: str | None, table: str, param: str, message: str
) -> None:
    db = tmp_path / "x.db"
    if setup:
        sql(db, *setup.split(";"))
    with pytest.raises((LoadError, ValueError)) as caught:
        Loader(str(db), table).load(['{"a": 1}'])
    assert message in str(caught.value)
    if isinstance(caught.value, LoadError):
        assert caught.value.param == param and caught.value.summary is None


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    db.write_bytes(b"this is not a database, it is text " * 100)
    with pytest.raises(LoadError, match="not a SQLite database") as caught:
        Loader(str(db), "t").load(['{"a": 1}'])
    assert caught.value.param == "db"


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="does not exist") as caught:
        Loader(str(tmp_path / "nope" / "x.db"), "t").load(['{"a": 1}'])
    assert caught.value.param == "db"


@pytest.mark.parametrize("value", [math.nan, math.inf, 1e20, 1e-7, 0, -1])
def test_flush_intervals_the_clock_cannot_use_are_refused(tmp_path: Path, value: float) -> None:
    with pytest.raises(ValueError, match="flush_interval must be between"):
        Loader(str(tmp_path / "x.db"), "t", flush_interval=value)


def test_a_database_locked_at_start_up_gets_the_retries(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sql(db, "PRAGMA journal_mode=DELETE", "CREATE TABLE t (a)")
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing a rollback-journal database
    try:
        with pytest.raises(LoadError, match="locked") as caught:
            Loader(str(db), "t", retries=0, busy_timeout=0.1).load(['{"a": 1}'])
        assert caught.value.param == "db"
        released = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
        released.start()
        summary = Loader(str(db), "t", retries=50, busy_timeout=0.1).load(['{"a": 1}'])
        released.join(HANG)
    finally:
        holder.close()
    assert summary.written == 1


def test_abort_while_waiting_for_the_database_at_start_up_returns_at_once(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sql(db, "PRAGMA journal_mode=DELETE", "CREATE TABLE t (a)")
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    loader = Loader(str(db), "t", retries=1000, busy_timeout=5)
    result: list[LoadSummary] = []
    loading = threading.Thread(target=lambda: result.append(loader.load(['{"a": 1}'])))
    loading.start()
    try:
        loader.abort()
        loading.join(HANG)
    finally:
        holder.close()
    assert not loading.is_alive()
    (summary,) = result
    assert summary.interrupted and summary.read == 0 and count(db) == 0


def test_an_on_dead_letter_that_raises_stops_the_load_with_exact_accounting(
    tmp_path: Path,
) -> None:
    db = tmp_path / "x.db"
    seen: list[int] = []

    def fragile(letter: DeadLetter) -> None:
        if len(seen) == 2:
            raise OSError("the dead-letter queue is down")
        seen.append(letter.line)

    lines = [{"n": n} if n % 10 else "bad" for n in range(1, 101)]  # bad at 10, 20, ...
    with pytest.raises(LoadError, match="queue is down") as caught:
        Loader(str(db), "t", batch_size=15, on_dead_letter=fragile).load(
            [x if isinstance(x, str) else json.dumps(x) for x in lines]
        )
    summary = caught.value.summary
    assert summary is not None and isinstance(caught.value.__cause__, OSError)
    written = [r["n"] for r in rows(db)]
    assert seen == [10, 20]
    assert summary.written == len(written) and summary.dead_lettered == 2
    assert summary.read == accounted(summary) and summary.not_written > 0
    assert not set(seen) & set(written)  # nothing both written and dead-lettered
    assert written == [n for n in range(1, max(written) + 1) if n % 10]  # a committed prefix


def test_an_on_batch_that_raises_stops_the_load_and_names_the_cause(tmp_path: Path) -> None:
    def broken(_: object) -> None:
        raise ZeroDivisionError("in the progress bar")

    with pytest.raises(LoadError, match="in the progress bar") as caught:
        Loader(str(tmp_path / "x.db"), "t", batch_size=2, on_batch=broken).load(
            [json.dumps({"n": n}) for n in range(10)]
        )
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    summary = caught.value.summary
    assert summary is not None and summary.read == accounted(summary)


def test_abort_while_waiting_for_a_lock_stops_at_once_without_dead_letters(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sql(db, "CREATE TABLE t (n)")
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # a writer that never lets go
    letters: list[DeadLetter] = []
    loader = Loader(str(db), "t", retries=1000, busy_timeout=5, on_dead_letter=letters.append)
    result: list[BaseException | LoadSummary] = []

    def run() -> None:
        try:
            result.append(loader.load([json.dumps({"n": n}) for n in range(50_000)]))
        except BaseException as error:
            result.append(error)

    loading = threading.Thread(target=run)
    loading.start()
    wait_until(lambda: loader._counts["read"] > 0)
    loader.abort()
    loading.join(HANG)
    holder.close()
    assert not loading.is_alive(), "abort did not stop the load"
    (summary,) = result
    assert isinstance(summary, LoadSummary), summary
    assert (summary.written, summary.dead_lettered, letters) == (0, 0, [])
    assert summary.not_written == summary.read and summary.interrupted
    assert count(db) == 0


def test_stop_commits_what_was_read(tmp_path: Path) -> None:
    db, stop_here = tmp_path / "x.db", threading.Event()
    loader = Loader(str(db), "t", batch_size=1000, flush_interval=3600)

    def lines() -> Iterator[str]:
        for n in range(250):
            yield json.dumps({"n": n})
        loader.stop()
        stop_here.set()
        yield json.dumps({"n": "got after stop: not read"})

    summary = loader.load(lines())
    assert summary.interrupted and summary.complete
    assert [r["n"] for r in rows(db)] == list(range(250))


# -- conflicts: rerun without duplicates ----------------------------------------------


def test_pk_upsert_makes_a_rerun_idempotent_and_updates_only_given_columns(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    first = [{"id": 1, "v": "a", "w": 1}, {"id": 2, "v": "b", "w": 2}]
    load(db, first, pk="id", on_conflict="upsert")
    summary, _ = load(db, [{"id": 2, "v": "B"}, {"id": 3, "v": "c"}], pk="id", on_conflict="upsert")
    assert rows(db, order="id") == [
        {"id": 1, "v": "a", "w": 1},
        {"id": 2, "v": "B", "w": 2},  # w kept: the record did not give it
        {"id": 3, "v": "c", "w": None},
    ]
    assert summary.written == 2


def test_ignore_keeps_rows_and_counts_what_it_skipped(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    load(db, [{"id": 1, "v": "a"}], pk="id")
    summary, letters = load(db, [{"id": 1, "v": "z"}, {"id": 2, "v": "b"}, {"v": "no key"}],
                            on_conflict="ignore")  # fmt: skip
    assert rows(db, order="id") == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    assert (summary.written, summary.ignored, summary.dead_lettered) == (1, 1, 1)
    assert "primary key" in letters[0].reason and summary.complete


def test_replace_replaces_the_row(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    load(db, [{"id": 1, "v": "a", "w": 1}], pk="id")
    load(db, [{"id": 1, "v": "z"}], pk="id", on_conflict="replace")
    assert rows(db) == [{"id": 1, "v": "z", "w": None}]


def test_a_composite_pk_is_created_not_null(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    summary, letters = load(db, [{"a": 1, "b": 1}, {"a": 1}, {"b": 2, "a": 1}], pk="a,b")
    assert rows(db) == [{"a": 1, "b": 1}, {"a": 1, "b": 2}]
    assert "NOT NULL" in letters[0].reason and summary.complete
    assert sql(db, "SELECT name, pk FROM pragma_table_info('t') ORDER BY cid") == [
        ("a", 1),
        ("b", 2),
    ]


@pytest.mark.parametrize(
    ("setup", "options", "message"),
    [
        (None, {"on_conflict": "upsert"}, "needs a primary key"),
        ("CREATE TABLE t (id, v)", {"on_conflict": "ignore"}, "needs a primary key"),
        ("CREATE TABLE t (id, v)", {"pk": "id"}, "no UNIQUE index"),
        ("CREATE TABLE t (id PRIMARY KEY, v)", {"pk": "nope"}, "no column 'nope'"),
    ],
)
def test_conflict_modes_need_a_key_that_exists(
    tmp_path: Path, setup: str | None, options: dict[str, Any], message: str
) -> None:
    db = tmp_path / "x.db"
    if setup:
        sql(db, setup)
    with pytest.raises(LoadError, match=message) as caught:
        Loader(str(db), "t", **options).load(['{"id": 1}'])
    assert caught.value.param == "pk"


def test_a_unique_index_serves_as_the_key(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sql(db, "CREATE TABLE t (id, v)", "CREATE UNIQUE INDEX t_id ON t (id)")
    load(db, [{"id": 1, "v": "a"}])
    load(db, [{"id": 1, "v": "b"}], pk="ID", on_conflict="upsert")
    assert rows(db) == [{"id": 1, "v": "b"}]


# -- resume ---------------------------------------------------------------------------


def test_resume_continues_after_the_last_committed_line(tmp_path: Path) -> None:
    db, source = tmp_path / "x.db", tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(100)))
    first = Loader(str(db), "t", resume=True, batch_size=10).load(str(source))
    assert first.written == 100
    with source.open("a") as more:  # the log grew
        more.write("".join(json.dumps({"n": n}) + "\n" for n in range(100, 130)))
    second = Loader(str(db), "t", resume=True, batch_size=10).load(str(source))
    assert (second.resumed_after, second.read, second.written) == (100, 30, 30)
    assert [r["n"] for r in rows(db)] == list(range(130))
    assert sql(db, "SELECT line, offset FROM _rxbatch_loads") == [(130, source.stat().st_size)]


def test_resume_refuses_a_rewritten_file_and_a_stream(tmp_path: Path) -> None:
    db, source = tmp_path / "x.db", tmp_path / "in.jsonl"
    source.write_text('{"n": 1}\n{"n": 2}\n')
    Loader(str(db), "t", resume=True).load(str(source))
    source.write_text('{"n": 7}\n{"n": 8}\n{"n": 9}\n')
    with pytest.raises(LoadError, match="replaced or rewritten") as caught:
        Loader(str(db), "t", resume=True).load(str(source))
    assert caught.value.param == "source"
    with pytest.raises(LoadError, match="file path") as stream:
        Loader(str(db), "t", resume=True).load(['{"n": 1}'])
    assert stream.value.param == "source"


def test_resume_takes_back_dead_letters_of_a_batch_that_never_committed(tmp_path: Path) -> None:
    db, source, dead = tmp_path / "x.db", tmp_path / "in.jsonl", tmp_path / "dead.jsonl"
    source.write_text("".join(("oops" if n % 7 == 0 else json.dumps({"n": n})) + "\n"
                              for n in range(1, 50)))  # fmt: skip
    first = Loader(str(db), "t", resume=True, batch_size=10, dead_letters=str(dead))
    first.load(str(source))
    committed = dead.read_bytes()
    # A crash between the dead letters' write and the commit leaves letters of
    # a batch that is not in the checkpoint: a resumed load cuts them off.
    uncommitted = {"line": 99, "reason": "never committed", "text": "x", "source": str(source)}
    with dead.open("ab") as file:
        file.write(json.dumps(uncommitted).encode() + b"\n" + b'{"line": 100, "rea')  # torn
    again = Loader(str(db), "t", resume=True, batch_size=10, dead_letters=str(dead))
    assert again.load(str(source)).read == 0
    assert dead.read_bytes() == committed
    assert [json.loads(x)["line"] for x in committed.splitlines()] == [7, 14, 21, 28, 35, 42, 49]


def test_a_last_line_loaded_before_its_line_end_is_not_loaded_twice(tmp_path: Path) -> None:
    db, source = tmp_path / "x.db", tmp_path / "app.log"
    source.write_bytes(b'{"n": 1}\n{"n": 2}')  # whole, but its line end not written yet
    Loader(str(db), "t", resume=True).load(str(source))
    with source.open("ab") as log:
        log.write(b'\n{"n": 3}\n')
    again = Loader(str(db), "t", resume=True).load(str(source))
    assert [r["n"] for r in rows(db)] == [1, 2, 3]
    assert (again.resumed_after, again.read) == (2, 1)
    assert sql(db, "SELECT line FROM _rxbatch_loads") == [(3,)]  # numbered as wc -l would


def test_two_resumable_loads_of_one_file_cannot_run_at_once(tmp_path: Path) -> None:
    db, source = tmp_path / "x.db", tmp_path / "in.jsonl"
    source.write_text('{"n": 1}\n')
    started, go_on = threading.Event(), threading.Event()

    def slow(_: object) -> None:
        started.set()
        assert go_on.wait(HANG)

    first = Loader(str(db), "t", resume=True, on_batch=slow)
    running = threading.Thread(target=first.load, args=(str(source),))
    running.start()
    try:
        assert started.wait(HANG)
        with pytest.raises(LoadError, match="another process") as caught:
            Loader(str(db), "t", resume=True).load(str(source))
        assert caught.value.param == "source" and not caught.value.usage
    finally:
        go_on.set()
        running.join(HANG)
    assert [r["n"] for r in rows(db)] == [1]


def test_resume_must_be_a_bool(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="resume must be True or False"):
        Loader(str(tmp_path / "x.db"), "t", resume="no")  # type: ignore[arg-type]


def test_a_trigger_that_rolls_everything_back_costs_only_its_record(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sql(
        db,
        "CREATE TABLE t (n)",
        "CREATE TRIGGER no_13 BEFORE INSERT ON t WHEN new.n = 13 "
        "BEGIN SELECT RAISE(ROLLBACK, 'thirteen'); END",
    )
    summary, letters = load(db, [{"n": n} for n in range(10, 20)], batch_size=5)
    assert [r["n"] for r in rows(db)] == [n for n in range(10, 20) if n != 13]
    assert [letter.line for letter in letters] == [4] and "thirteen" in letters[0].reason
    assert summary.complete


def test_journal_mode_wal_for_a_new_database_and_kept_for_an_existing_one(tmp_path: Path) -> None:
    new, old = tmp_path / "new.db", tmp_path / "old.db"
    load(new, [{"a": 1}])
    sql(old, "PRAGMA journal_mode=DELETE", "CREATE TABLE t (a)")
    load(old, [{"a": 1}])
    assert sql(new, "PRAGMA journal_mode") == [("wal",)]
    assert sql(old, "PRAGMA journal_mode") == [("delete",)]
    load(old, [{"a": 2}], journal_mode="truncate")  # kept per connection: the journal stays
    assert (tmp_path / "old.db-journal").stat().st_size == 0
    load(new, [{"a": 2}], journal_mode="delete")  # leaving WAL is stored in the file
    assert sql(new, "PRAGMA journal_mode") == [("delete",)]


def test_a_loader_loads_once(tmp_path: Path) -> None:
    loader = Loader(str(tmp_path / "x.db"), "t")
    assert loader.load(['{"a": 1}']).written == 1
    with pytest.raises(RuntimeError, match="loads once"):
        loader.load(['{"a": 2}'])


# -- helpers --------------------------------------------------------------------------


def count(db: Path) -> int:
    try:
        return int(sql(db, "SELECT count(*) FROM t")[0][0])
    except sqlite3.OperationalError:
        return 0


def wait_until(condition: Any) -> None:
    """Poll until ``condition()`` holds (bounded by HANG; not a timing assertion)."""
    stop = threading.Event()
    for _ in range(int(HANG / 0.005)):
        if condition():
            return
        stop.wait(0.005)
    raise AssertionError("condition never held")
