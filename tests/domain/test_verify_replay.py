"""The round replay of ``redrain verify``, on draws made here with the
documented construction: a faithful ledger verifies, each tampering is named."""

from __future__ import annotations

import dataclasses
from typing import Any

from app.domain import fairness
from app.domain.activity import parse_config
from app.domain.records import StoredDraw, Topup
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


def as_stored(rec: DrawRecord) -> StoredDraw:
    """The row the flush worker writes for ``rec``: the won prize's fields."""
    won = next((p for p in ROUND.prizes if p.key == rec.prize_key), None) if rec.won else None
    return StoredDraw(
        rec,
        rec.seq,
        won.type.value if won else None,
        won.name if won else None,
        won.value if won else None,
        "won" if won else None,
    )


def check(draws: list[DrawRecord], topups: tuple[Topup, ...] = (), **row: dict[str, Any]) -> Report:
    """The replay of ``draws``; ``row`` changes stored fields of the draw it names."""
    report = Report(ROUND.round_id)
    stored = [dataclasses.replace(as_stored(d), **row.get(d.draw_id, {})) for d in draws]
    replay(report, RoundInputs(CFG, ROUND, SEED, stored, topups))
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


def test_every_stored_field_of_a_loss_and_of_a_win_is_checked() -> None:
    """Each field the replay can recompute, tampered on a losing row and on a
    winning one, is named (a loss holds no prize and nothing to fulfil)."""
    draws = honest_draws()
    loss = next(d for d in draws if not d.won and d.pick == 0)
    sold_out = next(d for d in draws if not d.won and d.pick > 0)  # a loss that picked a prize
    win = next(d for d in draws if d.won)
    assert check(draws).ok
    record_changes: list[tuple[str, Any]] = [
        ("prize_key", "b"),
        ("draw_id", f"{ROUND.round_id}:999"),
        ("round_id", "9:20300602:0"),
        ("activity_id", 10),
        ("grant_id", "g-1"),
    ]
    row_changes: list[tuple[str, Any]] = [
        ("prize_type", "coupon"),
        ("prize_name", "prize b"),
        ("prize_value", "V-b"),
        ("fulfilment", "won"),
    ]
    for target in (loss, sold_out, win):
        for column, value in record_changes:
            if column == "prize_key" and target is win:
                value = "b" if win.prize_key == "a" else "a"
            changed = target._replace(**{column: value})
            at = draws.index(target)
            found = check([*draws[:at], changed, *draws[at + 1 :]]).findings
            assert any(f.problem.startswith(f"{column} is ") for f in found), (column, found)
            assert {f.draw_id for f in found} <= {target.draw_id, changed.draw_id}, found
        for column, value in row_changes:
            if target is win:
                value = {"fulfilment": "delivered", "prize_type": "physical"}.get(column, "forged")
            found = check(draws, **{target.draw_id: {column: value}}).findings
            assert [f.draw_id for f in found] == [target.draw_id], (column, found)
            assert found[0].problem.startswith(f"{column} is "), found
        if target is win:  # a win keeps its prize: nulled, it is named too
            for column in ("prize_type", "prize_name", "prize_value", "fulfilment"):
                found = check(draws, **{target.draw_id: {column: None}}).findings
                assert [f.draw_id for f in found] == [target.draw_id], (column, found)
    for state in ("won", "granted", "grant_failed"):  # the fulfilment hook's states of a win
        assert check(draws, **{win.draw_id: {"fulfilment": state}}).ok
