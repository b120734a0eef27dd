"""The buckets and scopes the summaries' rollups count times in (projections.rollups)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.deployment import load
from projections.rollups import ALONE, bucket, paths


def test_buckets_ascend_with_the_times_and_each_spans_at_most_a_16th_of_its_times() -> None:
    times = range(0, 2**21)
    buckets = [bucket(t) for t in times]
    assert buckets == sorted(buckets)
    lowest: dict[int, int] = {}
    for t, b in zip(times, buckets, strict=True):
        lowest.setdefault(b, t)
        assert t - lowest[b] <= max(0, lowest[b] // 16)  # within a 16th of the bucket's smallest time
    assert len(set(buckets)) < 320  # a year of minutes (2**19) and more in fewer than 320 buckets


@given(st.integers(min_value=0, max_value=2**40), st.integers(min_value=0, max_value=2**40))
def test_a_later_time_is_never_in_an_earlier_bucket(a: int, b: int) -> None:
    assert (bucket(a) <= bucket(b)) == (a <= b) or bucket(a) == bucket(b)


def test_a_case_counts_in_every_subtree_holding_it_and_in_its_cell_alone_when_cells_lie_under_it() -> None:
    scopes = paths(load("village_township").grid)
    assert scopes["qingshui.dongcun.g1"] == ["qingshui.dongcun.g1", "qingshui.dongcun", "qingshui"]
    assert scopes["qingshui.dongcun"] == [ALONE + "qingshui.dongcun", "qingshui.dongcun", "qingshui"]
    assert scopes["qingshui"] == [ALONE + "qingshui", "qingshui"]
