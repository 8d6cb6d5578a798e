"""Replaying a round's draws from its revealed seed (SPEC §4). Pure: no I/O.

Given the round's plan, its seed, its stored draws in draw order, its stock
top-ups and, where the rules need them, each user's earlier draws (count
activities) and each grant's amount (amount activities), check every draw:

- draw numbers run 1..n, each user's nonces 1, 2, 3 …, times inside the round;
- ``random`` = SHA-1(HMAC-SHA256(seed, "user:client_seed") + ":" + nonce);
- the pool: the only one, the user's level (count), or the grant's band (amount);
- the pick, from ``random`` and the pool's odds — for auto odds, the weights
  times the stock released and not yet won at that moment;
- that the draw won exactly when the picked prize had released stock left, and
  that no win ever exceeded the stock released by then (even-award slices and
  recorded top-ups, at the draw's time);
- every other stored field that follows from the round or from the row's
  replayed outcome, on every row, won or lost (:data:`ROW_RULES`): its id,
  round and activity, whether it spent a grant, and the prize key, type, name
  and value and the fulfilment state, which must be those of the prize its
  pick won — none at all on a loss, so no fulfilment hook ever pays one.

``app.services.verifier`` loads the inputs from the database; anyone with the
revealed seed and the draws can do the same (docs/fairness.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from app.domain import fairness
from app.domain.activity import ActivityConfig
from app.domain.buckets import split, split_slices
from app.domain.records import StockMove, StoredDraw, Topup
from app.domain.schedule import round_slices
from app.domain.text import in_language
from app.domain.types import DrawRecord, Kind, Odds, PoolPlan, PrizePlan, RoundPlan

MAX_FINDINGS = 1000
FULFILMENT_STATES = ("won", "granted", "grant_failed")  # of a win; a loss has none


@dataclass(frozen=True, slots=True)
class Expected:
    """What one stored row must hold, given its round and its outcome."""

    draw_id: str
    round_id: str
    activity_id: int
    needs_grant: bool
    prize: PrizePlan | None  # what the row's pick won; None on a loss
    # Names the prize had in later versions: names change in every round,
    # and the ledger keeps the one of the moment the draw was flushed.
    names: frozenset[str] = frozenset()
    optional_grant: bool = False  # a draw may or may not have spent one


# A rule: (column, what the row holds, the values accepted there). Together
# with the checks of pick and won against the replay, every field that the
# replay can recompute, or that fulfilment and exports read, is covered.
Rule = tuple[str, Callable[[StoredDraw], object], Callable[[Expected], Collection[object]]]

ROW_RULES: tuple[Rule, ...] = (
    ("draw_id", lambda d: d.record.draw_id, lambda e: (e.draw_id,)),
    ("round_id", lambda d: d.record.round_id, lambda e: (e.round_id,)),
    ("activity_id", lambda d: d.record.activity_id, lambda e: (e.activity_id,)),
    ("grant_id", lambda d: _spent(d.record.grant_id), lambda e: _grants(e)),
    ("prize_key", lambda d: d.record.prize_key, lambda e: (e.prize.key if e.prize else None,)),
    ("prize_type", lambda d: d.prize_type, lambda e: (e.prize.type.value if e.prize else None,)),
    (
        "prize_name",
        lambda d: d.prize_name,
        lambda e: (in_language(e.prize.name), *sorted(e.names)) if e.prize else (None,),
    ),
    ("prize_value", lambda d: d.prize_value, lambda e: (e.prize.value if e.prize else None,)),
    ("fulfilment", lambda d: d.fulfilment, lambda e: FULFILMENT_STATES if e.prize else (None,)),
)


def _spent(grant: object) -> str:
    """Whether a draw spent a grant: which one is the pool rule's business."""
    return "a grant" if grant else "no grant"


def _grants(e: Expected) -> tuple[str, ...]:
    if e.optional_grant:  # a count activity: with or without one
        return (_spent(True), _spent(False))
    return (_spent(e.needs_grant),)


def _check_row(report: Report, d: StoredDraw, expected: Expected) -> None:
    for column, held, accepted in ROW_RULES:
        value, allowed = held(d), accepted(expected)
        if value not in allowed:
            want = repr(next(iter(allowed))) if len(allowed) == 1 else f"one of {allowed!r}"
            report.add(d.record.draw_id, f"{column} is {value!r}, the replay gives {want}")


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


@dataclass(frozen=True)
class RoundInputs:
    """Everything a replay of one round needs."""

    config: ActivityConfig
    round: RoundPlan
    seed: bytes
    draws: Sequence[StoredDraw]  # in draw order (seq)
    topups: Sequence[Topup] = ()
    before: Mapping[str, int] = field(default_factory=dict)  # user -> earlier draws (count)
    grants: Mapping[str, int] = field(default_factory=dict)  # grant id -> amount (amount)
    # One bucket of K (SPEC §9): its draws only, numbered bucket+1, bucket+1+K, …,
    # and its share of every slice and top-up (app/domain/buckets.py).
    bucket: int = 0
    buckets: int = 1
    moves: Sequence[StockMove] = ()  # the round's stock moves between buckets
    names: Mapping[str, frozenset[str]] = field(default_factory=dict)  # key -> later names
    # A public bundle's players are pseudonyms: their keys are given, not derived.
    user_keys: Mapping[tuple[str, str], str] = field(default_factory=dict)


