"""``redrain verify ROUND_ID``: recompute a round from the database and its seed.

Replays the round's draws in draw order (SPEC §4) and checks, for each:

- the seed matches the published ``seed_hash``;
- draw numbers run 1..n, each user's nonces 1, 2, 3 …, times inside the round;
- ``random`` = SHA-1(HMAC-SHA256(seed, "user:client_seed") + ":" + nonce);
- the pool: the only one, the user's level (count), or the grant's band (amount);
- the pick, from ``random`` and the pool's odds — for auto odds, the weights
  times the stock released and not yet won at that moment;
- that the draw won exactly when the picked prize had released stock left, and
  that no win ever exceeded the stock released by then (even-award slices and
  recorded top-ups, at the draw's time).

Nothing here talks to Redis: the ledger and the seed are enough, so anyone
with the revealed seed and the draws can do the same (docs/fairness.md).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from app import fairness
from app.activity import ActivityConfig
from app.repository import Database, RoundRecord
from app.schedule import plan_rounds, round_slices
from app.types import DrawRecord, Kind, PoolPlan, RoundPlan

MAX_FINDINGS = 1000


@dataclass(frozen=True, slots=True)
class Finding:
    draw_id: str | None
    problem: str


@dataclass
class Report:
    round_id: str
    draws: int = 0
    wins: int = 0
    ended: bool = True
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, draw_id: str | None, problem: str) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(Finding(draw_id, problem))


class Verifier:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def verify(self, round_id: str, *, now_ms: int | None = None) -> Report:
        report = Report(round_id)
        stored = await self.db.get_round(round_id)
        if stored is None:
            report.add(None, "no such round in the database")
            return report
        activity = await self.db.get_activity(stored.activity_id)
        if activity is None:
            report.add(None, f"activity {stored.activity_id} is missing")
            return report
        rnd = next(
            (r for r in plan_rounds(activity.id, activity.config) if r.round_id == round_id), None
        )
        if rnd is None:
            report.add(None, "the activity's configuration has no such round")
            return report
        report.ended = now_ms is None or now_ms >= rnd.end_ms
        seed = bytes.fromhex(stored.seed)
        if hashlib.sha256(seed).hexdigest() != stored.seed_hash:
            report.add(None, "the seed does not match the published seed_hash")
        await self._replay(report, activity.config, rnd, stored, seed)
        return report

    async def _replay(
        self, report: Report, cfg: ActivityConfig, rnd: RoundPlan, stored: RoundRecord, seed: bytes
    ) -> None:
        draws = await self.db.round_draws(rnd.round_id)
        report.draws = len(draws)
        prizes = rnd.prizes
        pools = rnd.pools
        # When each unit became winnable: slices, then top-ups at their time.
        releases: list[list[tuple[int, int]]] = [
            [(s.at_ms, s.amount) for s in sl] for sl in round_slices(cfg, rnd)
        ]
        by_key = {p.key: p.index for p in prizes}
        for key, added, at_ms in await self.db.topups(rnd.round_id):
            if key in by_key:
                releases[by_key[key] - 1].append((at_ms, added))

        def released(i: int, t: int) -> int:
            return sum(n for at, n in releases[i - 1] if at <= t)

        users = sorted({d.record.user_id for d in draws})
        before = (
            await self.db.draws_before(rnd.activity_id, rnd.start_ms, users)
            if cfg.kind is Kind.COUNT
            else {}
        )
        grants = (
            await self.db.grant_amounts([d.record.grant_id for d in draws if d.record.grant_id])
            if cfg.needs_grant
            else {}
        )
        won = [0] * (len(prizes) + 1)
        nonces: Counter[str] = Counter()
        keys: dict[tuple[str, str], str] = {}
        for expected_seq, d in enumerate(draws, start=1):
            r = d.record
            if r.seq != expected_seq:
                report.add(r.draw_id, f"draw number {r.seq} where {expected_seq} was expected")
            if not rnd.start_ms <= r.drawn_at_ms < rnd.end_ms:
                report.add(r.draw_id, "drawn outside the round's window")
            nonces[r.user_id] += 1
            if r.nonce != nonces[r.user_id]:
                report.add(r.draw_id, f"nonce {r.nonce} where {nonces[r.user_id]} was expected")
            key = keys.get((r.user_id, r.client_seed)) or fairness.user_key(
                seed, r.user_id, r.client_seed
            )
            keys[(r.user_id, r.client_seed)] = key
            random = fairness.draw_random(key, r.nonce)
            if random != r.random:
                report.add(r.draw_id, "random value does not match seed, user, client seed, nonce")
            # The pool this draw had to use.
            pool = self._pool(report, cfg, r, before, nonces, grants, pools)
            if pool is None:
                continue
            if r.pool != pool:
                report.add(r.draw_id, f"drawn in pool {r.pool}, the rules give pool {pool}")
            first, last = pools[pool - 1].first, pools[pool - 1].last
            left = {i: released(i, r.drawn_at_ms) - won[i] for i in range(first, last + 1)}
            if cfg.probability.value == "auto":
                weights = [
                    0 if prizes[i - 1].empty else prizes[i - 1].weight * max(left[i], 0)
                    for i in range(first, last + 1)
                ]
                local = fairness.pick_auto(random, weights)
            else:
                local = fairness.pick_manual(
                    random, [prizes[i - 1].ppb for i in range(first, last + 1)]
                )
            pick = first + local - 1 if local else 0
            if r.pick != pick:
                report.add(r.draw_id, f"picked prize {r.pick}, the random value picks {pick}")
            should_win = pick > 0 and not prizes[pick - 1].empty and left.get(pick, 0) > 0
            if r.won != should_win:
                report.add(
                    r.draw_id,
                    "recorded as a win but no prize was won"
                    if r.won
                    else "recorded as a loss but the picked prize had stock left",
                )
            if r.won:
                report.wins += 1
                prize = prizes[r.pick - 1] if 0 < r.pick <= len(prizes) else None
                if prize is None or prize.key != r.prize_key:
                    report.add(r.draw_id, f"won prize {r.prize_key!r}, which is not the pick")
                    continue
                won[r.pick] += 1
                if won[r.pick] > released(r.pick, r.drawn_at_ms):
                    report.add(
                        r.draw_id,
                        f"win {won[r.pick]} of {prize.key} exceeds the "
                        f"{released(r.pick, r.drawn_at_ms)} units released by then",
                    )

    @staticmethod
    def _pool(
        report: Report,
        cfg: ActivityConfig,
        r: DrawRecord,
        before: dict[str, int],
        nonces: Counter[str],
        grants: dict[str, int],
        pools: tuple[PoolPlan, ...],
    ) -> int | None:
        """The 1-based pool the rules give this draw, or None (reported)."""
        if cfg.kind is Kind.TIME:
            return 1
        if cfg.kind is Kind.COUNT:
            level = before.get(r.user_id, 0) + nonces[r.user_id]
            for j, p in enumerate(pools, start=1):
                if p.nth == level:
                    return j
            if cfg.after_last_pool == "repeat_last":
                return max(range(1, len(pools) + 1), key=lambda j: pools[j - 1].nth or 0)
            report.add(r.draw_id, f"draw at level {level}, past the last level")
            return None
        amount = grants.get(r.grant_id or "")
        if amount is None:
            report.add(r.draw_id, f"grant {r.grant_id!r} is not in the database")
            return None
        for j, p in enumerate(pools, start=1):
            if amount >= (p.amount_min or 0) and (p.amount_max is None or amount < p.amount_max):
                return j
        report.add(r.draw_id, f"no pool covers the grant's amount {amount}")
        return None
