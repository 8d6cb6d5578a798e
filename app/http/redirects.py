"""Trailing-slash redirects with a relative ``Location``.

Starlette's router answers ``/console/`` with a 307 to the same URL without
the slash, built from the request's ``Host`` header: ``Host: evil.example``
made it ``http://evil.example/console``, which a cache or a proxy that
forwards any Host can hand to other people. redrain turns that off and
redirects here instead, to a path alone (RFC 9110 §10.2.2 allows a relative
reference), so no header of the request ever reaches the ``Location``.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

# What may stay as it is in a path (RFC 3986 pchar and "/"); the rest is escaped.
_SAFE = "/!$&'()*+,;=:@-._~"


def relative_location(path: str, query: bytes) -> str | None:
    """A ``Location`` for ``path`` (and the query) that names no host, or None
    when the path would read as one (``//evil.example`` is scheme-relative)."""
    if path.startswith(("//", "/\\")) or not path.startswith("/"):
        return None
    location = quote(path, safe=_SAFE)
    return f"{location}?{query.decode('latin-1')}" if query else location


class SlashRedirect:
    """The router's default app: a path that matches a route only with (or
    without) a trailing slash gets a 307 there; anything else is ``fallback``."""

    def __init__(self, routes: Sequence[BaseRoute], fallback: ASGIApp) -> None:
        self.routes = routes
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path not in ("", "/"):
            other = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
            if any(route.matches(other)[0] is not Match.NONE for route in self.routes):
                location = relative_location(other["path"], scope.get("query_string", b""))
                if location is not None:
                    await RedirectResponse(location)(scope, receive, send)
                    return
        await self.fallback(scope, receive, send)
