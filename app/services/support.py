"""After the win: physical prizes' deliveries, and the operators' user lookup
for disputes (SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain import reports
from app.domain.audit import Actor
from app.domain.errors import NotFound
from app.domain.records import DeliveryRecord, GrantRecord, StoredDraw
from app.domain.runtime import Runtime
from app.domain.types import ActivityId, Limits, PrizeType
from app.services.clock import Clock
from app.services.draws import Draws
from app.services.grants import Grants
from app.services.runtimes import RuntimeCache
from app.store.sql.database import Database
from app.store.sql.deliveries import missing

LOOKUP_DRAWS = 200  # newest draws a lookup shows
LOOKUP_GRANTS = 100


@dataclass(frozen=True, slots=True)
class LimitsUsed:
    activity_id: ActivityId
    limits: Limits
    in_round: int
    in_day: int
    in_total: int
    wins: int


@dataclass(frozen=True, slots=True)
class UserFile:
    """What an operator needs to settle a player's dispute."""

    user_id: str
    draws: list[StoredDraw]  # newest first, at most LOOKUP_DRAWS
    deliveries: dict[str, DeliveryRecord]
    grants: list[tuple[GrantRecord, bool, str | None]]  # grant, used, draw id
    limits: list[LimitsUsed]  # per activity drawn in that is still published
    blacklisted: str | None  # the reason, when the user is blacklisted


class Support:
    def __init__(
        self, db: Database, draws: Draws, grants: Grants, runtimes: RuntimeCache, clock: Clock
    ) -> None:
        self.db = db
        self.draws = draws
        self.grants = grants
        self.runtimes = runtimes
        self.clock = clock

    # -- reports ----------------------------------------------------------------------

    async def report(self, activity_id: ActivityId) -> reports.Report:
        """Per campaign day: draws, players, wins and their cost per prize
        (unit costs from the latest version of the configuration)."""
        rec = await self.db.activities.get(activity_id)
        if rec is None:
            raise NotFound(f"activity {activity_id} does not exist", code="activity_not_found")
        days, wins = await self.db.reports.daily(activity_id)
        return reports.build(rec.config, days, wins)

    async def recent(
        self, activity_id: ActivityId, round_ref: str, minutes: int, step_ms: int = 10_000
    ) -> tuple[str, list[reports.Sample]]:
        """A round's saved draws over its last ``minutes`` (up to now), for the
        live charts to start from instead of empty."""
        rt = await self.runtimes.get(activity_id)
        rnd = rt.round_of(round_ref)
        if rnd is None:
            raise NotFound(
                f"activity {activity_id} has no round {round_ref!r}", code="round_not_found"
            )
        since = min(self.clock.now_ms(), rnd.end_ms) - minutes * 60_000
        return rnd.round_id, await self.db.reports.recent(rnd.round_id, since, step_ms)

    # -- deliveries ------------------------------------------------------------------

    async def _physical_win(self, draw_id: str, user_id: str | None) -> StoredDraw:
        d = await self.db.draws.get(draw_id)
        if (
            d is None
            or (user_id is not None and d.record.user_id != user_id)
            or not d.record.won
            or d.prize_type != PrizeType.PHYSICAL.value
        ):
            raise missing(draw_id)
        return d

    async def give_address(
        self, user_id: str, draw_id: str, name: str, phone: str, address: str
    ) -> DeliveryRecord:
        d = await self._physical_win(draw_id, user_id)
        return await self.db.deliveries.give(d, name, phone, address, now=self.clock.stamp())

    async def ship(self, draw_id: str, tracking: str, by: Actor) -> DeliveryRecord:
        d = await self._physical_win(draw_id, None)
        audit = by.draft(
            "delivery.shipped",
            f"draw:{draw_id}",
            activity_id=d.record.activity_id,
            after={"status": "shipped", "tracking": tracking},
        )
        return await self.db.deliveries.ship(
            draw_id, tracking, by.principal, now=self.clock.stamp(), audit=audit
        )

    async def physical_wins(
        self, activity_id: ActivityId, *, after_id: int, limit: int
    ) -> list[tuple[StoredDraw, DeliveryRecord | None]]:
        if await self.db.activities.get(activity_id) is None:
            raise NotFound(f"activity {activity_id} does not exist", code="activity_not_found")
        return await self.db.deliveries.physical_wins(activity_id, after_id=after_id, limit=limit)

    async def deliveries_of(self, draws: list[StoredDraw]) -> dict[str, DeliveryRecord]:
        """The deliveries of the physical wins among ``draws``."""
        return await self.db.deliveries.of_draws(
            [
                d.record.draw_id
                for d in draws
                if d.record.won and d.prize_type == PrizeType.PHYSICAL.value
            ]
        )

    # -- disputes --------------------------------------------------------------------

    async def lookup(self, user_id: str) -> UserFile:
        draws = await self.db.draws.of_user(
            user_id, activity_id=None, limit=LOOKUP_DRAWS, before=None
        )
        deliveries = await self.deliveries_of(draws)
        grants = []
        for g in await self.db.grants.of_user(user_id, None, LOOKUP_GRANTS):
            grants.append((g, *await self._grant_state(g)))
        limits = []
        for aid in sorted({d.record.activity_id for d in draws}):
            rt = await self._published(aid)
            if rt is None:
                continue
            r, day, total, wins = await self.draws.user_counts(rt, user_id)
            limits.append(LimitsUsed(aid, rt.limits, r, day, total, wins))
        listed = [
            e for e in await self.db.guard.blacklist() if e.kind == "user" and e.value == user_id
        ]
        return UserFile(
            user_id, draws, deliveries, grants, limits, listed[0].reason if listed else None
        )

    async def _grant_state(self, g: GrantRecord) -> tuple[bool, str | None]:
        try:
            return await self.grants.state(g)
        except NotFound:  # its activity is no longer published
            return False, None

    async def _published(self, activity_id: ActivityId) -> Runtime | None:
        try:
            return await self.runtimes.fresh(activity_id)
        except NotFound:
            return None
