"""Fixtures: real Redis and fakeredis, real MariaDB and SQLite.

A service that a test needs must be running; a missing one fails the test
(never skips it): .ci/run starts Redis and MariaDB before the suite.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import create_async_engine

from app import engine, fakes, repository
from app.application import create_app
from app.config import Settings
from app.service import Redrain
from tests.helpers import ADMIN, MARIADB_URL, REDIS_URL, SECRET
from tests.redisproc import redis_cluster

ServiceFactory = Callable[..., Redrain]


@pytest_asyncio.fixture(scope="session")
async def mariadb_url() -> AsyncIterator[str]:
    name = f"redrain_t_{os.getpid()}"
    admin = create_async_engine(f"{MARIADB_URL}/test")
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        await conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    url = f"{MARIADB_URL}/{name}"
    await asyncio.to_thread(repository.upgrade, url)
    yield url
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    await admin.dispose()


@pytest.fixture(scope="session")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A 3-master Redis Cluster on loopback ports, started once for the session;
    the URL names one node (clients discover the rest)."""
    with redis_cluster(tmp_path_factory.mktemp("cluster"), masters=3) as nodes:
        yield nodes[0].url


async def flush_cluster(url: str) -> None:
    client = engine.connect(url, timeout=5, cluster=True)
    try:
        await client.flushall()  # redis-py sends it to every primary
    finally:
        await client.aclose()


@pytest_asyncio.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'redrain.db'}"
    await asyncio.to_thread(repository.upgrade, url)
    return url


async def real_redis() -> Any:
    """A client on the test database of the real Redis, flushed."""
    client = engine.connect(REDIS_URL, timeout=5)
    await client.flushdb()
    return client


async def flush_real_redis() -> None:
    client = await real_redis()
    await client.aclose()


@pytest_asyncio.fixture(params=["redis", "fakeredis"])
async def redis_client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """The same test on real Redis and on fakeredis."""
    client = await real_redis() if request.param == "redis" else fakes.fake_client()
    yield client
    await client.aclose()


@pytest_asyncio.fixture(params=["mariadb", "sqlite"])
async def database(
    request: pytest.FixtureRequest, mariadb_url: str, sqlite_url: str
) -> AsyncIterator[repository.Database]:
    """The same test on MariaDB and on SQLite."""
    db = repository.Database(mariadb_url if request.param == "mariadb" else sqlite_url)
    yield db
    await db.close()


@pytest_asyncio.fixture(params=["redis+mariadb", "fakeredis+sqlite"])
async def stack(
    request: pytest.FixtureRequest, mariadb_url: str, sqlite_url: str
) -> AsyncIterator[tuple[Any, repository.Database]]:
    """A whole backend: real Redis with MariaDB, or fakeredis with SQLite (embedded)."""
    if request.param == "redis+mariadb":
        client, db = await real_redis(), repository.Database(mariadb_url)
    else:
        client, db = fakes.fake_client(), repository.Database(sqlite_url)
    yield client, db
    await client.aclose()
    await db.close()


def settings_for(db_url: str, offset: float = 0.0, **kw: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "database_url": db_url,
        "secret_key": SECRET,
        "admin_token": ADMIN,
        "dev_login": True,
        "clock_offset": offset,
        # Most tests hammer one user or one IP on purpose; the rate-limit tests
        # turn these on explicitly.
        "rate_limit_user": 0,
        "rate_limit_ip": 0,
        **kw,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest_asyncio.fixture
async def mariadb_stack(mariadb_url: str) -> AsyncIterator[tuple[Any, repository.Database]]:
    """Real Redis with MariaDB only: for what SQLite cannot show (column limits)."""
    client, db = await real_redis(), repository.Database(mariadb_url)
    yield client, db
    await client.aclose()
    await db.close()


@pytest.fixture
def make_service(stack: tuple[Any, repository.Database]) -> ServiceFactory:
    """``make_service(offset_seconds)``: a service on the stack whose clock is shifted.

    Several services on one stack share Redis and the database, like several
    API processes started with different REDRAIN_CLOCK_OFFSET values.
    """
    return service_factory(*stack)


@pytest.fixture
def make_mariadb_service(mariadb_stack: tuple[Any, repository.Database]) -> ServiceFactory:
    return service_factory(*mariadb_stack)


def service_factory(client: Any, db: repository.Database) -> ServiceFactory:
    def make(offset: float = 0.0, **kw: Any) -> Redrain:
        settings = settings_for(db.url, offset, **kw)
        eng = engine.Engine(
            client, offset_ms=settings.clock_offset_ms, idempotency_ttl=settings.idempotency_ttl
        )
        return Redrain(settings, eng, db)

    return make


@pytest_asyncio.fixture
async def http() -> AsyncIterator[Callable[[Redrain], httpx.AsyncClient]]:
    """``http(service)``: an HTTP client on the real app, in process."""
    clients: list[httpx.AsyncClient] = []

    def make(service: Redrain) -> httpx.AsyncClient:
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(service=service)),
            base_url="http://redrain.test",
        )
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def artifacts() -> Path:
    path = Path(os.environ.get("REDRAIN_TEST_ARTIFACTS", "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
