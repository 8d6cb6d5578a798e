"""What an admin cannot do to the operators' identities (docs/security.md):
disable themselves, or name an operator after a keyholder the audit trail
already names. Over HTTP in process, on MariaDB and on SQLite."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from app.domain.audit import Actor
from app.domain.operators import RESERVED
from app.services.container import Services
from app.store.sql.models import AuditRow
from tests.conftest import ServiceFactory, admin_headers
from tests.http.test_http import assert_error
from tests.http.test_operators import PASSWORD, Http, operator, session

N = 12


async def audit_count(svc: Services, action: str) -> int:
    async with svc.db.session() as s:
        found = await s.scalar(select(func.count()).where(AuditRow.action == action))
    return int(found or 0)


async def test_an_admin_cannot_disable_themselves(make_service: ServiceFactory, http: Http) -> None:
    svc = make_service()
    me = await operator(svc, "admin", f"me-{id(svc) % 100_000}")
    other = await operator(svc, "admin", f"peer-{id(svc) % 100_000}")
    mine = http(svc)
    csrf = await session(mine, me)
    before = await audit_count(svc, "operator.disable")
    resp = await mine.post(f"/v1/admin/operators/{me}/disable", headers=csrf)
    assert_error(resp, 409, "cannot_disable_self")
    # Nor with a token of their own: it acts as them.
    minted = await mine.post(
        "/v1/admin/tokens", json={"name": f"own-{id(svc)}", "scope": "admin:admin"}, headers=csrf
    )
    assert minted.status_code == 201, minted.text
    own = {"Authorization": f"Bearer {minted.json()['token']}"}
    assert_error(
        await mine.post(f"/v1/admin/operators/{me}/disable", headers=own),
        409,
        "cannot_disable_self",
    )
    # Nothing changed: still signed in, still enabled, nothing audited.
    assert (await mine.get("/v1/admin/session")).status_code == 200
    listed = (await mine.get("/v1/admin/operators", headers=csrf)).json()["operators"]
    assert not next(o for o in listed if o["username"] == me)["disabled"]
    assert await audit_count(svc, "operator.disable") == before
    # Enabling oneself (a no-op when enabled) is not refused.
    assert (await mine.post(f"/v1/admin/operators/{me}/enable", headers=csrf)).status_code == 200
    # Another admin, and the break-glass token, may.
    theirs = http(svc)
    csrf2 = await session(theirs, other)
    done = await theirs.post(f"/v1/admin/operators/{me}/disable", headers=csrf2)
    assert done.status_code == 200 and done.json()["disabled"] is True
    assert (await mine.get("/v1/admin/session")).status_code == 401  # their sessions ended
    back = await theirs.post(f"/v1/admin/operators/{me}/enable", headers=csrf2)
    assert back.status_code == 200 and back.json()["disabled"] is False
    resp = await theirs.post(f"/v1/admin/operators/{other}/disable", headers=admin_headers())
    assert resp.status_code == 200 and resp.json()["disabled"] is True


async def test_self_and_other_disables_at_once(make_service: ServiceFactory, http: Http) -> None:
    """N refusals from the operator themselves while another admin disables
    them N times: every self-disable is 409, every other one 200, no 500."""
    svc = make_service()
    me = await operator(svc, "admin", f"racer-{id(svc) % 100_000}")
    other = await operator(svc, "admin", f"judge-{id(svc) % 100_000}")
    mine, theirs = http(svc), http(svc)
    csrf, csrf2 = await session(mine, me), await session(theirs, other)
    path = f"/v1/admin/operators/{me}/disable"
    selves = [mine.post(path, headers=csrf) for _ in range(N)]
    others = [theirs.post(path, headers=csrf2) for _ in range(N)]
    answers = await asyncio.gather(*selves, *others)
    own, by_other = answers[:N], answers[N:]
    assert {a.status_code for a in by_other} == {200}
    # A self-disable that ran after another admin's ended the session is 401:
    # refused either way, and never a 500.
    assert {(a.status_code, a.json()["error"]["code"]) for a in own} <= {
        (409, "cannot_disable_self"),
        (401, "unauthorized"),
    }
    listed = (await theirs.get("/v1/admin/operators", headers=csrf2)).json()["operators"]
    assert next(o for o in listed if o["username"] == me)["disabled"]


@pytest.mark.parametrize("name", sorted(RESERVED))
async def test_a_keyholders_name_is_not_an_operators(
    make_service: ServiceFactory, http: Http, name: str
) -> None:
    svc = make_service()
    client = http(svc)
    before = await audit_count(svc, "operator.create")
    body = {"username": name, "password": PASSWORD, "role": "viewer"}
    resp = await client.post("/v1/admin/operators", json=body, headers=admin_headers())
    assert_error(resp, 422, "validation_error")
    assert resp.json()["error"]["field"] == "username"
    listed = (await client.get("/v1/admin/operators", headers=admin_headers())).json()
    assert name not in {o["username"] for o in listed["operators"]}
    assert await audit_count(svc, "operator.create") == before


async def test_operators_and_tokens_share_one_namespace(
    make_service: ServiceFactory, http: Http
) -> None:
    """The trail names a token's changes by the token: a token named like an
    operator would credit them with its changes (an audit found an editor's
    blacklist change logged under a viewer's name), and the other way round."""
    svc = make_service()
    client = http(svc)
    viewer = await operator(svc, "viewer", f"named-{id(svc) % 100_000}")
    before = await audit_count(svc, "token.create")
    for name, status, code in (
        (viewer, 409, "name_taken"),
        (viewer.upper(), 409, "name_taken"),
        ("cli", 422, "validation_error"),
        ("Admin-Token", 422, "validation_error"),
    ):
        resp = await client.post(
            "/v1/admin/tokens",
            json={"name": name, "scope": "admin:editor"},
            headers=admin_headers(),
        )
        assert_error(resp, status, code)
    assert await audit_count(svc, "token.create") == before
    # A token named after the operator who makes it is theirs: allowed.
    _, own = await svc.operators.create_token(viewer, "admin:viewer", Actor(viewer))
    assert own
    token = f"bot-{id(svc) % 100_000}"
    made = await client.post(
        "/v1/admin/tokens", json={"name": token, "scope": "grants"}, headers=admin_headers()
    )
    assert made.status_code == 201, made.text
    body = {"username": token, "password": PASSWORD, "role": "viewer"}
    resp = await client.post("/v1/admin/operators", json=body, headers=admin_headers())
    assert_error(resp, 409, "name_taken")
    listed = (await client.get("/v1/admin/operators", headers=admin_headers())).json()
    assert token not in {o["username"] for o in listed["operators"]}
