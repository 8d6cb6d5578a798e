"""Data migrations, from the revision before them to the head, on MariaDB and SQLite."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.store.sql.connection import upgrade
from tests.helpers import MARIADB_URL


@pytest_asyncio.fixture(params=["mariadb", "sqlite"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
        return
    name = f"redrain_m_{os.getpid()}"
    admin = create_async_engine(f"{MARIADB_URL}/test")
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        await conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    yield f"{MARIADB_URL}/{name}"
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    await admin.dispose()


async def test_blacklisted_ips_become_canonical(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url, "0007")
    engine = create_async_engine(empty_url)
    now = dt.datetime(2030, 1, 1)
    before = [
        ("ip", "::ffff:10.9.9.9"),  # a second spelling of the next one: dropped
        ("ip", "10.9.9.9"),
        ("ip", "::FFFF:192.0.2.1"),
        ("ip", "2001:DB8:0:0::1"),
        ("ip", "fe80::1%eth0"),  # no address: left for an operator to lift
        ("user", "::ffff:10.9.9.9"),  # a user id is not an address
    ]
    try:
        async with engine.begin() as conn:
            for kind, value in before:
                await conn.execute(
                    text(
                        "INSERT INTO blacklist (kind, value, reason, created_at)"
                        " VALUES (:k, :v, 'old', :t)"
                    ),
                    {"k": kind, "v": value, "t": now},
                )
        await asyncio.to_thread(upgrade, empty_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT kind, value FROM blacklist"))).all()
    finally:
        await engine.dispose()
    assert sorted((k, v) for k, v in rows) == [
        ("ip", "10.9.9.9"),
        ("ip", "192.0.2.1"),
        ("ip", "2001:db8::1"),
        ("ip", "fe80::1%eth0"),
        ("user", "::ffff:10.9.9.9"),
    ]
