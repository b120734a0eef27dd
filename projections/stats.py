"""Order statistics of the views' summaries, read from histograms of whole minutes."""

from __future__ import annotations

import math


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


Histogram = list[tuple[int, int]]  # (value, how many times), ascending by value


def at_rank(histogram: Histogram, rank: int) -> int:
    """The `rank`-th smallest value (from 1) of the values a histogram counts."""
    seen = 0
    for value, n in histogram:
        seen += n
        if seen >= rank:
            return value
    raise ValueError(f"rank {rank} beyond the {seen} values counted")


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


def median_of(histogram: Histogram) -> float | None:
    """`median` of the values a histogram counts."""
    total = sum(n for _, n in histogram)
    if not total:
        return None
    lower, upper = median_ranks(total)
    return median_from(at_rank(histogram, lower), at_rank(histogram, upper))


def p90_of(histogram: Histogram) -> float | None:
    """`p90` of the values a histogram counts."""
    total = sum(n for _, n in histogram)
    return None if not total else at_rank(histogram, p90_rank(total))
