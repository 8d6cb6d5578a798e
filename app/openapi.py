"""The OpenAPI 3.1 document served at ``/openapi.json``.

Request bodies come from the same pydantic models the routes validate with;
responses are described here. ``tests/test_openapi.py`` keeps this and the
route table in step, and schemathesis checks the running server against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app import __version__
from app.activity import ActivityConfig
from app.api import (
    BlacklistBody,
    DevLoginBody,
    DrawBody,
    GrantBody,
    LotteryBody,
    TopUpBody,
    WechatBody,
)

Schema = dict[str, Any]

ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "next_round_start": {"type": "string"},
            },
        },
        "next_round_start": {"type": "string"},
    },
}


def obj(required: list[str], **props: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": props}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
ROW_ID: Schema = {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}  # api.RowId
OBJECT: Schema = {"type": "object"}
PRIZE = obj(
    ["key", "type", "name", "value"], key=STR, type=STR, name=nullable(STR), value=nullable(STR)
)
ROUND = obj(
    ["round_id", "start", "end", "seed_hash"], round_id=STR, start=STR, end=STR, seed_hash=STR
)
DRAW = obj(
    ["draw_id", "round_id", "won", "prize", "remaining", "proof"],
    draw_id=STR,
    round_id=STR,
    won=BOOL,
    prize=nullable(PRIZE),
    remaining=obj(
        ["round", "day", "total"], round=nullable(INT), day=nullable(INT), total=nullable(INT)
    ),
    proof=obj(
        ["seed_hash", "client_seed", "nonce", "random"],
        seed_hash=STR,
        client_seed=STR,
        nonce=INT,
        random=STR,
    ),
)
ACTIVITY = obj(
    ["id", "status", "version", "name", "kind"], id=INT, status=STR, version=INT, name=STR, kind=STR
)
PUBLIC_ACTIVITY = obj(
    ["id", "name", "kind", "status", "sessions", "current_round", "next_round", "server_time"],
    id=INT,
    name=STR,
    kind=STR,
    status=STR,
    sessions={"type": "array"},
    current_round=nullable(ROUND),
    next_round=nullable(ROUND),
    server_time=STR,
    remaining=obj(["round", "day", "total", "wins"]),
)
HISTORY = obj(
    ["draw_id", "activity_id", "round_id", "won", "prize", "drawn_at"], draw_id=STR, won=BOOL
)
WINNER = obj(["draw_id", "round_id", "user_id", "prize_key", "drawn_at"], draw_id=STR, user_id=STR)
LOTTERY = obj(
    ["id", "title", "draw_at", "prize", "status", "status_code", "participants", "seed_hash"],
    id=INT,
    title=STR,
    status={"enum": ["open", "drawing", "drawn", "canceled"]},
    status_code={"enum": [0, 1, 2, 9]},
    participants=INT,
)
GRANT = obj(
    ["grant_id", "user_id", "activity_id", "amount", "reference", "used", "draw_id"],
    grant_id=STR,
    user_id=STR,
    activity_id=INT,
    amount=INT,
    reference=STR,
    created_at=nullable(STR),
    used=BOOL,
    draw_id=nullable(STR),
)
TOKEN = obj(["token", "user_id", "expires_in"], token=STR, user_id=STR, expires_in=INT)


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    auth: str  # none | player | admin | optional
    ok: int = 200
    response: Schema | None = field(default_factory=lambda: OBJECT)
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, Schema], ...] = ()
    media: str = "application/json"


BODY_ERRORS = (400, 413, 422)
LIST_QUERY = (("limit", INT), ("cursor", STR))

OPS: tuple[Op, ...] = (
    Op("GET", "/healthz", "Liveness", "none", response=obj(["status"], status=STR)),
    Op("GET", "/readyz", "Readiness: Redis and the database answer", "none", errors=(503,)),
    Op("GET", "/openapi.json", "This document", "none"),
    Op(
        "GET",
        "/metrics",
        "Prometheus metrics (restrict to the monitoring network)",
        "none",
        response=STR,
        errors=(503,),
        media="text/plain",
    ),
    Op("GET", "/console", "The operator console (HTML)", "none", response=STR, media="text/html"),
    Op(
        "GET",
        "/rain/{id}",
        "The player's red-envelope rain page (HTML)",
        "none",
        response=STR,
        errors=(404,),
        media="text/html",
    ),
    Op(
        "POST",
        "/v1/auth/dev",
        "A token for any user id (dev login only)",
        "none",
        response=TOKEN,
        body=DevLoginBody,
        errors=(404, *BODY_ERRORS),
    ),
    Op(
        "POST",
        "/v1/auth/wechat",
        "Exchange a mini-program login code",
        "none",
        response=TOKEN,
        body=WechatBody,
        errors=(401, 404, 429, 502, 503, *BODY_ERRORS),
    ),
    Op(
        "POST",
        "/v1/draw",
        "One draw",
        "player",
        response=DRAW,
        body=DrawBody,
        errors=(403, 404, 409, 429, 503, *BODY_ERRORS),
    ),
    Op(
        "GET",
        "/v1/activities/{id}",
        "Public rules, odds, rounds, remaining chances",
        "optional",
        response=PUBLIC_ACTIVITY,
        errors=(404, 503),
    ),
    Op(
        "GET",
        "/v1/rounds/{round_id}",
        "A round: status, seed hash, seed and winners once ended",
        "none",
        errors=(404, 503),
    ),
    Op(
        "GET",
        "/v1/me/draws",
        "The caller's draws, newest first",
        "player",
        response=obj(
            ["draws", "next_cursor"],
            draws={"type": "array", "items": HISTORY},
            next_cursor=nullable(STR),
        ),
        errors=(422, 503),
        query=(("activity_id", INT), *LIST_QUERY),
    ),
    Op(
        "GET",
        "/v1/me/grants",
        "The caller's grants (draw chances), newest first",
        "player",
        response=obj(["grants"], grants={"type": "array", "items": GRANT}),
        errors=(422, 503),
        query=(("activity_id", INT), ("limit", INT)),
    ),
    Op(
        "GET",
        "/v1/me/grants/{grant_id}",
        "One of the caller's grants (another user's is 404)",
        "player",
        response=GRANT,
        errors=(404, 503),
    ),
    Op(
        "GET",
        "/v1/me/notifications",
        "The caller's notifications, newest first",
        "player",
        response=obj(
            ["notifications", "next_cursor"],
            notifications={"type": "array"},
            next_cursor=nullable(STR),
        ),
        errors=(422, 503),
        query=LIST_QUERY,
    ),
    Op(
        "POST",
        "/v1/lotteries",
        "Create a scheduled lottery",
        "player",
        ok=201,
        response=LOTTERY,
        body=LotteryBody,
        errors=(503, *BODY_ERRORS),
    ),
    Op(
        "GET",
        "/v1/lotteries/{id}",
        "A scheduled lottery",
        "optional",
        response=LOTTERY,
        errors=(404, 503),
    ),
    Op(
        "DELETE",
        "/v1/lotteries/{id}",
        "Delete (creator; canceled or empty)",
        "player",
        ok=204,
        response=None,
        errors=(404, 409, 503),
    ),
    Op(
        "POST",
        "/v1/lotteries/{id}/join",
        "Join while open",
        "player",
        response=LOTTERY,
        errors=(404, 409, 503),
    ),
    Op(
        "DELETE",
        "/v1/lotteries/{id}/join",
        "Leave while open",
        "player",
        response=LOTTERY,
        errors=(404, 409, 503),
    ),
    Op(
        "POST",
        "/v1/lotteries/{id}/cancel",
        "Cancel (creator, while open)",
        "player",
        response=LOTTERY,
        errors=(404, 409, 503),
    ),
    Op(
        "POST",
        "/v1/grants",
        "Issue a draw chance (trusted backend)",
        "admin",
        ok=201,
        response=GRANT,
        body=GrantBody,
        errors=(404, 409, 503, *BODY_ERRORS),
    ),
    Op(
        "GET",
        "/v1/admin/activities",
        "Activities, newest first",
        "admin",
        response=obj(["activities"], activities={"type": "array", "items": ACTIVITY}),
        errors=(422, 503),
        query=(("limit", INT), ("offset", INT)),
    ),
    Op(
        "POST",
        "/v1/admin/activities",
        "Create an activity",
        "admin",
        ok=201,
        response=ACTIVITY,
        body=ActivityConfig,
        errors=(503, *BODY_ERRORS),
    ),
    Op(
        "GET",
        "/v1/admin/activities/{id}",
        "An activity",
        "admin",
        response=ACTIVITY,
        errors=(404, 503),
    ),
    Op(
        "PUT",
        "/v1/admin/activities/{id}",
        "Replace an activity (before it starts)",
        "admin",
        response=ACTIVITY,
        body=ActivityConfig,
        errors=(404, 409, 503, *BODY_ERRORS),
    ),
    Op(
        "POST",
        "/v1/admin/activities/{id}/publish",
        "Load rounds, stock, odds and seeds into Redis",
        "admin",
        errors=(404, 422, 503),
    ),
    Op(
        "POST",
        "/v1/admin/activities/{id}/stock",
        "Top up a round",
        "admin",
        body=TopUpBody,
        errors=(404, 409, 503, *BODY_ERRORS),
    ),
    Op(
        "GET",
        "/v1/admin/activities/{id}/stats",
        "Stock, wins, draws and users per round",
        "admin",
        errors=(404, 422, 503),
        query=(("round", STR), ("limit", INT)),
    ),
    Op(
        "GET",
        "/v1/admin/activities/{id}/winners",
        "Winners export",
        "admin",
        response=obj(["winners", "next_cursor"], winners={"type": "array", "items": WINNER}),
        errors=(404, 422, 503),
        query=(("format", {"enum": ["json", "csv"]}), ("round", STR), *LIST_QUERY),
    ),
    Op(
        "GET",
        "/v1/admin/blacklist",
        "Blacklisted users and IPs",
        "admin",
        response=obj(["entries"], entries={"type": "array"}),
        errors=(503,),
    ),
    Op(
        "POST",
        "/v1/admin/blacklist",
        "Blacklist a user or an IP",
        "admin",
        ok=201,
        body=BlacklistBody,
        errors=(503, *BODY_ERRORS),
    ),
    Op(
        "DELETE",
        "/v1/admin/blacklist/{kind}/{value}",
        "Lift a blacklist entry",
        "admin",
        ok=204,
        response=None,
        errors=(404, 503),
    ),
    Op(
        "POST",
        "/bench/draw-baseline",
        "Benchmark only: the draw through redis-py (404 unless enabled)",
        "player",
        response=DRAW,
        body=DrawBody,
        errors=(403, 404, 409, 429, 503, *BODY_ERRORS),
    ),
)


def _operation_id(method: str, path: str) -> str:
    return method.lower() + re.sub(r"[/{}]+", "_", path).rstrip("_")


def _link_created(paths: dict[str, Any]) -> None:
    """A 201 whose body carries ``id`` links to every operation under
    ``<path>/{id}``, so stateful tests reach objects that really exist."""
    for op in OPS:
        if op.ok != 201 or "id" not in (op.response or {}).get("properties", {}):
            continue
        links = {
            _operation_id(other.method, other.path): {
                "operationId": _operation_id(other.method, other.path),
                "parameters": {"id": "$response.body#/id"},
            }
            for other in OPS
            if other.path.startswith(op.path + "/{id}")
        }
        paths[op.path][op.method.lower()]["responses"]["201"]["links"] = links


def _path_params(path: str) -> list[Schema]:
    out = []
    for part in path.split("/"):
        if part.startswith("{"):
            name = part.strip("{}")
            schema = ROW_ID if name == "id" else STR
            out.append({"name": name, "in": "path", "required": True, "schema": schema})
    return out


@cache
def document() -> dict[str, Any]:
    models = sorted({op.body for op in OPS if op.body is not None}, key=lambda m: m.__name__)
    _, defs = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Error"] = ERROR
    paths: dict[str, Any] = {}
    for op in OPS:
        responses: dict[str, Any] = {}
        if op.response is None:
            responses[str(op.ok)] = {"description": "done"}
        else:
            content = {op.media: {"schema": op.response}}
            if op.path.endswith("/winners"):
                content["text/csv"] = {"schema": STR}
            responses[str(op.ok)] = {"description": "ok", "content": content}
            if op.ok == 201 and op.path in ("/v1/grants", "/v1/admin/blacklist"):
                responses["200"] = {"description": "already existed", "content": content}
        statuses = set(op.errors) | {405}
        if op.auth in ("player", "admin", "optional"):
            statuses |= {401, 403}
        for status in sorted(statuses):
            responses[str(status)] = {
                "description": "error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        params = _path_params(op.path) + [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in op.query
        ]
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": _operation_id(op.method, op.path),
            "responses": responses,
        }
        if params:
            entry["parameters"] = params
        if op.auth in ("player", "admin"):
            entry["security"] = [{"bearer": []}]
        elif op.auth == "optional":
            entry["security"] = [{"bearer": []}, {}]
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}
                    }
                },
            }
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    _link_created(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "redrain",
            "version": __version__,
            "description": "High-concurrency prize draws. Errors are "
            '{"error": {"code", "message"}}; see docs/api.md.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A player token, or the admin token on /v1/admin and /v1/grants",
                }
            },
        },
    }
