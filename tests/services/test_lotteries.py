"""User-created scheduled lotteries: the state machine, the draw, its fairness,
and exactly-once under racing or crashing workers."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from scipy import stats

from app.domain import fairness, lotteries
from app.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.services.clock import Clock
from app.services.container import Services
from app.services.lotteries import Lotteries
from tests.conftest import ServiceFactory
from tests.http.test_http import assert_error, bearer

Http = Callable[[Services], httpx.AsyncClient]
T0 = dt.datetime(2030, 6, 1, 2, 0, tzinfo=dt.UTC)  # "now" for the tests below


def at(make: ServiceFactory, when: dt.datetime) -> Services:
    return make(when.timestamp() - dt.datetime.now(dt.UTC).timestamp())


async def make_lottery(
    svc: Services, creator: str = "carol", quantity: int = 2, minutes: int = 10
) -> int:
    rec = await svc.lotteries.create(
        creator, "party", T0 + dt.timedelta(minutes=minutes), "cake", quantity
    )
    return rec.id


async def test_create_rules(make_service: ServiceFactory, http: Http) -> None:
    svc = at(make_service, T0)
    with pytest.raises(ValidationFailed, match="draw_at"):
        await svc.lotteries.create("c", "soon", T0 + dt.timedelta(seconds=90), "x", 1)
    with pytest.raises(ValidationFailed, match="draw_at"):
        await svc.lotteries.create("c", "later", T0 + dt.timedelta(days=400), "x", 1)
    client = http(svc)
    good = {
        "title": "t",
        "draw_at": (T0 + dt.timedelta(hours=1)).isoformat(),
        "prize": {"name": "p", "quantity": 3},
    }
    resp = await client.post("/v1/lotteries", json=good, headers=bearer("carol"))
    assert resp.status_code == 201
    body = resp.json()
    assert body["status"] == "open" and body["status_code"] == 0 and body["participants"] == 0
    assert body["is_creator"] is True and len(body["seed_hash"]) == 64 and body["seed"] is None
    for bad in (
        {**good, "draw_at": "2030-06-01T03:00:00"},  # no time zone
        {**good, "prize": {"name": "p", "quantity": 0}},
        {**good, "prize": {"name": "p"}},
        {**good, "creator": "someone-else"},
        {k: v for k, v in good.items() if k != "title"},
    ):
        assert_error(await client.post("/v1/lotteries", json=bad, headers=bearer("carol")), 422)
    assert_error(await client.post("/v1/lotteries", json=good), 401)


async def test_every_transition(make_service: ServiceFactory) -> None:
    svc = at(make_service, T0)
    lid = await make_lottery(svc)
    assert await svc.lotteries.join(lid, "dan") is True
    assert await svc.lotteries.join(lid, "dan") is False  # joining twice is harmless
    await svc.lotteries.leave(lid, "dan")
    with pytest.raises(NotFound) as nf:
        await svc.lotteries.leave(lid, "dan")
    assert nf.value.code == "not_participant"
    await svc.lotteries.join(lid, "erin")
    # Only the creator may cancel or delete.
    with pytest.raises(Forbidden):
        await svc.lotteries.cancel(lid, "erin")
    with pytest.raises(Forbidden):
        await svc.lotteries.delete(lid, "erin")
    # An open lottery with participants cannot be deleted; cancel it first.
    with pytest.raises(Conflict) as err:
        await svc.lotteries.delete(lid, "carol")
    assert err.value.code == "lottery_not_deletable"
    rec = await svc.lotteries.cancel(lid, "carol")
    assert svc.lotteries.status(rec) == lotteries.CANCELED
    for action in (svc.lotteries.join, svc.lotteries.leave, svc.lotteries.cancel):
        with pytest.raises(Conflict) as err:
            await action(lid, "carol")
        assert err.value.code == "lottery_not_open"
    await svc.lotteries.delete(lid, "carol")
    with pytest.raises(NotFound):
        await svc.lotteries.get(lid)
    # An open lottery nobody joined may be deleted directly.
    empty = await make_lottery(svc)
    await svc.lotteries.delete(empty, "carol")


async def settle_others(make_service: ServiceFactory) -> None:
    """Close and draw the lotteries other tests left in this database (which
    ones depends on the order tests run in), so a test's counts are its own."""
    settle = at(make_service, T0 + dt.timedelta(days=1))
    for _ in range(5):
        if await settle.lotteries.run_due() == (0, 0):
            return


