"""What the database keeps, as plain records. Pure: no I/O.

The store (``app.store.sql``) turns its rows into these before they leave it,
so no ORM object travels up to the services or the HTTP edge.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from app.domain.activity import ActivityConfig
from app.domain.types import ActivityId, DrawRecord

DRAFT, PUBLISHED, PENDING = "draft", "published", "pending_approval"
ARCHIVED = "archived"  # a draft put away (never published); it can be restored
STATUSES = (DRAFT, PENDING, PUBLISHED, ARCHIVED)


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    id: ActivityId
    config: ActivityConfig  # the latest version (what a PUT last saved)
    version: int
    status: str  # draft | published | pending_approval | archived
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None
    pending_by: str | None = None  # who asked to publish, awaiting another's approval
    pending_version: int | None = None  # the version that request names
    published_version: int | None = None  # the version players draw against
    live_config: ActivityConfig | None = None  # that version's configuration
    paused: bool = False  # an operator stopped every draw (SPEC §3)

    @property
    def live(self) -> ActivityConfig:
        """The configuration players draw against (the latest, before a first publish)."""
        return self.live_config or self.config

    @property
    def unpublished_changes(self) -> bool:
        return self.published_version is not None and self.published_version != self.version


@dataclass(frozen=True, slots=True)
class RoundRecord:
    id: str
    activity_id: ActivityId
    starts_at_ms: int
    ends_at_ms: int
    seed: str
    seed_hash: str
    version: int | None = None  # the activity version it was loaded with


@dataclass(frozen=True, slots=True)
class StoreResult:
    inserted: int
    duplicates: int  # already stored, and the same draw: done
    collisions: list[tuple[DrawRecord, DrawRecord]]  # (new, stored): same id, another draw


@dataclass(frozen=True, slots=True)
class StoredDraw:
    record: DrawRecord
    id: int
    prize_type: str | None
    prize_name: str | None
    prize_value: str | None
    fulfilment: str | None = None  # won | granted | grant_failed; None on a loss


@dataclass(frozen=True, slots=True)
class GrantRecord:
    id: str
    activity_id: ActivityId
    user_id: str
    amount: int
    reference: str
    created_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class LotteryRecord:
    id: int
    creator: str
    title: str
    draw_at: dt.datetime  # naive UTC
    prize_name: str
    quantity: int
    status: int  # 0 open, 1 drawing, 2 drawn, 9 canceled
    seed: str
    seed_hash: str
    drawn_at: dt.datetime | None
    participants: int
    winners: tuple[str, ...]  # user ids, once drawn


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    kind: str
    ref: str
    payload: dict[str, Any]
    created_at: dt.datetime
    cursor: tuple[int, int, int] = (0, 0, 0)  # the page after this one starts here


@dataclass(frozen=True, slots=True)
class RoundLedger:
    """What the database holds for one round."""

    draws: int
    min_seq: int
    max_seq: int
    users: int
    wins: dict[str, int]  # prize key -> wins


@dataclass(frozen=True, slots=True)
class BlacklistEntry:
    kind: str  # user | ip
    value: str
    reason: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    stream: str
    entry_id: str
    draw_id: str | None
    fields: dict[str, str]
    reason: str
    attempts: int
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Topup:
    prize_key: str
    added: int
    at_ms: int


@dataclass(frozen=True, slots=True)
class StockMove:
    """Units of a prize moved from one bucket of a round to another (SPEC §9)."""

    move_id: str
    prize_key: str
    from_bucket: int
    to_bucket: int
    units: int
    out_at_ms: int
    in_at_ms: int


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    id: int
    username: str
    role: str
    disabled: bool
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    name: str
    scope: str
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    operator: OperatorRecord
    csrf_token: str
    seen_at: dt.datetime


AWAITING_ADDRESS, ADDRESS_GIVEN, SHIPPED = "awaiting_address", "address_given", "shipped"


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """Where a physical prize goes (SPEC §3)."""

    draw_id: str
    activity_id: ActivityId
    user_id: str
    name: str
    phone: str
    address: str
    status: str  # address_given | shipped
    tracking: str | None
    updated_at: dt.datetime
    shipped_at: dt.datetime | None = None
    shipped_by: str | None = None


@dataclass(frozen=True, slots=True)
class ReconcileRun:
    """What the last ``redrain reconcile`` found, for monitoring (SPEC §5):
    when it ran, when a run last found every round agreeing (None: never),
    and the last run's counts of rounds by status."""

    run_ms: int
    ok_ms: int | None
    checked: int
    drift: int
    not_drained: int
    repaired: int
