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
import json
import os
import stat
from collections.abc import Callable

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
    """Letters appended to a JSON-lines file, one per line, each batch's written at once.

    Each letter also names its ``source`` (the file being loaded, when there
    is one), so a resumed load can tell its own letters from another load's.
    A batch's letters are written with raw writes and made durable (fsync)
    before the batch commits; if the write fails part-way (a full disk), the
    file is cut back to where it was, leaving no torn line.
    """

    def __init__(self, path: str, source: str | None = None) -> None:
        self.path = path
        self.source = source
        try:
            # Non-blocking: a FIFO with no reader refuses at once instead of
            # blocking the load before it starts.
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
        except OSError as error:
            raise DeadLetterError(f"cannot open {path}: {error.strerror or error}") from error
        os.set_blocking(self.fd, True)
        mode = os.fstat(self.fd).st_mode
        self.regular = stat.S_ISREG(mode)  # only a regular file can be cut back
        self.realpath = os.path.realpath(path)

    def same_file(self, path: str) -> bool:
        """Whether ``path`` is this very file (the database, say: refused)."""
        try:
            return os.path.samefile(path, self.path)
        except OSError:
            return False

    def _encode(self, letter: DeadLetter) -> str:
        fields = {"line": letter.line, "reason": letter.reason, "text": letter.text}
        if self.source is not None:
            fields["source"] = self.source
        return json.dumps(fields, ensure_ascii=False)

    def hand_over(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        data = "".join(self._encode(letter) + "\n" for letter in letters).encode("utf-8")
        start = self.mark()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
            if self.regular:
                os.fsync(self.fd)
        except OSError as error:
            if start is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fd, start)  # no torn line, no half batch
            raise DeadLetterError(
                f"cannot write to {self.path}: {error.strerror or error}"
            ) from error
        self.handed += len(letters)

    def mark(self) -> int | None:
        return os.fstat(self.fd).st_size if self.regular else None

    def take_back(self, mark: int | None, count: int) -> bool:
        if mark is None:
            return False
        os.ftruncate(self.fd, mark)
        self.handed -= count
        return True

    def position(self) -> tuple[str, int] | None:
        return (self.realpath, os.fstat(self.fd).st_size) if self.regular else None

    def cut_back(self, size: int, after_line: int) -> int:
        """Remove letters of this source after ``after_line`` that follow byte ``size``.

        They belong to a batch that never committed (the process died between
        writing them and the commit). Only if every letter after ``size`` is
        such a letter is anything removed: letters another load appended are
        never touched. Returns how many bytes were removed.
        """
        if not self.regular:
            return 0
        end = os.fstat(self.fd).st_size
        if end <= size:
            return 0
        with open(self.path, "rb") as file:  # (ours is write-only)
            file.seek(size)
            tail = file.read(end - size)
        complete = tail.split(b"\n")[:-1]  # (after the last line end: a torn write, or nothing)
        for line in complete:
            try:
                letter = json.loads(line)
                ours = letter["source"] == self.source and letter["line"] > after_line
            except (ValueError, TypeError, KeyError):
                ours = False
            if not ours:
                return 0
        os.ftruncate(self.fd, size)
        return end - size

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
