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
    base: str, headers: list[str], examples: int, phases: str | None, only: list[str]
) -> subprocess.CompletedProcess[str]:
    st = Path(sys.executable).with_name("st")
    cmd = [str(st), "run", f"{base}/openapi.json", *only]
    for h in headers:
        cmd += ["--header", h]
    cmd += ["--max-examples", str(examples), "--seed", CI_SEED, "--checks", CHECKS, "--no-color"]
    if phases:
        cmd += ["--phases", phases]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)


def only_401_403(stdout: str) -> set[str]:
    """The operations a run's every answer to was 401 or 403 (schemathesis'
    "Authentication failed" warning lists them)."""
    block = stdout.partition("Authentication failed")[2].partition("\N{ELECTRIC LIGHT BULB}")[0]
    return set(re.findall(r"^\s+- ([A-Z]+ \S+)$", block, re.MULTILINE))


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


# Which operations each caller fuzzes. A player's token opens no operator
# route (401 before anything else), and an operator's credentials no player
# route: fuzzing those only repeats the refusal, which the tests of auth check.
PLAYER_ROUTES = ["--exclude-path-regex", "^/v1/(admin/(?!login$)|grants$)"]
OPERATOR_ROUTES = ["--include-path-regex", "^/v1/(admin/|grants$)"]
# Not in a console session's run: signing out or disabling its own operator
# would leave the rest of the run unauthenticated.
SESSION_ROUTES = [
    *OPERATOR_ROUTES,
    "--exclude-path-regex",
    "^/v1/admin/(logout|operators/\\{username\\}/disable)$",
]

# Per caller: an operation it must reach (else its credentials did not work,
# and the run fuzzed only refusals) and one its role must be refused (403);
# the latter without a path parameter, which the router may refuse first (404).
REACHES = {
    "player": ("GET /v1/me/draws", None),
    "admin-token": ("GET /v1/admin/operators", None),
    "session": ("GET /v1/admin/operators", None),
    "grants": ("POST /v1/grants", "GET /v1/admin/activities"),
    "admin:viewer": ("GET /v1/admin/activities", "POST /v1/admin/blacklist"),
    "admin:editor": ("POST /v1/admin/blacklist", "GET /v1/admin/operators"),
    "admin:publisher": ("POST /v1/admin/activities/{id}/pause", "GET /v1/admin/operators"),
}


@pytest.fixture
def fuzzed(
    request: pytest.FixtureRequest, artifacts: Path
) -> Iterator[tuple[str, Path, list[str]]]:
    """A fresh embedded server for each run (its log is checked), its caller's
    credentials made before any fuzzing: an operator run's fuzzing disables
    operators and ends sessions (found through the operator list), and its
    wrong logins would soon throttle this address's sign-ins."""
    who = request.node.callspec.params["who"]
    log = artifacts / f"schemathesis-server-{who.replace(':', '-')}.log"
    log.unlink(missing_ok=True)
    with running_server({}, log) as base:
        yield base, log, credentials(base, who)


RUNS = [
    ("player", CI_EXAMPLES, None, PLAYER_ROUTES),
    ("admin-token", CI_EXAMPLES, None, OPERATOR_ROUTES),
    # A console session: the admin token's role and routes, so fewer requests;
    # what differs (the cookie, CSRF) is the same on every route.
    ("session", 3, "examples,fuzzing", SESSION_ROUTES),
    # Each token scope: generated requests of every route, fewer of them.
    ("grants", 3, "examples,fuzzing", OPERATOR_ROUTES),
    ("admin:viewer", 3, "examples,fuzzing", OPERATOR_ROUTES),
    ("admin:editor", 3, "examples,fuzzing", OPERATOR_ROUTES),
    ("admin:publisher", 3, "examples,fuzzing", OPERATOR_ROUTES),
]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(
    ("who", "examples", "phases", "only"), [pytest.param(*run, id=run[0]) for run in RUNS]
)
def test_schemathesis_finds_no_server_error_or_schema_break(
    who: str,
    examples: int,
    phases: str | None,
    only: list[str],
    fuzzed: tuple[str, Path, list[str]],
    artifacts: Path,
) -> None:
    base, server_log, headers = fuzzed
    run = schemathesis(base, headers, examples, phases, only)
    (artifacts / f"schemathesis-{who.replace(':', '-')}.log").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-6000:]
    assert re.search(r"\d+ generated, \d+ passed", run.stdout), run.stdout[-2000:]
    refused = only_401_403(run.stdout)
    reaches, fenced = REACHES[who]
    assert reaches not in refused, f"{who}'s credentials did not work: {sorted(refused)}"
    assert fenced is None or fenced in refused, (who, sorted(refused))
    text = server_log.read_text()
    assert "Traceback" not in text, text[-4000:]
