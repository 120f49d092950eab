"""The machinery of the event-time windows: per-key watermarks, lateness,
idle timeout, and emission in end order.

Event times are held as integer microseconds since the epoch (the
resolution of ``datetime``), so window bounds are exact integers: an item
exactly on a boundary lands in the window that starts there, on every
machine. Per key the sink keeps its watermark and its open windows; an item
costs a few dict look-ups, and a window's emission sorts only the windows
that leave together. ``FixedWindowSink`` (tumbling and sliding windows) and
``SessionSink`` say how an item joins windows.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from reactivex import abc

from ..results import EventTimeError, LateItem, LateItemError, TimeWindow, WindowResult, _short_repr
from ._sink import Sink

__all__ = ["EventWindowConfig", "FixedWindowSink", "SessionSink", "micros"]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MIN_MICROS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _MICROSECOND
_MAX_MICROS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MICROSECOND
_NEVER = -(1 << 62)  # a watermark before any time (no item yet)
_NO_WINDOW = 1 << 62  # the next end of a key with no open window

Emitted = TimeWindow[Any] | WindowResult[Any]


def micros(span: timedelta) -> int:
    """A duration in whole microseconds."""
    return span // _MICROSECOND


def to_datetime(time: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=time)


class EventWindowConfig:
    """What every event-time window operator is given, checked and converted."""

    __slots__ = ("add", "idle_timeout", "init", "key", "lateness", "merge", "on_late", "timestamp")

    def __init__(
        self,
        *,
        timestamp: Callable[[Any], Any],
        key: Callable[[Any], Hashable] | None,
        lateness: timedelta,
        idle_timeout: timedelta | None,
        on_late: Callable[[LateItem[Any]], object] | None,
        aggregate: tuple[Callable[..., Any], ...] | None,
    ) -> None:
        self.timestamp = timestamp
        self.key = key
        self.lateness = micros(lateness)
        self.idle_timeout = idle_timeout
        self.on_late = on_late
        self.init: Callable[[], Any] | None = None
        self.add: Callable[[Any, Any], Any] | None = None
        self.merge: Callable[[Any, Any], Any] | None = None
        if aggregate is not None:
            self.init, self.add = aggregate[0], aggregate[1]
            self.merge = aggregate[2] if len(aggregate) > 2 else None


class _Open:
    """One open window: bounds in microseconds, items seen, and its value
    (the items, or the accumulator)."""

    __slots__ = ("count", "end", "start", "value")

    def __init__(self, start: int, end: int, value: Any) -> None:
        self.start = start
        self.end = end
        self.count = 0
        self.value = value


class _Key:
    """One key's clock and open windows."""

    __slots__ = ("arrived", "base", "key", "next_end", "rank", "watermark", "windows")

    def __init__(self, key: Any, rank: int, windows: Any) -> None:
        self.key = key
        self.rank = rank  # the order keys were first seen, for keys that do not sort
        self.watermark = _NEVER
        self.next_end = _NO_WINDOW  # the earliest end of an open window
        self.windows = windows
        self.arrived: datetime | None = None  # scheduler time of the last item
        self.base = _NEVER  # the watermark right after the last item


