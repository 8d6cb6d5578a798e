"""Grants: draw chances a trusted backend issues (pay-to-scratch, level passes).

The database keeps each grant (unique ``reference``, for idempotency and
audit) and is written first, so a retried reference completes a half-made
grant; Redis keeps it next to the activity so the draw script can spend it
atomically.
"""

from __future__ import annotations

import secrets

from app.domain import tokens
from app.domain.errors import Conflict, NotFound, ValidationFailed
from app.domain.records import GrantRecord
from app.domain.types import ActivityId
from app.services.clock import Clock
from app.services.runtimes import RuntimeCache
from app.store.redis import keys
from app.store.redis.store import RedisStore
from app.store.sql.database import Database


class Grants:
    def __init__(
        self, redis: RedisStore, db: Database, runtimes: RuntimeCache, clock: Clock
    ) -> None:
        self.redis = redis
        self.db = db
        self.runtimes = runtimes
        self.clock = clock

    async def create(
        self, activity_id: ActivityId, user_id: str, amount: int, reference: str
    ) -> tuple[GrantRecord, bool]:
        """One draw chance for a user, idempotent by ``reference``. Returns the grant
        and whether this call created it."""
        if not tokens.USER_ID.match(user_id):
            raise ValidationFailed(
                "user_id: must be 1-64 characters of A-Z a-z 0-9 _ - @", field="user_id"
            )
        rt = await self.runtimes.get(activity_id)
        if not rt.config.takes_grants:
            raise ValidationFailed(
                f"activity_id: activity {activity_id} does not draw on grants",
                field="activity_id",
            )
        grant, created = await self.db.grants.create(
            "g" + secrets.token_hex(12),
            activity_id,
            user_id,
            amount,
            reference,
            now=self.clock.stamp(),
        )
        if (grant.activity_id, grant.user_id, grant.amount) != (activity_id, user_id, amount):
            raise Conflict(
                f"reference {reference!r} was already used for another grant",
                code="reference_conflict",
            )
        # Redis after the database: a retry by reference completes a half-made grant.
        await self.redis.grants.put(
            activity_id,
            grant.id,
            user_id,
            amount,
            reference,
            keys.user_space(rt.id, user_id, rt.config.buckets),
        )
        return grant, created

    async def state(self, grant: GrantRecord) -> tuple[bool, str | None]:
        """``(used, draw_id)``: spent inside the draw script, so Redis knows."""
        rt = await self.runtimes.get(grant.activity_id)
        return await self.redis.grants.state(
            grant.activity_id, grant.id, keys.user_space(rt.id, grant.user_id, rt.config.buckets)
        )

    async def of_user(self, user_id: str, grant_id: str) -> GrantRecord:
        """One of the caller's grants; another user's is as unknown as a made-up id."""
        grant = await self.db.grants.get(grant_id)
        if grant is None or grant.user_id != user_id:
            raise NotFound(f"no grant {grant_id!r} of this user", code="grant_not_found")
        return grant

    async def all_of_user(
        self, user_id: str, activity_id: ActivityId | None, limit: int
    ) -> list[GrantRecord]:
        return await self.db.grants.of_user(user_id, activity_id, limit)
