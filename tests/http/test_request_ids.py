"""Every answer is named (``X-Request-Id``), every line logged for it carries
the name, and the access log ties it to the draw's ids (issue 28, logs)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import select
from pathlib import Path
from typing import Any

import orjson
import pytest

from app import logs
from app.services.container import Services
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, offset_to, prize, rain
from tests.http.test_http import Http, bearer, setup


async def test_every_answer_is_named_and_a_callers_sane_name_is_kept(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid = await setup(make_service, http, rain([prize("c2", 9, 1.0)]), local(DAY, 10, 5))
    answers = [
        await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("n1")),  # fast path
        await client.post("/v1/draw", json={"activity_id": aid}),  # fast path refusal
        await client.get(f"/v1/activities/{aid}"),  # the router
        await client.get("/v1/no-such-route"),  # no route
        await client.get("/healthz"),
    ]
    assert [r.status_code for r in answers] == [200, 401, 200, 404, 200]
    ids = [r.headers["x-request-id"] for r in answers]
    assert len(set(ids)) == len(ids) and all(ids)
    mine = await client.get("/healthz", headers={"X-Request-Id": "gw-7f3a:01.b_c"})
    assert mine.headers["x-request-id"] == "gw-7f3a:01.b_c"
    for insane in ("x" * 65, "a b", "a/b", ""):
        resp = await client.get("/healthz", headers={"X-Request-Id": insane})
        assert resp.headers["x-request-id"] not in (insane, "")  # replaced, never echoed


def test_made_ids_do_not_repeat() -> None:
    made = {logs.request_id(None) for _ in range(10_000)}
    assert len(made) == 10_000


async def access_logged(
    make_service: ServiceFactory, http: Http, out: Path, fmt: str = "json"
) -> tuple[Any, int]:
    """A client on an app with the access log on, its lines going to ``out``."""
    svc: Services = make_service(offset_to(local(DAY, 10, 5)))
    svc.settings = svc.settings.model_copy(update={"access_log": True, "log_format": fmt})
    client = http(svc)
    access: logs.AccessLog = client._transport.app.state.access_log  # type: ignore[attr-defined]
    access.fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    resp = await client.post(
        "/v1/admin/activities", json=rain([prize("c2", 9, 1.0)]), headers=admin_headers()
    )
    aid = resp.json()["id"]
    await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
    return client, aid


def lines_of(client: Any, out: Path) -> list[str]:
    access: logs.AccessLog = client._transport.app.state.access_log
    access.flush()
    os.close(access.fd)
    return out.read_text().splitlines()


def line_of(lines: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    """The one access-log line of this request."""
    found = [line for line in lines if line["request_id"] == request_id]
    assert len(found) == 1, f"{len(found)} log lines for {request_id}"
    return found[0]


async def test_the_access_log_ties_the_request_id_to_the_draw_ids(
    make_service: ServiceFactory, http: Http, tmp_path: Path
) -> None:
    out = tmp_path / "access.log"
    client, aid = await access_logged(make_service, http, out)
    one = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("a1"))
    many = await client.post(
        "/v1/draw", json={"activity_id": aid, "count": 2}, headers=bearer("a2")
    )
    refused = await client.post("/v1/draw", json={"activity_id": aid})
    page = await client.get(f"/v1/activities/{aid}")
    assert [r.status_code for r in (one, many, refused, page)] == [200, 200, 401, 200]
    lines = [orjson.loads(line) for line in lines_of(client, out)]

    line = line_of(lines, one.headers["x-request-id"])
    assert line["logger"] == logs.ACCESS and line["message"] == "POST /v1/draw 200"
    assert line["draw_ids"] == [one.json()["draw_id"]] and line["won"] == 1
    assert line["route"] == "/v1/draw" and line["duration_ms"] >= 0 and line["level"] == "INFO"
    assert line["time"].endswith("+00:00")
    batch = line_of(lines, many.headers["x-request-id"])
    assert batch["draw_ids"] == [d["draw_id"] for d in many.json()["draws"]]
    assert line_of(lines, refused.headers["x-request-id"])["code"] == "unauthorized"
    read = line_of(lines, page.headers["x-request-id"])
    assert read["route"] == "/v1/activities/{id}" and "draw_ids" not in read


async def test_the_text_access_log_says_the_same_in_one_line(
    make_service: ServiceFactory, http: Http, tmp_path: Path
) -> None:
    out = tmp_path / "access.log"
    client, aid = await access_logged(make_service, http, out, fmt="text")
    one = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("t1"))
    rid, draw_id = one.headers["x-request-id"], one.json()["draw_id"]
    (line,) = [line for line in lines_of(client, out) if rid in line]
    assert " INFO    redrain.access: POST /v1/draw 200 " in line
    assert f"draw_ids={draw_id} won=1" in line and line.endswith(f"[request {rid}]")


async def test_lines_are_held_then_written_whole_in_chunks_a_pipe_keeps_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "access.log"
    access = logs.AccessLog("json", os.open(out, os.O_WRONLY | os.O_CREAT))
    access.FLUSH_EVERY = 0.05
    writes: list[bytes] = []
    real = logs._write_all

    def counted(fd: int, data: bytes) -> None:
        writes.append(bytes(data))
        real(fd, data)

    monkeypatch.setattr(logs, "_write_all", counted)
    n = 300
    for i in range(n):
        access.write("GET /healthz 200", {"request_id": f"r{i}", "pad": "x" * 40})
    assert writes == [] and len(access.held) == n  # held while the loop runs
    await asyncio.sleep(0.2)
    os.close(access.fd)
    assert access.held == [] and len(writes) > 1
    assert all(len(w) <= select.PIPE_BUF and w.endswith(b"\n") for w in writes)
    lines = out.read_text().splitlines()
    assert [orjson.loads(line)["request_id"] for line in lines] == [f"r{i}" for i in range(n)]


@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_a_line_logged_while_serving_carries_the_request_id(
    make_service: ServiceFactory, http: Http, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Through the handler and format the server configures (app/logs.py)."""
    client, aid = await setup(make_service, http, rain([prize("c2", 9, 1.0)]), local(DAY, 10, 5))
    svc: Services = client._transport.app.state.services  # type: ignore[attr-defined]

    async def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(svc.draws, "draw", broken)
    out = io.StringIO()
    logger = logging.getLogger("redrain")
    handler = logs.handler(fmt, out)
    logger.addHandler(handler)
    try:
        resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("b1"))
        logging.getLogger("redrain.test").warning("outside any request")
    finally:
        logger.removeHandler(handler)
    assert resp.status_code == 500
    rid = resp.headers["x-request-id"]
    lines = out.getvalue().splitlines()
    if fmt == "json":
        objects = [orjson.loads(line) for line in lines if line.startswith("{")]
        (error,) = [o for o in objects if o["level"] == "ERROR"]
        assert error["request_id"] == rid and error["logger"] == "redrain.http"
        assert "KeyError" in error["exc_info"] and error["time"].endswith("+00:00")
        assert objects[-1]["message"] == "outside any request"
        assert objects[-1]["request_id"] is None
        assert all("request_tag" not in o for o in objects)
    else:
        assert lines[0].endswith(f"[request {rid}]") and "ERROR" in lines[0]
        assert lines[-1].endswith("redrain.test: outside any request")
