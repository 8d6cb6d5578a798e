"""The blacklist: kept in the database, mirrored into every published
activity in Redis, where the draw script refuses a listed user or IP.

An IP is kept in its canonical spelling (``app.domain.addresses``), the one
the HTTP edge gives every client, so ``::ffff:10.9.9.9`` listed is
``10.9.9.9`` refused."""

from __future__ import annotations

from app.domain.addresses import canonical_ip
from app.domain.audit import Actor
from app.domain.errors import NotFound, ValidationFailed
from app.domain.records import BlacklistEntry
from app.domain.types import ActivityId
from app.services.clock import Clock
from app.store.redis.store import RedisStore
from app.store.sql.database import Database

# Held while the list changes and while a publish copies it into an activity:
# a copy made from a read taken before a change would otherwise undo it.
LOCK = "blacklist"


class Guard:
    def __init__(self, redis: RedisStore, db: Database, clock: Clock) -> None:
        self.redis = redis
        self.db = db
        self.clock = clock

    async def blacklist(self) -> list[BlacklistEntry]:
        return await self.db.guard.blacklist()

    async def add(self, kind: str, value: str, reason: str, by: Actor) -> tuple[bool, str, str]:
        """(True if added, False if it was already listed; the value and the
        reason as listed: a second add changes neither, so it says the first's)."""
        if kind == "ip":
            ip = canonical_ip(value)
            if ip is None:
                raise ValidationFailed("value: not an IP address", field="value")
            value = ip
        audit = by.draft("blacklist.add", f"blacklist:{kind}:{value}", after={"reason": reason})
        async with self.redis.locks.hold(LOCK):
            created = await self.db.guard.blacklist_add(
                kind, value, reason, now=self.clock.stamp(), audit=audit
            )
            await self.redis.guard.change(await self._published(), kind, value, add=True)
            if not created:
                reason = await self.db.guard.blacklist_reason(kind, value) or reason
        return created, value, reason

    async def remove(self, kind: str, value: str, by: Actor) -> None:
        if kind == "ip":
            value = canonical_ip(value) or value
        audit = by.draft("blacklist.remove", f"blacklist:{kind}:{value}", before={"listed": True})
        async with self.redis.locks.hold(LOCK):
            if not await self.db.guard.blacklist_remove(
                kind, value, now=self.clock.stamp(), audit=audit
            ):
                raise NotFound(f"{kind} {value!r} is not blacklisted", code="not_blacklisted")
            await self.redis.guard.change(await self._published(), kind, value, add=False)

    async def _published(self) -> list[tuple[ActivityId, int]]:
        """Every published activity with its number of buckets (one blacklist copy each)."""
        catalogue = self.redis.catalogue
        return [(aid, await catalogue.buckets(aid)) for aid in await catalogue.active_activities()]
