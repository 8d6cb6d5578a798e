"""The composition root: settings → Redis, the database, the services → the app.

``create_app`` is what ``redrain serve`` and ``uvicorn app.asgi:create_app
--factory`` run. With no ``REDRAIN_REDIS_URL`` it runs embedded: fakeredis and
a fresh SQLite file in this process, the sample activity published, and the
flush worker running beside the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from app import embedded, heap
from app.config import EMBEDDED_ADMIN_TOKEN, EMBEDDED_OPERATOR, Settings, load_settings
from app.domain.audit import Actor
from app.domain.errors import Unavailable
from app.http import app as http_app
from app.jobs.worker import Worker
from app.services.activities import Pending
from app.services.container import Services
from app.store.redis.store import RedisStore, open_store
from app.store.sql.connection import upgrade
from app.store.sql.database import Database

log = logging.getLogger("redrain")


def embedded_settings(settings: Settings) -> Settings:
    """Fill what embedded mode needs and the user did not set."""
    extra: dict[str, Any] = {}
    if settings.database_url is None:
        extra["database_url"] = embedded.database_url()
    if settings.admin_token is None:
        extra["admin_token"] = SecretStr(EMBEDDED_ADMIN_TOKEN)
    if settings.secret_key is None:  # tokens and the audit chain, for this process only
        extra["secret_key"] = SecretStr(secrets.token_urlsafe(32))
    return settings.model_copy(update=extra) if extra else settings


def connect(settings: Settings) -> tuple[RedisStore, Database]:
    """Redis (fakeredis when embedded) and the database, as configured."""
    assert settings.database_url is not None
    return open_redis(settings), Database(settings.database_url, audit_key=settings.audit_key_bytes)


def open_redis(settings: Settings) -> RedisStore:
    """Redis (fakeredis when embedded), as configured."""
    return open_store(
        settings.redis_url,
        timeout=settings.redis_timeout,
        cluster=settings.redis_cluster,
        connections=settings.redis_connections,
        offset_ms=settings.clock_offset_ms,
        idempotency_ttl=settings.idempotency_ttl,
        wait_replicas=settings.redis_wait_replicas,
        wait_timeout_ms=round(settings.redis_wait_timeout * 1000),
        sentinels=settings.sentinel_addresses,
        service=settings.redis_sentinel_master,
    )


async def preflight(settings: Settings) -> None:
    """One look at Redis before the server starts, so that what waiting cannot
    fix (:meth:`RedisStore.prepare`) stops ``redrain serve`` with one line
    (:class:`ConfigError`). Redis unreachable now is left to the app's
    start-up, which waits for it (``REDRAIN_REDIS_STARTUP_WAIT``)."""
    redis = open_redis(settings)
    try:
        await redis.prepare()
    except Unavailable:
        pass
    finally:
        await redis.close()


async def build(settings: Settings) -> Services:
    """Connect everything; in embedded mode also migrate and load the sample."""
    if settings.embedded:
        assert settings.database_url is not None
        await asyncio.to_thread(upgrade, settings.database_url, settings.audit_key_bytes)
    redis, db = connect(settings)
    services = Services(settings, redis, db)
    if settings.embedded:
        by = Actor("embedded")
        username, password = EMBEDDED_OPERATOR
        await services.operators.ensure(username, password, "admin", by)
        rec = await services.activities.create(embedded.sample_activity(), by)
        done = await services.activities.publish(rec.id, by)
        log.warning(
            "EMBEDDED MODE (no REDRAIN_REDIS_URL): fakeredis + SQLite in one process, for trying "
            "redrain out only; sample activity %s is %s",
            rec.id,
            "waiting for another publisher's approval (REDRAIN_PUBLISH_APPROVALS=1)"
            if isinstance(done, Pending)
            else "published",
        )
    else:
        try:
            await prepare_redis(redis, settings.redis_startup_wait)
        except BaseException:
            await services.close()
            raise
    return services


async def prepare_redis(redis: RedisStore, wait: float) -> bool:
    """Check Redis and load the scripts before serving (docs/operations.md).

    What waiting cannot fix — credentials refused, a script Redis does not
    compile, a Redis too old — raises :class:`ConfigError`: start-up stops
    with one line, instead of a 500 on every draw later. Redis unreachable
    or loading is retried with backoff for ``wait`` seconds; then redrain
    starts anyway (draws answer 503 ``unavailable`` meanwhile, and a script
    is loaded on its first call, NOSCRIPT). True once prepared."""
    deadline = time.monotonic() + wait
    delay = 0.1
    while True:
        try:
            await redis.prepare()
            return True
        except Unavailable as exc:
            if time.monotonic() + delay > deadline:
                log.warning(
                    "%s; starting anyway after %.0f s: draws answer 503 until Redis is up, "
                    "and the scripts load on first use",
                    exc.message,
                    wait,
                )
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The app; with ``services`` given (tests, embedding) they are used as they
    are and the caller owns their connections. ``routes`` are extra routes
    ahead of the route table (the benchmark's baseline)."""
    if services is not None:
        return http_app.build(services.settings, services=services, routes=routes)
    settings = settings or load_settings()
    made_database = settings.embedded and settings.database_url is None
    if settings.embedded:
        settings = embedded_settings(settings)
    else:
        settings.require_production()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        built = await build(settings)
        app.state.services = built
        heap.settle(heap.API)  # start-up objects out of every collection
        # Embedded mode runs the worker in this process, so history and
        # winners fill in as they would with `redrain worker`.
        flusher = None
        if settings.embedded:
            flusher = Worker.wired(
                settings, built.redis, built.db, runtimes=built.runtimes, clock=built.clock
            )
            built.catch_up = flusher.caught_up
        task = asyncio.create_task(flusher.run()) if flusher else None
        try:
            yield
        finally:
            if flusher is not None and task is not None:
                flusher.stop()
                await task
            await built.close()
            if made_database and settings.database_url is not None:
                embedded.discard(settings.database_url)

    return http_app.build(settings, lifespan=lifespan, routes=routes)
