"""The ``redrain`` command group and what every command shares.

A bad setting or argument stops with one line on stderr and exit status 2.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import click

from app.config import Settings, load_settings
from app.domain.errors import ConfigError, RedrainError

T = TypeVar("T")


def fail(message: str, status: int = 2) -> NoReturn:
    click.echo(f"redrain: error: {message}", err=True)
    sys.exit(status)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(exc.message)


def database_or_exit() -> tuple[Settings, str]:
    """Settings and the database URL, or one line saying it is not set."""
    settings = settings_or_exit()
    if settings.database_url is None:
        fail("REDRAIN_DATABASE_URL is not set")
    return settings, settings.database_url


def audit_key(settings: Settings) -> bytes:
    """The audit chain's key, or one line saying which setting is missing."""
    try:
        return settings.audit_key_bytes
    except ConfigError as exc:
        fail(exc.message)


def production_settings() -> Settings:
    """Settings for commands that work on the shared Redis and database."""
    settings = settings_or_exit()
    if settings.embedded:
        fail(
            "REDRAIN_REDIS_URL is not set: the embedded server keeps its data inside its own "
            "process, so this command needs REDRAIN_REDIS_URL and REDRAIN_DATABASE_URL"
        )
    try:
        settings.require_production()
    except ConfigError as exc:
        fail(exc.message)
    return settings


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it; without it, the stock loop
        return None
    return uvloop.new_event_loop


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a command's coroutine; a bad setting exits 2, any other error 1,
    each with one line on stderr."""
    try:
        # uvloop, as uvicorn runs the API: the flush worker's profile showed
        # the stock loop's selector and socket writes in a fifth of its samples.
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(make())  # type: ignore[arg-type]
    except ConfigError as exc:
        fail(exc.message)
    except RedrainError as exc:
        fail(exc.message, 1)


@click.group()
@click.version_option(package_name="redrain")
def main() -> None:
    """redrain: high-concurrency prize draws (red-envelope rain, lucky wheel, ...)."""


def setup_logging(level: str, fmt: str = "text") -> None:
    from app import logs

    logs.configure(level, fmt)


def redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}{sep}{creds}{at}{host}"
