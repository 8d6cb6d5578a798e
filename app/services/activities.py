"""Activities for operators: create, replace, publish, top up, watch.

Publishing plans every round, makes sure each has a database row with a seed
(created once: its hash may already be public), loads the rounds into Redis
(rounds that started or were drawn in are frozen) and switches the published
configuration; API processes holding an older version reload on their next
draw (docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.domain.activity import check_size, config_hash, parse_config
from app.domain.audit import Actor
from app.domain.changes import check_started_change
from app.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RedrainError,
    Unavailable,
    ValidationFailed,
)
from app.domain.records import ARCHIVED, DRAFT, PENDING, PUBLISHED, ActivityRecord
from app.domain.runtime import Runtime
from app.domain.schedule import activity_window, round_slices
from app.domain.types import ActivityId, RoundPlan, RoundStats
from app.domain.versions import Publishing
from app.services.clock import Clock
from app.services.codes import Added, Codes, check_upload, coded_picks
from app.services.guard import LOCK as BLACKLIST_LOCK
from app.services.runtimes import RuntimeCache
from app.store.redis.catalogue import ToppedUp, TopupCode
from app.store.redis.store import RedisStore
from app.store.sql.database import Database

log = logging.getLogger("redrain.activities")

READ_ONLY_FIELDS = (
    "id",
    "status",
    "version",
    "created_at",
    "updated_at",
    "published_at",
    "pending_by",
    "pending_version",
    "published_version",
    "config_hash",
    "started",
    "live",
    "paused",
)
LEASE_TTL_MS = 120_000  # longer than the largest publish takes (docs/api.md)
LEASE_WAIT = 10.0  # seconds a change waits for another change of the activity


@dataclass(frozen=True, slots=True)
class PublishSummary:
    id: ActivityId
    version: int
    rounds: int
    loaded: int  # rounds written to Redis
    kept: int  # rounds frozen (started or drawn in)
    dropped: int  # rounds removed (a PUT shortened the activity)


@dataclass(frozen=True, slots=True)
class TopupResult:
    round_id: str
    prize: str
    quantity: int
    released: int


_TOPUP_REFUSALS: dict[TopupCode, Callable[[str, str], RedrainError]] = {
    TopupCode.ROUND_NOT_FOUND: lambda rid, prize: NotFound(
        f"round {rid} is not published", code="round_not_found"
    ),
    TopupCode.ROUND_ENDED: lambda rid, prize: Conflict(
        f"round {rid} has ended", code="round_ended"
    ),
    TopupCode.PRIZE_NOT_FOUND: lambda rid, prize: NotFound(
        f"round {rid} has no prize {prize!r}", code="prize_not_found"
    ),
    TopupCode.EMPTY_PRIZE: lambda rid, prize: ValidationFailed(
        f"prize: {prize!r} is of type empty and has no stock", field="prize"
    ),
}


@dataclass(frozen=True, slots=True)
class Pending:
    """Publishing waits for another publisher's approval (four-eyes)."""

    id: ActivityId
    version: int
    requested_by: str
    config_hash: str


