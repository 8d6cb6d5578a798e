"""The pages people see (SPEC §10): the landing page, the operator console,
the players' games, scheduled lotteries, the fairness check and the API docs.

Server-rendered from ``templates/`` (Jinja2) in the visitor's language
(``app.http.i18n``); each page's script and the messages it needs travel in
the page (a JSON block, not code, so the CSP can stay ``script-src 'self'``).
Scripts, styles and vendored libraries are served from ``static/``; no build
step, no CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from app.domain.errors import NotFound, Unavailable
from app.domain.records import PUBLISHED
from app.domain.text import in_language
from app.http import i18n
from app.http.endpoint import SESSION_COOKIE, Endpoints, services

HERE = Path(__file__).parent
STATIC = HERE / "static"
endpoint = Endpoints()
templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _csp(*, inline_styles: bool = False) -> str:
    # Scripts, styles and API calls from this origin only; no framing (clickjacking
    # a tap), no plugins. Swagger UI (/docs) sets style attributes from its markup.
    style = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    return (
        f"default-src 'self'; script-src 'self'; style-src {style}; "
        "img-src 'self' https: data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


PAGE_HEADERS = {
    "cache-control": "no-store",  # a redeploy's page must not meet an old cached script
    "content-security-policy": _csp(),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",  # no page address leaks to image hosts
    "vary": "Accept-Language, Cookie",
}


def language(request: Request) -> str:
    return i18n.negotiate(
        request.query_params.get("lang"),
        request.cookies.get(i18n.COOKIE),
        request.headers.get("accept-language"),
    )


def _switch(request: Request) -> list[dict[str, str]]:
    """Links to this very page in each language."""
    out = []
    for lang in i18n.LANGS:
        query = {k: v for k, v in request.query_params.items() if k != "lang"}
        query["lang"] = lang
        out.append({"lang": lang, "href": f"{request.url.path}?{urlencode(query)}"})
    return out


def render(
    request: Request,
    template: str,
    sections: tuple[str, ...],
    *,
    status: int = 200,
    boot: dict[str, Any] | None = None,
    inline_styles: bool = False,
    **context: Any,
) -> Response:
    lang = language(request)
    t = i18n.Messages(lang, sections)
    html = templates.get_template(template).render(
        t=t,
        lang=lang,
        switch=_switch(request),
        path=request.url.path,
        messages=t.for_script(),
        boot=boot or {},
        **context,
    )
    headers = {**PAGE_HEADERS, "content-language": lang}
    if inline_styles:
        headers["content-security-policy"] = _csp(inline_styles=True)
    resp = Response(html, status, headers, media_type="text/html; charset=utf-8")
    chosen = i18n.normalize(request.query_params.get("lang"))
    if chosen and chosen != request.cookies.get(i18n.COOKIE):  # sticks for the next pages
        resp.set_cookie(i18n.COOKIE, chosen, max_age=365 * 86_400, samesite="lax")
    return resp


def missing(request: Request, what: str, status: int = 404) -> Response:
    """A page for a thing that does not exist (404) or cannot be read now (503)."""
    return render(request, "missing.html", ("missing",), status=status, what=what)


HTML: dict[str, Any] = {"response": str, "media": "text/html"}


@endpoint("GET", "/", "The landing page (HTML)", errors=(503,), **HTML)
async def landing_page(request: Request) -> Response:
    s = services(request)
    try:
        recs = await s.activities.latest(50, 0)
    except Unavailable:
        recs = []  # the landing page still links the console, verify and docs
    lang = language(request)
    live = [
        {
            "id": rec.id,
            "name": in_language(rec.config.name, lang),
            "game": rec.config.game,
            "kind": rec.config.kind,
        }
        for rec in recs
        if rec.status == PUBLISHED
    ]
    return render(request, "landing.html", ("landing", "games"), activities=live)


@endpoint("GET", "/console", "The operator console (HTML)", **HTML)
async def console_page(request: Request) -> Response:
    # The session cookie is HttpOnly: the page learns from here whether to ask
    # who is signed in (no cookie, no request doomed to a 401).
    boot = {"session": SESSION_COOKIE in request.cookies}
    return render(request, "console.html", ("console", "games"), boot=boot)


async def _game(request: Request) -> Response:
    s = services(request)
    aid: int = request.path_params["id"]
    try:
        rt = await s.runtimes.fresh(aid)
    except NotFound:
        return missing(request, "activity")
    except Unavailable:
        return missing(request, "unavailable", 503)
    cfg = rt.config
    game = cfg.game
    skin = cfg.display.skin
    boot = {"activity_id": aid, "game": game, "skin": skin}
    sections = ("player", "play", "games")
    label = "rain_candy" if game == "rain" and skin == "candy" else game
    return render(
        request,
        "play.html",
        sections,
        boot=boot,
        game=game,
        skin=skin,
        label=label,
        name=in_language(cfg.name, language(request)),
        description=in_language(cfg.description, language(request)),
        aid=aid,
    )


@endpoint(
    "GET",
    "/play/{id:rowid}",
    "A player's game for the activity: rain, wheel, grid, scratch or pass (HTML)",
    errors=(404, 503),
    **HTML,
)
async def play_page(request: Request) -> Response:
    return await _game(request)


@endpoint("GET", "/rain/{id:rowid}", "The same as /play/{id} (HTML)", errors=(404, 503), **HTML)
async def rain_page(request: Request) -> Response:
    return await _game(request)


@endpoint(
    "GET",
    "/lotteries",
    "The player's lotteries (created or joined) and a form to create one (HTML)",
    **HTML,
)
async def lotteries_page(request: Request) -> Response:
    return render(request, "lotteries.html", ("player", "lottery", "lotteries"))


@endpoint(
    "GET",
    "/lotteries/{id:rowid}",
    "A scheduled lottery: join, leave, share, countdown, result (HTML)",
    errors=(404, 503),
    **HTML,
)
async def lottery_page(request: Request) -> Response:
    s = services(request)
    lid: int = request.path_params["id"]
    try:
        rec = await s.lotteries.get(lid)
    except NotFound:
        return missing(request, "lottery")
    except Unavailable:
        return missing(request, "unavailable", 503)
    # The campaign clock (REDRAIN_CLOCK_OFFSET included) the countdown runs on.
    boot = {"lottery_id": lid, "server_now_ms": s.clock.now_ms()}
    return render(request, "lottery.html", ("player", "lottery"), boot=boot, title=rec.title)


@endpoint("GET", "/verify", "Check draws in the browser, trusting no server (HTML)", **HTML)
async def verify_page(request: Request) -> Response:
    return render(request, "verify.html", ("player", "verify"))


@endpoint("GET", "/docs", "Interactive API documentation of /openapi.json (HTML)", **HTML)
async def docs_page(request: Request) -> Response:
    return render(request, "docs.html", ("docs",), inline_styles=True)


ASSETS = Mount("/static", StaticFiles(directory=STATIC), name="static")
