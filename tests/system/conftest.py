"""Fixtures the browser tests share: an embedded server and one Chromium per
test module (helpers in tests/system/browser.py). A module may define its own
``server`` (a production one); pytest then uses that."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from tests.helpers import running_server
from tests.system.browser import CHROMIUM


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded ``redrain serve`` (nothing configured), one per test module."""
    log = tmp_path_factory.mktemp("pages") / "server.log"
    with running_server({}, log) as base:
        yield base


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium per test module (each test still gets a fresh context)."""
    assert shutil.which(CHROMIUM), "Debian's chromium is required (.ci/run installs it)"
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        await b.close()
