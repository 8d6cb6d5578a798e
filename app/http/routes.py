"""The route table: every audience's endpoints, and this API's own document."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from app.http import admin, login, operators, ops, pages, players, public, support
from app.http.endpoint import Endpoint, Endpoints, route
from app.http.errors import JSON
from app.http.openapi import document

endpoint = Endpoints()


@endpoint("GET", "/openapi.json", "This document")
async def openapi(request: Request) -> Response:
    return JSON(document(tuple(ENDPOINTS)))


# Starlette tries routes in order: the busiest first (POST /v1/draw is
# normally served before the router by ``DrawFastPath``).
ENDPOINTS: list[Endpoint] = [
    *ops.endpoint.all,
    *players.endpoint.all,
    *public.endpoint.all,
    *login.endpoint.all,
    *endpoint.all,
    *pages.endpoint.all,
    *admin.endpoint.all,
    *support.endpoint.all,
    *operators.endpoint.all,
]
ROUTES: list[BaseRoute] = [*(route(ep) for ep in ENDPOINTS), pages.ASSETS]
