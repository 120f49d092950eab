"""Load JSON lines into SQLite in batches: the engine of ``rxbatch load``.

Lines are read on a thread of their own, parsed, batched with
``buffer_with_time_or_count`` (so a pause in the input commits what was read
within ``flush_interval``), and each batch is written by ``fan_out`` in one
transaction with ``executemany``. The table is created from the first
records' keys and gains a column for each new key. A line that is not a JSON
object, or a record the database rejects, goes to the dead letters with its
line number and the reason: a failing batch is split in halves until the bad
records stand alone, and the rest is written. Nothing is dropped silently.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from reactivex import operators as ops
from reactivex.subject import Subject

from ._fan_out import fan_out
from ._validation import positive_int, positive_timespan
from .node import Node
from .operators import buffer_with_time_or_count
from .results import BatchResult
from .retry import RetryPolicy
from .store import Store

__all__ = ["DeadLetter", "LoadSummary", "Loader"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A line that could not be loaded: where it was, why, and what it said.

    Example:
        >>> DeadLetter(7, "not a JSON object: list", "[1, 2]").to_json()
        '{"line": 7, "reason": "not a JSON object: list", "text": "[1, 2]"}'
    """

    line: int
    reason: str
    text: str

    def to_json(self) -> str:
        """One JSON line for the dead-letter file."""
        return json.dumps({"line": self.line, "reason": self.reason, "text": self.text})


@dataclass(frozen=True, slots=True)
class LoadSummary:
    """What a load did: counts, batches, throughput and batch latency.

    Example:
        >>> summary = LoadSummary(10, 9, 1, 2, 0.5, 0.01, interrupted=False)
        >>> summary.throughput, summary.complete
        (20.0, True)
    """

    read: int
    written: int
    dead_lettered: int
    batches: int
    elapsed: float
    p95_batch_latency: float
    interrupted: bool

    @property
    def throughput(self) -> float:
        """Records read per second."""
        return self.read / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def complete(self) -> bool:
        """Every record read was written or dead-lettered."""
        return self.read == self.written + self.dead_lettered

    def report(self) -> str:
        """The summary as a few lines of text."""
        ending = " (interrupted: the batch in progress was committed)" if self.interrupted else ""
        return (
            f"records read:      {self.read:,}{ending}\n"
            f"written:           {self.written:,}\n"
            f"dead-lettered:     {self.dead_lettered:,}\n"
            f"batches:           {self.batches:,}\n"
            f"throughput:        {self.throughput:,.0f} records/s\n"
            f"p95 batch latency: {self.p95_batch_latency * 1000:.1f} ms"
        )


Line = tuple[int, str]  # line number, text
Row = tuple[int, str, dict[str, Any]]  # line number, text, record


@dataclass
class _Written:
    written: int = 0
    dead: list[DeadLetter] = field(default_factory=list)


