"""Order statistics of the views' summaries, read from histograms of whole minutes."""

from __future__ import annotations

import math


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


Histogram = list[tuple[int, int]]  # (value, how many times), ascending by value


def _at_rank(histogram: Histogram, rank: int) -> int:
    """The `rank`-th smallest value (from 1) of the values a histogram counts."""
    seen = 0
    for value, n in histogram:
        seen += n
        if seen >= rank:
            return value
    raise ValueError(f"rank {rank} beyond the {seen} values counted")


def median_of(histogram: Histogram) -> float | None:
    """`median` of the values a histogram counts."""
    total = sum(n for _, n in histogram)
    if not total:
        return None
    middle = _at_rank(histogram, (total + 1) // 2)
    return middle if total % 2 else (middle + _at_rank(histogram, total // 2 + 1)) / 2


def p90_of(histogram: Histogram) -> float | None:
    """`p90` of the values a histogram counts."""
    total = sum(n for _, n in histogram)
    return None if not total else _at_rank(histogram, max(1, math.ceil(0.9 * total)))