class _EventSink(Sink[T, Emitted]):
    """What the event-time windows share; subclasses place items in windows."""

    __slots__ = (
        "_add",
        "_config",
        "_earliest",
        "_idle",
        "_key",
        "_keys",
        "_lateness",
        "_latest",
        "_offset",
        "_timestamp",
        "_tumbling",
    )

    def __init__(
        self,
        observer: abc.ObserverBase[Emitted],
        clock: abc.SchedulerBase,
        config: EventWindowConfig,
        span: int,
        *,
        tumbling: int = 0,
        offset: int = 0,
    ) -> None:
        super().__init__(observer, clock)
        self._config = config
        self._keys: dict[Any, _Key] = {}
        # Read once per item: kept on the sink rather than looked up on config.
        self._timestamp = config.timestamp
        self._key = config.key
        self._lateness = config.lateness
        self._idle = config.idle_timeout
        self._add = config.add
        self._tumbling = tumbling  # the size of tumbling windows, else 0
        self._offset = offset
        # The times whose windows and watermark a datetime can still represent.
        self._earliest = _MIN_MICROS + span
        self._latest = _MAX_MICROS - span

    # -- what subclasses define ------------------------------------------------

    def _new_windows(self) -> Any:  # pragma: no cover - always overridden
        raise NotImplementedError

    def _place(self, item: T, t: int, state: _Key) -> None:  # pragma: no cover
        """Put ``item`` (event time ``t``) in its open windows, or report it late."""
        raise NotImplementedError

    def _take_due(self, state: _Key) -> list[_Open]:  # pragma: no cover
        """Remove and return the windows the key's watermark has passed, in end order."""
        raise NotImplementedError

    def _take_all(self, state: _Key) -> list[_Open]:  # pragma: no cover
        raise NotImplementedError

    def _items(self, window: _Open) -> list[Any]:
        return window.value  # type: ignore[no-any-return]

    # -- items -------------------------------------------------------------------

    def on_next(self, value: T) -> None:
        try:
            raw = self._timestamp(value)
        except Exception as error:
            self._reject(value, f"timestamp({_short_repr(value)}) raised {error!r}", error)
            return
        kind = type(raw)
        try:
            if kind is float:
                t = round(raw * 1_000_000)
            elif kind is int:
                t = raw * 1_000_000
            else:
                t = _slow_micros(raw)
            if not self._earliest <= t <= self._latest:
                raise OverflowError("out of the range of datetime")
        except (TypeError, ValueError, OverflowError) as error:
            self._reject(value, _not_a_time(value, raw, error), None)
            return
        key = None
        if self._key is not None:
            try:
                key = self._key(value)
            except Exception as error:
                self._reject(value, f"key({_short_repr(value)}) raised {error!r}", error)
                return
        with self._lock:
            if self._stopped:
                return
            state = self._keys.get(key)
            if state is None:
                state = self._keys[key] = _Key(key, len(self._keys), self._new_windows())
            idle = self._idle is not None
            if idle:
                self._arrive(state)
            watermark = t - self._lateness
            if watermark > state.watermark:
                state.watermark = watermark
                if watermark >= state.next_end:
                    self._emit_windows(self._take_due(state), state.key)
            try:
                if self._tumbling:
                    # Inlined for the path most items take: the item's one
                    # window is open (so it is not late); add it there.
                    window = state.windows.get(t - (t - self._offset) % self._tumbling)
                    if window is None:
                        self._place(value, t, state)
                    elif self._add is None:
                        window.value.append(value)
                        window.count += 1
                    else:
                        window.value = self._add(window.value, value)
                        window.count += 1
                else:
                    self._place(value, t, state)
            except Exception as error:  # init, add, merge or on_late raised, or a late item
                self.fail(error)
                return
            if idle:
                state.base = state.watermark
                if state.next_end != _NO_WINDOW:
                    self.arm(self._idle_due(state))

    def _reject(self, item: T, message: str, cause: Exception | None) -> None:
        error = EventTimeError(item, message)
        error.__cause__ = cause
        with self._lock:
            self.fail(error)

    def late(self, item: T, t: int, state: _Key) -> None:
        """Hand a late item to ``on_late``; without one, raise ``LateItemError``."""
        late = LateItem(item, state.key, to_datetime(t), to_datetime(state.watermark))
        on_late = self._config.on_late
        if on_late is None:
            raise LateItemError(late)
        on_late(late)

    # -- emission ------------------------------------------------------------------

    def _emit_windows(self, windows: list[_Open], key: Any) -> None:
        for window in windows:
            if self._stopped:
                return
            self._emit(self._value(window, key))

    def _emit_keys(self, due: list[tuple[_Open, _Key]]) -> None:
        """Emit the windows of several keys: in end order, then key order."""
        try:
            due.sort(key=lambda entry: (entry[0].end, entry[1].key))
        except TypeError:  # keys that do not compare: the order they were first seen
            due.sort(key=lambda entry: (entry[0].end, entry[1].rank))
        for window, state in due:
            if self._stopped:
                return
            self._emit(self._value(window, state.key))

    def _value(self, window: _Open, key: Any) -> Emitted:
        start, end = to_datetime(window.start), to_datetime(window.end)
        if self._config.add is None:
            return TimeWindow(start, end, self._items(window), key)
        return WindowResult(start, end, window.count, window.value, key)

    def drain(self) -> None:
        due = [(window, state) for state in self._keys.values() for window in self._take_all(state)]
        self._emit_keys(due)

    # -- idle timeout ----------------------------------------------------------------

    def _arrive(self, state: _Key) -> None:
        """An item of this key arrived: first let its idle time move its watermark."""
        now = self.clock.now
        if state.arrived is not None:
            self._advance_if_idle(state, now)
            if state.watermark >= state.next_end:
                self._emit_windows(self._take_due(state), state.key)
        state.arrived = now

    def _advance_if_idle(self, state: _Key, now: datetime) -> None:
        assert state.arrived is not None and self._config.idle_timeout is not None
        idle = now - state.arrived
        if idle >= self._config.idle_timeout:
            state.watermark = max(state.watermark, state.base + micros(idle))

    def _idle_due(self, state: _Key) -> datetime:
        """When the key's next window leaves if no item of it arrives."""
        assert state.arrived is not None and self._config.idle_timeout is not None
        wait = timedelta(microseconds=state.next_end - state.base)
        return state.arrived + max(self._config.idle_timeout, wait)

    def on_timer(self, due: datetime) -> datetime | None:
        now = self.clock.now
        ready: list[tuple[_Open, _Key]] = []
        next_due: datetime | None = None
        for state in self._keys.values():
            if state.next_end == _NO_WINDOW:
                continue
            self._advance_if_idle(state, now)
            if state.watermark >= state.next_end:
                ready.extend((window, state) for window in self._take_due(state))
            if state.next_end != _NO_WINDOW:
                at = self._idle_due(state)
                next_due = at if next_due is None or at < next_due else next_due
        self._emit_keys(ready)
        return next_due