class _Table:
    """One SQLite table: its columns, grown as new keys arrive; a connection per thread."""

    def __init__(self, path: str, table: str) -> None:
        self.path = path
        self.name = _quote(table)
        self.columns: list[str] = []
        self.schema_lock = threading.Lock()
        self.local = threading.local()
        self.connections: list[sqlite3.Connection] = []
        with self._connection() as db:
            found = db.execute(f"PRAGMA table_info({self.name})").fetchall()
        self.columns = [row[1] for row in found]

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self.local, "db", None)
        if db is None:
            # Used by one writer thread; closed from the loading thread after
            # the writers have stopped.
            db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            self.local.db = db
            with self.schema_lock:
                self.connections.append(db)
        return db

    def close(self) -> None:
        with self.schema_lock:
            for db in self.connections:
                db.close()
            self.connections.clear()

    def write(self, rows: list[Row]) -> _Written:
        """Write ``rows`` in one transaction; split to isolate rejected records."""
        db = self._connection()
        self._grow(db, rows)
        columns = list(self.columns)
        sql = (
            f"INSERT INTO {self.name} ({', '.join(map(_quote, columns))}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        values = [tuple(_value(record.get(c)) for c in columns) for _, _, record in rows]
        try:
            db.execute("BEGIN")
            db.executemany(sql, values)
            db.execute("COMMIT")
            return _Written(len(rows))
        except sqlite3.OperationalError:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise  # busy or locked: fan_out retries the whole batch
        except sqlite3.DatabaseError as error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if len(rows) == 1:
                line, text, _ = rows[0]
                return _Written(0, [DeadLetter(line, f"rejected by the database: {error}", text)])
        half = len(rows) // 2
        first, second = self.write(rows[:half]), self.write(rows[half:])
        return _Written(first.written + second.written, first.dead + second.dead)

    def _grow(self, db: sqlite3.Connection, rows: list[Row]) -> None:
        keys = {key for _, _, record in rows for key in record}
        if keys <= set(self.columns):
            return
        with self.schema_lock:
            new = [key for _, _, record in rows for key in record if key not in self.columns]
            new = list(dict.fromkeys(new))  # first appearance order, no repeats
            if not self.columns:
                db.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(map(_quote, new))})"
                )
            else:
                for key in new:
                    db.execute(f"ALTER TABLE {self.name} ADD COLUMN {_quote(key)}")
            self.columns.extend(new)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float):
        return value  # bool is an int: stored as 0/1
    return json.dumps(value)  # nested objects and arrays as JSON text


def parse(number: int, text: str) -> Row | DeadLetter:
    """Parse one line into a row, or a dead letter saying why it cannot be one.

    Example:
        >>> parse(3, '{"id": 1}')
        (3, '{"id": 1}', {'id': 1})
        >>> parse(4, "[1]").reason
        'not a JSON object: list'
    """
    try:
        record = json.loads(text)
    except ValueError as error:
        return DeadLetter(number, f"invalid JSON: {error}", text)
    if not isinstance(record, dict):
        return DeadLetter(number, f"not a JSON object: {type(record).__name__}", text)
    if not record:
        return DeadLetter(number, "empty JSON object: no columns", text)
    return number, text, record


