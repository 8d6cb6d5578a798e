"""The Starlette app around a :class:`~app.services.container.Services`.

Connecting Redis and the database, and running the embedded worker, is the
composition root's job (``app.application``); this module only builds the
HTTP edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from app import logs
from app.config import Settings
from app.http.admission import Admission
from app.http.client_ip import ClientIp
from app.http.errors import EXCEPTION_HANDLERS
from app.http.fastpath import DrawFastPath
from app.http.middleware import Outcomes
from app.http.redirects import SlashRedirect
from app.http.routes import ROUTES
from app.http.shedding import Shedder
from app.services.container import Services

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def build(
    settings: Settings,
    *,
    services: Services | None = None,
    lifespan: Lifespan | None = None,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The app; with ``services`` given they are used as they are (tests, the
    caller owns their connections), otherwise ``lifespan`` must set
    ``app.state.services``. ``routes`` are added before the route table's."""
    access_log = logs.AccessLog(settings.log_format) if settings.access_log else None
    app = Starlette(
        routes=[*routes, *ROUTES],
        exception_handlers=EXCEPTION_HANDLERS,
        # Every answer's headers, its count and the last resort; the draw's
        # fast path (one per app: it keeps its busy answer) ahead of the router.
        middleware=[Middleware(Outcomes, draw=DrawFastPath(), access_log=access_log)],
        lifespan=lifespan,
    )
    # Trailing-slash redirects name a path, never the request's Host (redirects.py).
    app.router.redirect_slashes = False
    app.router.default = SlashRedirect(app.router.routes, app.router.not_found)
    if services is not None:
        app.state.services = services
    app.state.access_log = access_log  # (tests point its fd elsewhere)
    app.state.client_ip = ClientIp(settings.trusted_proxies, settings.client_ip_header)
    # Embedded mode (fakeredis in process, for trying it out) draws ~10x
    # slower than Redis: its default is no bound, so a demo's burst is served.
    unbounded = settings.embedded and "draw_concurrency" not in settings.model_fields_set
    app.state.admission = Admission(
        0 if unbounded else settings.draw_concurrency,
        settings.draw_latency_budget,
        settings.busy_retry_after,
        settings.draw_queue_deadline,
    )
    app.state.shedder = Shedder(app.state, app.state.admission)  # app.http.protocol asks it
    return app
