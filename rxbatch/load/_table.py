"""The SQLite side of a load: checking the target, and writing one batch.

One batch is one transaction, taken with ``BEGIN IMMEDIATE`` so that a busy
database shows at the start of the transaction, before any work:

1. read the table's columns (again, if another connection changed them);
   create the table from the records' keys if it is missing; add a column
   for each new key, each in a savepoint, so a key SQLite cannot take (a STRICT
   table, a NUL, too many columns) rejects only the records holding it;
2. insert the rows with ``executemany`` in a savepoint; if a record is
   rejected (a constraint, a datatype, a value SQLite cannot hold), roll back
   to the savepoint and split the rows in halves until each rejected record
   stands alone, inside the same transaction;
3. record the checkpoint (``resume``), hand over the batch's dead letters,
   and commit.

If the database is busy, the whole transaction is rolled back and tried
again later: nothing of a failed try is kept or handed over, so a record is
never written or dead-lettered twice. An error no retry can fix stops the
load.

Column names are matched as SQLite matches them: ASCII letters
case-insensitively, so keys ``id`` and ``ID`` are one column. A key naming no
column yet adds one, spelled as first seen.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any, Literal

from ._checkpoint import TABLE as CHECKPOINTS
from ._errors import Busy, LoadError, Stopped, classify
from ._lines import TooLong
from ._records import DeadLetter, cell, fold, overflowed, shown

__all__ = ["Conflict", "Entry", "Settings", "Target", "Written", "quote"]

Conflict = Literal["error", "ignore", "replace", "upsert"]
JOURNAL_MODES = ("wal", "delete", "truncate", "persist")
# line number, the line's bytes, the parsed record
Entry = tuple[int, "bytes | TooLong", dict[str, Any]]

_INF = math.inf
_SLICE = 0.1  # seconds SQLite itself waits for a lock before we look at the stop flag


def quote(name: str) -> str:
    """An SQL identifier, quoted.

    Example:
        >>> quote('we"ird')
        '"we""ird"'
    """
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Settings:
    """What every connection of one load shares."""

    path: str
    table: str
    pk: tuple[str, ...]
    conflict: Conflict
    busy_timeout: float
    retries: int
    aborted: threading.Event
    journal_mode: str | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)


@dataclass
class Written:
    """What one batch's transaction did."""

    written: int = 0
    ignored: int = 0
    dead: list[DeadLetter] = field(default_factory=list)


@dataclass
class _Schema:
    version: int
    columns: list[str]  # insertable, in table order
    by_fold: dict[str, str]  # every column (hidden ones too), folded -> as declared
    unwritable: dict[str, str]  # generated or hidden columns: why a record can't fill them
    defaults: set[str]  # columns with a DEFAULT: left out of an INSERT when a record lacks them
    pk: tuple[str, ...]

    @property
    def exact(self) -> frozenset[str]:
        return frozenset(self.columns)


def connect(settings: Settings) -> sqlite3.Connection:
    """A connection of the load's; a rollback journal mode is set on each (it is not stored)."""
    db = sqlite3.connect(
        settings.path, timeout=_SLICE, isolation_level=None, check_same_thread=False
    )
    if settings.journal_mode not in (None, "wal"):
        with_lock(settings, lambda: db.execute(f"PRAGMA journal_mode={settings.journal_mode}"))
    return db


