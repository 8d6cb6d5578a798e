"""Recompute a round from the database and its seed (``redrain verify``,
``redrain export``, the public bundle).

Loads what :func:`app.domain.verify.replay` needs — the round's seed, the
configuration of the activity version it was drawn with (and its later
prize names), its draws in draw order, its top-ups, and the earlier draws or
grant amounts the pool rules depend on — and checks the seed against the
published ``seed_hash``. Nothing here talks to Redis.
"""

from __future__ import annotations

from app.domain.bundle import RoundBundle, check
from app.domain.errors import NotFound
from app.domain.schedule import plan_rounds
from app.domain.types import Kind
from app.domain.verify import Report
from app.domain.versions import later_names
from app.store.sql.database import Database


class Verifier:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def verify(self, round_id: str, *, now_ms: int | None = None) -> Report:
        """The report of one round; :class:`NotFound` when the database has no
        such round (nothing to verify is not a fairness failure)."""
        report = Report(round_id)
        found = await self.gather(round_id, report, now_ms=now_ms)
        return report if found is None else check(found, report)

    async def gather(
        self, round_id: str, report: Report, *, now_ms: int | None = None
    ) -> RoundBundle | None:
        """Everything the round's replay needs, as an audit bundle; None (the
        problem added to ``report``) when the database lacks part of it."""
        stored = await self.db.activities.get_round(round_id)
        if stored is None:
            raise NotFound(f"round {round_id!r} not found in the database", code="round_not_found")
        activity = await self.db.activities.get(stored.activity_id)
        if activity is None:
            report.add(None, f"activity {stored.activity_id} is missing")
            return None
        # The version the round was loaded with (a newer one may hold the
        # rounds that had not started when it was published), and the later
        # ones, whose prize names the ledger may hold.
        first = stored.version or activity.published_version or activity.version
        held = await self.db.activities.versions(
            activity.id, range(first, (activity.published_version or first) + 1)
        )
        cfg = held.get(first) or activity.live
        if stored.version is not None and stored.version not in held:
            report.add(None, f"version {stored.version} of the activity is missing")
            return None
        rnd = next((r for r in plan_rounds(activity.id, cfg) if r.round_id == round_id), None)
        if rnd is None:
            report.add(None, "the activity's configuration has no such round")
            return None
        report.ended = now_ms is None or now_ms >= rnd.end_ms
        # Rows and compact losses as stored: every field checked, and a block
        # that does not decode (a changed byte) is a finding.
        draws, damaged = await self.db.draws.round_draws(round_id)
        for problem in damaged:
            report.add(None, problem)
        users = sorted({d.record.user_id for d in draws})
        before = (
            await self.db.draws.draws_before(rnd.activity_id, rnd.start_ms, users)
            if cfg.kind is Kind.COUNT
            else {}
        )
        grants = (
            await self.db.grants.amounts([d.record.grant_id for d in draws if d.record.grant_id])
            if cfg.needs_grant
            else {}
        )
        return RoundBundle(
            round_id=round_id,
            activity_id=activity.id,
            version=first,
            config=cfg,
            seed=bytes.fromhex(stored.seed),
            seed_hash=stored.seed_hash,
            draws=draws,
            topups=list(await self.db.guard.topups(round_id)),
            moves=list(await self.db.guard.moves(round_id)) if cfg.buckets > 1 else [],
            before=dict(before),
            grants=dict(grants),
            names=later_names(rnd, [c for v, c in sorted(held.items()) if v > first]),
        )