class FixedWindowSink(_EventSink[T]):
    """Tumbling (``slide == size``) and sliding windows aligned to the epoch.

    Windows start at ``offset + k * slide`` and hold ``[start, start + size)``;
    per key, a dict from start to open window.
    """

    __slots__ = ("_size", "_slide")

    def __init__(
        self,
        observer: abc.ObserverBase[Emitted],
        clock: abc.SchedulerBase,
        config: EventWindowConfig,
        *,
        size: int,
        slide: int,
        offset: int,
    ) -> None:
        super().__init__(
            observer,
            clock,
            config,
            span=size + config.lateness,
            tumbling=size if slide == size else 0,
            offset=offset,
        )
        self._size = size
        self._slide = slide

    def _new_windows(self) -> dict[int, _Open]:
        return {}

    def _place(self, item: T, t: int, state: _Key) -> None:
        size, slide = self._size, self._slide
        windows: dict[int, _Open] = state.windows
        watermark = state.watermark
        start = t - (t - self._offset) % slide  # the last window holding t
        if start + size <= watermark:
            self.late(item, t, state)
            return
        add = self._add
        # Every window holding t whose end the watermark has not
        # reached (an item some of whose windows left already joins the rest).
        while start > t - size and start + size > watermark:
            window = windows.get(start)
            if window is None:
                self._open(item, start, state)
            elif add is None:
                window.value.append(item)
                window.count += 1
            else:
                window.value = add(window.value, item)
                window.count += 1
            start -= slide

    def _open(self, item: T, start: int, state: _Key) -> None:
        """Open the window at ``start`` with ``item`` in it (only once it holds it)."""
        init, add = self._config.init, self._config.add
        window = _Open(start, start + self._size, None)
        window.value = [item] if add is None or init is None else add(init(), item)
        window.count = 1
        state.windows[start] = window
        if window.end < state.next_end:
            state.next_end = window.end

    def _take_due(self, state: _Key) -> list[_Open]:
        windows: dict[int, _Open] = state.windows
        watermark = state.watermark
        due = sorted(start for start, window in windows.items() if window.end <= watermark)
        taken = [windows.pop(start) for start in due]
        state.next_end = min(windows) + self._size if windows else _NO_WINDOW
        return taken

    def _take_all(self, state: _Key) -> list[_Open]:
        windows: dict[int, _Open] = state.windows
        taken = [windows[start] for start in sorted(windows)]
        windows.clear()
        state.next_end = _NO_WINDOW
        return taken


