"""Redis key names. Pure.

Every key of an activity carries the hash tag ``{rd:<activity_id>}``, so each
script call touches one slot and runs unchanged on Redis Cluster. The tag is
the activity rather than the round because per-day, total and win limits span
rounds and are checked inside the same atomic call; an activity's rounds never
overlap in time, so nothing is lost by keeping them in one slot
(docs/architecture.md).

An activity split into K > 1 buckets (SPEC §9) keeps K copies of that state,
bucket b under ``{rd:<activity_id>:<b>.<n>}``: the ``b`` argument below, a
``(b, K)`` pair. ``None`` (K = 1, and the activity's home: its configuration
JSON) is the plain tag. ``n`` is the smallest number that puts the tag's slot
in the b-th K-th of the slot space: a cluster made by ``redis-cli --cluster
create`` gives each primary one contiguous range, so K buckets land on
min(K, primaries) different primaries instead of wherever CRC16 throws them
(three tags on three primaries collide two times in three otherwise).
"""

from __future__ import annotations

import functools

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from app.domain.buckets import bucket_of
from app.domain.types import ActivityId

Bucket = tuple[int, int] | None  # (bucket, buckets); None: the activity's one (or home) slot


@functools.cache
def _spread(activity_id: ActivityId, b: int, k: int) -> str:
    lo = b * REDIS_CLUSTER_HASH_SLOTS // k
    hi = (b + 1) * REDIS_CLUSTER_HASH_SLOTS // k
    n = 0
    while not lo <= key_slot(f"rd:{activity_id}:{b}.{n}".encode()) < hi:
        n += 1  # about k tries: CRC16 spreads evenly
    return f"rd:{activity_id}:{b}.{n}"


def tag(activity_id: ActivityId, b: Bucket = None) -> str:
    return f"{{rd:{activity_id}}}" if b is None else f"{{{_spread(activity_id, *b)}}}"


def bucket(b: int, buckets: int) -> Bucket:
    """The key space of bucket ``b`` of an activity of ``buckets``."""
    return None if buckets <= 1 else (b, buckets)


def user_space(activity_id: ActivityId, user_id: str, buckets: int) -> Bucket:
    """The key space of the user's bucket (app/domain/buckets.py): where every
    key of the user's draws, grants and counters lives."""
    return bucket(bucket_of(activity_id, user_id, buckets), buckets)


def lane(sfx: str, b: Bucket) -> str:
    """A round's stream in one bucket, as the flush worker names it: the
    suffix, and ``@<b>/<K>`` when the activity has buckets."""
    return sfx if b is None else f"{sfx}@{b[0]}/{b[1]}"


def parse_lane(name: str) -> tuple[str, Bucket]:
    sfx, at, rest = name.partition("@")
    if not at:
        return sfx, None
    b, _, k = rest.partition("/")
    return sfx, (int(b), int(k))


def cfg(activity_id: ActivityId, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:cfg"


def rounds(activity_id: ActivityId, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:rounds"


def totals(activity_id: ActivityId, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:t"


def wins(activity_id: ActivityId, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:w"


def day(activity_id: ActivityId, date_key: str, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:d:{date_key}"


def round_(activity_id: ActivityId, sfx: str, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:r:{sfx}"


def round_users(activity_id: ActivityId, sfx: str, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:r:{sfx}:u"


def stream(activity_id: ActivityId, sfx: str, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:r:{sfx}:s"


def codes(activity_id: ActivityId, sfx: str, b: Bucket = None) -> str:
    """Hash of a round's redemption codes (lua/draw.lua, KEYS codes)."""
    return f"{tag(activity_id, b)}:r:{sfx}:c"


def moves(activity_id: ActivityId, sfx: str, b: Bucket = None) -> str:
    """Hash of the stock moves a bucket's round took part in (lua/move_out.lua)."""
    return f"{tag(activity_id, b)}:r:{sfx}:m"


def rebalance_lock(activity_id: ActivityId) -> str:
    """Held by the one worker rebalancing the activity's buckets."""
    return f"{tag(activity_id)}:rebalance"


def idempotency(activity_id: ActivityId, user_id: str, key: str, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:i:{user_id}:{key}"


def idempotency_claim(user_id: str, key: str) -> str:
    """A player's claim of an Idempotency-Key across activities: the player's
    own tag, so the claim is one slot whatever activity the draw is in."""
    return f"{{rd:u:{user_id}}}:i:{key}"


def no_idempotency(activity_id: ActivityId, b: Bucket = None) -> str:
    """A placeholder in the same slot when a draw carries no Idempotency-Key."""
    return f"{tag(activity_id, b)}:i:-"


def grant(activity_id: ActivityId, grant_id: str, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:g:{grant_id}"


def no_grant(activity_id: ActivityId, b: Bucket = None) -> str:
    """A placeholder in the same slot when a draw spends no grant."""
    return f"{tag(activity_id, b)}:g:-"


def user_rate(activity_id: ActivityId, user_id: str, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:rl:u:{user_id}"


def ip_rate(activity_id: ActivityId, ip: str, b: Bucket = None) -> str:
    return f"{tag(activity_id, b)}:rl:ip:{ip}"


def write_limit(what: str, user_id: str) -> str:
    """A user's count of ``what`` (a kind of write) in the current window
    (lua/write_limit.lua); one key per call, so it needs no activity's tag."""
    return f"rd:wl:{what}:{user_id}"


def blocked(activity_id: ActivityId, kind: str, b: Bucket = None) -> str:
    """The activity's copy of the blacklist of ``kind`` ("user" or "ip")."""
    return f"{tag(activity_id, b)}:bl:{kind}"


def flushed(activity_id: ActivityId, b: Bucket = None) -> str:
    """Set of round suffixes whose stream is fully flushed and trimmed."""
    return f"{tag(activity_id, b)}:flushed"


def failures(activity_id: ActivityId, b: Bucket = None) -> str:
    """Hash "<sfx>|<entry id>" -> times the database refused that entry."""
    return f"{tag(activity_id, b)}:fails"


ACTIVE = "rd:active"  # set of published activity ids (for workers and reconcile)
RECONCILED = "rd:reconciled"  # hash: the last reconcile's result, for /metrics