class Activities:
    def __init__(
        self,
        redis: RedisStore,
        db: Database,
        runtimes: RuntimeCache,
        clock: Clock,
        *,
        approvals: bool = False,
    ) -> None:
        self.redis = redis
        self.db = db
        self.runtimes = runtimes
        self.clock = clock
        self.approvals = approvals  # REDRAIN_PUBLISH_APPROVALS
        self.codes = Codes(redis, db)

    async def create(self, data: Any, by: Actor) -> ActivityRecord:
        cfg = parse_config(data)
        audit = by.draft("activity.create", "activity:new")  # completed with the new id
        return await self.db.activities.create(cfg, now=self.clock.stamp(), audit=audit)

    async def get(self, activity_id: ActivityId) -> ActivityRecord:
        rec = await self.db.activities.get(activity_id)
        if rec is None:
            raise NotFound(f"activity {activity_id} does not exist", code="activity_not_found")
        return rec

    async def latest(
        self, limit: int, offset: int, status: str | None = None
    ) -> list[ActivityRecord]:
        return await self.db.activities.latest(limit=limit, offset=offset, status=status)

    def changing(self, activity_id: ActivityId) -> contextlib.AbstractAsyncContextManager[None]:
        """One change of an activity at a time, across API processes: the
        activity's lock in Redis, waited for up to LEASE_WAIT seconds, then 409
        ``activity_busy``."""
        return self.redis.locks.hold(
            f"activity:{activity_id}",
            ttl_ms=LEASE_TTL_MS,
            wait=LEASE_WAIT,
            busy=Conflict(
                f"activity {activity_id} is being changed by another request; try again",
                code="activity_busy",
            ),
        )

    async def archive(
        self, activity_id: ActivityId, by: Actor, *, restore: bool = False
    ) -> ActivityRecord:
        """Put a draft away (out of the default list), or bring it back. Only a
        draft that was never published: a published activity's rounds exist."""
        async with self.changing(activity_id):
            rec = await self.get(activity_id)
            before, after = (ARCHIVED, DRAFT) if restore else (DRAFT, ARCHIVED)
            action = "activity.restore" if restore else "activity.archive"
            audit = by.draft(
                action,
                f"activity:{activity_id}",
                activity_id=activity_id,
                before={"status": rec.status},
                after={"status": after},
            )
            moved = await self.db.activities.move(
                activity_id, before, after, now=self.clock.stamp(), audit=audit
            )
            if not moved:
                raise Conflict(
                    f"activity {activity_id} is {rec.status}; only a draft never published "
                    f"can be {'restored' if restore else 'archived'}",
                    code="not_archivable" if not restore else "not_archived",
                )
            return await self.get(activity_id)

    def _check_not_archived(self, rec: ActivityRecord) -> None:
        if rec.status == ARCHIVED:
            raise Conflict(
                f"activity {rec.id} is archived; restore it first", code="activity_archived"
            )

    async def replace(self, activity_id: ActivityId, data: Any, by: Actor) -> ActivityRecord:
        """The next version. A draft changes in place; a published activity
        keeps drawing against its published version until a publisher
        publishes this one (SPEC §3), and a pending request to publish is void."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in READ_ONLY_FIELDS}
        cfg = parse_config(data)
        async with self.changing(activity_id):
            rec = await self.get(activity_id)
            self._check_not_archived(rec)
            live = rec.published_at is not None
            if live and self.clock.now_ms() >= activity_window(rec.live)[0]:
                check_started_change(rec.live, cfg)
            if live and cfg.buckets != rec.live.buckets:
                # Redis holds the published rounds under the old buckets' tags.
                raise ValidationFailed(
                    "buckets: fixed once the activity has been published", field="buckets"
                )
            return await self.db.activities.replace(
                activity_id,
                cfg,
                now=self.clock.stamp(),
                audit=by.draft(
                    "activity.update", f"activity:{activity_id}", activity_id=activity_id
                ),
            )

    async def publish(self, activity_id: ActivityId, by: Actor) -> PublishSummary | Pending:
        """The latest version goes live; with four-eyes approvals it waits for
        another publisher (re-publishing the live version needs no approval:
        it changes nothing players can win)."""
        async with self.changing(activity_id):
            rec = await self.get(activity_id)
            self._check_not_archived(rec)
            if not self.approvals or (
                rec.status == PUBLISHED and rec.published_version == rec.version
            ):
                return await self._publish(rec, by, "activity.publish")
            digest = config_hash(rec.config)
            if rec.status == PENDING and rec.pending_by == by.principal:
                return Pending(rec.id, rec.version, by.principal, digest)  # asked already
            audit = by.draft(
                "activity.publish_requested",
                f"activity:{rec.id}",
                activity_id=rec.id,
                before={"status": rec.status, "pending_by": rec.pending_by},
                after={
                    "status": PENDING,
                    "pending_by": by.principal,
                    "version": rec.version,
                    "config_hash": digest,
                },
            )
            await self.db.activities.mark_pending(
                rec.id, by.principal, rec.version, now=self.clock.stamp(), audit=audit
            )
            return Pending(rec.id, rec.version, by.principal, digest)

    async def approve(
        self, activity_id: ActivityId, by: Actor, version: int, digest: str | None = None
    ) -> PublishSummary:
        """Another publisher's go for the exact version that was asked for."""
        async with self.changing(activity_id):
            rec = await self.get(activity_id)
            if rec.status != PENDING or rec.pending_version is None:
                raise Conflict(f"activity {rec.id} is not waiting for approval", code="not_pending")
            if rec.pending_by == by.principal:
                raise Forbidden(
                    "a different publisher must approve what you asked to publish"
                    + (f" (this token acts as {by.principal})" if by.owner else ""),
                    code="same_publisher",
                )
            if version != rec.pending_version or rec.version != rec.pending_version:
                raise Conflict(
                    f"the request is to publish version {rec.pending_version}, not {version}",
                    code="version_mismatch",
                )
            if digest is not None and digest != config_hash(rec.config):
                raise Conflict(
                    f"version {version}'s configuration hash is {config_hash(rec.config)}",
                    code="version_mismatch",
                )
            return await self._publish(rec, by, "activity.approve")

    async def _plan(self, rec: ActivityRecord, now: int) -> Publishing:
        """Each round's plan and version (app/domain/versions.py), from the
        versions the rounds hold now."""
        held = await self.db.activities.round_versions(rec.id)
        older = await self.db.activities.versions(
            rec.id, {v for v in held.values() if v != rec.version}
        )
        return Publishing.plan(rec.id, rec.config, rec.version, held, older, now)

    async def _publish(self, rec: ActivityRecord, by: Actor, action: str) -> PublishSummary:
        cfg = rec.config
        check_size(cfg)  # one saved before the bounds existed may be too big to publish
        now = self.clock.now_ms()
        plan = await self._plan(rec, now)
        rounds = plan.rounds
        coded = await self.codes.coded(rec.id, cfg)
        fresh = [r for r in rounds if r.end_ms > now]  # what publishing may (re)load
        if coded:
            await self.codes.check_enough(rec.id, fresh, coded)
        seeds = await self.db.activities.ensure_rounds(rec.id, rounds)
        done = await self.redis.catalogue.publish(
            rec.id,
            version=rec.version,
            # Defaults left out: an API process of the previous release (a
            # rolling upgrade) then still reads a config whose new options
            # are unused.
            config_json=cfg.model_dump_json(exclude_none=True, exclude_defaults=True),
            rounds=rounds,
            slices=lambda r: round_slices(plan.config_of(r.sfx), r),
            seeds=seeds,
            buckets=cfg.buckets,
            paused=rec.paused,
            history=lambda loaded: plan.history(rec.version, loaded).dumps(),
        )
        await self.db.activities.drop_rounds(rec.id, done.dropped)
        if coded:
            await self.codes.load(rec.id, [r for r in fresh if r.sfx in done.loaded], coded)
        await self.codes.drop(rec.id, done.dropped)
        await self.sync_blacklist(rec.id, cfg.buckets)
        summary = PublishSummary(
            rec.id, rec.version, len(rounds), done.written, done.frozen, len(done.dropped)
        )
        # Redis first (idempotent: a retry after a database outage repeats it
        # harmlessly), then the status and its audit entry in one transaction.
        audit = by.draft(
            action,
            f"activity:{rec.id}",
            activity_id=rec.id,
            before={
                "status": rec.status,
                "pending_by": rec.pending_by,
                "version": rec.published_version,
            },
            after={
                "status": PUBLISHED,
                "config_hash": config_hash(cfg),
                **dataclasses.asdict(summary),
            },
        )
        await self.db.activities.mark_published(
            rec.id,
            rec.version,
            cfg,
            now=self.clock.stamp(),
            audit=audit,
            rounds={sfx: plan.versions[sfx] for sfx in done.loaded},
        )
        self.runtimes.forget(rec.id)
        return summary

    async def add_codes(
        self, activity_id: ActivityId, prize_key: str, codes: list[str], by: Actor
    ) -> Added:
        """Add redemption codes to a coupon prize's pool (SPEC §3). A published
        activity's rounds that have not ended take theirs at once."""
        async with self.changing(activity_id):
            rec = await self.get(activity_id)
            self._check_not_archived(rec)
            check_upload(rec.config, prize_key, codes)
            audit = by.draft(
                "prize.codes_added",
                f"activity:{activity_id}:prize:{prize_key}",
                activity_id=activity_id,
                after={"prize": prize_key, "added": len(codes)},
            )
            await self.db.codes.add(
                activity_id, prize_key, codes, now=self.clock.stamp(), audit=audit
            )
            if rec.published_at is not None:
                await self._load_live_codes(activity_id)
            return Added(len(codes), await self.db.codes.available(activity_id, prize_key))

    async def _load_live_codes(self, activity_id: ActivityId) -> None:
        rt = await self.runtimes.fresh(activity_id)
        coded = await self.codes.coded(activity_id, rt.config)
        now = self.clock.now_ms()
        live = [r for r in rt.timeline.rounds if r.end_ms > now]
        quantities: dict[tuple[str, int], int] = {}
        for r in live:
            if r.start_ms <= now and coded_picks(r, coded):  # open: its quantity may be topped up
                st = await self.redis.catalogue.round_stats(r, rt.config.buckets)
                for p, stat in zip(r.prizes, st.prizes if st else (), strict=False):
                    quantities[(r.sfx, p.index)] = stat.quantity
        await self.codes.load(activity_id, live, coded, quantities)

    async def pause(self, activity_id: ActivityId, by: Actor, *, paused: bool) -> ActivityRecord:
        """The emergency stop (SPEC §3), or its end. Idempotent: pausing a
        paused activity changes nothing and writes no audit entry. Redis
        first, where every draw reads the flag (a retry after a database
        outage repeats it harmlessly), then the row and its audit entry."""
        async with self.changing(activity_id):
            rec = await self.get(activity_id)
            if rec.published_at is None:
                raise Conflict(
                    f"activity {activity_id} has not been published; nothing draws yet",
                    code="not_published",
                )
            await self.redis.catalogue.set_paused(activity_id, paused, rec.live.buckets)
            if rec.paused != paused:
                action = "activity.pause" if paused else "activity.resume"
                audit = by.draft(
                    action,
                    f"activity:{activity_id}",
                    activity_id=activity_id,
                    before={"paused": rec.paused},
                    after={"paused": paused},
                )
                await self.db.activities.set_paused(
                    activity_id, paused, now=self.clock.stamp(), audit=audit
                )
            return await self.get(activity_id)

    async def sync_blacklist(self, activity_id: ActivityId, buckets: int = 1) -> None:
        """Give a published activity (each of its buckets) its copy of the
        whole blacklist."""
        async with self.redis.locks.hold(BLACKLIST_LOCK):
            entries = await self.db.guard.blacklist()
            for kind in ("user", "ip"):
                values = [e.value for e in entries if e.kind == kind]
                await self.redis.guard.replace(activity_id, kind, values, buckets)

    async def topup(
        self, activity_id: ActivityId, round_ref: str, prize: str, add: int, by: Actor
    ) -> TopupResult:
        rt = await self.runtimes.fresh(activity_id)
        rnd = round_of(rt, round_ref)
        coded = await self.codes.coded(activity_id, rt.config)
        picks = [pk for pk in coded_picks(rnd, coded) if pk[1] == prize]
        if picks:
            available = await self.db.codes.available(activity_id, prize)
            if available < add:
                raise ValidationFailed(
                    f"add: prize {prize!r} gives each win a code; {add} more units need"
                    f" {add} codes and {available} are available; upload more first",
                    field="add",
                )
        res = await self.redis.catalogue.topup(activity_id, rnd.sfx, prize, add, rt.config.buckets)
        self.runtimes.reopened(activity_id)
        if not isinstance(res, ToppedUp):
            raise _TOPUP_REFUSALS[res](rnd.round_id, prize)
        if picks:
            async with self.changing(activity_id):  # one allotment of the activity at a time
                await self.codes.load(
                    activity_id, [rnd], coded, {(rnd.sfx, pk[0]): res.quantity for pk in picks}
                )
        audit = by.draft(
            "stock.topup",
            f"round:{rnd.round_id}:{prize}",
            activity_id=activity_id,
            before={"quantity": res.quantity - add, "released": res.released - add},
            after={"quantity": res.quantity, "released": res.released, "added": add},
        )
        try:
            await self.db.guard.record_topup(
                rnd.round_id, prize, add, res.at_ms, now=self.clock.stamp(), audit=audit
            )
        except Unavailable as exc:
            log.error("top-up of %s %s +%d applied but not recorded", rnd.round_id, prize, add)
            raise Unavailable(
                f"the top-up was applied in Redis but could not be recorded ({exc.message}); "
                "do not repeat it"
            ) from exc
        return TopupResult(rnd.round_id, prize, res.quantity, res.released)

    async def stats(
        self, activity_id: ActivityId, round_ref: str | None = None, limit: int = 200
    ) -> tuple[Runtime, list[RoundStats]]:
        """Stats of one round, or of every round that has started plus the next
        one (the latest ``limit`` of them)."""
        rt = await self.runtimes.get(activity_id)
        if round_ref is not None:
            chosen = [round_of(rt, round_ref)]
        else:
            now = self.clock.now_ms()
            started = [r for r in rt.timeline.rounds if r.start_ms <= now]
            _, nxt = rt.timeline.at(now)
            chosen = started[-limit:] + ([nxt] if nxt is not None else [])
        out = []
        for r in chosen:
            st = await self.redis.catalogue.round_stats(r, rt.config.buckets)
            if st is not None:
                out.append(st)
        return rt, out


def round_of(rt: Runtime, ref: str) -> RoundPlan:
    """A round by id (``"<aid>:YYYYMMDD:i"``) or suffix, or 404."""
    rnd = rt.round_of(ref)
    if rnd is None:
        raise NotFound(f"activity {rt.id} has no round {ref!r}", code="round_not_found")
    return rnd
