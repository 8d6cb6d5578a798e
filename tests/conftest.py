"""Fixtures: real Redis and fakeredis, real MariaDB and SQLite; the unit/integration split.

A service that a test needs must be running; a missing one fails the test
(never skips it): .ci/run starts Redis and MariaDB before the suite.

Every test is marked ``unit`` or ``integration`` here, at collection:
integration when its module says so (servers, subprocesses, browsers), when
it runs on a real backend (the ``redis``/``mariadb`` parameters of the
backend fixtures below), or when it is ``slow``; unit otherwise. A unit test
runs in this process only: it may not open a network connection, so
``pytest -m unit`` needs no Redis, database or browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import create_async_engine

from app.application import create_app
from app.config import Settings
from app.services import operators
from app.services.container import Services
from app.store.redis.connection import connect
from app.store.redis.fakes import fake_client
from app.store.redis.store import RedisStore
from app.store.redis.transport import RedisTransport
from app.store.sql.connection import upgrade
from app.store.sql.database import Database
from tests.helpers import ADMIN, AUDIT_KEY, MARIADB_URL, REDIS_URL, SECRET
from tests.redisproc import redis_cluster

ServiceFactory = Callable[..., Services]

# Parameters of the backend fixtures that reach a real server.
REAL_PARAMS = {"redis", "mariadb", "redis+mariadb"}
REAL_FIXTURES = {"mariadb_url", "cluster_url", "mariadb_stack", "make_mariadb_service"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marks = {m.name for m in item.iter_markers()}
        callspec = getattr(item, "callspec", None)
        params = {v for v in (callspec.params.values() if callspec else ()) if isinstance(v, str)}
        fixtures = set(getattr(item, "fixturenames", ()))
        real = (
            "integration" in marks
            or "slow" in marks
            or bool(params & REAL_PARAMS)
            or bool(fixtures & REAL_FIXTURES)
        )
        item.add_marker(pytest.mark.integration if real else pytest.mark.unit)


@pytest.fixture(autouse=True)
def _unit_tests_stay_in_process(request: pytest.FixtureRequest) -> Iterator[None]:
    """A unit test that reaches for the network fails instead of passing by luck."""
    if request.node.get_closest_marker("unit") is None:
        yield
        return

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a unit test opened a network connection: mark it integration")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """argon2id at its production cost takes ~0.25 s a hash here; tests hash
    many passwords, with the same algorithm at a cost of a few ms."""
    real = operators.HASHER
    operators.HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    yield
    operators.HASHER = real


@contextlib.asynccontextmanager
async def scratch_mariadb(name: str) -> AsyncIterator[str]:
    """A new, empty MariaDB database (no tables), dropped afterwards: its URL."""
    admin = create_async_engine(f"{MARIADB_URL}/test")
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        await conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield f"{MARIADB_URL}/{name}"
    finally:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        await admin.dispose()


@pytest_asyncio.fixture(scope="session")
async def mariadb_url() -> AsyncIterator[str]:
    async with scratch_mariadb(f"redrain_t_{os.getpid()}") as url:
        await asyncio.to_thread(upgrade, url)
        yield url


@pytest.fixture(scope="session")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A 3-master Redis Cluster on loopback ports, started once for the session;
    the URL names one node (clients discover the rest)."""
    with redis_cluster(tmp_path_factory.mktemp("cluster"), masters=3) as nodes:
        yield nodes[0].url


async def flush_cluster(url: str) -> None:
    client = connect(url, timeout=5, cluster=True)
    try:
        await client.flushall()  # redis-py sends it to every primary
    finally:
        await client.aclose()


@pytest_asyncio.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'redrain.db'}"
    await asyncio.to_thread(upgrade, url)
    return url


async def real_redis() -> Any:
    """A client on the test database of the real Redis, flushed."""
    client = connect(REDIS_URL, timeout=5)
    await client.flushdb()
    return client


async def flush_real_redis() -> None:
    client = await real_redis()
    await client.aclose()


@pytest.fixture(params=["mariadb", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    # Requested lazily, so a SQLite test never touches MariaDB.
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(params=["redis+mariadb", "fakeredis+sqlite"])
def stack_url(request: pytest.FixtureRequest) -> str:
    """The database URL of a whole backend (real Redis goes with MariaDB)."""
    url: str = request.getfixturevalue(
        "mariadb_url" if request.param == "redis+mariadb" else "sqlite_url"
    )
    return url


@pytest_asyncio.fixture(params=["redis", "fakeredis"])
async def redis_client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """The same test on real Redis and on fakeredis."""
    client = await real_redis() if request.param == "redis" else fake_client()
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The same test on MariaDB and on SQLite."""
    db = Database(database_url, audit_key=AUDIT_KEY)
    yield db
    await db.close()


@pytest_asyncio.fixture
async def stack(stack_url: str) -> AsyncIterator[tuple[Any, Database]]:
    """A whole backend: real Redis with MariaDB, or fakeredis with SQLite (embedded)."""
    real = not stack_url.startswith("sqlite")
    client = await real_redis() if real else fake_client()
    db = Database(stack_url, audit_key=AUDIT_KEY)
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
        "rate_limit_writes": 0,
        "rate_limit_lotteries": 0,
        "max_open_lotteries": 0,
        **kw,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest_asyncio.fixture
async def mariadb_stack(mariadb_url: str) -> AsyncIterator[tuple[Any, Database]]:
    """Real Redis with MariaDB only: for what SQLite cannot show (column limits)."""
    client, db = await real_redis(), Database(mariadb_url, audit_key=AUDIT_KEY)
    yield client, db
    await client.aclose()
    await db.close()


@pytest_asyncio.fixture
async def transport(stack_url: str) -> AsyncIterator[RedisTransport | None]:
    """On real Redis, the pipelining transport production runs scripts and the
    worker's stream reads on (app/store/redis/store.py); None on fakeredis."""
    if stack_url.startswith("sqlite"):
        yield None
        return
    fast = RedisTransport(REDIS_URL, timeout=5)
    yield fast
    await fast.aclose()


@pytest.fixture
def make_service(stack: tuple[Any, Database], transport: RedisTransport | None) -> ServiceFactory:
    """``make_service(offset_seconds)``: services on the stack whose clock is shifted.

    Several services on one stack share Redis and the database, like several
    API processes started with different REDRAIN_CLOCK_OFFSET values. On real
    Redis they talk to it as production does: the transport and redis-py.
    """
    return service_factory(*stack, fast=transport)


@pytest.fixture
def make_mariadb_service(mariadb_stack: tuple[Any, Database]) -> ServiceFactory:
    return service_factory(*mariadb_stack)


def service_factory(
    client: Any, db: Database, fast: RedisTransport | None = None
) -> ServiceFactory:
    def make(offset: float = 0.0, **kw: Any) -> Services:
        settings = settings_for(db.url, offset, **kw)
        redis = RedisStore(
            client,
            offset_ms=settings.clock_offset_ms,
            idempotency_ttl=settings.idempotency_ttl,
            fast=fast,
        )
        return Services(settings, redis, db)

    return make


@pytest_asyncio.fixture
async def http() -> AsyncIterator[Callable[[Services], httpx.AsyncClient]]:
    """``http(services)``: an HTTP client on the real app, in process."""
    clients: list[httpx.AsyncClient] = []

    def make(services: Services) -> httpx.AsyncClient:
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(services=services)),
            base_url="https://redrain.test",  # Secure cookies travel
        )
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = Path(os.environ.get("REDRAIN_TEST_ARTIFACTS", "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
