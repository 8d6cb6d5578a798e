"""Activities, their prizes and their rounds (seeds) in the database."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update

from app.domain import fairness, ids
from app.domain.activity import ActivityConfig
from app.domain.audit import AuditDraft
from app.domain.errors import Duplicate, NotFound
from app.domain.records import ARCHIVED, DRAFT, PENDING, PUBLISHED, ActivityRecord, RoundRecord
from app.domain.text import in_language
from app.domain.types import ActivityId, RoundPlan
from app.store.sql.audit import append
from app.store.sql.connection import Connection
from app.store.sql.models import ActivityRow, ActivityVersionRow, PrizeRow, RoundRow


def _record(row: ActivityRow) -> ActivityRecord:
    config = ActivityConfig.model_validate_json(row.config)
    live = row.live_config
    return ActivityRecord(
        id=row.id,
        config=config,
        version=row.version,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        published_at=row.published_at,
        pending_by=row.pending_by,
        pending_version=row.pending_version,
        published_version=row.published_version,
        paused=bool(row.paused),
        live_config=None
        if live is None
        else config
        if live == row.config
        else ActivityConfig.model_validate_json(live),
    )


def state(rec: ActivityRecord) -> dict[str, Any]:
    """An activity as the audit trail shows it before and after a change."""
    return {
        "status": rec.status,
        "version": rec.version,
        "published_version": rec.published_version,
        "pending_by": rec.pending_by,
        "pending_version": rec.pending_version,
        "config": rec.config.model_dump(mode="json", exclude_none=True),
    }


def config_json(cfg: ActivityConfig) -> str:
    return orjson.dumps(cfg.model_dump(mode="json", exclude_none=True)).decode()


def _prize_rows(activity_id: ActivityId, cfg: ActivityConfig) -> list[dict[str, Any]]:
    rows = []
    for si, session in enumerate(cfg.sessions):
        for pi, pool in enumerate(session.pools):
            for zi, p in enumerate(pool.prizes):
                rows.append(
                    {
                        "activity_id": activity_id,
                        "session_index": si,
                        "pool_index": pi,
                        "position": zi,
                        "key": p.key,
                        "type": p.type.value,
                        "name": in_language(p.name),  # the first language: a column
                        "value": p.value,
                        "quantity": p.round_quantity,
                        "probability": p.probability,
                        "weight": p.weight,
                        "image_url": p.image_url,
                    }
                )
    return rows


class Activities:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def create(
        self, cfg: ActivityConfig, *, now: dt.datetime, audit: AuditDraft | None = None
    ) -> ActivityRecord:
        """A new draft; ``audit`` is written in the same transaction (its target
        and ``after`` are completed with the new id and record)."""
        async with self.db.session() as s:
            row = ActivityRow(
                name=in_language(cfg.name),
                kind=cfg.kind.value,
                timezone=cfg.timezone,
                start_date=cfg.start_date,
                end_date=cfg.end_date,
                config=config_json(cfg),
                version=1,
                status="draft",
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            await s.flush()
            await s.execute(insert(PrizeRow), _prize_rows(row.id, cfg))
            rec = _record(row)
            if audit is not None:
                done = dataclasses.replace(
                    audit, target=f"activity:{rec.id}", activity_id=rec.id, after=state(rec)
                )
                await append(s, done, now, self.db.audit_key)
            return rec

    async def get(self, activity_id: ActivityId) -> ActivityRecord | None:
        async with self.db.session() as s:
            row = await s.get(ActivityRow, activity_id)
            return None if row is None else _record(row)

    async def latest(
        self, *, limit: int = 100, offset: int = 0, status: str | None = None
    ) -> list[ActivityRecord]:
        """Newest first: those of ``status``, or every one not archived."""
        query = select(ActivityRow)
        if status is None:
            query = query.where(ActivityRow.status != ARCHIVED)
        else:
            query = query.where(ActivityRow.status == status)
        async with self.db.session() as s:
            rows = await s.scalars(
                query.order_by(ActivityRow.id.desc()).limit(limit).offset(offset)
            )
            return [_record(r) for r in rows]

    async def move(
        self,
        activity_id: ActivityId,
        before: str,
        after: str,
        *,
        now: dt.datetime,
        audit: AuditDraft,
    ) -> bool:
        """``before`` → ``after`` for an activity never published; False when it
        was not in ``before`` (nothing changes)."""
        async with self.db.session() as s:
            done = await s.execute(
                update(ActivityRow)
                .where(
                    ActivityRow.id == activity_id,
                    ActivityRow.status == before,
                    ActivityRow.published_at.is_(None),
                )
                .values(status=after, updated_at=now)
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                return False
            await append(s, audit, now, self.db.audit_key)
            return True

    async def replace(
        self,
        activity_id: ActivityId,
        cfg: ActivityConfig,
        *,
        now: dt.datetime,
        audit: AuditDraft | None = None,
    ) -> ActivityRecord:
        """The next version. What players draw against (``live_config``) stays
        until a publisher publishes it; a request to publish the version before
        is void (four-eyes approves one exact version)."""
        async with self.db.session() as s:
            row = await s.get(ActivityRow, activity_id, with_for_update=True)
            if row is None:
                raise NotFound(f"activity {activity_id} does not exist", code="activity_not_found")
            before = state(_record(row))
            row.name = in_language(cfg.name)
            row.kind = cfg.kind.value
            row.timezone = cfg.timezone
            row.start_date = cfg.start_date
            row.end_date = cfg.end_date
            row.config = config_json(cfg)
            row.version += 1
            row.updated_at = now
            if row.status == PENDING:
                row.status = DRAFT if row.published_at is None else PUBLISHED
                row.pending_by = row.pending_version = None
            await s.execute(delete(PrizeRow).where(PrizeRow.activity_id == activity_id))
            await s.execute(insert(PrizeRow), _prize_rows(activity_id, cfg))
            rec = _record(row)
            if audit is not None:
                await append(
                    s,
                    dataclasses.replace(audit, before=before, after=state(rec)),
                    now,
                    self.db.audit_key,
                )
            return rec

    async def mark_published(
        self,
        activity_id: ActivityId,
        version: int,
        cfg: ActivityConfig,
        *,
        now: dt.datetime,
        audit: AuditDraft | None = None,
        rounds: Mapping[str, int] | None = None,
    ) -> bool:
        """``version`` (configuration ``cfg``) is what players draw against
        now, and ``rounds`` (suffix -> version) the versions the publish
        loaded rounds with; False (nothing written) if the activity was
        archived meanwhile."""
        async with self.db.session() as s:
            done = await s.execute(
                update(ActivityRow)
                .where(ActivityRow.id == activity_id, ActivityRow.status != ARCHIVED)
                .values(
                    status=PUBLISHED,
                    published_at=now,
                    pending_by=None,
                    pending_version=None,
                    live_config=config_json(cfg),
                    published_version=version,
                )
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                return False
            kept = await s.get(ActivityVersionRow, (activity_id, version))
            if kept is None:
                s.add(
                    ActivityVersionRow(
                        activity_id=activity_id,
                        version=version,
                        config=config_json(cfg),
                        published_at=now,
                    )
                )
            by_version: dict[int, list[str]] = {}
            for sfx, v in (rounds or {}).items():
                by_version.setdefault(v, []).append(ids.round_id(activity_id, sfx))
            for v, rids in by_version.items():
                for i in range(0, len(rids), 1000):
                    await s.execute(
                        update(RoundRow)
                        .where(RoundRow.id.in_(rids[i : i + 1000]))
                        .values(version=v)
                    )
            if audit is not None:
                await append(s, audit, now, self.db.audit_key)
            return True

    async def versions(
        self, activity_id: ActivityId, wanted: Iterable[int]
    ) -> dict[int, ActivityConfig]:
        """The configurations of published versions of the activity."""
        wanted = list(wanted)
        if not wanted:
            return {}
        async with self.db.session() as s:
            rows = await s.scalars(
                select(ActivityVersionRow).where(
                    ActivityVersionRow.activity_id == activity_id,
                    ActivityVersionRow.version.in_(wanted),
                )
            )
            return {r.version: ActivityConfig.model_validate_json(r.config) for r in rows}

    async def round_versions(self, activity_id: ActivityId) -> dict[str, int]:
        """Suffix -> the version each loaded round holds."""
        async with self.db.session() as s:
            rows = await s.execute(
                select(RoundRow.id, RoundRow.version).where(
                    RoundRow.activity_id == activity_id, RoundRow.version.is_not(None)
                )
            )
            return {ids.sfx_of(rid): v for rid, v in rows if v is not None}

    async def set_paused(
        self, activity_id: ActivityId, paused: bool, *, now: dt.datetime, audit: AuditDraft
    ) -> bool:
        """Pause or resume a published activity; False (nothing written, no
        audit entry) when it already was in that state."""
        async with self.db.session() as s:
            done = await s.execute(
                update(ActivityRow)
                .where(
                    ActivityRow.id == activity_id,
                    ActivityRow.published_at.is_not(None),
                    ActivityRow.paused.is_(not paused),
                )
                .values(paused=paused, updated_at=now)
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                return False
            await append(s, audit, now, self.db.audit_key)
            return True

    async def mark_pending(
        self,
        activity_id: ActivityId,
        by: str,
        version: int,
        *,
        now: dt.datetime,
        audit: AuditDraft,
    ) -> bool:
        """Publishing ``version`` waits for another publisher's approval
        (four-eyes); False if the activity has moved on to another version."""
        async with self.db.session() as s:
            done = await s.execute(
                update(ActivityRow)
                .where(
                    ActivityRow.id == activity_id,
                    ActivityRow.version == version,
                    ActivityRow.status != ARCHIVED,
                )
                .values(status=PENDING, pending_by=by, pending_version=version, updated_at=now)
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                return False
            await append(s, audit, now, self.db.audit_key)
            return True

    # -- rounds -------------------------------------------------------------

    async def ensure_rounds(
        self, activity_id: ActivityId, rounds: Iterable[RoundPlan]
    ) -> dict[str, tuple[str, str]]:
        """Seeds of every round, creating rows (with fresh seeds) for new ones.

        A round's seed is made once and never changes: its hash may already be
        public. Returns ``{sfx: (seed hex, seed hash)}``. Two publishers at once
        (a lock that expired mid-publish): the one whose insert clashes reads
        the other's seeds back.
        """
        rounds = list(rounds)
        try:
            return await self._ensure_rounds(activity_id, rounds)
        except Duplicate:
            return await self._ensure_rounds(activity_id, rounds)

    async def _ensure_rounds(
        self, activity_id: ActivityId, rounds: list[RoundPlan]
    ) -> dict[str, tuple[str, str]]:
        async with self.db.session() as s:
            rows = {
                r.id: r
                for r in await s.scalars(
                    select(RoundRow).where(RoundRow.activity_id == activity_id)
                )
            }
            existing = {rid: (r.seed, r.seed_hash) for rid, r in rows.items()}
            new_rows = []
            for r in rounds:
                row = rows.get(r.round_id)
                if row is not None:
                    # PUT may move a round that has not started: keep its times current.
                    if (row.starts_at_ms, row.ends_at_ms) != (r.start_ms, r.end_ms):
                        row.starts_at_ms, row.ends_at_ms = r.start_ms, r.end_ms
                    continue
                seed = fairness.new_seed()
                entry = (seed.hex(), fairness.seed_hash(seed))
                existing[r.round_id] = entry
                new_rows.append(
                    {
                        "id": r.round_id,
                        "activity_id": activity_id,
                        "day": dt.date(int(r.sfx[:4]), int(r.sfx[4:6]), int(r.sfx[6:8])),
                        "session_index": r.session_index,
                        "starts_at_ms": r.start_ms,
                        "ends_at_ms": r.end_ms,
                        "seed": entry[0],
                        "seed_hash": entry[1],
                    }
                )
            if new_rows:
                await s.execute(insert(RoundRow), new_rows)
        return {r.sfx: existing[r.round_id] for r in rounds}

    async def drop_rounds(self, activity_id: ActivityId, sfxs: Iterable[str]) -> None:
        rids = [ids.round_id(activity_id, sfx) for sfx in sfxs]
        if not rids:
            return
        async with self.db.session() as s:
            await s.execute(delete(RoundRow).where(RoundRow.id.in_(rids)))

    async def get_round(self, round_id: str) -> RoundRecord | None:
        async with self.db.session() as s:
            r = await s.get(RoundRow, round_id)
            if r is None:
                return None
            return RoundRecord(
                r.id, r.activity_id, r.starts_at_ms, r.ends_at_ms, r.seed, r.seed_hash, r.version
            )
