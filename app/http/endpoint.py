"""Endpoints: a handler with everything a client needs to know about it.

Each audience's module (``ops``, ``login``, ``players``, ``public``,
``admin``, ``pages``) declares its endpoints with :class:`Endpoints`; the
route table (``app.http.routes``) turns them into Starlette routes, and
``app.http.openapi`` writes ``/openapi.json`` from the very same list, so the
document cannot describe a route that does not exist or miss one that does.
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

from app.http.bodies import ROW_ID
from app.services.container import Services

Handler = Callable[[Request], Awaitable[Response]]
BODY_ERRORS = (400, 413, 422)  # what any route with a JSON body may answer
Who = Literal["none", "player", "admin", "optional"]


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


class Endpoints:
    """One audience's endpoints, declared where their handlers are."""

    def __init__(self) -> None:
        self.all: list[Endpoint] = []

    def __call__(
        self, method: str, path: str, summary: str, **meta: Any
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.all.append(Endpoint(method, path, handler, summary, **meta))
            return handler

        return register


def route(ep: Endpoint) -> Route:
    return Route(ep.path, ep.handler, methods=[ep.method])


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def authorization(request: Request) -> str | None:
    return request.headers.get("authorization")


def as_admin(request: Request) -> Services:
    """The services, once the caller proved to be the admin (or a trusted backend)."""
    s = services(request)
    s.auth.require_admin(authorization(request))
    return s


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
