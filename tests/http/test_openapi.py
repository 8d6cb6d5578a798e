"""The OpenAPI document matches the route table, and the running server keeps
to it under schemathesis' generated requests."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from app.config import EMBEDDED_OPERATOR
from app.http.openapi import document
from app.http.routes import ENDPOINTS, ROUTES
from tests.helpers import running_server

# A fixed seed keeps CI reproducible; docs/security.md shows the larger,
# randomly seeded run to do by hand.
CI_EXAMPLES = 8  # per operation; ~90 operations × 3 callers
CI_SEED = "20261122"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def route_table() -> set[tuple[str, str]]:
    out = set()
    for route in ROUTES:
        if isinstance(route, Mount):  # the pages' static assets are not API
            assert route.path == "/static"
            continue
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        out |= {(m, path) for m in route.methods or () if m != "HEAD"}
    return out


def test_every_route_is_documented_and_nothing_else() -> None:
    doc = document(tuple(ENDPOINTS))
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert documented == route_table()
    assert len({(ep.method, ep.path) for ep in ENDPOINTS}) == len(ENDPOINTS)
    assert not any(p.startswith("/bench") for p in doc["paths"])  # the benchmark's own


def test_operations_reference_only_defined_schemas_and_say_how_they_fail() -> None:
    doc = document(tuple(ENDPOINTS))
    schemas = doc["components"]["schemas"]
    ids = set()
    for item in doc["paths"].values():
        for op in item.values():
            ids.add(op["operationId"])
            for status, response in op["responses"].items():
                assert status.isdigit()
                for content in response.get("content", {}).values():
                    ref = content["schema"].get("$ref")
                    if ref:
                        assert ref.removeprefix("#/components/schemas/") in schemas
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                name = ref.removeprefix("#/components/schemas/")
                # player bodies refuse unknown fields (no mass assignment)
                assert schemas[name].get("additionalProperties") is False, name
                assert "422" in op["responses"]
    for item in doc["paths"].values():
        for op in item.values():
            for link in op["responses"].get("201", {}).get("links", {}).values():
                assert link["operationId"] in ids
    assert len(ids) == len(ENDPOINTS)


@pytest.mark.integration
def test_the_served_document_is_the_same(artifacts: Path) -> None:
    with running_server({}, artifacts / "openapi-serve.log") as base:
        served = httpx.get(f"{base}/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/json")
    assert served.json() == document(tuple(ENDPOINTS))


def schemathesis(
    base: str, headers: list[str], examples: int, phases: str | None, *, keep_session: bool
) -> subprocess.CompletedProcess[str]:
    st = Path(sys.executable).with_name("st")
    cmd = [str(st), "run", f"{base}/openapi.json"]
    for h in headers:
        cmd += ["--header", h]
    cmd += ["--max-examples", str(examples), "--seed", CI_SEED, "--checks", CHECKS, "--no-color"]
    if phases:
        cmd += ["--phases", phases]
    if keep_session:  # signing out would leave the rest of the run unauthenticated
        cmd += ["--exclude-path", "/v1/admin/logout"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)


def credentials(base: str, who: str) -> list[str]:
    """Headers for ``who``: a player, the break-glass token, a console session,
    or an API token of one scope."""
    if who == "player":
        login = httpx.post(f"{base}/v1/auth/dev", json={"user_id": "fuzz"}, timeout=10)
        return [f"Authorization: Bearer {login.json()['token']}"]
    if who == "admin-token":
        return ["Authorization: Bearer dev-admin-token"]
    if who == "session":
        user, password = EMBEDDED_OPERATOR
        resp = httpx.post(
            f"{base}/v1/admin/login", json={"username": user, "password": password}, timeout=30
        )
        cookie = resp.cookies["redrain_session"]
        # An empty Authorization: else the fuzzer makes up a bearer, which wins.
        return [
            f"Cookie: redrain_session={cookie}",
            f"X-CSRF-Token: {resp.json()['csrf_token']}",
            "Authorization: ",
        ]
    made = httpx.post(
        f"{base}/v1/admin/tokens",
        json={"name": who.replace(":", "-"), "scope": who},
        headers={"Authorization": "Bearer dev-admin-token"},
        timeout=10,
    )
    return [f"Authorization: Bearer {made.json()['token']}"]


WHO = (
    "player",
    "admin-token",
    "session",
    "grants",
    "admin:viewer",
    "admin:editor",
    "admin:publisher",
)


@pytest.fixture(scope="module")
def fuzzed(artifacts: Path) -> Iterator[tuple[str, Path, dict[str, list[str]]]]:
    """One embedded server for every schemathesis run (its log is checked per
    run), and everyone's credentials made before any fuzzing: the fuzzer's
    wrong logins would soon throttle this address's sign-ins."""
    log = artifacts / "schemathesis-server.log"
    with running_server({}, log) as base:
        yield base, log, {who: credentials(base, who) for who in WHO}


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(
    ("who", "examples", "phases"),
    [
        ("player", CI_EXAMPLES, None),
        ("admin-token", CI_EXAMPLES, None),
        ("session", CI_EXAMPLES, None),
        # Each token scope: generated requests of every route, fewer of them.
        ("grants", 3, "examples,fuzzing"),
        ("admin:viewer", 3, "examples,fuzzing"),
        ("admin:editor", 3, "examples,fuzzing"),
        ("admin:publisher", 3, "examples,fuzzing"),
    ],
)
def test_schemathesis_finds_no_server_error_or_schema_break(
    who: str,
    examples: int,
    phases: str | None,
    fuzzed: tuple[str, Path, dict[str, list[str]]],
    artifacts: Path,
) -> None:
    base, server_log, headers = fuzzed
    start = server_log.stat().st_size
    run = schemathesis(base, headers[who], examples, phases, keep_session=who == "session")
    (artifacts / f"schemathesis-{who.replace(':', '-')}.log").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-6000:]
    assert re.search(r"\d+ generated, \d+ passed", run.stdout), run.stdout[-2000:]
    with server_log.open() as f:
        f.seek(start)
        text = f.read()
    assert "Traceback" not in text, text[-4000:]
