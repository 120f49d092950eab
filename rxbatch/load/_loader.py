"""The ``Loader``: JSON lines into a SQLite table, in batches, nothing lost.

A reader thread cuts the source into lines (``_lines``) and pushes them, a
read's worth at a time, into an Rx pipeline: ``buffer_with_weight`` (weight:
lines) makes batches of at most ``batch_size`` lines (so a pause in the input
commits what was read within ``flush_interval``), and
``fan_out`` hands each batch to a writer thread, which parses it
(``_records``) and writes it in one transaction (``_table``). Batches
commit in input order, so a checkpoint (``resume``) always marks a prefix of
the input as loaded. Every record read ends up written, ignored by the
database (``--ignore``), or dead-lettered; a load that stops early says how
many were not written, and with ``resume`` a rerun loads exactly those.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import sqlite3
import stat
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import IO

from reactivex import operators as ops
from reactivex.subject import Subject

from .._fan_out import fan_out
from .._validation import positive_int, seconds_between
from ..node import Node
from ..operators import buffer_with_weight
from ..results import BatchResult
from ..testing import ImmediateExecutor
from ._checkpoint import TABLE as CHECKPOINTS
from ._checkpoint import SourceFile
from ._dead import CallbackDeadLetters, DeadLetterError, DeadLetters, FileDeadLetters
from ._errors import Busy, LoadError, Stopped
from ._lines import Line, line_chunks, would_wait
from ._records import DeadLetter, fold, parse_lines
from ._source import LineSource
from ._table import (
    JOURNAL_MODES,
    Conflict,
    Entry,
    Settings,
    Target,
    Written,
    check_target,
    with_lock,
)

__all__ = ["LoadSummary", "LoadedBatch", "Loader"]

_Path = str | os.PathLike[str]
Source = _Path | IO[bytes] | IO[str] | Iterable[str] | Iterable[bytes] | LineSource

_MIN_FLUSH, _MAX_FLUSH = 0.001, 7 * 24 * 3600.0
_CONFLICTS = ("error", "ignore", "replace", "upsert")


@dataclass(frozen=True, slots=True)
class LoadSummary:
    """What a load did: counts, batches, throughput and batch latency.

    Every record read is ``written``, ``ignored`` (the database skipped it:
    ``on_conflict="ignore"``, an upsert that changed nothing, a trigger),
    ``dead_lettered``, or ``not_written`` (the load stopped before it; with
    ``resume`` a rerun loads it). Blank lines are ``skipped``, not read; with
    ``resume``, a last line still being written (not JSON yet, no line end)
    is ``held_back`` for the rerun.

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
    skipped: int = 0
    ignored: int = 0
    not_written: int = 0
    resumed_after: int = 0
    stopped: str | None = None
    held_back: int = 0

    @property
    def throughput(self) -> float:
        """Records read per second."""
        return self.read / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def complete(self) -> bool:
        """Every record read was written, ignored or dead-lettered."""
        return self.read == self.written + self.ignored + self.dead_lettered

    def report(self) -> str:
        """The summary as a few lines of text."""
        lines = []
        if self.resumed_after:
            lines.append(f"resumed after:     line {self.resumed_after:,}")
        lines += [
            f"records read:      {self.read:,}",
            f"written:           {self.written:,}",
        ]
        if self.ignored:
            lines.append(f"ignored:           {self.ignored:,} (the database kept what it had)")
        lines.append(f"dead-lettered:     {self.dead_lettered:,}")
        if self.not_written:
            lines.append(f"not written:       {self.not_written:,} (the load stopped first)")
        if self.skipped:
            lines.append(f"blank lines:       {self.skipped:,} (skipped)")
        if self.held_back:
            lines.append("held back:         the last line, not yet whole (a rerun loads it)")
        lines += [
            f"batches:           {self.batches:,}",
            f"throughput:        {self.throughput:,.0f} records/s",
            f"p95 batch latency: {self.p95_batch_latency * 1000:.1f} ms",
        ]
        if self.stopped:
            lines.append(f"stopped:           {self.stopped}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class LoadedBatch:
    """One committed batch, as ``on_batch`` sees it (a progress bar, say).

    Example:
        >>> LoadedBatch(lines=1000, written=998, ignored=0, dead_lettered=2, duration=0.01).lines
        1000
    """

    lines: int
    written: int
    ignored: int
    dead_lettered: int
    duration: float


@dataclass(eq=False)
class _Batch:
    seq: int
    lines: list[Line]


@dataclass
class _Outcome:
    lines: int
    written: int = 0
    ignored: int = 0
    dead: int = 0
    skipped: bool = False  # not attempted: the load had stopped


class _Turns:
    """Commits in input order: batch ``seq`` waits until every earlier batch is done."""

    def __init__(self) -> None:
        self.next = 0
        self.changed = threading.Condition()

    @contextlib.contextmanager
    def turn(self, seq: int) -> Iterator[None]:
        with self.changed:
            while self.next != seq:
                self.changed.wait()
        try:
            yield
        finally:
            with self.changed:
                self.next += 1
                self.changed.notify_all()


class Loader:
    """Stream JSON lines into a SQLite table in batches; nothing lost, nothing twice.

    Args:
        db: Path of the SQLite database (created, in WAL mode, if missing).
        table: Table name (created from the first records' keys if missing).
        batch_size: Records per transaction, at most.
        flush_interval: Seconds after a batch's first record when it is
            written even if not full (0.001 to 604800).
        workers: Batches parsed at once (they still commit one at a time, in
            input order). With 1, each batch is written on the thread that
            completes it, with no hand-over between threads.
        retries: Further tries of a batch (and of opening the database) when
            the database is busy or locked.
        busy_timeout: Seconds each try waits for a lock.
        pk: Primary key column(s), as a list or ``"a,b"``: set when the table is
            created; with an existing table, its primary key or UNIQUE index.
        on_conflict: What a record that conflicts with a row does: ``"error"``
            (dead-lettered), ``"ignore"`` (the row stays), ``"replace"`` (the
            row is replaced), ``"upsert"`` (the record's columns are updated).
        resume: Record progress in the database, in each batch's transaction,
            and start after the last committed line of the same file (a path
            source only).
        journal_mode: Set this journal mode (``wal``, ``delete``, ``truncate``,
            ``persist``); default: WAL for a database the loader creates, an
            existing database's mode left as it is.
        max_line_bytes: Longer lines are dead-lettered (their head shown)
            without being held in memory.
        dead_letters: Path of a JSON-lines file the dead letters are appended to.
        on_dead_letter: Receives every dead letter instead (default: kept in
            ``dead_letters_seen``). If it raises, the load stops (the batch is
            rolled back; the letters it received stay counted).
        on_batch: Called with a ``LoadedBatch`` after each commit.

    Raises:
        TypeError, ValueError: an argument is invalid (named in the message).

    Example:
        >>> import tempfile, os
        >>> db = os.path.join(tempfile.mkdtemp(), "events.db")
        >>> summary = Loader(db, "events").load(['{"id": 1}', "oops", '{"id": 2, "kind": "x"}'])
        >>> summary.written, summary.dead_lettered
        (2, 1)
    """

    def __init__(
        self,
        db: str | os.PathLike[str],
        table: str,
        *,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        workers: int = 1,
        retries: int = 3,
        busy_timeout: float = 2.0,
        pk: str | Sequence[str] | None = None,
        on_conflict: Conflict = "error",
        resume: bool = False,
        journal_mode: str | None = None,
        max_line_bytes: int = 64 << 20,
        dead_letters: str | os.PathLike[str] | None = None,
        on_dead_letter: Callable[[DeadLetter], None] | None = None,
        on_batch: Callable[[LoadedBatch], None] | None = None,
    ) -> None:
        if not isinstance(db, str | os.PathLike):
            raise TypeError(f"db must be a path, got {type(db).__name__} {db!r}")
        self.db = os.fspath(db)
        if not self.db or "\0" in self.db:
            raise ValueError(f"db must be a file path, got {self.db!r}")
        self.table = _table_name(table)
        self.batch_size = positive_int("batch_size", batch_size)
        self.flush_interval = seconds_between(
            "flush_interval", flush_interval, _MIN_FLUSH, _MAX_FLUSH
        )
        self.workers = positive_int("workers", workers)
        self.retries = positive_int("retries", retries, minimum=0)
        self.busy_timeout = seconds_between("busy_timeout", busy_timeout, 0.0, 3600.0)
        self.pk = _columns("pk", pk)
        if on_conflict not in _CONFLICTS:
            raise ValueError(
                f"on_conflict must be one of {', '.join(_CONFLICTS)}, got {on_conflict!r}"
            )
        self.on_conflict = on_conflict
        if not isinstance(resume, bool):
            raise TypeError(f"resume must be True or False, got {resume!r}")
        self.resume = resume
        if journal_mode is not None and str(journal_mode).lower() not in JOURNAL_MODES:
            modes = ", ".join(JOURNAL_MODES)
            raise ValueError(f"journal_mode must be one of {modes} or None, got {journal_mode!r}")
        self.journal_mode = journal_mode.lower() if journal_mode is not None else None
        self.max_line_bytes = positive_int("max_line_bytes", max_line_bytes)
        if dead_letters is not None and on_dead_letter is not None:
            raise ValueError("give dead_letters (a file) or on_dead_letter (a function), not both")
        if on_dead_letter is not None and not callable(on_dead_letter):
            raise TypeError(f"on_dead_letter must be callable, got {on_dead_letter!r}")
        if on_batch is not None and not callable(on_batch):
            raise TypeError(f"on_batch must be callable, got {on_batch!r}")
        self.dead_letter_path = os.fspath(dead_letters) if dead_letters is not None else None
        self.dead_letters_seen: list[DeadLetter] = []
        self.on_dead_letter = on_dead_letter or self.dead_letters_seen.append
        self.on_batch = on_batch

        self._lock = threading.Lock()  # counts
        self._input = threading.Lock()  # whoever closes the input holds it
        self._input_closed = False
        self._stop_requested = threading.Event()
        self._aborted = threading.Event()
        self._interrupted = False
        self._used = False
        self._failure: LoadError | None = None  # stops writing
        self._read_error: LoadError | None = None  # stops reading; what was read is written
        self._lines: Subject[list[Line]] = Subject()
        self._counts = {
            "read": 0, "skipped": 0, "written": 0, "ignored": 0, "batches": 0, "held_back": 0,
        }  # fmt: skip
        self._latencies: list[float] = []
        self._targets: list[Target] = []
        self._local = threading.local()
        self._reader: threading.Thread | None = None
        self._broker: LineSource | None = None  # told what committed

    # -- control, from any thread or a signal handler ------------------------------

    def stop(self) -> None:
        """End the input now (Ctrl-C): what was read is written, then the load ends.

        Never blocks, so a signal handler can call it.
        """
        self._interrupted = True
        self._stop_requested.set()

    def abort(self) -> None:
        """Stop at once (a second Ctrl-C): the batch in progress is rolled back.

        Records read and not committed are counted as not written; with
        ``resume`` a rerun loads them. Never blocks.
        """
        self._interrupted = True
        self._aborted.set()
        self._stop_requested.set()

    # -- the load ----------------------------------------------------------------------

    def load(self, source: Source) -> LoadSummary:
        """Load every line of ``source``; blocks until done.

        ``source`` is a file path, a binary or text file object, an
        iterable of lines (``str`` or ``bytes``, one line each), or a
        ``LineSource`` (a broker: each batch's lines are acknowledged once it
        has committed).

        Raises:
            LoadError: the load could not start (``param`` names the argument
                at fault) or stopped early (``summary`` says what it did).
            RuntimeError: this loader has loaded already (make a new one).
        """
        with self._input:
            if self._used:
                raise RuntimeError("a Loader loads once; make a new Loader for more input")
            self._used = True
        started = time.perf_counter()
        settings = Settings(
            self.db, self.table, self.pk, self.on_conflict, self.busy_timeout, self.retries,
            self._aborted, self.journal_mode, self._stop_requested,
        )  # fmt: skip
        if self.resume and not isinstance(source, str | os.PathLike):
            raise LoadError("resume needs a file path to read again, not a stream", param="source")
        with contextlib.ExitStack() as stack:
            try:
                self._check(settings)
                dead = self._dead_letters(source)
                stack.callback(dead.close)
                stack.callback(self._close_targets)
                opened = self._open(source, settings, dead)
                if opened.fd is not None:
                    stack.callback(self._close_source, opened.fd)
                if self._broker is not None:
                    stack.callback(self._broker.close)
                self._run(opened.chunks, settings, dead, opened.checkpoint)
            except Stopped:  # abort() while waiting for the database to start
                return self._summary(started, 0, 0)
        summary = self._summary(started, dead.handed, opened.resumed_after)
        error = self._failure or self._read_error
        if error is not None:
            raise LoadError(str(error), summary=summary) from error.__cause__ or error
        return summary

    def _check(self, settings: Settings) -> None:
        """The target can be loaded into; a conflict mode has a key to match records on."""
        _, keys = check_target(settings)
        if self.on_conflict != "error" and not keys:
            raise LoadError(
                f"on_conflict={self.on_conflict!r} needs a primary key or UNIQUE index to "
                "match records: give pk (--pk)",
                param="pk",
            )

    def _close_targets(self) -> None:
        for target in self._targets:
            target.close()

    def _close_source(self, fd: int) -> None:
        # A reader still blocked on a FIFO keeps its descriptor: closing it
        # under a read could let the number be reused by another file.
        reader = self._reader
        if reader is not None:
            reader.join(1.0)
            if reader.is_alive():
                return
        os.close(fd)

    def _dead_letters(self, source: Source) -> DeadLetters:
        if self.dead_letter_path is None:
            return CallbackDeadLetters(self.on_dead_letter)
        path = os.path.realpath(source) if isinstance(source, str | os.PathLike) else None
        try:
            dead = FileDeadLetters(self.dead_letter_path, path)
        except DeadLetterError as error:
            raise LoadError(str(error), param="dead_letters") from error
        for other, what in ((self.db, "the database"), (path, "the source")):
            if other is not None and dead.same_file(other):
                dead.close()
                raise LoadError(f"{self.dead_letter_path} is {what}", param="dead_letters")
        return dead

    def _open(self, source: Source, settings: Settings, dead: DeadLetters) -> _Opened:
        """The source's lines, where a resumed load starts, and what to close after."""

        def blank() -> None:
            self._counts["skipped"] += 1  # only the reader thread counts these

        if isinstance(source, LineSource):
            lines = source.open(
                max_lines=self.batch_size, max_line_bytes=self.max_line_bytes, on_blank=blank,
                flush_interval=self.flush_interval,
            )  # fmt: skip
            self._broker = source
            return _Opened(lines)
        chunks = partial(
            line_chunks, max_lines=self.batch_size, max_line_bytes=self.max_line_bytes,
            on_blank=blank,
        )  # fmt: skip
        if isinstance(source, str | os.PathLike):
            path = os.fspath(source)
            try:
                regular = stat.S_ISREG(os.stat(path).st_mode)
                if not regular:  # a FIFO waits for its writer: open it on the reader thread
                    if self.resume:
                        raise LoadError(f"{path}: resume needs a regular file", param="source")
                    return _Opened(_opened_later(path, chunks))
                fd = os.open(path, os.O_RDONLY)
            except OSError as error:
                reason = error.strerror or error
                raise LoadError(f"cannot read {path}: {reason}", param="source") from error
            try:
                checkpoint, offset, line = self._resume_point(fd, path, settings, dead)
                os.lseek(fd, offset, os.SEEK_SET)
            except BaseException:
                os.close(fd)
                raise
            complete = self._complete if self.resume else None
            lines = chunks(partial(os.read, fd), offset=offset, line=line, complete=complete)
            return _Opened(lines, checkpoint, line, fd)
        read = getattr(source, "read1", None) or getattr(source, "read", None)
        if callable(read) and isinstance(read(0), bytes):  # a binary file or stream
            return _Opened(chunks(read, waits=_waits(source)))
        if isinstance(source, str | bytes) or not isinstance(source, Iterable):
            raise TypeError(
                f"source must be a path, a file or an iterable of lines, got {source!r}"
            )
        # A text file is read through its text layer: what it already read
        # ahead is not skipped, and its own encoding applies.
        size = self.batch_size if callable(read) and _waits(source) is None else 1
        return _Opened(_item_chunks(source, blank, size))

    def _complete(self, text: bytes) -> bool:
        """Whether a file's unterminated last line is whole (else: still being written).

        With ``resume`` a file may be a log still growing: a last line that is
        not even JSON is left for the rerun, which reads it whole.
        """
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            self._counts["held_back"] = 1
            return False
        return True

    def _resume_point(
        self, fd: int, path: str, settings: Settings, dead: DeadLetters
    ) -> tuple[SourceFile | None, int, int]:
        """The file to checkpoint, and the offset and line number a resumed load starts after."""
        if not self.resume:
            return None, 0, 0
        file = SourceFile(path, fd)
        try:  # two resumable loads of one file would both load it: one at a time
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            raise LoadError(
                f"{path} is being loaded with resume by another process", param="source",
                usage=False,
            ) from error  # fmt: skip
        target = Target(settings)
        try:
            found = with_lock(
                settings, lambda: file.find(target.db, fold(self.table)), starting=True
            )
        except Busy as error:
            raise LoadError(
                f"{self.db} is locked by another connection ({error})", param="db", usage=False
            ) from error
        except sqlite3.Error as error:
            raise LoadError(f"cannot use {self.db}: {error}", param="db", usage=False) from error
        finally:
            target.close()
        if found is None:
            return file, 0, 0
        if isinstance(dead, FileDeadLetters) and found.dead_letters == dead.realpath:
            # letters of a batch that never committed (the process died)
            dead.cut_back(found.dead_letters_offset or 0, found.line)
        offset = found.offset
        if offset and os.pread(fd, 1, offset - 1) != b"\n" and os.pread(fd, 1, offset) == b"\n":
            offset += 1  # the last line was loaded before it had its line end: this is it
        return file, offset, found.line

    def _run(
        self,
        chunks: Iterator[list[Line]],
        settings: Settings,
        dead: DeadLetters,
        source_file: SourceFile | None,
    ) -> None:
        """Run the pipeline until every batch is done."""
        done = threading.Event()
        turns = _Turns()
        sequence = itertools.count()

        def write(batch: _Batch) -> _Outcome:
            return self._write(batch, settings, dead, source_file, turns)

        def on_result(result: BatchResult[_Batch, _Outcome]) -> None:
            if result.errors:  # a bug, not a database error: those are outcomes
                error = next(iter(result.errors.values()))
                cause = error.__cause__ or error
                self._fail(LoadError(f"the writer failed: {cause!r}").with_cause(cause))
                return
            outcome = result.results[0]
            if outcome is None or outcome.skipped:
                return
            with self._lock:
                self._counts["batches"] += 1
                self._latencies.append(result.duration)
            if self.on_batch is not None:
                self.on_batch(
                    LoadedBatch(
                        outcome.lines, outcome.written, outcome.ignored, outcome.dead,
                        result.duration,
                    )
                )  # fmt: skip

        def on_error(error: Exception) -> None:  # raised by on_batch, say
            self._fail(LoadError(f"{type(error).__name__}: {error}").with_cause(error))
            done.set()

        def one_unit(chunks: list[list[Line]]) -> list[_Batch]:  # a whole batch is one item
            return [_Batch(next(sequence), [line for chunk in chunks for line in chunk])]

        writer: Node[_Batch, _Outcome] = Node(exec=write, name="sqlite")
        # One worker writes on the thread that completes the batch (the
        # reader's, or a timer worker's: the timer service adds a worker when
        # one is held up, so a write waiting for a lock delays no other
        # pipeline's timers): no hand-over between threads per batch.
        pool: Executor = (
            ImmediateExecutor()
            if self.workers == 1
            else ThreadPoolExecutor(self.workers, thread_name_prefix="rxbatch-load")
        )
        try:
            self._lines.pipe(
                buffer_with_weight(self.batch_size, weight=len, timespan=self.flush_interval),
                ops.map(one_unit),
                fan_out(
                    writer,
                    max_concurrency=self.workers,
                    executor=pool,
                    max_in_flight=2 * self.workers if self.workers > 1 else None,
                ),
            ).subscribe(on_result, on_error, done.set)
            self._reader = threading.Thread(
                target=self._read, args=(chunks,), name="rxbatch-load-reader", daemon=True
            )
            self._reader.start()
            while not done.wait(0.05):
                if self._stop_requested.is_set() and self._input.acquire(blocking=False):
                    try:  # the reader waits for input: close it from here
                        self._close_input()
                    finally:
                        self._input.release()
        finally:
            pool.shutdown(wait=True)

    def _read(self, chunks: Iterator[list[Line]]) -> None:
        try:
            for chunk in chunks:
                if self._stop_requested.is_set():
                    break  # lines got after stop() are not read: the input has ended
                with self._input:
                    if self._input_closed:
                        return
                    self._counts["read"] += len(chunk)
                    self._lines.on_next(chunk)
        except BaseException as error:  # reading failed: what was read is still written
            reason = getattr(error, "strerror", None) or (
                str(error) if isinstance(error, LoadError) else repr(error)
            )
            self._read_error = LoadError(f"cannot read the source: {reason}").with_cause(error)
        with self._input:
            self._close_input()

    def _close_input(self) -> None:
        # self._input held.
        if not self._input_closed:
            self._input_closed = True
            self._lines.on_completed()

    def _fail(self, error: LoadError) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = error
        self._stop_requested.set()

    def _halted(self) -> bool:
        return self._failure is not None or self._aborted.is_set()

    # -- one batch, on a writer thread -----------------------------------------------

    def _write(
        self,
        batch: _Batch,
        settings: Settings,
        dead: DeadLetters,
        source_file: SourceFile | None,
        turns: _Turns,
    ) -> _Outcome:
        outcome = _Outcome(len(batch.lines))
        entries: list[Entry] = []
        letters: list[DeadLetter] = []
        if not self._halted():
            entries, letters = parse_lines(batch.lines)
        with turns.turn(batch.seq):
            if self._halted():
                outcome.skipped = True
                return outcome
            last_number, last_offset, _ = batch.lines[-1]
            checkpoint = None
            if source_file is not None:
                checkpoint = (source_file, fold(self.table), last_offset, last_number)
            handover = _Handover(dead, checkpoint)
            try:
                written = self._write_with_retries(settings, entries, letters, handover)
            except Stopped:
                outcome.skipped = True
                return outcome
            except (LoadError, DeadLetterError) as error:
                if isinstance(error, DeadLetterError):  # the cause: the callback's or OSError
                    error = LoadError(f"dead letters: {error}").with_cause(error.__cause__ or error)
                self._fail(error)
                outcome.skipped = True
                return outcome
            if self._broker is not None:
                self._broker.committed(batch.lines, {letter.line for letter in written.dead})
            with self._lock:
                self._counts["written"] += written.written
                self._counts["ignored"] += written.ignored
            outcome.written, outcome.ignored, outcome.dead = (
                written.written, written.ignored, len(written.dead)
            )  # fmt: skip
            return outcome

    def _write_with_retries(
        self,
        settings: Settings,
        entries: list[Entry],
        letters: list[DeadLetter],
        handover: _Handover,
    ) -> Written:
        target = self._target(settings)
        for attempt in range(self.retries + 1):
            try:
                return target.write(
                    entries, letters, hand_over=handover.hand_over, take_back=handover.take_back
                )
            except Busy as busy:
                if attempt == self.retries or handover.kept:
                    # (kept: the batch's dead letters are out and could not be
                    # taken back; another try would hand them over twice)
                    raise LoadError(
                        f"the database stayed locked ({attempt + 1} tries of "
                        f"{self.busy_timeout:g} s; raise retries or busy_timeout)"
                    ) from busy
                if self._aborted.wait(min(1.0, 0.05 * 2**attempt)):
                    raise Stopped from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _target(self, settings: Settings) -> Target:
        target: Target | None = getattr(self._local, "target", None)
        if target is None:
            target = self._local.target = Target(settings)
            with self._lock:
                self._targets.append(target)
        return target

    def _summary(self, started: float, dead_lettered: int, resumed_after: int) -> LoadSummary:
        counts = self._counts
        p95 = (
            statistics.quantiles(self._latencies, n=20)[-1]
            if len(self._latencies) > 1
            else sum(self._latencies)
        )
        accounted = counts["written"] + counts["ignored"] + dead_lettered
        stopped = None
        if self._failure is not None or self._read_error is not None:
            stopped = str(self._failure or self._read_error)
        elif self._aborted.is_set():
            stopped = "stopped at once: the batch in progress was rolled back"
        elif self._interrupted:
            stopped = "interrupted: what was read was committed"
        return LoadSummary(
            counts["read"],
            counts["written"],
            dead_lettered,
            counts["batches"],
            time.perf_counter() - started,
            p95,
            interrupted=self._interrupted,
            skipped=counts["skipped"],
            ignored=counts["ignored"],
            not_written=counts["read"] - accounted,
            resumed_after=resumed_after,
            stopped=stopped,
            held_back=counts["held_back"],
        )


@dataclass(eq=False)
class _Opened:
    chunks: Iterator[list[Line]]
    checkpoint: SourceFile | None = None  # resume: the file whose progress is recorded
    resumed_after: int = 0
    fd: int | None = None  # a path source's descriptor, closed after the load


class _Handover:
    """A batch's last step in its transaction: dead letters out, then the checkpoint."""

    def __init__(
        self, dead: DeadLetters, checkpoint: tuple[SourceFile, str, int, int] | None
    ) -> None:
        self.dead = dead
        self.checkpoint = checkpoint
        self.mark: int | None = None
        self.count = 0
        self.kept = False  # handed over, and not taken back

    def hand_over(self, db: sqlite3.Connection, letters: list[DeadLetter]) -> None:
        self.mark = self.dead.mark()
        self.dead.hand_over(letters)
        self.count, self.kept = len(letters), bool(letters)
        if self.checkpoint is not None:
            file, target, offset, line = self.checkpoint
            file.save(db, target, offset, line, self.dead.position())

    def take_back(self) -> None:
        if self.kept and self.dead.take_back(self.mark, self.count):
            self.kept = False


def _item_chunks(
    items: Iterable[str | bytes], blank: Callable[[], None], size: int
) -> Iterator[list[Line]]:
    """Lines from an iterable whose every item is one line (a trailing line end is dropped).

    They go on in lists of ``size``; 1 for a generator or a pipe, whose next
    item may wait for a live source while what has arrived must move on.
    """
    held: list[Line] = []
    for number, item in enumerate(items, start=1):
        raw = item.encode("utf-8", "surrogatepass") if isinstance(item, str) else bytes(item)
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if not raw.strip(b" \t\r"):
            blank()
            continue
        held.append((number, 0, raw))
        if len(held) >= size:
            yield held
            held = []
    if held:
        yield held


def _opened_later(path: str, chunks: Callable[..., Iterator[list[Line]]]) -> Iterator[list[Line]]:
    """Open ``path`` (a FIFO: this waits for a writer) when reading starts, on the reader."""
    fd = os.open(path, os.O_RDONLY)
    try:
        yield from chunks(partial(os.read, fd), waits=would_wait(fd))
    finally:
        os.close(fd)


def _waits(stream: object) -> Callable[[], bool] | None:
    """For a stream on a pipe or terminal, how to tell that reading would wait."""
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
        return None if stat.S_ISREG(os.fstat(fd).st_mode) else would_wait(fd)
    except (AttributeError, OSError, ValueError):
        return None  # an in-memory stream never waits


def _table_name(table: object) -> str:
    if not isinstance(table, str):
        raise TypeError(f"table must be a str, got {type(table).__name__} {table!r}")
    if not table or "\0" in table:
        raise ValueError(f"table must be a non-empty name without NUL, got {table!r}")
    if fold(table).startswith("sqlite_"):
        raise ValueError(f"table {table!r}: names starting with sqlite_ are reserved by SQLite")
    if fold(table) == CHECKPOINTS:
        raise ValueError(f"table {table!r} is where rxbatch keeps its checkpoints")
    return table


def _columns(name: str, value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    columns = tuple(c.strip() if isinstance(c, str) else c for c in items)
    for column in columns:
        if not isinstance(column, str) or not column or "\0" in column:
            raise ValueError(f"{name} must be column names, got {value!r}")
    if len({fold(c) for c in columns}) != len(columns):
        raise ValueError(f"{name} names a column twice: {value!r}")
    return columns
