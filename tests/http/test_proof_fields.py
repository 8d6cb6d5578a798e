"""What a draw's proof carries for a verifier outside the server (the /verify
page): the pick in the draw response, the pick and pool in the history."""

from __future__ import annotations

from app.domain import fairness
from app.jobs.worker import Worker
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, offset_to, prize
from tests.http.test_http import Http, bearer
from tests.services.test_kinds import levels


async def test_proof_names_the_pick_and_the_history_the_pool(
    make_service: ServiceFactory, http: Http
) -> None:
    svc = make_service(offset_to(local(DAY, 10, 5)))
    client = http(svc)
    cfg = levels(2)
    # Level 2 picks "l2" half the time and otherwise the empty remainder.
    cfg["sessions"][0]["pools"][1]["prizes"] = [prize("l2", 1000, 0.5)]
    resp = await client.post("/v1/admin/activities", json=cfg, headers=admin_headers())
    aid = resp.json()["id"]
    assert (
        await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
    ).is_success
    made = []
    users = [f"u{i}" for i in range(20)]  # all 20 on one side of a coin: 2^-19
    for user in users:
        for _ in range(2):
            resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer(user))
            assert resp.status_code == 200, resp.text
            made.append((user, resp.json()))
    picks = set()
    for _, body in made:
        proof = body["proof"]
        level = proof["nonce"]  # one round: the nonce is the level
        ppbs = [10**9] if level == 1 else [500_000_000]
        local_pick = fairness.pick_manual(proof["random"], ppbs)
        # Round prizes: 1 = l1 (pool 1), 2 = l2 (pool 2).
        assert proof["pick"] == (local_pick and local_pick + level - 1)
        assert body["won"] == (proof["pick"] > 0)
        picks.add(proof["pick"])
    assert picks == {0, 1, 2}  # a loss in the remainder is told apart from a picked prize
    await Worker.wired(svc.settings, svc.redis, svc.db, name="w").drain(30)
    for user in users[:3]:
        page = await client.get("/v1/me/draws", params={"activity_id": aid}, headers=bearer(user))
        history = page.json()["draws"]
        mine = {b["draw_id"]: b for u, b in made if u == user}
        assert len(history) == 2
        for entry in history:
            assert entry["proof"]["pick"] == mine[entry["draw_id"]]["proof"]["pick"]
            assert entry["proof"]["pool"] == entry["proof"]["nonce"]
