"""Buckets: one hot round split across Redis shards (SPEC §9). Pure.

An activity with ``"buckets": K`` keeps K copies of its draw state, each under
its own hash tag, so K Redis primaries share one round. A user belongs to one
bucket for the whole activity, so every per-user limit stays one atomic script
call in that bucket; stock is split so the buckets' shares add up exactly.

How remainders go: a total of ``q`` over K buckets gives each ``q // K`` and
one more unit to ``q % K`` of them, taken round-robin from a starting bucket.
Release slices are split one after another with the starting bucket moving on
by each slice's remainder, so over a whole schedule no bucket is ahead of
another by more than one unit, and bucket b's slices add up to exactly its
share of the quantity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from app.domain.types import ActivityId, Slice

MAX_BUCKETS = 64


def bucket_of(activity_id: ActivityId, user_id: str, buckets: int) -> int:
    """The user's bucket, 0..buckets-1: a keyed hash of the user id (keyed by
    the activity, so users spread differently per activity, and no user id
    needs to be known in advance to land anywhere in particular)."""
    if buckets <= 1:
        return 0
    digest = hashlib.blake2b(
        user_id.encode(), digest_size=8, key=f"redrain-bucket:{activity_id}".encode()
    ).digest()
    return int.from_bytes(digest, "big") % buckets


def split(total: int, buckets: int, start: int = 0) -> list[int]:
    """``total`` over ``buckets``: equal shares, the remainder one unit each
    to the buckets from ``start`` on (wrapping)."""
    base, extra = divmod(total, buckets)
    out = [base] * buckets
    for i in range(extra):
        out[(start + i) % buckets] += 1
    return out


def split_slices(slices: Sequence[Slice], buckets: int) -> list[tuple[Slice, ...]]:
    """Each bucket's release schedule: every slice split across the buckets,
    the remainders rotating so the buckets stay within one unit of each other.
    A bucket's share of a slice that rounds to nothing is left out."""
    per: list[list[Slice]] = [[] for _ in range(buckets)]
    start = 0
    for s in slices:
        for b, amount in enumerate(split(s.amount, buckets, start)):
            if amount:
                per[b].append(Slice(s.at_ms, amount))
        start = (start + s.amount % buckets) % buckets
    return [tuple(p) for p in per]
