"""Running a live campaign (issue 25): the emergency stop, and what an
operator may still change once players are drawing. Over HTTP in process, on
real Redis + MariaDB and on fakeredis + SQLite."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.domain.audit import Actor
from app.services.container import Services
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import BY, DAY, local, prize, rain
from tests.http.test_concurrent_writes import Http, burst, codes
from tests.http.test_http import assert_error, bearer, setup

H = admin_headers()


async def _round_state(svc: Services, aid: int) -> tuple[int, int]:
    """(draws, won) of the open round, from Redis."""
    _, rounds = await svc.activities.stats(aid, "20300601:0")
    st = rounds[0]
    return st.draws, sum(p.won for p in st.prizes)


async def _audit(svc: Services, aid: int, action: str) -> list[Any]:
    return list(
        await svc.operators.audit(
            actor=None, action=action, activity_id=aid, before_id=None, limit=100
        )
    )


async def test_pause_refuses_every_draw_and_consumes_nothing(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid = await setup(make_service, http, rain([prize("c2", 50, 0.5)]), local(DAY, 10, 5))
    svc: Services = client._transport.app.state.services  # type: ignore[attr-defined]
    first = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("p1"))
    assert first.status_code == 200, first.text
    public = (await client.get(f"/v1/activities/{aid}")).json()
    assert public["paused"] is False

    paused = await client.post(f"/v1/admin/activities/{aid}/pause", headers=H)
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True
    before = await _round_state(svc, aid)
    for user in ("p1", "p2", "p3"):
        assert_error(
            await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer(user)),
            409,
            "activity_paused",
        )
    assert await _round_state(svc, aid) == before  # nothing consumed
    assert (await client.get(f"/v1/activities/{aid}")).json()["paused"] is True
    again = await client.post(f"/v1/admin/activities/{aid}/pause", headers=H)
    assert again.status_code == 200 and again.json()["paused"] is True
    assert len(await _audit(svc, aid, "activity.pause")) == 1  # idempotent: one entry

    resumed = await client.post(f"/v1/admin/activities/{aid}/resume", headers=H)
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    ok = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("p2"))
    assert ok.status_code == 200, ok.text
    assert (await client.get(f"/v1/activities/{aid}")).json()["paused"] is False
    assert len(await _audit(svc, aid, "activity.resume")) == 1


async def test_pause_needs_a_publisher_and_a_published_activity(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid = await setup(make_service, http, rain(), local(DAY, 9, 0))
    svc: Services = client._transport.app.state.services  # type: ignore[attr-defined]
    name = f"ed-{id(svc) % 100_000}"
    await svc.operators.ensure(name, "correct horse battery", "editor", BY)
    _, editor = await svc.operators.create_token(name, "admin:editor", Actor(name))
    assert_error(
        await client.post(
            f"/v1/admin/activities/{aid}/pause", headers={"Authorization": f"Bearer {editor}"}
        ),
        403,
        "forbidden",
    )
    assert_error(await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("x")), 409)
    draft = await client.post("/v1/admin/activities", json=rain(), headers=H)
    assert_error(
        await client.post(f"/v1/admin/activities/{draft.json()['id']}/pause", headers=H),
        409,
        "not_published",
    )
    assert_error(await client.post("/v1/admin/activities/99999999/pause", headers=H), 404)


async def test_a_pause_survives_a_republish(make_service: ServiceFactory, http: Http) -> None:
    """Publishing again (after a PUT, or to rebuild a Redis) keeps the stop."""
    client, aid = await setup(make_service, http, rain(), local(DAY, 10, 5))
    assert (await client.post(f"/v1/admin/activities/{aid}/pause", headers=H)).status_code == 200
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)).status_code == 200
    assert_error(
        await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("q")),
        409,
        "activity_paused",
    )


async def test_pause_under_load_takes_effect_at_once(
    make_service: ServiceFactory, http: Http
) -> None:
    """Draws hammer the round from many users while 20 pauses race: once any
    pause has answered, no draw is made; the audit trail has one entry per
    change of state, and Redis and the database agree at the end."""
    client, aid = await setup(
        make_service, http, rain([prize("c2", 10_000, 0.5)]), local(DAY, 10, 5)
    )
    svc: Services = client._transport.app.state.services  # type: ignore[attr-defined]
    paused_at: list[float] = []
    made_after: list[httpx.Response] = []
    loop = asyncio.get_running_loop()

    async def player(i: int) -> None:
        for j in range(15):
            sent = loop.time()
            resp = await client.post(
                "/v1/draw", json={"activity_id": aid}, headers=bearer(f"u{i}-{j}")
            )
            assert resp.status_code in (200, 409), resp.text
            if resp.status_code == 200 and paused_at and sent > min(paused_at):
                made_after.append(resp)

    async def pauses() -> None:
        await asyncio.sleep(0.05)
        answers = await burst(
            *[lambda: client.post(f"/v1/admin/activities/{aid}/pause", headers=H)] * 20
        )
        assert set(codes(answers)) <= {(200, None), (409, "activity_busy")}
        paused_at.append(loop.time())

    await asyncio.gather(pauses(), *(player(i) for i in range(20)))
    assert paused_at and not made_after
    assert len(await _audit(svc, aid, "activity.pause")) == 1
    mixed = [lambda: client.post(f"/v1/admin/activities/{aid}/resume", headers=H)] * 10
    mixed += [lambda: client.post(f"/v1/admin/activities/{aid}/pause", headers=H)] * 10
    await burst(*mixed)
    rec = await svc.activities.get(aid)
    assert await svc.runtimes.paused(aid) is rec.paused
