"""Endpoints: a handler with everything a client needs to know about it.

Each audience's module (``ops``, ``login``, ``players``, ``public``,
``admin``, ``operators``, ``pages``) declares its endpoints with
:class:`Endpoints`; the route table (``app.http.routes``) turns them into
Starlette routes, and ``app.http.openapi`` writes ``/openapi.json`` from the
very same list, so the document cannot describe a route that does not exist
or miss one that does. An operator route names what it needs (``can``): the
endpoint checks it before its handler runs, and docs/security.md's route ×
role table is checked against the same field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.domain.audit import Actor
from app.domain.errors import Unauthorized
from app.domain.operators import Can, Operator
from app.http.bodies import ROW_ID, require_json
from app.http.client_ip import client_ip
from app.services.container import Services

Handler = Callable[[Request], Awaitable[Response]]
SESSION_COOKIE = "redrain_session"
DEVICE_COOKIE = "redrain_device"
CSRF_HEADER = "x-csrf-token"
BODY_ERRORS = (400, 413, 415, 422)  # what any route with a JSON body may answer
Who = Literal["none", "player", "operator", "optional"]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # Starlette syntax: "/v1/lotteries/{id:rowid}"
    handler: Handler
    summary: str
    auth: Who = "none"
    ok: int = 200
    response: Any = dict  # a TypedDict (or Annotated one), str for text, None for no body
    media: str = "application/json"
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, Any], ...] = ()  # (name, type)
    existed: bool = False  # a 201 route that answers 200 when the thing already existed
    csv: bool = False  # also answers text/csv
    can: Can | None = None  # an operator route: what the caller must be allowed

    @property
    def private(self) -> bool:
        """Whether its answers depend on who asks (a token, a session, or
        credentials being handed out): sent ``Cache-Control: no-store``."""
        return self.auth != "none" or self.method != "GET"


class Endpoints:
    """One audience's endpoints, declared where their handlers are."""

    def __init__(self) -> None:
        self.all: list[Endpoint] = []

    def __call__(
        self, method: str, path: str, summary: str, **meta: Any
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            can: Can | None = meta.get("can")
            typed = handler
            if method != "GET" and meta.get("body") is None:
                typed = _no_foreign_body(handler)
                meta["errors"] = tuple(sorted({*meta.get("errors", ()), 415}))
            guarded = typed if can is None else _guard(typed, can)
            self.all.append(Endpoint(method, path, guarded, summary, **meta))
            return handler

        return register


def _no_foreign_body(handler: Handler) -> Handler:
    """A route that reads no body still refuses one of another type (SPEC §3:
    a body whose Content-Type is present and not JSON is 415), as the routes
    that read one do: a form posted at a publish is not a publish."""

    async def typed(request: Request) -> Response:
        headers = request.headers
        kind = headers.get("content-type")
        if kind is not None and (
            headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        ):
            require_json(kind)
        return await handler(request)

    return typed


def _guard(handler: Handler, can: Can) -> Handler:
    """The handler, after the caller proved to be an operator allowed ``can``."""

    async def guarded(request: Request) -> Response:
        op = await operator(request)
        op.require(can)
        request.state.actor = Actor(op.actor, client_ip(request.scope), op.owner)
        request.state.operator = op
        return await handler(request)

    return guarded


async def operator(request: Request) -> Operator:
    """Who is calling an operator route: a bearer (the break-glass admin token
    or an API token), else the console session cookie (whose writes need the
    X-CSRF-Token header)."""
    s = services(request)
    bearer = authorization(request)
    if bearer:
        return await s.operators.from_bearer(bearer)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        write = request.method not in ("GET", "HEAD", "OPTIONS")
        return await s.operators.from_session(
            cookie, write=write, csrf=request.headers.get(CSRF_HEADER)
        )
    raise Unauthorized("sign in, or send an API token (Authorization: Bearer)")


def actor(request: Request) -> Actor:
    """The operator a guarded endpoint checked, as the audit trail names it."""
    found: Actor = request.state.actor
    return found


class EndpointRoute(Route):
    """A Starlette route that knows whether its answers are private
    (``app.http.middleware.Outcomes`` reads it)."""

    def __init__(self, ep: Endpoint) -> None:
        super().__init__(ep.path, ep.handler, methods=[ep.method])
        self.private = ep.private


def route(ep: Endpoint) -> Route:
    return EndpointRoute(ep)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def authorization(request: Request) -> str | None:
    return request.headers.get("authorization")


def as_player(request: Request) -> tuple[Services, str]:
    """The services and the calling player's user id."""
    s = services(request)
    return s, s.auth.require_user(authorization(request))


class RowId(Convertor[int]):
    """Database ids: at most 18 digits so every match fits a signed BIGINT;
    longer numbers fall through to the router's 404."""

    regex = ROW_ID.pattern

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("rowid", RowId())