class Loader:
    """Stream JSON lines into a SQLite table in batches.

    Args:
        db: Path of the SQLite database (created if missing).
        table: Table name (created from the first records' keys if missing).
        batch_size: Records per transaction, at most.
        flush_interval: Seconds after a batch's first record when it is
            written even if not full.
        workers: Batches written at once (SQLite serializes writers; more
            than 1 helps only when records arrive faster than one writer).
        retries: Retries of a batch that fails with a transient error
            (database busy or locked).
        on_dead_letter: Receives every dead letter (default: kept in
            ``dead_letters``).
        on_batch: Called with each written batch's result (a progress bar).

    Example:
        >>> import tempfile, os
        >>> db = os.path.join(tempfile.mkdtemp(), "events.db")
        >>> summary = Loader(db, "events").load(['{"id": 1}', "oops", '{"id": 2, "kind": "x"}'])
        >>> summary.written, summary.dead_lettered
        (2, 1)
    """

    def __init__(
        self,
        db: str,
        table: str,
        *,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        workers: int = 1,
        retries: int = 3,
        on_dead_letter: Callable[[DeadLetter], None] | None = None,
        on_batch: Callable[[BatchResult[Any, Any]], None] | None = None,
    ) -> None:
        if not isinstance(table, str) or not table:
            raise ValueError(f"table must be a non-empty name, got {table!r}")
        self.batch_size = positive_int("batch_size", batch_size)
        self.flush_interval = positive_timespan("flush_interval", flush_interval)
        self.workers = positive_int("workers", workers)
        self.retries = positive_int("retries", retries, minimum=0)
        self.db, self.table = db, table
        self.dead_letters: list[DeadLetter] = []
        self.on_dead_letter = on_dead_letter or self.dead_letters.append
        self.on_batch = on_batch
        self._lock = threading.Lock()  # counts
        self._input = threading.Lock()  # the input's end: reader and stop() agree on it
        self._stopping = False
        self._interrupted = False
        self._used = False
        self._lines: Subject[Line] = Subject()

    def stop(self) -> None:
        """End the input now (Ctrl-C): what was read is written, then the load ends."""
        with self._input:
            self._interrupted = True
            if self._stopping:
                return
            self._stopping = True
            self._lines.on_completed()

    def load(self, lines: Iterable[str] | IO[str]) -> LoadSummary:
        """Load every line (an iterable of str, or a text file); blocks until done.

        Raises:
            RuntimeError: this loader has loaded already (make a new one).
        """
        with self._input:
            if self._used:
                raise RuntimeError("a Loader loads once; make a new Loader for more input")
            self._used = True
        table = _Table(self.db, self.table)
        started = time.perf_counter()
        counts = {"read": 0, "written": 0, "dead": 0, "batches": 0}
        latencies: list[float] = []
        done = threading.Event()
        failure: list[Exception] = []

        def dead(letter: DeadLetter) -> None:
            with self._lock:
                counts["dead"] += 1
            self.on_dead_letter(letter)

        def write(lines: list[Line]) -> _Written:
            # Parsing happens here, on the writer, not on the reader: the
            # reader then mostly waits on I/O instead of holding the GIL
            # against the writer.
            rows: list[Row] = []
            bad: list[DeadLetter] = []
            for number, text in lines:
                row = parse(number, text)
                if isinstance(row, DeadLetter):
                    bad.append(row)
                else:
                    rows.append(row)
            written = table.write(rows) if rows else _Written()
            return _Written(written.written, bad + written.dead)

        def record(store: Store, lines: list[Line], prepared: Any, written: _Written) -> _Written:
            for letter in written.dead:
                dead(letter)
            with self._lock:
                counts["written"] += written.written
            return written

        def on_result(result: BatchResult[list[Line], _Written]) -> None:
            if result.errors:  # retries exhausted: every record of the batch is a dead letter
                for lines, error in zip(result.items, result.errors.values(), strict=True):
                    for line, text in lines:
                        dead(DeadLetter(line, f"write failed: {error.__cause__ or error}", text))
            with self._lock:
                counts["batches"] += 1
                latencies.append(result.duration)
            if self.on_batch is not None:
                self.on_batch(result)

        def on_error(error: Exception) -> None:
            failure.append(error)
            done.set()

        writer: Node[list[Line], _Written] = Node(exec=write, post=record, name="sqlite")
        with ThreadPoolExecutor(self.workers, thread_name_prefix="rxbatch-load") as pool:
            self._lines.pipe(
                buffer_with_time_or_count(self.flush_interval, self.batch_size),
                ops.map(lambda batch: [batch]),  # a whole batch is one unit of work
                fan_out(
                    writer,
                    max_concurrency=self.workers,
                    executor=pool,
                    max_in_flight=2 * self.workers,
                    retry=RetryPolicy(
                        max_retries=self.retries,
                        base_delay=0.05,
                        retry_on=(sqlite3.OperationalError,),
                    ),
                ),
            ).subscribe(on_result, on_error, done.set)
            reader = threading.Thread(
                target=self._read, args=(lines, counts), name="rxbatch-load-reader"
            )
            reader.daemon = True
            reader.start()
            try:
                while not done.wait(0.1):
                    pass
            except KeyboardInterrupt:
                self.stop()  # commit what was read, then end
                done.wait()
        table.close()
        if failure:
            raise failure[0]
        p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else sum(latencies)
        return LoadSummary(
            counts["read"],
            counts["written"],
            counts["dead"],
            counts["batches"],
            time.perf_counter() - started,
            p95,
            interrupted=self._interrupted,
        )

    def _read(self, lines: Iterable[str], counts: dict[str, int]) -> None:
        try:
            for number, line in enumerate(lines, start=1):
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                with self._input:  # held while fan_out may block us: stop() waits
                    if self._stopping:
                        return
                    with self._lock:
                        counts["read"] += 1
                    self._lines.on_next((number, text))
        except Exception as error:  # reading failed (a decoding error, say)
            with self._input:
                if not self._stopping:
                    self._stopping = True
                    self._lines.on_error(error)
            return
        with self._input:
            if not self._stopping:
                self._stopping = True
                self._lines.on_completed()
