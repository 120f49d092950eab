"""RetryPolicy: which exec failures are retried, and after what delays."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

from ._validation import delay_seconds

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff for the items whose exec failed.

    The delay before retry ``k`` (``k = 1`` for the first) is
    ``min(max_delay, base_delay * multiplier ** (k - 1))``, then multiplied by
    a random factor in ``[1 - jitter, 1 + jitter]``. Only ``Exception``
    subclasses listed in ``retry_on`` are retried.

    Args:
        max_retries: Retries after the first attempt (0: none).
        base_delay: Wait before the first retry: seconds >= 0 or a
            ``timedelta`` (stored as seconds).
        multiplier: Growth of the delay per retry, >= 1.
        max_delay: Cap on a delay before jitter: seconds >= 0 or a ``timedelta``.
        jitter: Fraction in [0, 1] of random spread around each delay.
        retry_on: Exception types worth retrying.
        rng: A ``random.Random`` for reproducible jitter.

    Example:
        >>> policy = RetryPolicy(max_retries=4, base_delay=0.5, max_delay=1.5)
        >>> [policy.delay(k) for k in range(1, 5)]
        [0.5, 1.0, 1.5, 1.5]
        >>> from datetime import timedelta
        >>> RetryPolicy(base_delay=timedelta(milliseconds=200)).base_delay
        0.2
    """

    max_retries: int = 3
    base_delay: float | timedelta = 0.1
    multiplier: float = 2.0
    max_delay: float | timedelta = 30.0
    jitter: float = 0.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    rng: random.Random | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError(f"max_retries must be an int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries!r}")
        for name in ("base_delay", "max_delay"):
            object.__setattr__(self, name, delay_seconds(name, getattr(self, name)))
        multiplier = self.multiplier
        if (
            not isinstance(multiplier, int | float)
            or not math.isfinite(multiplier)
            or multiplier < 1
        ):
            raise ValueError(f"multiplier must be a finite number >= 1, got {multiplier!r}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter!r}")
        retry_on = self.retry_on if isinstance(self.retry_on, tuple) else (self.retry_on,)
        for kind in retry_on:
            if not (isinstance(kind, type) and issubclass(kind, BaseException)):
                raise TypeError(f"retry_on must hold exception types, got {kind!r}")
        object.__setattr__(self, "retry_on", retry_on)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        # Both delays are float seconds once __post_init__ has run.
        base_delay, max_delay = float(self.base_delay), float(self.max_delay)  # type: ignore[arg-type]
        try:
            base = min(max_delay, base_delay * self.multiplier ** (retry - 1))
        except OverflowError:  # a long run of retries: the cap holds
            base = max_delay
        if self.jitter:
            rng = self.rng or random
            base *= rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return base

    def should_retry(self, error: BaseException, attempts: int) -> bool:
        """Whether an item whose exec failed ``attempts`` times with ``error`` runs again."""
        return (
            attempts <= self.max_retries
            and isinstance(error, Exception)
            and isinstance(error, self.retry_on)
        )
