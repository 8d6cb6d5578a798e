"""What a configuration makes, and what it may cost, before it is saved.

The **calendar** is every round's window and every release slice, computed by
the very functions publishing uses (``schedule``). The **budget** plays the
rounds out for ``players`` people tapping ``taps`` times in each round, under
the draw script's rules: the user limits (per round, per day, total), the
pool a draw uses (a count activity's n-th draw plays level n), release slices
(stock becomes winnable only when its slice is out, unwon stock carries
over), manual odds (a picked prize with no released stock left is a loss,
never a re-pick) and auto odds (prize i with chance weight_i × left_i /
Σ weight × left). It follows the *expected* number of draws through time (a
fluid model, taps spread evenly over the round) rather than sampling, so the
same configuration always gives the same figures; docs/console.md says what
it assumes. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.activity import ActivityConfig
from app.domain.schedule import plan_rounds, round_slices
from app.domain.types import PPB, Kind, Odds, PrizePlan, PrizeType, RoundPlan

STEPS = 240  # time steps per round: a 1-minute rain is followed second by second
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class SlicePreview:
    prize: str
    at_ms: int
    quantity: int


@dataclass(frozen=True, slots=True)
class RoundPreview:
    sfx: str
    session_index: int
    start_ms: int
    end_ms: int
    slices: tuple[SlicePreview, ...]


@dataclass(frozen=True, slots=True)
class PrizeOutlook:
    key: str
    name: str
    quantity: int
    cost: float | None
    expected_wins: float
    runs_out_ms: int | None  # when the round's whole quantity is likely won; None: it lasts


@dataclass(frozen=True, slots=True)
class RoundOutlook:
    sfx: str
    session_index: int
    start_ms: int
    end_ms: int
    draws: float  # expected draws in the round, all players
    prizes: tuple[PrizeOutlook, ...]

    @property
    def expected_cost(self) -> float:
        return sum(p.expected_wins * (p.cost or 0) for p in self.prizes)

    @property
    def max_cost(self) -> float:
        return sum(p.quantity * (p.cost or 0) for p in self.prizes)


@dataclass(frozen=True, slots=True)
class Budget:
    players: int
    taps: int
    rounds: tuple[RoundOutlook, ...]  # the first ``limit`` rounds
    rounds_total: int
    draws: float  # over every round
    expected_cost: float
    max_cost: float
    wins_by_prize: dict[str, float]  # over every round
    uncosted: tuple[str, ...]  # prizes that can be won but have no cost


def calendar(cfg: ActivityConfig, limit: int) -> tuple[list[RoundPreview], int]:
    """The first ``limit`` rounds with their slices, and how many rounds there are."""
    rounds = plan_rounds(0, cfg)
    return [_preview(cfg, r) for r in rounds[:limit]], len(rounds)


def _preview(cfg: ActivityConfig, rnd: RoundPlan) -> RoundPreview:
    slices = round_slices(cfg, rnd)
    return RoundPreview(
        rnd.sfx,
        rnd.session_index,
        rnd.start_ms,
        rnd.end_ms,
        tuple(
            SlicePreview(p.key, s.at_ms, s.amount)
            for p, ss in zip(rnd.prizes, slices, strict=True)
            for s in ss
        ),
    )


def budget(cfg: ActivityConfig, players: int, taps: int, limit: int) -> Budget:
    rounds = plan_rounds(0, cfg)
    lim = cfg.limits
    costs = [
        [p.cost for pool in s.pools for p in pool.prizes] for s in cfg.sessions
    ]  # per session, in round prize order
    day, used_day, used_total = "", 0, 0
    # Rounds of one session play out alike; a daylight-saving shift changes a
    # round's length, and so its key.
    shapes: dict[tuple[int, int], tuple[tuple[tuple[int, int], ...], ...]] = {}
    played: dict[tuple[object, ...], tuple[list[float], list[int | None], float, float]] = {}
    shown: list[RoundOutlook] = []
    draws = expected = most = 0.0
    wins: dict[str, float] = {}
    uncosted: set[str] = set()
    for i, rnd in enumerate(rounds):
        if rnd.date_key != day:
            day, used_day = rnd.date_key, 0
        n = taps
        for cap, used in ((lim.per_round, 0), (lim.per_day, used_day), (lim.total, used_total)):
            if cap:
                n = min(n, max(cap - used, 0))
        per_pool = _pool_draws(cfg, rnd, used_total, n)
        made = round(sum(per_pool))
        used_day += made
        used_total += made
        length = rnd.end_ms - rnd.start_ms
        shape = (rnd.session_index, length)
        if shape not in shapes:
            shapes[shape] = tuple(
                tuple((s.at_ms - rnd.start_ms, s.amount) for s in ss)
                for ss in round_slices(cfg, rnd)
            )
        key = (*shape, per_pool)
        if key not in played:
            won, out_at = _play(cfg, rnd, [d * players for d in per_pool], shapes[shape], length)
            cost = costs[rnd.session_index]
            played[key] = (
                won,
                out_at,
                sum(w * (c or 0) for w, c in zip(won, cost, strict=True)),
                sum(p.quantity * (c or 0) for p, c in zip(rnd.prizes, cost, strict=True)),
            )
            uncosted |= {
                p.key for p, c in zip(rnd.prizes, cost, strict=True) if p.quantity and c is None
            }
        won, out_at, round_expected, round_most = played[key]
        draws += sum(per_pool) * players
        expected += round_expected
        most += round_most
        for p, w in zip(rnd.prizes, won, strict=True):
            if p.quantity:
                wins[p.key] = wins.get(p.key, 0.0) + w
        if i < limit:
            shown.append(_outlook(rnd, costs[rnd.session_index], per_pool, players, won, out_at))
    return Budget(
        players,
        taps,
        tuple(shown),
        len(rounds),
        draws,
        expected,
        most,
        wins,
        tuple(sorted(uncosted)),
    )


def _outlook(
    rnd: RoundPlan,
    costs: Sequence[float | None],
    per_pool: Sequence[float],
    players: int,
    won: Sequence[float],
    out_at: Sequence[int | None],
) -> RoundOutlook:
    return RoundOutlook(
        rnd.sfx,
        rnd.session_index,
        rnd.start_ms,
        rnd.end_ms,
        sum(per_pool) * players,
        tuple(
            PrizeOutlook(p.key, p.name, p.quantity, c, w, _after(rnd.start_ms, t))
            for p, c, w, t in zip(rnd.prizes, costs, won, out_at, strict=True)
        ),
    )


def _after(start_ms: int, offset: int | None) -> int | None:
    return None if offset is None else start_ms + offset


def _pool_draws(cfg: ActivityConfig, rnd: RoundPlan, before: int, n: int) -> tuple[float, ...]:
    """One player's expected draws in each pool of the round, given ``before``
    draws earlier in the activity and ``n`` in this one."""
    pools = rnd.pools
    out = [0.0] * len(pools)
    if n <= 0:
        return tuple(out)
    if cfg.kind is Kind.TIME:
        out[0] = float(n)
    elif cfg.kind is Kind.COUNT:
        first, last = before + 1, before + n  # the levels these draws would play
        top = top_pool = 0
        for j, p in enumerate(pools):
            nth = p.nth or 0
            if first <= nth <= last:
                out[j] = 1.0
            if nth > top:
                top, top_pool = nth, j
        if cfg.after_last_pool == "repeat_last" and last > top:
            out[top_pool] += last - max(first, top + 1) + 1
        # else a draw past the last level is refused (no_more_levels) and not counted
    else:  # amount: the bands' shares of purchases are not known here; split evenly
        out = [n / len(pools)] * len(pools)
    return tuple(out)


def _play(
    cfg: ActivityConfig,
    rnd: RoundPlan,
    pool_draws: Sequence[float],
    offsets: Sequence[Sequence[tuple[int, int]]],
    length: int,
) -> tuple[list[float], list[int | None]]:
    """Expected wins of each prize of the round and when (ms after its start)
    its whole quantity is won, for ``pool_draws`` draws spread over the round."""
    prizes = rnd.prizes
    n = len(prizes)
    released = [0.0] * n
    won = [0.0] * n
    out_at: list[int | None] = [None] * n
    next_slice = [0] * n
    step = length / STEPS
    for k in range(STEPS):
        t0 = k * step
        for j in range(n):  # slices out by the start of this step
            ss = offsets[j]
            while next_slice[j] < len(ss) and ss[next_slice[j]][0] <= t0:
                released[j] += ss[next_slice[j]][1]
                next_slice[j] += 1
        for pool, draws in zip(rnd.pools, pool_draws, strict=True):
            d = draws / STEPS
            if d <= 0:
                continue
            members = [
                j for j in range(pool.first - 1, pool.last) if prizes[j].type is not PrizeType.EMPTY
            ]
            if cfg.probability is Odds.MANUAL:
                for j in members:
                    left = released[j] - won[j]
                    won[j] += min(d * prizes[j].ppb / PPB, max(left, 0.0))
            else:
                _auto(prizes, members, released, won, d)
        for j in range(n):
            if out_at[j] is None and prizes[j].quantity and won[j] >= prizes[j].quantity - 1e-6:
                out_at[j] = round((k + 1) * step)
    return won, out_at


def _auto(
    prizes: Sequence[PrizePlan],
    members: list[int],
    released: list[float],
    won: list[float],
    d: float,
) -> None:
    """``d`` draws under auto odds: each wins prize j with chance weight_j ×
    left_j / Σ weight × left while anything is left (so, in expectation, the
    draws are shared in that proportion; a prize that runs dry in the step
    passes its share on)."""
    weights = [prizes[j].weight for j in members]
    for _ in range(len(members) + 1):
        left = [max(released[j] - won[j], 0.0) for j in members]
        total = sum(w * x for w, x in zip(weights, left, strict=True))
        if d <= _EPS or total <= _EPS:
            return
        taken = 0.0
        for j, w, x in zip(members, weights, left, strict=True):
            take = min(x, d * w * x / total)
            won[j] += take
            taken += take
        d -= taken
