"""Batch sizes a compiled program is built for: every batch is padded up to one of
a few sizes, so a long-running process compiles a handful of programs, not one per
count it happens to see."""

from __future__ import annotations

FINE_UP_TO = 16  # powers of two up to here, then multiples of it (padding wastes < 50%)


def bucket(count: int) -> int:
    """The padded size for ``count`` items: 1, 2, 4, 8, 16, then 32, 48, 64, ..."""
    if count <= FINE_UP_TO:
        return 1 << max(count - 1, 0).bit_length()
    return -(-count // FINE_UP_TO) * FINE_UP_TO


def buckets(limit: int) -> list[int]:
    """Every padded size up to ``limit`` (and the one that holds ``limit``)."""
    sizes, count = [], 1
    while not sizes or sizes[-1] < limit:
        sizes.append(bucket(count))
        count = sizes[-1] + 1
    return sizes
