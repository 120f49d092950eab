"""The loader's errors, and how it sorts the errors SQLite and Python raise."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._loader import LoadSummary

__all__ = ["Busy", "LoadError", "Stopped", "classify"]


class LoadError(Exception):
    """A load could not start, or stopped before the end of its input.

    ``param`` names the argument at fault when the load could not start
    (``"db"``, ``"table"``, ``"pk"``, ``"source"`` …); ``usage`` says whether
    the arguments are wrong (a view as the table) rather than the world
    (a locked database, a full disk). ``summary`` is what
    the load did before it stopped (None if it never started): everything it
    counts as written is committed, and with ``resume=True`` a rerun carries
    on after it. The error that stopped it is the ``__cause__``.

    Example:
        >>> str(LoadError("the database is full", param=None))
        'the database is full'
    """

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        summary: LoadSummary | None = None,
        usage: bool = True,
    ) -> None:
        super().__init__(message)
        self.param = param
        self.summary = summary
        self.usage = usage

    def with_cause(self, cause: BaseException) -> LoadError:
        """This error, caused by ``cause`` (for errors built where they are not raised)."""
        self.__cause__ = cause
        return self


class Busy(Exception):
    """The database stayed busy or locked for a whole try; the batch may be tried again."""


class Stopped(Exception):
    """The load was stopped at once (a second Ctrl-C, say): roll back and leave."""


Kind = Literal["busy", "record", "fatal"]

_BUSY = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
# Errors that belong to the record: a constraint, a datatype, a value too big.
_RECORD = {18, 19, 20, 25}  # TOOBIG, CONSTRAINT, MISMATCH, RANGE


def classify(error: BaseException) -> Kind:
    """Sort an error raised while writing: retry (busy), dead-letter the record, or stop.

    Only busy/locked errors are worth retrying. A constraint, a datatype
    mismatch, a value too big, or a value Python cannot bind (an integer
    beyond 64 bits, a lone surrogate) is the record's fault. Everything else
    (disk full, read-only, I/O error, not a database, a schema error) would
    fail for every record: it stops the load.

    Example:
        >>> classify(OverflowError("Python int too large to convert to SQLite INTEGER"))
        'record'
    """
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if code is None:  # raised by Python's sqlite3 module itself
            closed = "closed" in str(error)
            return "fatal" if closed else "record"
        primary = code & 0xFF
        if primary in _BUSY:
            return "busy"
        return "record" if primary in _RECORD else "fatal"
    if isinstance(error, OverflowError | UnicodeError | ValueError | TypeError | RecursionError):
        return "record"
    return "fatal"
