"""A source the loader must tell what it committed: a message broker.

A file is read again from an offset (``resume``); a broker instead keeps
what was not acknowledged and delivers it again. A ``LineSource`` hands the
loader lines in lists, and hears back, after each batch's transaction
commits, which lines are done: written (or ignored by the database) and
dead-lettered. Lines it is never told about (the load stopped first, or the
process died) are delivered again by the broker.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Sequence

from ._lines import Line

__all__ = ["LineSource"]


class LineSource(ABC):
    """Lines from a broker, acknowledged only once their batch has committed.

    A line's number is the message's position in its stream (dead letters
    name it), its offset slot is the source's own id for the message, and its
    bytes are the message's data. ``rxbatch.connectors.nats.JetStreamLines``
    is one.

    Example:
        >>> class Listed(LineSource):
        ...     def __init__(self, data): self.data, self.done = data, []
        ...     def open(self, *, max_lines, max_line_bytes, on_blank, flush_interval):
        ...         yield [(n, n, raw) for n, raw in enumerate(self.data, start=1)]
        ...     def committed(self, lines, dead_lettered):
        ...         self.done += [(n, n in dead_lettered) for n, _, _ in lines]
        ...     def close(self): pass
        >>> import os, tempfile
        >>> from rxbatch import Loader
        >>> source = Listed([b'{"id": 1}', b"oops"])
        >>> db = os.path.join(tempfile.mkdtemp(), "events.db")
        >>> Loader(db, "events").load(source).written, source.done
        (1, [(1, False), (2, True)])
    """

    @abstractmethod
    def open(
        self,
        *,
        max_lines: int,
        max_line_bytes: int,
        on_blank: Callable[[], None],
        flush_interval: float,
    ) -> Iterator[list[Line]]:
        """Start (connect); then the lines, in lists of at most ``max_lines``, as they come.

        Called on the caller's thread: raise ``LoadError`` (``param="source"``)
        if the source cannot start. The iterator runs on the loader's reader
        thread and may wait for input; it ends after ``close``, and raises if
        reading fails. A blank message calls ``on_blank`` instead of being a
        line (the source settles it itself). A line longer than
        ``max_line_bytes`` should come as a ``TooLong``. ``flush_interval`` is
        the loader's: how long a batch may wait for more lines.
        """

    @abstractmethod
    def committed(self, lines: Sequence[Line], dead_lettered: Collection[int]) -> None:
        """These lines' batch has committed; ``dead_lettered``: the numbers of its dead letters.

        Called on a writer thread, once per batch, in input order; must not
        block for long.
        """

    @abstractmethod
    def close(self) -> None:
        """Stop reading; lines never committed are handed back for another delivery.

        Called once when the load ends, after the last ``committed``.
        """
