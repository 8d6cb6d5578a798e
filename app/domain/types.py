"""Plain data shared across layers. Imports nothing else from the package."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from app.domain.errors import RedrainError
from app.domain.text import Localized

UserId = str
ActivityId = int
RoundId = str

PPB = 1_000_000_000  # manual probabilities are integers in parts per 10^9


class Kind(StrEnum):
    TIME = "time"
    COUNT = "count"
    AMOUNT = "amount"


class Odds(StrEnum):
    MANUAL = "manual"
    AUTO = "auto"


class PrizeType(StrEnum):
    COUPON = "coupon"
    POINTS = "points"
    PHYSICAL = "physical"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Limits:
    """Per user per activity; 0 means unlimited."""

    per_round: int = 0
    per_day: int = 0
    total: int = 0
    wins_total: int = 0


@dataclass(frozen=True, slots=True)
class Slice:
    """``amount`` units of a prize become winnable at ``at_ms`` (Unix ms)."""

    at_ms: int
    amount: int


@dataclass(frozen=True, slots=True)
class PrizePlan:
    """One prize of a session's rounds, as the draw script sees it. Shared by
    every round of the session; release slices depend on the round and are
    computed only when publishing (``schedule.round_slices``)."""

    index: int  # 1-based position in the round; 0 means "no prize"
    key: str
    type: PrizeType
    name: Localized  # as configured: a string or one per language
    value: str
    quantity: int
    ppb: int  # manual probability, parts per 10^9
    weight: int  # auto mode weight
    image_url: str | None = None

    @property
    def empty(self) -> bool:
        return self.type is PrizeType.EMPTY


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """A pool of a session: its prizes are ``first..last`` (1-based, inclusive)
    of the round's prizes. ``nth`` for count activities; an amount band
    ``[amount_min, amount_max)`` for amount ones (``amount_max`` None: no top)."""

    first: int
    last: int
    nth: int | None = None
    amount_min: int | None = None
    amount_max: int | None = None


@dataclass(frozen=True, slots=True)
class RoundPlan:
    """One day × session of an activity."""

    activity_id: ActivityId
    sfx: str  # "YYYYMMDD:session_index"
    session_index: int
    start_ms: int
    end_ms: int  # exclusive
    prizes: tuple[PrizePlan, ...]
    pools: tuple[PoolPlan, ...] = ()

    @property
    def round_id(self) -> RoundId:
        return f"{self.activity_id}:{self.sfx}"  # as app/domain/ids.py (which imports this)

    @property
    def date_key(self) -> str:
        return self.sfx[:8]


@dataclass(frozen=True, slots=True)
class DrawCounts:
    """The user's counters after a draw (nonce == round). ``day`` and ``total``
    are kept only when their limit is set (0 otherwise)."""

    round: int
    day: int
    total: int


@dataclass(frozen=True, slots=True)
class DrawResult:
    draw_id: str
    round_id: RoundId
    won: bool
    prize: PrizePlan | None  # the won prize; None on a loss
    nonce: int
    counts: DrawCounts
    random: str  # the 40-hex value the pick used (see docs/fairness.md)
    client_seed: str  # as given on the draw (a replay returns the first one)
    at_ms: int
    replayed: bool  # True when an Idempotency-Key retry returned the first result
    pick: int = 0  # 1-based prize of the round the random value picked; 0: the empty remainder
    bucket: int = 0  # the bucket drawn in (SPEC §9); 0 when the activity has one
    code: str | None = None  # the redemption code of the won prize, if it has codes


@dataclass(frozen=True, slots=True)
class DrawBatch:
    """Several draws of one request, in order (SPEC §3: ``count``); ``stopped``
    names the refusal that ended it before all that were asked for."""

    draws: tuple[DrawResult, ...]
    stopped: RedrainError | None
    replayed: bool


@dataclass(frozen=True, slots=True)
class PrizeStats:
    key: str
    quantity: int
    released: int
    won: int

    @property
    def remaining(self) -> int:
        return self.quantity - self.won

    @property
    def released_remaining(self) -> int:
        return self.released - self.won


@dataclass(frozen=True, slots=True)
class RoundStats:
    round_id: RoundId
    start_ms: int
    end_ms: int
    draws: int
    users: int
    prizes: tuple[PrizeStats, ...]


class DrawRecord(NamedTuple):
    """One draw as the ledger (stream, then database) keeps it.

    A named tuple, not a frozen dataclass: the flush worker builds one per row,
    and a frozen slotted dataclass of these fifteen fields takes 1.8 µs to
    build against 0.3 µs (docs/performance.md, issue 16). Immutable either way.
    """

    draw_id: str  # "<round_id>:<seq>"
    activity_id: ActivityId
    round_id: RoundId
    seq: int
    user_id: str
    nonce: int
    client_seed: str
    pick: int  # 1-based prize index picked, 0 for the empty remainder
    won: bool
    prize_key: str | None
    random: str
    drawn_at_ms: int
    stream_id: str  # the Redis stream entry id
    pool: int = 1  # 1-based pool the pick was made in
    grant_id: str | None = None  # the grant the draw spent
    code: str | None = None  # the win's redemption code (a coded coupon prize)

    def same_draw(self, other: DrawRecord) -> bool:
        """True when ``other`` records this very draw (stream ids may differ)."""
        return (
            self.draw_id,
            self.user_id,
            self.nonce,
            self.client_seed,
            self.pick,
            self.won,
            self.prize_key,
            self.random,
        ) == (
            other.draw_id,
            other.user_id,
            other.nonce,
            other.client_seed,
            other.pick,
            other.won,
            other.prize_key,
            other.random,
        )