def with_lock(
    settings: Settings,
    action: Callable[[], Any],
    *,
    tries: int | None = None,
    starting: bool = False,
) -> Any:
    """Run ``action`` until the database is not busy: ``retries`` + 1 tries of ``busy_timeout``.

    SQLite waits in slices of 0.1 s, between which an abort is noticed (and,
    while ``starting``, a stop: nothing was read, so there is nothing to
    commit first). Between tries it backs off (0.05 s, doubling, at most 1 s).

    Raises:
        Busy: the database stayed busy through every try.
        Stopped: the load was aborted (or stopped, while starting) meanwhile.
    """

    def give_up() -> bool:
        return settings.aborted.is_set() or (starting and settings.stop_requested.is_set())

    total = settings.retries + 1 if tries is None else tries
    for attempt in range(total):
        deadline = time.monotonic() + settings.busy_timeout
        while True:
            if give_up():
                raise Stopped
            try:
                return action()
            except (sqlite3.OperationalError, sqlite3.DatabaseError) as error:
                if classify(error) != "busy":
                    raise
                if time.monotonic() >= deadline:
                    break
        if attempt + 1 < total:
            pause = time.monotonic() + min(1.0, 0.05 * 2**attempt)
            while (left := pause - time.monotonic()) > 0:
                if give_up():
                    raise Stopped
                settings.aborted.wait(min(left, _SLICE))
    raise Busy(f"the database stayed locked for {total} tries of {settings.busy_timeout:g} s")


