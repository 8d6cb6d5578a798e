"""The round replay of ``redrain verify``, on draws made here with the
documented construction: a faithful ledger verifies, each tampering is named."""

from __future__ import annotations

from app.domain import fairness
from app.domain.activity import parse_config
from app.domain.records import Topup
from app.domain.schedule import plan_rounds, round_slices
from app.domain.types import DrawRecord
from app.domain.verify import Report, RoundInputs, replay
from tests.helpers import prize, rain

SEED = bytes(range(32))
CFG = parse_config(rain([prize("a", 3, 0.5), prize("b", 1, 0.3)], release={"slices": 1}))
ROUND = plan_rounds(9, CFG)[0]


def honest_draws(n: int = 30) -> list[DrawRecord]:
    """What the script would have recorded: the pick from the keyed random,
    a win only while the prize has stock left."""
    left = {p.index: p.quantity for p in ROUND.prizes}
    out: list[DrawRecord] = []
    nonces: dict[str, int] = {}
    for seq in range(1, n + 1):
        user = f"u{seq % 7}"
        nonce = nonces[user] = nonces.get(user, 0) + 1
        random = fairness.draw_random(fairness.user_key(SEED, user, "cs"), nonce)
        pick = fairness.pick_manual(random, [p.ppb for p in ROUND.prizes])
        won = pick > 0 and left[pick] > 0
        if won:
            left[pick] -= 1
        out.append(
            DrawRecord(
                draw_id=f"{ROUND.round_id}:{seq}",
                activity_id=9,
                round_id=ROUND.round_id,
                seq=seq,
                user_id=user,
                nonce=nonce,
                client_seed="cs",
                pick=pick,
                won=won,
                prize_key=ROUND.prizes[pick - 1].key if won else None,
                random=random,
                drawn_at_ms=ROUND.start_ms + seq,
                stream_id=f"{seq}-0",
            )
        )
    return out


def check(draws: list[DrawRecord], topups: tuple[Topup, ...] = ()) -> Report:
    report = Report(ROUND.round_id)
    replay(report, RoundInputs(CFG, ROUND, SEED, draws, topups))
    return report


def test_an_honest_round_verifies() -> None:
    draws = honest_draws()
    report = check(draws)
    assert report.ok, report.findings
    assert report.draws == 30 and report.wins == sum(d.won for d in draws) == 4
    assert round_slices(CFG, ROUND)  # the stock the replay releases


def test_each_tampering_is_named() -> None:
    draws = honest_draws()
    loss = next(i for i, d in enumerate(draws) if not d.won and d.pick == 0)
    forged = draws[loss]._replace(won=True, pick=1, prize_key="a")
    problems = {f.problem for f in check([*draws[:loss], forged, *draws[loss + 1 :]]).findings}
    assert any("random value picks" in p for p in problems)
    reseeded = draws[0]._replace(random="0" * 40)
    assert any(
        "random value does not match" in f.problem for f in check([reseeded, *draws[1:]]).findings
    )
    late = draws[3]._replace(drawn_at_ms=ROUND.end_ms)
    assert any("outside" in f.problem for f in check([*draws[:3], late, *draws[4:]]).findings)
    assert any("draw number" in f.problem for f in check(draws[1:]).findings)


def test_a_win_past_the_released_stock_is_caught_and_a_topup_explains_it() -> None:
    draws = honest_draws()
    # A loss whose pick had no stock left, recorded as a win: over the stock.
    sold_out = next(i for i, d in enumerate(draws) if d.pick == 2 and not d.won)
    extra = draws[sold_out]._replace(won=True, prize_key="b")
    faked = [*draws[:sold_out], extra, *draws[sold_out + 1 :]]
    assert any("exceeds" in f.problem for f in check(faked).findings)
    # With a recorded top-up before it, the same win is honest.
    topup = (Topup("b", 1, draws[sold_out].drawn_at_ms - 1),)
    assert check(faked, topup).ok


def test_a_topup_in_the_draws_own_millisecond_may_have_come_after_it() -> None:
    # Redis stamps a top-up and a draw with the same clock: in one millisecond
    # either may have come first, so a loss is as honest as a win there.
    draws = honest_draws()
    # The last draw picking the sold-out prize: none after it could have won the unit.
    sold_out = max(i for i, d in enumerate(draws) if d.pick == 2 and not d.won)
    at = draws[sold_out].drawn_at_ms
    same_ms = (Topup("b", 1, at),)
    assert check(draws, same_ms).ok  # the loss: the top-up came just after
    extra = draws[sold_out]._replace(won=True, prize_key="b")
    assert check([*draws[:sold_out], extra, *draws[sold_out + 1 :]], same_ms).ok  # or before
    # A millisecond earlier it was surely there: the same loss is named.
    earlier = check(draws, (Topup("b", 1, at - 1),))
    assert [f.draw_id for f in earlier.findings] == [draws[sold_out].draw_id]
    assert "had stock left" in earlier.findings[0].problem