class SessionSink(_EventSink[T]):
    """Session windows: ``[first, last + gap)``, merged when an item bridges two.

    Per key, a list of open sessions sorted by start; they never overlap, so
    their ends are sorted too. Items are kept with their arrival number, so a
    merged session still lists its items in arrival order.
    """

    __slots__ = ("_arrivals", "_gap")

    def __init__(
        self,
        observer: abc.ObserverBase[Emitted],
        clock: abc.SchedulerBase,
        config: EventWindowConfig,
        *,
        gap: int,
    ) -> None:
        super().__init__(observer, clock, config, span=gap + config.lateness)
        self._gap = gap
        self._arrivals = 0

    def _new_windows(self) -> list[_Open]:
        return []

    def _place(self, item: T, t: int, state: _Key) -> None:
        gap, config = self._gap, self._config
        sessions: list[_Open] = state.windows
        # The sessions [start, end) the item's own [t, t + gap) overlaps: a run.
        last = len(sessions)
        while last and sessions[last - 1].start >= t + gap:
            last -= 1
        first = last
        while first and sessions[first - 1].end > t:
            first -= 1
        if first == last and t + gap <= state.watermark:
            self.late(item, t, state)
            return
        # The new session is built aside and replaces the ones it merges only
        # once the user's functions have all returned.
        if first == last:
            session = _Open(t, t + gap, [] if config.init is None else config.init())
        else:
            earliest = sessions[first]
            session = _Open(
                min(earliest.start, t), max(sessions[last - 1].end, t + gap), earliest.value
            )
            session.count = earliest.count
            for later in sessions[first + 1 : last]:
                session.count += later.count
                if config.merge is None:
                    session.value = list(heapq.merge(session.value, later.value))
                else:
                    session.value = config.merge(session.value, later.value)
        if config.add is None:
            self._arrivals += 1
            session.value.append((self._arrivals, item))
        else:
            session.value = config.add(session.value, item)
        session.count += 1
        sessions[first:last] = [session]
        state.next_end = sessions[0].end

    def _items(self, window: _Open) -> list[Any]:
        return [item for _, item in window.value]

    def _take_due(self, state: _Key) -> list[_Open]:
        sessions: list[_Open] = state.windows
        watermark = state.watermark
        done = 0
        while done < len(sessions) and sessions[done].end <= watermark:
            done += 1
        taken = sessions[:done]
        del sessions[:done]
        state.next_end = sessions[0].end if sessions else _NO_WINDOW
        return taken

    def _take_all(self, state: _Key) -> list[_Open]:
        taken = list(state.windows)
        state.windows.clear()
        state.next_end = _NO_WINDOW
        return taken


def _slow_micros(raw: Any) -> int:
    """Event time in microseconds from anything but a plain int or float."""
    if isinstance(raw, datetime):
        if raw.tzinfo is None or raw.utcoffset() is None:
            raise ValueError("a naive datetime")
        return (raw - _EPOCH) // _MICROSECOND
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        seconds = float(raw)
        if not math.isfinite(seconds):
            raise ValueError("not finite")
        return round(seconds * 1_000_000)
    raise TypeError(type(raw).__name__)


def _not_a_time(item: Any, raw: Any, error: Exception) -> str:
    shown = _short_repr(item)
    if isinstance(raw, datetime) and raw.tzinfo is None:
        return (
            f"the timestamp of {shown} is a naive datetime, {raw!r}: give it a time zone "
            "(for UTC, .replace(tzinfo=datetime.UTC)) so that it names one instant"
        )
    if isinstance(error, OverflowError) and isinstance(raw, datetime | int | float):
        return f"the timestamp of {shown}, {raw!r}, is out of the range windows can represent"
    return (
        f"the timestamp of {shown} is {_short_repr(raw)}, not a time: timestamp must return "
        "an aware datetime or seconds since the epoch (int or float)"
    )
