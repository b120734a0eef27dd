"""Order statistics of the views' summaries, read from histograms of whole minutes."""

from __future__ import annotations

import math


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


Histogram = list[tuple[int, int]]  # (value, how many times), ascending by value


def median_ranks(total: int) -> tuple[int, int]:
    """The ranks (from 1) whose values' mean is the median of `total` values: the same rank twice when
    `total` is odd."""
    return (total + 1) // 2, total // 2 + 1


def p90_rank(total: int) -> int:
    """The rank (from 1) of the 90th percentile of `total` values, by nearest rank."""
    return max(1, math.ceil(0.9 * total))


def median_from(lower: int, upper: int) -> float:
    """The median from the values at `median_ranks`."""
    return (lower + upper) / 2
