"""Where a resumable load got to, kept in the database it loads into.

Each batch's transaction also writes, in the table ``_rxbatch_loads``, the
source's identity and the byte offset and line number after the batch's last
line. The batch and its checkpoint commit together or not at all, so after
Ctrl-C, SIGKILL or a power loss a rerun continues exactly after the last
committed line.

A source is recognised by its resolved path, a hash of its first block and a
hash of the block before the committed offset; a file that was replaced or
rewritten is refused rather than resumed at a meaningless offset. A file that
only grew (a log appended to) is resumed: the rerun loads what was appended.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from dataclasses import dataclass

from ._errors import LoadError

__all__ = ["TABLE", "Checkpoint", "SourceFile"]

TABLE = "_rxbatch_loads"
_BLOCK = 4096

_CREATE = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    head_length INTEGER NOT NULL,
    head_sha256 TEXT NOT NULL,
    offset INTEGER NOT NULL,
    line INTEGER NOT NULL,
    tail_sha256 TEXT NOT NULL,
    dead_letters TEXT,
    dead_letters_offset INTEGER,
    updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
    PRIMARY KEY (target, source)
)"""

_SAVE = f"""INSERT INTO {TABLE}
    (target, source, head_length, head_sha256, offset, line, tail_sha256,
     dead_letters, dead_letters_offset)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (target, source) DO UPDATE SET
    offset = excluded.offset, line = excluded.line, tail_sha256 = excluded.tail_sha256,
    dead_letters = excluded.dead_letters, dead_letters_offset = excluded.dead_letters_offset,
    updated = strftime('%Y-%m-%dT%H:%M:%fZ')"""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a load of one source into one table has committed."""

    offset: int
    line: int
    dead_letters: str | None
    dead_letters_offset: int | None


class SourceFile:
    """A file being loaded with ``resume``: its identity, read with ``pread``.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile() as f:
        ...     _ = f.write(b'{"a": 1}\\n'); f.flush()
        ...     SourceFile(f.name, f.fileno()).head_length
        9
    """

    def __init__(self, path: str, fd: int) -> None:
        self.path = os.path.realpath(path)
        self.fd = fd
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise LoadError(f"{path} is not a regular file: resume needs one", param="source")
        head = os.pread(self.fd, _BLOCK, 0)
        self.head_length = len(head)
        self.head_sha256 = hashlib.sha256(head).hexdigest()

    def tail_sha256(self, offset: int) -> str:
        """The hash of the block that ends at ``offset``."""
        start = max(0, offset - _BLOCK)
        return hashlib.sha256(os.pread(self.fd, offset - start, start)).hexdigest()

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def find(self, db: sqlite3.Connection, target: str) -> Checkpoint | None:
        """The checkpoint of this file's load into ``target``, if it is this file's.

        Raises:
            LoadError: a checkpoint of this path exists but the file changed
                (named ``source``).
        """
        db.execute(_CREATE)
        row = db.execute(
            f"SELECT head_length, head_sha256, offset, line, tail_sha256, dead_letters, "
            f"dead_letters_offset FROM {TABLE} WHERE target = ? AND source = ?",
            (target, self.path),
        ).fetchone()
        if row is None:
            return None
        head_length, head_sha256, offset, line, tail_sha256, dead, dead_offset = row
        head = os.pread(self.fd, head_length, 0)
        same = (
            len(head) == head_length
            and hashlib.sha256(head).hexdigest() == head_sha256
            and self.size() >= offset
            and self.tail_sha256(offset) == tail_sha256
        )
        if not same:
            raise LoadError(
                f"{self.path} is not the file whose load into {target!r} was checkpointed "
                f"(at line {line:,}): it was replaced or rewritten. Load it without --resume, "
                f"or delete its row from {TABLE} to start it over",
                param="source",
            )
        return Checkpoint(offset, line, dead, dead_offset)

    def save(
        self,
        db: sqlite3.Connection,
        target: str,
        offset: int,
        line: int,
        dead_letters: tuple[str, int] | None,
    ) -> None:
        """Record, in the open transaction, that everything up to ``offset`` is loaded."""
        dead_path, dead_offset = dead_letters if dead_letters is not None else (None, None)
        db.execute(
            _SAVE,
            (
                target,
                self.path,
                self.head_length,
                self.head_sha256,
                offset,
                line,
                self.tail_sha256(offset),
                dead_path,
                dead_offset,
            ),
        )