async def test_closes_a_minute_before_then_draws(make_service: ServiceFactory) -> None:
    await settle_others(make_service)
    svc = at(make_service, T0)
    lid = await make_lottery(svc, quantity=2, minutes=10)
    for u in ("u1", "u2", "u3", "u4"):
        await svc.lotteries.join(lid, u)
    # 59 s before the draw: "drawing", whether or not a worker has run.
    late = at(make_service, T0 + dt.timedelta(minutes=9, seconds=1))
    assert late.lotteries.status(await late.lotteries.get(lid)) == lotteries.DRAWING
    for action in (late.lotteries.join, late.lotteries.leave, late.lotteries.cancel):
        with pytest.raises(Conflict):
            await action(lid, "carol" if action == late.lotteries.cancel else "u5")
    with pytest.raises(Conflict):
        await late.lotteries.delete(lid, "carol")
    assert await late.lotteries.run_due() == (1, 0)  # closed, not yet drawn
    assert (await late.lotteries.get(lid)).status == lotteries.DRAWING
    due = at(make_service, T0 + dt.timedelta(minutes=10, seconds=1))
    assert await due.lotteries.run_due() == (0, 1)
    rec = await due.lotteries.get(lid)
    assert rec.status == lotteries.DRAWN and len(rec.winners) == 2
    assert rec.winners == tuple(
        sorted(fairness.lottery_winners(rec.seed, ["u1", "u2", "u3", "u4"], 2))
    )
    assert await due.lotteries.run_due() == (0, 0)  # nothing more to do


@pytest.mark.parametrize(("quantity", "participants"), [(2, 5), (5, 5), (8, 5), (3, 0)])
async def test_draw_sizes_and_notifications(
    make_service: ServiceFactory, quantity: int, participants: int
) -> None:
    svc = at(make_service, T0)
    lid = await make_lottery(svc, quantity=quantity)
    users = [f"q{quantity}-{i}" for i in range(participants)]
    for u in users:
        await svc.lotteries.join(lid, u)
    due = at(make_service, T0 + dt.timedelta(minutes=11))
    await due.lotteries.run_due()  # closes
    await due.lotteries.run_due()  # draws
    rec = await due.lotteries.get(lid)
    assert rec.status == lotteries.DRAWN
    assert len(rec.winners) == min(quantity, participants) == len(set(rec.winners))
    assert set(rec.winners) <= set(users)
    for u in users:
        notes = [
            n for n in await due.account.notifications(u, 10, None) if n.kind == "lottery_result"
        ]
        assert len(notes) == 1 and notes[0].payload["lottery_id"] == lid
        assert notes[0].payload["won"] == (u in rec.winners)


async def test_racing_workers_and_a_crash_draw_once(
    make_service: ServiceFactory, stack: tuple[Any, Any]
) -> None:
    svc = at(make_service, T0)
    lid = await make_lottery(svc, quantity=3)
    users = [f"r{i}" for i in range(12)]
    for u in users:
        await svc.lotteries.join(lid, u)
    now = T0 + dt.timedelta(minutes=11)
    clock = Clock(wall=now.timestamp)
    db = stack[1]
    # A worker that crashes in the middle of the draw leaves nothing behind.
    crashing = Lotteries(db, clock)
    await crashing.run_due()  # closes it

    def crash(*_: object) -> list[str]:
        raise RuntimeError("killed mid-draw")

    with pytest.raises(RuntimeError):
        await db.lotteries.draw(lid, crash, now=clock.stamp())
    assert (await crashing.get(lid)).status == lotteries.DRAWING
    assert await crashing.db.notices.of_user("r0", limit=5, before=None) == []
    # Two workers race: one draws, the other finds nothing to do.
    results = await asyncio.gather(*[Lotteries(db, clock).run_due() for _ in range(4)])
    assert sum(drawn for _, drawn in results) == 1
    rec = await crashing.get(lid)
    assert len(rec.winners) == 3
    for u in users:
        notes = await db.notices.of_user(u, limit=10, before=None)
        assert sum(1 for n in notes if n.kind == "lottery_result" and n.ref == str(lid)) == 1


