"""Rounds and the even-award release schedule (SPEC §1). Pure: no I/O.

A round is one day of the activity × one session, identified by
``"{activity_id}:{YYYYMMDD}:{session_index}"``. All instants are Unix
milliseconds; days and times of day are in the activity's time zone.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from app.domain.activity import (
    ActivityConfig,
    ReleaseConfig,
    SessionConfig,
    probability_ppb,
    tod_seconds,
)
from app.domain.types import ActivityId, PoolPlan, PrizePlan, RoundPlan, Slice


def instant_ms(day: dt.date, seconds: int, zone: ZoneInfo) -> int:
    """The Unix ms of ``seconds`` after local midnight of ``day`` (24:00 = next midnight)."""
    extra, seconds = divmod(seconds, 86_400)
    local = dt.datetime.combine(day + dt.timedelta(days=extra), dt.time(), tzinfo=zone)
    return round(local.timestamp() * 1000) + seconds * 1000


def activity_window(cfg: ActivityConfig) -> tuple[int, int]:
    """``[start_date 00:00, end_date + 1 00:00)`` in the activity's zone, as Unix ms."""
    zone = cfg.zone
    return instant_ms(cfg.start_date, 0, zone), instant_ms(cfg.end_date, 86_400, zone)


def release_slices(
    quantity: int,
    rel: ReleaseConfig,
    start_ms: int,
    end_ms: int,
    day: dt.date,
    zone: ZoneInfo,
) -> tuple[Slice, ...]:
    """When each part of a round's quantity becomes winnable.

    ``slices``: N equal parts (remainder to the first), the k-th (k = 0..N-1) at
    ``start + k × length / N − lead``. ``at``: the quantity split in proportion to
    the shares (remainder to the first), each at its time of day − lead. Never
    before the round starts; parts released at the same instant are merged.
    """
    if quantity <= 0:
        return ()
    lead = rel.lead_seconds * 1000
    parts: list[tuple[int, int]] = []
    if rel.at is not None:
        shares = [share for _, share in rel.at]
        whole = sum(shares)
        amounts = [quantity * s // whole for s in shares]
        amounts[0] += quantity - sum(amounts)
        for (tod, _), amount in zip(rel.at, amounts, strict=True):
            parts.append((instant_ms(day, tod_seconds(tod), zone) - lead, amount))
    else:
        n = rel.slices
        length = end_ms - start_ms
        base, rem = divmod(quantity, n)
        for k in range(n):
            parts.append((start_ms + k * length // n - lead, base + (rem if k == 0 else 0)))
    merged: dict[int, int] = {}
    for at, amount in parts:
        if amount > 0:
            at = max(at, start_ms)
            merged[at] = merged.get(at, 0) + amount
    return tuple(Slice(at, amount) for at, amount in sorted(merged.items()))


def released_at(slices: Sequence[Slice], now_ms: int) -> int:
    """Units released by ``now_ms`` (before top-ups)."""
    return sum(s.amount for s in slices if s.at_ms <= now_ms)


def session_pools(session: SessionConfig) -> tuple[PoolPlan, ...]:
    """The pools of a session with the range of round prize numbers each holds."""
    pools: list[PoolPlan] = []
    first = 1
    for pool in session.pools:
        last = first + len(pool.prizes) - 1
        pools.append(PoolPlan(first, last, pool.nth, pool.amount_min, pool.amount_max))
        first = last + 1
    return tuple(pools)


def session_prizes(cfg: ActivityConfig, session: SessionConfig) -> tuple[PrizePlan, ...]:
    """The prizes of every round of a session, numbered 1..n across its pools."""
    prizes: list[PrizePlan] = []
    for pool in session.pools:
        for p in pool.prizes:
            prizes.append(
                PrizePlan(
                    index=len(prizes) + 1,
                    key=p.key,
                    type=p.type,
                    name=p.name,
                    value=p.value,
                    quantity=p.round_quantity,
                    ppb=probability_ppb(p.probability) if p.probability is not None else 0,
                    weight=p.weight,
                    image_url=p.image_url,
                )
            )
    return tuple(prizes)


def plan_rounds(activity_id: ActivityId, cfg: ActivityConfig) -> list[RoundPlan]:
    """Every round of the activity in start order, with its prizes."""
    zone = cfg.zone
    per_session = [session_prizes(cfg, s) for s in cfg.sessions]
    pools = [session_pools(s) for s in cfg.sessions]
    rounds: list[RoundPlan] = []
    day = cfg.start_date
    while day <= cfg.end_date:
        for si, session in enumerate(cfg.sessions):
            rounds.append(
                RoundPlan(
                    activity_id=activity_id,
                    sfx=f"{day:%Y%m%d}:{si}",
                    session_index=si,
                    start_ms=instant_ms(day, session.start_s, zone),
                    end_ms=instant_ms(day, session.end_s, zone),
                    prizes=per_session[si],
                    pools=pools[si],
                )
            )
        day += dt.timedelta(days=1)
    rounds.sort(key=lambda r: r.start_ms)
    return rounds


def round_slices(cfg: ActivityConfig, rnd: RoundPlan) -> list[tuple[Slice, ...]]:
    """The release slices of each prize of a round, in prize order."""
    day = dt.date(int(rnd.sfx[:4]), int(rnd.sfx[4:6]), int(rnd.sfx[6:8]))
    configs = [p for pool in cfg.sessions[rnd.session_index].pools for p in pool.prizes]
    return [
        release_slices(
            plan.quantity, conf.release or cfg.release, rnd.start_ms, rnd.end_ms, day, cfg.zone
        )
        for plan, conf in zip(rnd.prizes, configs, strict=True)
    ]


class Timeline:
    """Rounds of one activity ordered by start, for finding the open/next round."""

    def __init__(self, rounds: Sequence[RoundPlan]) -> None:
        self.rounds = list(rounds)
        self._starts = [r.start_ms for r in self.rounds]
        self.by_sfx = {r.sfx: r for r in self.rounds}

    def at(self, now_ms: int) -> tuple[RoundPlan | None, RoundPlan | None]:
        """``(open round or None, next round to start or None)`` at ``now_ms``."""
        i = bisect.bisect_right(self._starts, now_ms)
        current = self.rounds[i - 1] if i > 0 and now_ms < self.rounds[i - 1].end_ms else None
        nxt = self.rounds[i] if i < len(self.rounds) else None
        return current, nxt

    def nearest(self, now_ms: int) -> RoundPlan | None:
        """The open round, else the next, else the last: the script's best guess."""
        current, nxt = self.at(now_ms)
        if current is not None:
            return current
        if nxt is not None:
            return nxt
        return self.rounds[-1] if self.rounds else None

    def next_after(self, now_ms: int, *, other_day_than: str | None = None) -> RoundPlan | None:
        """The first round starting after ``now_ms`` (on another day, if given)."""
        i = bisect.bisect_right(self._starts, now_ms)
        for r in self.rounds[i:]:
            if other_day_than is None or r.date_key != other_day_than:
                return r
        return None


def planned_by(quantity: int, start_ms: int, end_ms: int, now_ms: int) -> int:
    """How much of a round's ``quantity`` an even award would have given out
    by ``now_ms``: a straight line from nothing at the start to all of it at
    the end. The budget-burn alerts compare wins with it."""
    if now_ms <= start_ms or end_ms <= start_ms:
        return 0
    return quantity if now_ms >= end_ms else quantity * (now_ms - start_ms) // (end_ms - start_ms)
