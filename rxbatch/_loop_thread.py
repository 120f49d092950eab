"""A private asyncio event loop on a daemon thread (fan_out's async steps, the NATS client)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

__all__ = ["LoopThread"]


class LoopThread:
    """A private event loop on a daemon thread; stopping it cancels what still runs there.

    ``on_problem``, if given, receives the loop's stray errors (an exception
    in a task nobody awaits) instead of the default handler printing them.
    """

    def __init__(self, name: str, on_problem: Callable[[str], None] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        if on_problem is not None:
            report = on_problem
            self.loop.set_exception_handler(
                lambda _, context: report(str(context.get("exception") or context["message"]))
            )
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:  # stopped: cancel what still runs, so that no coroutine is left behind
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    def stop(self, wait: float | None = None) -> None:
        """Stop the loop (thread-safe); with ``wait``, join its thread for that long
        (unless called on it)."""
        with contextlib.suppress(RuntimeError):  # closed already
            self.loop.call_soon_threadsafe(self.loop.stop)
        if wait is not None and threading.current_thread() is not self.thread:
            self.thread.join(wait)