class Target:
    """The table a load writes into, through one connection (one writer thread).

    Example:
        >>> import os, tempfile, threading
        >>> settings = Settings(os.path.join(tempfile.mkdtemp(), "t.db"), "t", (), "error",
        ...                     1.0, 0, threading.Event())
        >>> target = Target(settings)
        >>> rows = [(1, b'{"a": 1}', {"a": 1}), (2, b'{"A": 2, "b": [1]}', {"A": 2, "b": [1]})]
        >>> done = target.write(rows, [])
        >>> done.written, target.db.execute("SELECT * FROM t").fetchall()
        (2, [(1, None), (2, '[1]')])
        >>> target.close()
    """

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.name = quote(settings.table)
        self.db = connect(settings)
        self.schema: _Schema | None = None
        self.sql: dict[tuple[str, ...], str] = {}
        self.unclear_streak = 0  # records rejected with SQLITE_ERROR since one was written

    def close(self) -> None:
        self.db.close()

    # -- one batch ---------------------------------------------------------------

    def write(
        self,
        entries: list[Entry],
        dead: list[DeadLetter],
        *,
        hand_over: Callable[[sqlite3.Connection, list[DeadLetter]], None] | None = None,
        take_back: Callable[[], None] | None = None,
    ) -> Written:
        """Write ``entries`` in one transaction; ``dead`` are the batch's dead letters so far.

        ``hand_over(db, dead_letters)`` runs last in the transaction (the
        checkpoint, then the dead letters); if it raises, the batch is rolled
        back. If the commit then fails, ``take_back()`` is asked to undo the
        handover.

        Raises:
            Busy: the database stayed busy (nothing was written).
            Stopped: the load was aborted (nothing was written).
            LoadError: an error no retry can fix (nothing was written); the
                SQLite error is its ``__cause__``.
        """
        excluded: dict[int, DeadLetter] = {}  # records that made SQLite roll everything back
        one_by_one = False
        while True:
            try:
                return self._attempt(entries, dead, excluded, one_by_one, hand_over, take_back)
            except _Lost as lost:  # the transaction is gone: try again without the culprit
                if lost.entry is None:
                    one_by_one = True  # insert record by record to find it
                else:
                    number, raw, _ = lost.entry
                    excluded[number] = DeadLetter(number, _rejected(lost.error), shown(raw))

    def _attempt(
        self,
        entries: list[Entry],
        dead: list[DeadLetter],
        excluded: dict[int, DeadLetter],
        one_by_one: bool,
        hand_over: Callable[[sqlite3.Connection, list[DeadLetter]], None] | None,
        take_back: Callable[[], None] | None,
    ) -> Written:
        db = self.db
        handed = False
        with_lock(self.s, lambda: db.execute("BEGIN IMMEDIATE"), tries=1)
        try:
            done = Written(dead=[*dead, *excluded.values()])
            entries = [e for e in entries if e[0] not in excluded] if excluded else entries
            if entries:
                fitted = self._fit(self._schema(), entries, done.dead)
                schema = self._schema()
                for sql, run, rows in self._runs(schema, fitted, done.dead):
                    if one_by_one:
                        for entry, row in zip(run, rows, strict=True):
                            self._insert_run(sql, [entry], [row], done)
                    else:
                        self._insert_run(sql, run, rows, done)
            done.dead.sort(key=lambda letter: letter.line)
            if self.s.aborted.is_set():
                raise Stopped
            if hand_over is not None:
                hand_over(db, done.dead)
                handed = True
            with_lock(self.s, lambda: db.execute("COMMIT"))
            return done
        except BaseException as error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self.schema = None  # the rollback may have undone columns we added
            if handed and take_back is not None:
                take_back()
            if isinstance(error, sqlite3.Error):
                if classify(error) == "busy":
                    raise Busy(str(error)) from error
                raise LoadError(f"the database refused the batch: {error}") from error
            raise

    def _schema(self) -> _Schema:
        """The table's columns, read again only if the database schema changed."""
        version = self.db.execute("PRAGMA schema_version").fetchone()[0]
        if self.schema is not None and self.schema.version == version:
            return self.schema
        rows = self.db.execute(f"PRAGMA table_xinfo({self.name})").fetchall()
        columns: list[str] = []
        by_fold: dict[str, str] = {}
        unwritable: dict[str, str] = {}
        defaults: set[str] = set()
        pk: list[tuple[int, str]] = []
        for _, name, _, _, default, pk_index, hidden in rows:
            by_fold[fold(name)] = name
            if hidden in (2, 3):
                unwritable[name] = "generated"
            elif hidden:  # a virtual table's hidden column (FTS5's rank, say)
                unwritable[name] = "hidden"
            else:
                columns.append(name)
                if default is not None:
                    defaults.add(name)
                if pk_index:
                    pk.append((pk_index, name))
        self.schema = _Schema(
            version, columns, by_fold, unwritable, defaults, tuple(n for _, n in sorted(pk))
        )
        self.sql.clear()
        return self.schema

    def _fit(self, schema: _Schema, entries: list[Entry], dead: list[DeadLetter]) -> list[Entry]:
        """Map keys to columns (adding columns); dead-letter records that cannot fit."""
        exact = schema.exact
        if set().union(*map(_record, entries)) <= exact:
            return entries  # every key is a column, spelled as declared: the common case
        fitted: list[Entry] = []
        new: dict[str, str] = {}  # folded -> first spelling, keys of no column yet
        room = self.db.getlimit(sqlite3.SQLITE_LIMIT_COLUMN) - len(schema.by_fold)
        for entry in entries:
            number, raw, record = entry
            if record.keys() <= exact:
                fitted.append(entry)
                continue
            renamed, added, reason = self._columns_of(schema, record, new)
            if reason is None and len(new) + len(added) > room:
                reason = (
                    f"{len(added):,} keys that are no column yet: the table would have more "
                    f"than the {room + len(schema.by_fold):,} columns SQLite allows"
                )
            if reason is not None:
                dead.append(DeadLetter(number, reason, shown(raw)))
                continue
            new.update(added)
            fitted.append((number, raw, renamed))
        if not new:
            return fitted
        refused = self._add_columns(schema, list(new.values()))
        if not refused:
            return fitted
        kept: list[Entry] = []
        for entry in fitted:
            bad = next((k for k in entry[2] if k in refused), None)
            if bad is None:
                kept.append(entry)
            else:
                dead.append(DeadLetter(entry[0], refused[bad], shown(entry[1])))
        return kept

    @staticmethod
    def _columns_of(
        schema: _Schema, record: dict[str, Any], new: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str], str | None]:
        """The record keyed by column names, the keys that need a new column, or why it can't be."""
        renamed: dict[str, Any] = {}
        added: dict[str, str] = {}
        for key, value in record.items():
            folded = fold(key)
            column = schema.by_fold.get(folded) or new.get(folded) or added.get(folded)
            if column is None:
                column = added[folded] = key
            if column in renamed:
                first = next(k for k in record if fold(k) == folded)
                return (
                    renamed,
                    added,
                    (
                        f"keys {first!r} and {key!r} name the same column "
                        "(SQLite column names ignore ASCII case)"
                    ),
                )
            if column in schema.unwritable:
                why = schema.unwritable[column]
                reason = f"column {column!r} is {why}: a record cannot give it a value"
                return renamed, added, reason
            renamed[column] = value
        return renamed, added, None

    def _add_columns(self, schema: _Schema, keys: list[str]) -> dict[str, str]:
        """Create the table or add columns for ``keys``; return the refused keys and why.

        A missing table is created with every key at once; only if that fails
        is it created key by key, so that the key at fault is found.
        """
        self.schema = None
        refused: dict[str, str] = {}
        exists = bool(schema.by_fold)
        if not exists and self._savepoint(self._create(keys)) is None:
            return refused
        present = {fold(k) for k in self.s.pk}
        for key in keys:
            if exists and fold(key) in present:
                continue  # a primary key column the table was created with
            if exists:
                statement = f"ALTER TABLE {self.name} ADD COLUMN {quote(key)}"
            else:
                statement = self._create([key])
            error = self._savepoint(statement)
            if error is None:
                exists = True
                present.add(fold(key))
            else:
                verb = "added" if exists else "created with"
                refused[key] = f"column {key!r} cannot be {verb}: {error}"
        return refused

    def _create(self, keys: list[str]) -> str:
        """CREATE TABLE with the primary key columns (NOT NULL) and ``keys``."""
        pk = self.s.pk
        taken = {fold(k) for k in pk}
        columns = [*pk, *(k for k in keys if fold(k) not in taken)]
        definitions = ", ".join(quote(c) + (" NOT NULL" if c in pk else "") for c in columns)
        if pk:
            definitions += f", PRIMARY KEY ({', '.join(map(quote, pk))})"
        return f"CREATE TABLE {self.name} ({definitions})"

    def _savepoint(self, statement: str) -> BaseException | None:
        """Run one schema statement in a savepoint; return its error if it belongs to the key."""
        db = self.db
        db.execute("SAVEPOINT rxbatch_column")
        try:
            db.execute(statement)
        except Exception as error:
            db.execute("ROLLBACK TO rxbatch_column")
            db.execute("RELEASE rxbatch_column")
            if classify(error) == "busy":
                raise
            if classify(error) == "fatal" and not _schema_error(error):
                raise
            return error
        db.execute("RELEASE rxbatch_column")
        return None

    def _runs(
        self, schema: _Schema, entries: list[Entry], dead: list[DeadLetter]
    ) -> Iterator[tuple[str, list[Entry], list[tuple[Any, ...]]]]:
        """Rows to insert, in runs of consecutive records that insert the same columns.

        Usually every row has every column (a missing key is NULL) and there
        is one run. A column with a DEFAULT is left out of the rows whose
        record lacks it, and an upsert names only the record's own columns
        (so it updates only those): rows are then grouped by their columns.
        """
        columns = tuple(schema.columns)
        upsert = self.s.conflict == "upsert"
        by_shape = upsert or bool(schema.defaults)
        keys = self._conflict_keys(schema)
        if not by_shape and not keys:  # the common case, at C speed where it can be
            rows = [tuple(map(record.get, columns)) for _, _, record in entries]
            text = b"".join(map(_raw, entries))
            if not _nested(text, len(entries)) and not (_may_overflow(text) and _infinite(rows)):
                yield self._statement(columns), entries, rows
                return
        run: list[Entry] = []
        run_rows: list[tuple[Any, ...]] = []
        run_columns = columns
        for entry in entries:
            number, raw, record = entry
            if keys and any(record.get(k) is None for k in keys):
                reason = (
                    f"no value for the primary key ({', '.join(keys)}), which "
                    f"--{self.s.conflict} needs to match records"
                )
                dead.append(DeadLetter(number, reason, shown(raw)))
                continue
            shape = columns
            if by_shape:
                shape = tuple(
                    c for c in columns if c in record or not (upsert or c in schema.defaults)
                )
            values = tuple(map(record.get, shape))
            if type(raw) is bytes and _nested(raw, 1):
                try:
                    values = tuple(map(cell, values))
                except (ValueError, RecursionError) as error:
                    dead.append(DeadLetter(number, f"cannot be stored: {error}", shown(raw)))
                    continue
            if overflowed(values):
                reason = (
                    "cannot be stored: a number is too large for a 64-bit float "
                    "(it would become infinity)"
                )
                dead.append(DeadLetter(number, reason, shown(raw)))
                continue
            if shape != run_columns and run:
                yield self._statement(run_columns), run, run_rows
                run, run_rows = [], []
            run_columns = shape
            run.append(entry)
            run_rows.append(values)
        if run:
            yield self._statement(run_columns), run, run_rows

    def _conflict_keys(self, schema: _Schema) -> tuple[str, ...]:
        if self.s.conflict == "error":
            return ()
        if self.s.pk:
            return tuple(schema.by_fold.get(fold(k), k) for k in self.s.pk)
        return schema.pk

    def _statement(self, columns: tuple[str, ...]) -> str:
        """The INSERT for rows of ``columns``, in this load's conflict mode.

        ``OR ABORT`` overrides a table's own ``ON CONFLICT ROLLBACK``/``FAIL``,
        so a rejected record undoes only itself. ``ignore``, ``replace`` and
        ``upsert`` act on a conflict on the key alone; a record that breaks
        any other constraint is rejected (dead-lettered), never dropped.
        """
        sql = self.sql.get(columns)
        if sql is not None:
            return sql
        sql = (
            f"INSERT OR ABORT INTO {self.name} ({', '.join(map(quote, columns))}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        if self.s.conflict != "error":
            assert self.schema is not None
            keys = self._conflict_keys(self.schema)
            folded_keys = {fold(k) for k in keys}
            updates = [c for c in columns if fold(c) not in folded_keys]
            sql += f" ON CONFLICT ({', '.join(map(quote, keys))}) DO "
            if self.s.conflict == "ignore" or not updates:
                sql += "NOTHING"
            else:
                sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in updates)
                sql += f"UPDATE SET {sets}"
        if len(self.sql) >= 256:  # bounded: hostile input can make many shapes
            self.sql.clear()
        self.sql[columns] = sql
        return sql

    def _insert_run(
        self, sql: str, entries: list[Entry], rows: list[tuple[Any, ...]], done: Written
    ) -> None:
        """Insert one run of rows, isolating rejected records.

        An SQLITE_ERROR (a generated column's ``json_extract`` of bad text, an
        overflow in a CHECK) may come from one record's values or from the
        schema itself: records that hit one are isolated like rejected ones,
        but if every record of a run does (or a hundred in a row across
        batches, with none written between), it is the schema's: the load stops.
        """
        unclear = self._insert(sql, entries, rows, done)
        if unclear:
            self.unclear_streak += unclear
            if (unclear == len(rows) > 1) or self.unclear_streak >= 100:
                reason = done.dead[-1].reason
                raise LoadError(
                    f"every record fails, the table's fault rather than theirs: {reason}"
                )

    def _insert(
        self, sql: str, entries: list[Entry], rows: list[tuple[Any, ...]], done: Written
    ) -> int:
        """Insert ``rows``; split in halves to isolate the records the database rejects.

        Returns how many records were rejected with an unclear error (SQLITE_ERROR).

        Raises:
            _Lost: SQLite rolled the whole transaction back (a trigger's
                ``RAISE(ROLLBACK)``); ``entry`` is the record if it was alone.
        """
        db = self.db
        db.execute("SAVEPOINT rxbatch_rows")
        try:
            cursor = db.executemany(sql, rows)
        except Exception as error:
            if not db.in_transaction:
                raise _Lost(entries[0] if len(entries) == 1 else None, error) from error
            db.execute("ROLLBACK TO rxbatch_rows")
            db.execute("RELEASE rxbatch_rows")
            kind = classify(error)
            unclear = kind == "fatal" and _schema_error(error)
            if kind != "record" and not unclear:
                raise
            if len(rows) == 1:
                number, raw, _ = entries[0]
                done.dead.append(DeadLetter(number, _rejected(error), shown(raw)))
                return int(unclear)
            half = len(rows) // 2
            return self._insert(sql, entries[:half], rows[:half], done) + self._insert(
                sql, entries[half:], rows[half:], done
            )
        db.execute("RELEASE rxbatch_rows")
        changed = cursor.rowcount
        done.written += changed
        done.ignored += len(rows) - changed
        self.unclear_streak = 0
        return 0


