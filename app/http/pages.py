"""The pages people see: the operator console and the players' rain game.
Plain HTML, scripts and styles served from ``app/http/static`` (no build step)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from app.http.endpoint import Endpoints

STATIC = Path(__file__).with_name("static")
endpoint = Endpoints()


# Scripts, styles and API calls from this origin only; no framing (clickjacking
# a tap), no referrer leaking a page's address to image hosts.
PAGE_HEADERS = {
    "cache-control": "no-store",  # a redeploy's page must not meet an old cached script
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _page(name: str) -> Response:
    return Response(
        STATIC.joinpath(name).read_bytes(),
        media_type="text/html; charset=utf-8",
        headers=PAGE_HEADERS,
    )


@endpoint("GET", "/console", "The operator console (HTML)", response=str, media="text/html")
async def console_page(request: Request) -> Response:
    return _page("console.html")


@endpoint(
    "GET",
    "/rain/{id:rowid}",
    "The player's red-envelope rain page (HTML)",
    response=str,
    media="text/html",
    errors=(404,),
)
async def rain_page(request: Request) -> Response:
    return _page("rain.html")


ASSETS = Mount("/static", StaticFiles(directory=STATIC), name="static")
