"""Where dead letters go: a file the loader manages, a callback, or a list.

Dead letters of a batch are handed over inside the batch's transaction,
just before it commits: if they cannot be handed over, the batch is rolled
back and the load stops (a record that can be neither written nor
dead-lettered would be lost). A dead-letter *file* can also take them back:
if the commit then fails, or a resumed load finds letters of a batch that
never committed, the file is cut back to where it was, so no record is ever
both dead-lettered and written, or dead-lettered twice.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from typing import BinaryIO

from ._records import DeadLetter

__all__ = ["CallbackDeadLetters", "DeadLetterError", "DeadLetters", "FileDeadLetters"]


class DeadLetterError(Exception):
    """Dead letters could not be handed over (the message says where and why)."""


class DeadLetters:
    """The interface: hand letters over, and (for a file) take them back."""

    handed: int = 0  # letters handed over for good or not yet taken back

    def hand_over(self, letters: list[DeadLetter]) -> None:
        raise NotImplementedError  # pragma: no cover

    def mark(self) -> int | None:
        """A position to take letters back to, if this destination can."""
        return None

    def take_back(self, mark: int | None, count: int) -> bool:
        """Undo the last ``count`` letters handed after ``mark``; whether it could."""
        return False

    def position(self) -> tuple[str, int] | None:
        """(path, size) of a dead-letter file, for the checkpoint."""
        return None

    def close(self) -> None:
        """Release the destination."""


class CallbackDeadLetters(DeadLetters):
    """Each letter goes to a function (``on_dead_letter``)."""

    def __init__(self, callback: Callable[[DeadLetter], None]) -> None:
        self.callback = callback

    def hand_over(self, letters: list[DeadLetter]) -> None:
        for letter in letters:
            try:
                self.callback(letter)
            except Exception as error:
                raise DeadLetterError(
                    f"on_dead_letter raised {type(error).__name__}: {error} (on line {letter.line})"
                ) from error
            self.handed += 1


class FileDeadLetters(DeadLetters):
    """Letters appended to a JSON-lines file, one per line, flushed per batch."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.file: BinaryIO = open(path, "ab")  # noqa: SIM115 - closed by close()
        except OSError as error:
            raise DeadLetterError(f"cannot open {path}: {error.strerror or error}") from error
        mode = os.fstat(self.file.fileno()).st_mode
        self.regular = stat.S_ISREG(mode)  # only a regular file can be cut back
        self.realpath = os.path.realpath(path)

    def hand_over(self, letters: list[DeadLetter]) -> None:
        data = "".join(letter.to_json() + "\n" for letter in letters).encode("utf-8")
        try:
            self.file.write(data)
            self.file.flush()
        except OSError as error:
            raise DeadLetterError(
                f"cannot write to {self.path}: {error.strerror or error}"
            ) from error
        self.handed += len(letters)

    def mark(self) -> int | None:
        return self.file.tell() if self.regular else None

    def take_back(self, mark: int | None, count: int) -> bool:
        if mark is None:
            return False
        self.file.truncate(mark)
        self.file.seek(mark)
        self.handed -= count
        return True

    def position(self) -> tuple[str, int] | None:
        return (self.realpath, self.file.tell()) if self.regular else None

    def cut_back(self, size: int) -> int:
        """Cut the file to ``size`` bytes (letters of a batch that never committed).

        Returns how many bytes were removed.
        """
        if not self.regular:
            return 0
        end = self.file.seek(0, os.SEEK_END)
        if end <= size:
            return 0
        self.file.truncate(size)
        self.file.seek(size)
        return end - size

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a failed flush was reported when it happened
            self.file.close()
