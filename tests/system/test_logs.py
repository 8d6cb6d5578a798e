"""``REDRAIN_LOG_FORMAT=json`` and ``REDRAIN_ACCESS_LOG``: from a player's
complaint (the request id their app saw) to the draw's log line and
``draw_id``, across every process of ``redrain serve --workers 2``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import orjson
import pytest

from app.domain import tokens
from tests.conftest import flush_real_redis
from tests.helpers import (
    ADMIN,
    DAY,
    SECRET,
    local,
    offset_to,
    prize,
    production_env,
    rain,
    running_server,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_every_line_is_json_and_the_complaint_finds_its_draw(
    mariadb_url: str, artifacts: Path
) -> None:
    await flush_real_redis()
    env = production_env(
        mariadb_url,
        clock_offset=str(offset_to(local(DAY, 10, 5))),
        log_format="json",
        access_log="true",
    )
    admin = {"Authorization": f"Bearer {ADMIN}"}
    log = artifacts / "server-json-logs.log"
    with running_server(env, log, workers=2) as base:
        async with httpx.AsyncClient(base_url=base) as c:
            made = await c.post(
                "/v1/admin/activities", json=rain([prize("c2", 5, 1.0)]), headers=admin
            )
            aid = made.json()["id"]
            published = await c.post(f"/v1/admin/activities/{aid}/publish", headers=admin)
            assert published.status_code == 200
            token = tokens.issue(SECRET.encode(), "ann", int(time.time()) + 600)
            player = {"Authorization": f"Bearer {token}"}
            drawn = await c.post(
                "/v1/draw",
                json={"activity_id": aid},
                headers={**player, "X-Request-Id": "complaint-42"},
            )
            assert drawn.status_code == 200 and drawn.headers["x-request-id"] == "complaint-42"
            refused = await c.post("/v1/draw", json={"activity_id": aid})  # no token
            assert refused.status_code == 401
            named = refused.headers["x-request-id"]
            for _ in range(100):  # both workers log: the line reaches the file within a moment
                if named in log.read_text():
                    break
                await asyncio.sleep(0.1)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    objects = [orjson.loads(line) for line in lines]  # every line, or this fails
    assert all({"time", "level", "logger", "message"} <= set(o) for o in objects)
    # uvicorn's own lines, from the parent and each worker process, are JSON too.
    started = [o for o in objects if o["logger"] == "uvicorn.error" and "Started" in o["message"]]
    assert len(started) >= 2, started
    (line,) = [o for o in objects if o.get("request_id") == "complaint-42"]
    assert line["logger"] == "redrain.access" and line["status"] == 200
    assert line["draw_ids"] == [drawn.json()["draw_id"]] and line["route"] == "/v1/draw"
    (other,) = [o for o in objects if o.get("request_id") == named]
    assert other["status"] == 401 and other["code"] == "unauthorized"
