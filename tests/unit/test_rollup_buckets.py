"""The buckets and scopes the summaries' rollups count times in (projections.rollups)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from domain.deployment import load
from projections.rollups import ALONE, bucket, exact, fine, paths


def test_buckets_ascend_with_the_times_and_each_spans_at_most_an_8th_of_its_times() -> None:
    times = range(0, 2**21)
    buckets = [bucket(t) for t in times]
    assert buckets == sorted(buckets)
    lowest: dict[int, int] = {}
    for t, b in zip(times, buckets, strict=True):
        lowest.setdefault(b, t)
        assert t - lowest[b] <= max(0, lowest[b] // 8)  # within an 8th of the bucket's smallest time
    assert len(set(buckets)) < 160  # a year of minutes (2**19) and more in fewer than 160 buckets


def test_fine_buckets_ascend_each_within_one_bucket_and_hold_one_minute_below_1024() -> None:
    times = range(0, 2**21)
    fines = [fine(t) for t in times]
    assert fines == sorted(fines)
    bucket_of: dict[int, int] = {}
    lowest: dict[int, int] = {}
    for t, f in zip(times, fines, strict=True):
        assert bucket_of.setdefault(f, bucket(t)) == bucket(t)  # a rank found in a bucket is in its fines
        lowest.setdefault(f, t)
        assert t - lowest[f] <= lowest[f] // 512
        assert exact(f) == (t < 1024) and (f == t or not exact(f))
    per_bucket = Counter(bucket_of.values())
    assert max(per_bucket.values()) <= 64  # a rank's bucket: at most 64 fine buckets read


@given(st.integers(min_value=0, max_value=2**40), st.integers(min_value=0, max_value=2**40))
def test_a_later_time_is_never_in_an_earlier_bucket(a: int, b: int) -> None:
    assert (bucket(a) <= bucket(b)) == (a <= b) or bucket(a) == bucket(b)
    assert (fine(a) <= fine(b)) == (a <= b) or fine(a) == fine(b)


def test_a_case_counts_in_every_subtree_holding_it_and_in_its_cell_alone_when_cells_lie_under_it() -> None:
    scopes = paths(load("village_township").grid)
    assert scopes["qingshui.dongcun.g1"] == ["qingshui.dongcun.g1", "qingshui.dongcun", "qingshui"]
    assert scopes["qingshui.dongcun"] == [ALONE + "qingshui.dongcun", "qingshui.dongcun", "qingshui"]
    assert scopes["qingshui"] == [ALONE + "qingshui", "qingshui"]