def replay(report: Report, inputs: RoundInputs) -> None:
    """Check every draw of the round, adding what disagrees to ``report``."""
    cfg, rnd, seed, draws = inputs.config, inputs.round, inputs.seed, inputs.draws
    b, k = inputs.bucket, inputs.buckets
    report.draws += len(draws)
    prizes = rnd.prizes
    pools = rnd.pools
    # When each unit became winnable: slices, then top-ups at their time.
    schedule = [split_slices(sl, k)[b] if k > 1 else sl for sl in round_slices(cfg, rnd)]
    # (when, units, stamped): a slice is due at its time by the script's own rule
    # (due when its time <= the draw's); a top-up or a move is stamped with the
    # Redis clock when it happened, so a draw in that same millisecond may have
    # come before or after it: both orders are accepted (see _outcome).
    releases: list[list[tuple[int, int, bool]]] = [
        [(s.at_ms, s.amount, False) for s in sl] for sl in schedule
    ]
    by_key = {p.key: p.index for p in prizes}
    for t in inputs.topups:
        if t.prize_key in by_key:
            releases[by_key[t.prize_key] - 1].append((t.at_ms, split(t.added, k)[b], True))
    for m in inputs.moves:  # units leave one bucket's released stock, join another's
        if m.prize_key in by_key and b in (m.from_bucket, m.to_bucket):
            out = m.from_bucket == b
            releases[by_key[m.prize_key] - 1].append(
                (m.out_at_ms, -m.units, True) if out else (m.in_at_ms, m.units, True)
            )
    stamped = {when for rel in releases for when, _, s in rel if s}

    def released(i: int, at: int, *, before_stamped: bool = False) -> int:
        """Units of prize ``i`` released by ``at``; ``before_stamped``: as if the
        draw came before what was stamped in its own millisecond."""
        return sum(
            n
            for when, n, s in releases[i - 1]
            if when < at or (when == at and not (s and before_stamped))
        )

    won = [0] * (len(prizes) + 1)
    nonces: Counter[str] = Counter()
    keys: dict[tuple[str, str], str] = dict(inputs.user_keys)
    needs_grant = cfg.needs_grant
    for j, d in enumerate(draws):
        r = d.record
        expected_seq = b + 1 + k * j
        # The prize the row's pick won, if it won one (pick and won themselves
        # are checked against the replay below).
        prize = prizes[r.pick - 1] if r.won and 0 < r.pick <= len(prizes) else None
        prize = None if prize is None or prize.empty else prize
        expected = Expected(
            f"{rnd.round_id}:{r.seq}",
            rnd.round_id,
            rnd.activity_id,
            needs_grant,
            prize,
            inputs.names.get(prize.key, frozenset()) if prize else frozenset(),
            optional_grant=cfg.takes_grants and not needs_grant,
        )
        _check_row(report, d, expected)
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
        pool = _pool(report, cfg, r, inputs.before, nonces, inputs.grants, pools)
        if pool is None:
            continue
        if r.pool != pool:
            report.add(r.draw_id, f"drawn in pool {r.pool}, the rules give pool {pool}")
        first, last = pools[pool - 1].first, pools[pool - 1].last
        # Each order the draw may have had with what was stamped in its
        # millisecond gives a pick and a result; the record must match one.
        orders = (False, True) if r.drawn_at_ms in stamped else (False,)
        outcomes = [
            _outcome(cfg, prizes, first, last, random, won, released, r.drawn_at_ms, o)
            for o in orders
        ]
        if (r.pick, r.won) not in outcomes:
            pick, should_win = outcomes[0]
            if r.pick != pick:
                report.add(r.draw_id, f"picked prize {r.pick}, the random value picks {pick}")
            if r.won != should_win:
                report.add(
                    r.draw_id,
                    "recorded as a win but no prize was won"
                    if r.won
                    else "recorded as a loss but the picked prize had stock left",
                )
        if r.won:
            report.wins += 1
            if prize is None:
                continue  # named above: no prize was won
            # Counted as recorded (Redis spent a unit for it); a forged win
            # shows as a win past the released stock.
            won[r.pick] += 1
            if won[r.pick] > released(r.pick, r.drawn_at_ms):
                report.add(
                    r.draw_id,
                    f"win {won[r.pick]} of {prize.key} exceeds the "
                    f"{released(r.pick, r.drawn_at_ms)} units released by then",
                )


def _outcome(
    cfg: ActivityConfig,
    prizes: Sequence[PrizePlan],
    first: int,
    last: int,
    random: str,
    won: Sequence[int],
    released: Callable[..., int],
    at: int,
    before_stamped: bool,
) -> tuple[int, bool]:
    """The pick and whether it wins, with the stock left at ``at``."""
    left = {
        i: released(i, at, before_stamped=before_stamped) - won[i] for i in range(first, last + 1)
    }
    if cfg.probability is Odds.AUTO:
        weights = [
            0 if prizes[i - 1].empty else prizes[i - 1].weight * max(left[i], 0)
            for i in range(first, last + 1)
        ]
        local = fairness.pick_auto(random, weights)
    else:
        local = fairness.pick_manual(random, [prizes[i - 1].ppb for i in range(first, last + 1)])
    pick = first + local - 1 if local else 0
    return pick, pick > 0 and not prizes[pick - 1].empty and left.get(pick, 0) > 0


def _pool(
    report: Report,
    cfg: ActivityConfig,
    r: DrawRecord,
    before: Mapping[str, int],
    nonces: Counter[str],
    grants: Mapping[str, int],
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
