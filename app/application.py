"""The ASGI application: wires settings, Redis, the database and the routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware

from app import embedded, engine, fakes, repository
from app.api import EXCEPTION_HANDLERS, ROUTES, ClientIp, DrawFastPath
from app.config import EMBEDDED_ADMIN_TOKEN, Settings, load_settings
from app.service import Redrain
from app.transport import RedisTransport
from app.worker import Worker

log = logging.getLogger("redrain")


def embedded_settings(settings: Settings) -> Settings:
    """Fill what embedded mode needs and the user did not set."""
    extra: dict[str, Any] = {}
    if settings.database_url is None:
        extra["database_url"] = embedded.database_url()
    if settings.admin_token is None:
        extra["admin_token"] = SecretStr(EMBEDDED_ADMIN_TOKEN)
    return settings.model_copy(update=extra) if extra else settings


def connect(settings: Settings) -> tuple[engine.Engine, repository.Database]:
    """Redis (fakeredis when embedded) and the database, as configured."""
    fast = None
    if settings.embedded:
        client = fakes.fake_client()
    else:
        url = settings.redis_url or ""
        client = engine.connect(url, timeout=settings.redis_timeout, cluster=settings.redis_cluster)
        fast = RedisTransport(
            url,
            timeout=settings.redis_timeout,
            connections=settings.redis_connections,
            cluster=settings.redis_cluster,
        )
    assert settings.database_url is not None
    eng = engine.Engine(
        client,
        offset_ms=settings.clock_offset_ms,
        idempotency_ttl=settings.idempotency_ttl,
        fast=fast,
    )
    return eng, repository.Database(settings.database_url)


def baseline_engine(settings: Settings) -> engine.Engine:
    """redis-py with register_script: the benchmark's in-run baseline."""
    client = engine.connect(settings.redis_url or "", timeout=settings.redis_timeout)
    return engine.RegisteredScriptEngine(
        client, offset_ms=settings.clock_offset_ms, idempotency_ttl=settings.idempotency_ttl
    )


async def build(settings: Settings) -> Redrain:
    """Connect everything; in embedded mode also migrate and load the sample."""
    if settings.embedded:
        assert settings.database_url is not None
        await asyncio.to_thread(repository.upgrade, settings.database_url)
    eng, db = connect(settings)
    service = Redrain(settings, eng, db)
    if settings.embedded:
        rec = await service.create_activity(embedded.sample_activity())
        await service.publish(rec.id)
        log.warning(
            "EMBEDDED MODE (no REDRAIN_REDIS_URL): fakeredis + SQLite in one process, for trying "
            "redrain out only; sample activity %s is published",
            rec.id,
        )
    else:
        with contextlib.suppress(Exception):
            await eng.load_scripts()  # lazily retried on NOSCRIPT if Redis is down now
    return service


GC_THRESHOLDS = (50_000, 20, 100)
MIDDLEWARE = [Middleware(DrawFastPath)]


def tune_gc() -> None:
    """Keep the cyclic GC from pausing requests.

    Measured on the draw benchmark: with the defaults each API worker ran a
    full collection about once a second, pausing it up to ~100 ms (the p99).
    Objects alive after start-up (modules, settings, compiled activities) are
    frozen out of collections, and the young generation is collected after
    50,000 allocations rather than 700, so per-request objects die by
    reference counting before a collection can promote them.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None, *, service: Redrain | None = None) -> Starlette:
    """The app; with ``service`` given (tests, embedding) it is used as is and the
    caller owns its connections."""
    if service is not None:
        app = Starlette(routes=ROUTES, exception_handlers=EXCEPTION_HANDLERS, middleware=MIDDLEWARE)
        app.state.redrain = service
        app.state.client_ip = ClientIp(
            service.settings.trusted_proxies, service.settings.client_ip_header
        )
        return app
    settings = settings or load_settings()
    if settings.embedded:
        settings = embedded_settings(settings)
    else:
        settings.require_production()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        built = await build(settings)
        app.state.redrain = built
        tune_gc()
        baseline = None
        if settings.bench_baseline and not settings.embedded:
            baseline = Redrain(settings, baseline_engine(settings), built.db)
            app.state.baseline = baseline
        # Embedded mode runs the worker in this process, so history and
        # winners fill in as they would with `redrain worker`.
        flusher = Worker(settings, built.engine, built.db) if settings.embedded else None
        task = asyncio.create_task(flusher.run()) if flusher else None
        try:
            yield
        finally:
            if flusher is not None and task is not None:
                flusher.stop()
                await task
            if baseline is not None:
                await baseline.engine.close()
            await built.close()

    app = Starlette(
        routes=ROUTES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=MIDDLEWARE,
        lifespan=lifespan,
    )
    app.state.client_ip = ClientIp(settings.trusted_proxies, settings.client_ip_header)
    return app