class _Lost(Exception):
    """SQLite rolled back the whole transaction while inserting."""

    def __init__(self, entry: Entry | None, error: BaseException) -> None:
        super().__init__(str(error))
        self.entry = entry
        self.error = error


def _nested(text: bytes, records: int) -> bool:
    """Whether the lines ``text`` of ``records`` may hold a nested object or array.

    A line of a record with none has exactly one ``{`` and no ``[``, unless a
    string holds one: then the records are only checked more closely.
    """
    return text.count(b"{") != records or b"[" in text


def _may_overflow(text: bytes) -> bool:
    """Whether a number in the lines ``text`` may be too large for a float (read as infinity).

    That takes an exponent of three digits or more, or 200 digits in a row (a
    two-digit exponent adds at most 99 to the 308 a float holds); lines with
    neither need no look at their values.
    """
    shapes = text.translate(_NUMBER_SHAPES)
    return b"e000" in shapes or b"e+000" in shapes or b"0" * 200 in shapes


# Digits become 0, e and E become e, + stays, everything else a space.
_NUMBER_SHAPES = bytes(
    48 if 48 <= b <= 57 else 101 if b in b"eE" else 43 if b == 43 else 32 for b in range(256)
)
_raw = itemgetter(1)
_record = itemgetter(2)


