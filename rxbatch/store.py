"""Store: thread-safe key/value state shared by the nodes of a pipeline."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import timedelta
from typing import Any

from ._validation import positive_int, positive_timespan

__all__ = ["Store", "StoreReader"]

_MISSING = object()
_SCOPED = object()  # marks a scoped key, so it never equals a user's own tuple key


class _Data:
    """The entries behind a store and all its views: LRU order, expiry times."""

    def __init__(
        self, max_entries: int | None, ttl: float | None, clock: Callable[[], float]
    ) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[Hashable, tuple[Any, float | None]] = OrderedDict()
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock

    def get(self, key: Hashable, default: Any) -> Any:
        with self.lock:
            found = self.entries.get(key, None)
            if found is None:
                return default
            value, expires = found
            if expires is not None and self.clock() >= expires:
                del self.entries[key]
                return default
            self.entries.move_to_end(key)
            return value

    def set(self, key: Hashable, value: Any) -> None:
        with self.lock:
            expires = None if self.ttl is None else self.clock() + self.ttl
            self.entries[key] = (value, expires)
            self.entries.move_to_end(key)
            if self.max_entries is not None:
                while len(self.entries) > self.max_entries:
                    self.entries.popitem(last=False)

    def delete(self, key: Hashable) -> None:
        with self.lock:
            self.entries.pop(key, None)

    def contains(self, key: Hashable) -> bool:
        return self.get(key, _MISSING) is not _MISSING


class StoreReader:
    """A read-only view of a ``Store``: what a node's ``prep`` gets.

    Example:
        >>> store = Store()
        >>> store.set("rate", 1.1)
        >>> reader = store.reader()
        >>> reader.get("rate"), "rate" in reader, hasattr(reader, "set")
        (1.1, True, False)
    """

    __slots__ = ("_data", "_prefix")

    def __init__(self, data: _Data, prefix: str = "") -> None:
        self._data = data
        self._prefix = prefix

    def _key(self, key: Hashable) -> Hashable:
        return (_SCOPED, self._prefix, key) if self._prefix else key

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value at ``key``, or ``default`` when missing or expired."""
        return self._data.get(self._key(key), default)

    def __contains__(self, key: Hashable) -> bool:
        return self._data.contains(self._key(key))

    def _writable(self) -> Store:
        # For Graph, which runs whole nodes (post included) inside one exec.
        view = Store.__new__(Store)
        StoreReader.__init__(view, self._data, self._prefix)
        return view

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self._prefix!r})"


class Store(StoreReader):
    """Thread-safe key/value state shared by nodes, with optional LRU and TTL.

    Args:
        max_entries: Keep at most this many entries, evicting the least
            recently used (``get`` and ``set`` count as use).
        ttl: Entries expire this long after they were set (seconds or a
            ``timedelta``), measured by ``clock``.
        clock: Zero-argument callable returning seconds; default
            ``time.monotonic``. Tests pass their own to move time.

    Example:
        >>> now = [0.0]
        >>> store = Store(ttl=10, clock=lambda: now[0])
        >>> store.set("token", "abc")
        >>> now[0] = 9.9; store.get("token")
        'abc'
        >>> now[0] = 10.0; store.get("token") is None
        True
        >>> users = store.scope("users")
        >>> users.set(1, "ada"); users.get(1), store.get(1)
        ('ada', None)
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        max_entries: int | None = None,
        ttl: float | timedelta | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if max_entries is not None:
            positive_int("max_entries", max_entries)
        seconds = None if ttl is None else positive_timespan("ttl", ttl).total_seconds()
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a zero-argument callable, got {clock!r}")
        super().__init__(_Data(max_entries, seconds, clock or time.monotonic))

    def set(self, key: Hashable, value: Any) -> None:
        """Store ``value`` at ``key``."""
        self._data.set(self._key(key), value)

    def delete(self, key: Hashable) -> None:
        """Remove ``key``; a missing key is not an error."""
        self._data.delete(self._key(key))

    def scope(self, prefix: str) -> Store:
        """A view whose keys live under ``prefix``, sharing this store's data."""
        return StoreReader(self._data, f"{self._prefix}{prefix}/")._writable()

    def reader(self) -> StoreReader:
        """A read-only view of this store (same prefix, same data)."""
        return StoreReader(self._data, self._prefix)