def test_winners_are_uniform_over_participants() -> None:
    """Chi-square over 6,000 simulated draws (10 participants, 3 winners each):
    every participant should win 30% of the time; significance level 10^-4."""
    users = [f"p{i}" for i in range(10)]
    wins: Counter[str] = Counter()
    trials = 6000
    for _ in range(trials):
        chosen = fairness.lottery_winners(secrets.token_hex(32), users, 3)
        assert len(set(chosen)) == 3
        wins.update(chosen)
    observed = [wins[u] for u in users]
    chi2, p = stats.chisquare(observed, [trials * 0.3] * 10)
    assert p > 1e-4, f"chi2={chi2:.1f} p={p:.2e} observed={observed}"


async def test_lottery_http_flow(make_service: ServiceFactory, http: Http) -> None:
    svc = at(make_service, T0)
    client = http(svc)
    body = {
        "title": "office draw",
        "draw_at": (T0 + dt.timedelta(minutes=5)).isoformat(),
        "prize": {"name": "mug", "quantity": 1},
    }
    lid = (await client.post("/v1/lotteries", json=body, headers=bearer("boss"))).json()["id"]
    joined = await client.post(f"/v1/lotteries/{lid}/join", headers=bearer("amy"))
    assert (
        joined.status_code == 200
        and joined.json()["joined"] is True
        and joined.json()["participants"] == 1
    )
    public = (await client.get(f"/v1/lotteries/{lid}")).json()
    assert "joined" not in public and public["participants"] == 1 and public["creator"] == "b***"
    assert_error(
        await client.post(f"/v1/lotteries/{lid}/cancel", headers=bearer("amy")), 403, "not_creator"
    )
    left = await client.delete(f"/v1/lotteries/{lid}/join", headers=bearer("amy"))
    assert left.status_code == 200 and left.json()["joined"] is False
    assert_error(
        await client.delete(f"/v1/lotteries/{lid}/join", headers=bearer("amy")),
        404,
        "not_participant",
    )
    await client.post(f"/v1/lotteries/{lid}/join", headers=bearer("amy"))
    due = at(make_service, T0 + dt.timedelta(minutes=6))
    await due.lotteries.run_due()
    await due.lotteries.run_due()
    done = (await http(due).get(f"/v1/lotteries/{lid}", headers=bearer("amy"))).json()
    assert done["status"] == "drawn" and done["won"] is True and done["winners"] == ["***"]
    # The creator hands the prize over: they see who won.
    theirs = (await http(due).get(f"/v1/lotteries/{lid}", headers=bearer("boss"))).json()
    assert theirs["winners"] == ["amy"] and theirs["is_creator"] is True
    assert (await http(due).get(f"/v1/lotteries/{lid}")).json()["winners"] == ["***"]
    assert fairness.seed_hash(bytes.fromhex(done["seed"])) == done["seed_hash"]
    notes = (await http(due).get("/v1/me/notifications", headers=bearer("amy"))).json()[
        "notifications"
    ]
    assert (
        notes[0]["kind"] == "lottery_result"
        and notes[0]["won"] is True
        and notes[0]["prize"] == "mug"
    )
    assert_error(
        await http(due).post(f"/v1/lotteries/{lid}/join", headers=bearer("zed")),
        409,
        "lottery_not_open",
    )
    assert_error(await client.get("/v1/lotteries/999999"), 404, "lottery_not_found")
    assert (await client.delete(f"/v1/lotteries/{lid}", headers=bearer("boss"))).status_code == 409
