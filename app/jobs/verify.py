"""``redrain verify ROUND_ID``: recompute a round from the database and its seed.

Loads what :func:`app.domain.verify.replay` needs — the round's seed, its
activity's configuration, its draws in draw order, its top-ups, and the
earlier draws or grant amounts the pool rules depend on — and checks the seed
against the published ``seed_hash``. Nothing here talks to Redis.
"""

from __future__ import annotations

import hashlib

from app.domain.errors import NotFound
from app.domain.schedule import plan_rounds
from app.domain.types import Kind
from app.domain.verify import Report, RoundInputs, replay
from app.store.sql.database import Database


class Verifier:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def verify(self, round_id: str, *, now_ms: int | None = None) -> Report:
        """The report of one round; :class:`NotFound` when the database has no
        such round (nothing to verify is not a fairness failure)."""
        report = Report(round_id)
        stored = await self.db.activities.get_round(round_id)
        if stored is None:
            raise NotFound(f"round {round_id!r} not found in the database", code="round_not_found")
        activity = await self.db.activities.get(stored.activity_id)
        if activity is None:
            report.add(None, f"activity {stored.activity_id} is missing")
            return report
        cfg = activity.live  # the published version, which the rounds were drawn with
        rnd = next((r for r in plan_rounds(activity.id, cfg) if r.round_id == round_id), None)
        if rnd is None:
            report.add(None, "the activity's configuration has no such round")
            return report
        report.ended = now_ms is None or now_ms >= rnd.end_ms
        seed = bytes.fromhex(stored.seed)
        if hashlib.sha256(seed).hexdigest() != stored.seed_hash:
            report.add(None, "the seed does not match the published seed_hash")
        draws = await self.db.draws.round_draws(round_id)  # rows as stored: every field checked
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
        topups = await self.db.guard.topups(round_id)
        k = cfg.buckets
        moves = await self.db.guard.moves(round_id) if k > 1 else []
        for b in range(k):  # each bucket is its own sequence with its own stock
            mine = [d for d in draws if (d.record.seq - 1) % k == b]
            replay(report, RoundInputs(cfg, rnd, seed, mine, topups, before, grants, b, k, moves))
        return report