def _infinite(rows: list[tuple[Any, ...]]) -> bool:
    """Whether any value is infinite (a literal Infinity, or a number that overflowed)."""
    values = chain.from_iterable
    return _INF in values(rows) or -_INF in values(rows)


def _schema_error(error: BaseException) -> bool:
    """An SQLITE_ERROR from a CREATE/ALTER: the statement (the key) is at fault."""
    return (
        isinstance(error, sqlite3.Error)
        and (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF == 1
    )


def _rejected(error: BaseException) -> str:
    if isinstance(error, UnicodeEncodeError):
        return (
            "cannot be stored: a string holds a lone surrogate "
            f"({error.object[error.start : error.end]!a}), which is not valid Unicode text"
        )
    if isinstance(error, OverflowError):
        return "cannot be stored: an integer is beyond SQLite's 64-bit INTEGER range"
    if isinstance(error, sqlite3.Error):
        return f"rejected by the database: {error}"
    return f"cannot be stored: {type(error).__name__}: {error}"


# -- before the load ---------------------------------------------------------------


def check_target(settings: Settings) -> tuple[bool, tuple[str, ...]]:
    """Check the database and table can be loaded into; set the journal mode.

    Returns whether the table exists, and the conflict target (primary key
    columns) for ``ignore``/``replace``/``upsert``.

    Raises:
        LoadError: named ``db``, ``table``, ``pk`` or ``journal_mode``: why the
            load cannot start.
    """
    path = settings.path
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise LoadError(f"directory {folder} does not exist", param="db")
    if os.path.isdir(path):
        raise LoadError(f"{path} is a directory", param="db")
    existed = os.path.exists(path) and os.path.getsize(path) > 0
    if existed and not os.access(path, os.W_OK):
        raise LoadError(f"{path} is read-only", param="db")
    if not os.access(folder, os.W_OK):
        raise LoadError(f"directory {folder} is read-only (SQLite writes its journal there)",
                        param="db")  # fmt: skip
    try:
        db = connect(settings)
    except sqlite3.Error as error:
        raise LoadError(f"cannot open {path}: {error}", param="db") from error
    try:
        return _check(settings, db, existed)
    except sqlite3.Error as error:
        code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
        if code == 26:  # SQLITE_NOTADB
            raise LoadError(f"{path} is not a SQLite database", param="db") from error
        if code == 8:  # SQLITE_READONLY
            raise LoadError(f"{path} is read-only", param="db") from error
        raise LoadError(f"cannot use {path}: {error}", param="db", usage=False) from error
    except Busy as error:
        raise LoadError(
            f"{path} is locked by another connection ({error})", param="db", usage=False
        ) from error
    finally:
        db.close()


def _check(
    settings: Settings, db: sqlite3.Connection, existed: bool
) -> tuple[bool, tuple[str, ...]]:
    with_lock(settings, lambda: db.execute("PRAGMA schema_version").fetchone(), starting=True)
    wanted = settings.journal_mode or (None if existed else "wal")
    if wanted is not None:
        mode = with_lock(
            settings, lambda: db.execute(f"PRAGMA journal_mode={wanted}").fetchone(), starting=True
        )
        if mode is None or str(mode[0]).lower() != wanted:
            raise LoadError(
                f"could not set journal mode {wanted} (SQLite kept {mode and mode[0]})",
                param="journal_mode",
            )
    table = settings.table
    found = with_lock(
        settings,
        lambda: db.execute(
            # Triggers have a namespace of their own: only these can clash with a table.
            "SELECT type, name FROM sqlite_schema WHERE name = ? COLLATE NOCASE "
            "AND type IN ('table', 'view', 'index')",
            (table,),
        ).fetchone(),
        starting=True,
    )
    if found is not None and found[0] != "table":
        raise LoadError(f"{found[1]!r} is a {found[0]}, not a table", param="table")
    if found is None:
        if settings.conflict == "upsert" and not settings.pk:
            raise LoadError(
                "upsert needs a primary key to match records: give pk (--pk)", param="pk"
            )
        return False, settings.pk
    target = Target(settings)
    try:
        schema = with_lock(settings, target._schema, starting=True)
        if settings.pk:
            wanted_pk = {fold(k) for k in settings.pk}
            missing = [k for k in settings.pk if fold(k) not in schema.by_fold]
            if missing:
                raise LoadError(
                    f"table {table!r} has no column {missing[0]!r} for the primary key",
                    param="pk",
                )
            if {fold(k) for k in schema.pk} != wanted_pk and not _unique_index(
                db, table, wanted_pk
            ):
                have = ", ".join(schema.pk) or "rowid"
                raise LoadError(
                    f"table {table!r} has primary key ({have}) and no UNIQUE index on "
                    f"({', '.join(settings.pk)})",
                    param="pk",
                )
            return True, settings.pk
        if settings.conflict == "upsert" and not schema.pk:
            raise LoadError(
                f"upsert needs a primary key to match records, and table {table!r} has none: "
                "give pk (--pk) with a UNIQUE index",
                param="pk",
            )
        return True, schema.pk
    finally:
        target.close()


def _unique_index(db: sqlite3.Connection, table: str, columns: set[str]) -> bool:
    for _, name, unique, *_ in db.execute(f"PRAGMA index_list({quote(table)})").fetchall():
        if unique:
            indexed = {fold(row[2]) for row in db.execute(f"PRAGMA index_info({quote(name)})")}
            if indexed == columns:
                return True
    return False


__all__ += ["CHECKPOINTS", "JOURNAL_MODES", "check_target", "with_lock"]
