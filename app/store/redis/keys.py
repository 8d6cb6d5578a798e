"""Redis key names. Pure.

Every key of an activity carries the hash tag ``{rd:<activity_id>}``, so each
script call touches one slot and runs unchanged on Redis Cluster. The tag is
the activity rather than the round because per-day, total and win limits span
rounds and are checked inside the same atomic call; an activity's rounds never
overlap in time, so nothing is lost by keeping them in one slot
(docs/architecture.md).
"""

from __future__ import annotations

from app.domain.types import ActivityId


def tag(activity_id: ActivityId) -> str:
    return f"{{rd:{activity_id}}}"


def cfg(activity_id: ActivityId) -> str:
    return f"{tag(activity_id)}:cfg"


def rounds(activity_id: ActivityId) -> str:
    return f"{tag(activity_id)}:rounds"


def totals(activity_id: ActivityId) -> str:
    return f"{tag(activity_id)}:t"


def wins(activity_id: ActivityId) -> str:
    return f"{tag(activity_id)}:w"


def day(activity_id: ActivityId, date_key: str) -> str:
    return f"{tag(activity_id)}:d:{date_key}"


def round_(activity_id: ActivityId, sfx: str) -> str:
    return f"{tag(activity_id)}:r:{sfx}"


def round_users(activity_id: ActivityId, sfx: str) -> str:
    return f"{tag(activity_id)}:r:{sfx}:u"


def stream(activity_id: ActivityId, sfx: str) -> str:
    return f"{tag(activity_id)}:r:{sfx}:s"


def idempotency(activity_id: ActivityId, user_id: str, key: str) -> str:
    return f"{tag(activity_id)}:i:{user_id}:{key}"


def no_idempotency(activity_id: ActivityId) -> str:
    """A placeholder in the same slot when a draw carries no Idempotency-Key."""
    return f"{tag(activity_id)}:i:-"


def grant(activity_id: ActivityId, grant_id: str) -> str:
    return f"{tag(activity_id)}:g:{grant_id}"


def no_grant(activity_id: ActivityId) -> str:
    """A placeholder in the same slot when a draw spends no grant."""
    return f"{tag(activity_id)}:g:-"


def user_rate(activity_id: ActivityId, user_id: str) -> str:
    return f"{tag(activity_id)}:rl:u:{user_id}"


def ip_rate(activity_id: ActivityId, ip: str) -> str:
    return f"{tag(activity_id)}:rl:ip:{ip}"


def blocked(activity_id: ActivityId, kind: str) -> str:
    """The activity's copy of the blacklist of ``kind`` ("user" or "ip")."""
    return f"{tag(activity_id)}:bl:{kind}"


def flushed(activity_id: ActivityId) -> str:
    """Set of round suffixes whose stream is fully flushed and trimmed."""
    return f"{tag(activity_id)}:flushed"


def failures(activity_id: ActivityId) -> str:
    """Hash "<sfx>|<entry id>" -> times the database refused that entry."""
    return f"{tag(activity_id)}:fails"


ACTIVE = "rd:active"  # set of published activity ids (for workers and reconcile)
