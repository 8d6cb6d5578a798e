"""Buckets (SPEC §9): who goes where, and how stock is split."""

from __future__ import annotations

import collections
import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from app.domain.activity import ReleaseConfig
from app.domain.buckets import MAX_BUCKETS, bucket_of, split, split_slices
from app.domain.schedule import release_slices
from app.domain.types import Slice


def test_a_user_keeps_one_bucket_per_activity_and_users_spread_evenly() -> None:
    assert bucket_of(7, "alice", 1) == 0
    assert all(bucket_of(7, "alice", 5) == bucket_of(7, "alice", 5) for _ in range(3))
    users = [f"u{i}" for i in range(30_000)]
    for k in (2, 3, 8, MAX_BUCKETS):
        counts = collections.Counter(bucket_of(7, u, k) for u in users)
        assert set(counts) == set(range(k))
        expected = len(users) / k
        # Chi-square with k-1 degrees of freedom; 2.5×(k-1)+30 is far past the
        # 99.99th percentile for every k here, so a fair hash fails 1 in 10^4.
        chi2 = sum((n - expected) ** 2 / expected for n in counts.values())
        assert chi2 < 2.5 * (k - 1) + 30, (k, chi2)
    # Keyed by the activity: the same user lands elsewhere in another activity.
    moved = sum(bucket_of(7, u, 8) != bucket_of(8, u, 8) for u in users[:1000])
    assert 800 < moved < 950  # 7/8 expected


def test_split_gives_equal_shares_and_the_remainder_round_robin() -> None:
    assert split(10, 3) == [4, 3, 3]
    assert split(10, 3, start=2) == [3, 3, 4]
    assert split(2, 4, start=3) == [1, 0, 0, 1]
    assert split(0, 5) == [0] * 5


@pytest.mark.parametrize("k", [1, 2, 3, 7, 64])
@pytest.mark.parametrize("quantity", [0, 1, 5, 99, 1000, 12_345])
@pytest.mark.parametrize("n_slices", [1, 3, 7, 60])
def test_sliced_stock_is_conserved_and_balanced(k: int, quantity: int, n_slices: int) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    day = dt.date(2030, 6, 1)
    slices = release_slices(quantity, ReleaseConfig(slices=n_slices), 0, 3_600_000, day, zone)
    per = split_slices(slices, k)
    assert len(per) == k
    totals = [sum(s.amount for s in b) for b in per]
    assert sum(totals) == quantity
    assert max(totals) - min(totals) <= 1
    # Slice by slice, the buckets' parts add up to the slice, at its time.
    for s in slices:
        assert sum(p.amount for b in per for p in b if p.at_ms == s.at_ms) == s.amount
    # At every moment the released amounts stay within one unit of each other.
    for s in slices:
        released = [sum(p.amount for p in b if p.at_ms <= s.at_ms) for b in per]
        assert max(released) - min(released) <= 1
    assert all(p.amount > 0 for b in per for p in b)


def test_one_bucket_is_the_schedule_itself() -> None:
    slices = (Slice(10, 3), Slice(20, 4))
    assert split_slices(slices, 1) == [slices]
    assert list(itertools.chain(*split_slices(slices, 2))) == [
        Slice(10, 2),
        Slice(20, 2),
        Slice(10, 1),
        Slice(20, 2),
    ]
