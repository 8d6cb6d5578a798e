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
from app.domain.errors import ValidationFailed
from app.domain.schedule import plan_rounds, round_slices
from app.domain.text import Localized
from app.domain.types import PPB, Kind, Odds, PrizePlan, PrizeType, RoundPlan

STEPS = 240  # time steps per round: a 1-minute rain is followed second by second
LISTED_SLICES = 20_000  # the calendar lists rounds until it has shown this many slices
# Prize-steps (a prize followed through one step of one distinct round) one
# budget may take: two rounds of the largest configuration (1,000 prizes).
# Rounds that play out alike are followed once, so real campaigns use a
# fraction of it; past it the budget is refused rather than run for seconds.
MAX_WORK = 500_000
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
    name: Localized
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


def calendar(
    cfg: ActivityConfig, limit: int, slices: int = LISTED_SLICES
) -> tuple[list[RoundPreview], int]:
    """The first ``limit`` rounds with their slices (fewer when listing them
    would pass ``slices`` slices; always the first), and how many rounds there are."""
    rounds = plan_rounds(0, cfg)
    shown: list[RoundPreview] = []
    listed = 0
    for r in rounds[:limit]:
        preview = _preview(cfg, r)
        listed += len(preview.slices)
        if shown and listed > slices:
            break
        shown.append(preview)
    return shown, len(rounds)


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
    work = 0
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
            work += STEPS * sum(
                pool.last - pool.first + 1
                for pool, d in zip(rnd.pools, per_pool, strict=True)
                if d > 0
            )
            if work > MAX_WORK:
                raise ValidationFailed(
                    f"players: this configuration's rounds play out in too many different "
                    f"ways to estimate a budget within {MAX_WORK:,} prize-steps; preview "
                    "it without players (the calendar), or with fewer sessions or prizes",
                    field="players",
                )
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
    its whole quantity is won, for ``pool_draws`` draws spread over the round.

    Only the prizes of pools drawn in are followed (the others are neither
    released from nor won: a level pass plays one level a round), so a play
    costs STEPS × those prizes, whatever the number of players."""
    prizes = rnd.prizes
    n = len(prizes)
    won = [0.0] * n
    out_at: list[int | None] = [None] * n
    played = [
        (
            draws / STEPS,
            [j for j in range(pool.first - 1, pool.last) if prizes[j].type is not PrizeType.EMPTY],
        )
        for pool, draws in zip(rnd.pools, pool_draws, strict=True)
        if draws > 0
    ]
    step = length / STEPS
    if cfg.probability is Odds.MANUAL:
        # Each prize on its own: a pick of another prize never changes its chance.
        for d, members in played:
            for j in members:
                won[j], out_at[j] = _manual(d * prizes[j].ppb / PPB, offsets[j], prizes[j], step)
        return won, out_at
    live = [j for _, members in played for j in members]
    weighted = [(d, [(j, prizes[j].weight) for j in members]) for d, members in played]
    released = [0.0] * n
    next_slice = [0] * n
    for k in range(STEPS):
        t0 = k * step
        for j in live:  # slices out by the start of this step
            ss = offsets[j]
            while next_slice[j] < len(ss) and ss[next_slice[j]][0] <= t0:
                released[j] += ss[next_slice[j]][1]
                next_slice[j] += 1
        for d, pool in weighted:
            _auto(pool, released, won, d)
        for j in live:
            if out_at[j] is None and prizes[j].quantity and won[j] >= prizes[j].quantity - 1e-6:
                out_at[j] = round((k + 1) * step)
    return won, out_at


def _manual(
    picks: float, slices: Sequence[tuple[int, int]], prize: PrizePlan, step: float
) -> tuple[float, int | None]:
    """One prize under manual odds: ``picks`` of it each step, each a win while
    released stock is left (never a re-pick)."""
    if picks <= 0:
        return 0.0, None
    quantity = prize.quantity
    released = won = 0.0
    out_at: int | None = None
    i, count = 0, len(slices)
    for k in range(STEPS):
        t0 = k * step
        while i < count and slices[i][0] <= t0:
            released += slices[i][1]
            i += 1
        won += min(picks, max(released - won, 0.0))
        if out_at is None and quantity and won >= quantity - 1e-6:
            out_at = round((k + 1) * step)
    return won, out_at


def _auto(
    members: list[tuple[int, int]],
    released: list[float],
    won: list[float],
    d: float,
) -> None:
    """``d`` draws under auto odds over ``members`` (prize, weight): each wins
    prize j with chance weight_j × left_j / Σ weight × left while anything is
    left (so, in expectation, the draws are shared in that proportion; a prize
    that runs dry in the step passes its share on). A pass in which no prize
    ran dry spends every draw, and a prize with nothing left is left out of
    the next pass: a step costs one pass over the pool, and one more over what
    is left for each pass in which a prize ran dry."""
    live = members
    for _ in range(len(members) + 1):
        left = [(j, w, x) for j, w in live if (x := released[j] - won[j]) > 0.0]
        total = sum(w * x for _, w, x in left)
        if d <= _EPS or total <= _EPS:
            return
        taken = 0.0
        dry = False
        for j, w, x in left:
            take = d * w * x / total
            if take >= x:
                take, dry = x, True
            won[j] += take
            taken += take
        if not dry:
            return
        d -= taken
        live = [(j, w) for j, w, _ in left]
