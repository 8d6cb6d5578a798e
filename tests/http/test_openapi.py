"""The OpenAPI document matches the route table, and the running server keeps
to it under schemathesis' generated requests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from app.http.openapi import document
from app.http.routes import ENDPOINTS, ROUTES
from tests.helpers import running_server

# A fixed seed keeps CI reproducible; docs/security.md shows the larger,
# randomly seeded run to do by hand.
CI_EXAMPLES = 10
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


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("who", ["player", "admin"])
def test_schemathesis_finds_no_server_error_or_schema_break(who: str, artifacts: Path) -> None:
    st = Path(sys.executable).with_name("st")
    log = artifacts / f"schemathesis-{who}.log"
    with running_server({}, artifacts / f"schemathesis-{who}-server.log") as base:
        if who == "admin":
            token = "dev-admin-token"
        else:
            login = httpx.post(f"{base}/v1/auth/dev", json={"user_id": "fuzz"}, timeout=10)
            token = login.json()["token"]
        run = subprocess.run(
            [
                str(st),
                "run",
                f"{base}/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--max-examples",
                str(CI_EXAMPLES),
                "--seed",
                CI_SEED,
                "--checks",
                CHECKS,
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        server_log = (artifacts / f"schemathesis-{who}-server.log").read_text()
    log.write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-6000:]
    assert re.search(r"\d+ generated, \d+ passed", run.stdout), run.stdout[-2000:]
    assert "Traceback" not in server_log, server_log[-4000:]
