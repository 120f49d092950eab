"""Functions the notebooks hand to process pools and Dask (they must be importable)."""

from __future__ import annotations


def cpu_bound(n: int) -> int:
    """A deterministic, CPU-heavy function of ``n`` (sums of squares, mod a prime)."""
    total = 0
    for k in range(20_000 + n % 7):
        total = (total + k * k * (n + 1)) % 1_000_003
    return total
