"""``redrain`` command line. Thin: parse options, call the application, print.

A bad setting or argument stops with one line on stderr and exit status 2.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import orjson

from app.config import EMBEDDED_ADMIN_TOKEN, Settings, load_settings
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


def run(make: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except ConfigError as exc:
        fail(exc.message)
    except RedrainError as exc:
        fail(exc.message, 1)


@click.group()
@click.version_option(package_name="redrain")
def main() -> None:
    """redrain: high-concurrency prize draws (red-envelope rain, lucky wheel, ...)."""


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    if workers > 1:
        _multiprocess_metrics()  # before anything imports prometheus_client
    import uvicorn

    from app.application import create_app

    if settings.embedded and workers > 1:
        fail("embedded mode runs in one process; set REDRAIN_REDIS_URL to use --workers")
    if not settings.embedded:
        try:
            settings.require_production()
        except ConfigError as exc:
            fail(exc.message)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": settings.log_level,
        "access_log": False,
        "server_header": False,
        # The client IP is redrain's to decide (REDRAIN_TRUSTED_PROXIES and
        # REDRAIN_CLIENT_IP_HEADER), not rewritten by uvicorn beforehand.
        "proxy_headers": False,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **common)
    else:
        uvicorn.run("app.asgi:create_app", factory=True, workers=workers, **common)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Run the HTTP API (embedded on fakeredis + SQLite when REDRAIN_REDIS_URL is unset)."""
    settings = settings_or_exit()
    if settings.embedded:
        admin = settings.admin_token.get_secret_value() if settings.admin_token else None
        click.echo(
            "redrain: embedded mode (fakeredis + SQLite, one process) - for trying it out.\n"
            f"  admin token: {admin or EMBEDDED_ADMIN_TOKEN}   sample activity: 1   "
            f"dev login: POST http://{host}:{port}/v1/auth/dev",
            err=True,
        )
    _serve(settings, host, port, workers)


def _multiprocess_metrics() -> None:
    """Several uvicorn workers share their counters through files in
    PROMETHEUS_MULTIPROC_DIR: a fresh directory, or the given one emptied of a
    previous run's files (prometheus-client's multiprocess mode)."""
    import os
    import tempfile

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="redrain-metrics-")
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def demo(host: str, port: int) -> None:
    """Embedded server with a sample rain, and how to draw from it with curl."""
    settings = settings_or_exit()
    if not settings.embedded:
        fail("demo runs embedded; unset REDRAIN_REDIS_URL")
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    token = admin or EMBEDDED_ADMIN_TOKEN
    base = f"http://{host}:{port}"
    click.echo(
        f"""redrain demo: a sample red-envelope rain (activity 1) is open now.

  # a player token (dev login is on in embedded mode)
  TOKEN=$(curl -s -XPOST {base}/v1/auth/dev -d '{{"user_id":"alice"}}' | \\
          python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  # the rules, odds and the open round's seed hash
  curl -s {base}/v1/activities/1 -H "Authorization: Bearer $TOKEN"
  # draw (three per round)
  curl -s -XPOST {base}/v1/draw -H "Authorization: Bearer $TOKEN" -d '{{"activity_id":1}}'
  # stock and wins (admin token: {token})
  curl -s {base}/v1/admin/activities/1/stats -H "Authorization: Bearer {token}"
""",
        err=True,
    )
    _serve(settings, host, port, 1)


def _logging(level: str) -> None:
    import logging

    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )


@main.command()
@click.option("--batch", type=click.IntRange(1, 20_000), help="rows per transaction")
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="serve Prometheus metrics")
def worker(batch: int | None, metrics_port: int | None) -> None:
    """Flush every round's draw stream to the database, exactly once (until SIGTERM)."""
    settings = production_settings()
    overrides: dict[str, Any] = {}
    if batch is not None:
        overrides["worker_batch"] = batch
    if metrics_port is not None:
        overrides["worker_metrics_port"] = metrics_port
    if overrides:
        settings = settings.model_copy(update=overrides)
    _logging(settings.log_level)

    async def go() -> None:
        from prometheus_client import start_http_server

        from app.application import connect
        from app.jobs.worker import Worker

        redis, database = connect(settings)
        try:
            flusher = Worker(settings, redis, database)
            if settings.worker_metrics_port:
                start_http_server(settings.worker_metrics_port, registry=flusher.metrics.registry)
            flusher.install_signal_handlers()
            await flusher.run()
        finally:
            await redis.close()
            await database.close()

    run(go)


@main.command()
@click.option(
    "--activity",
    "activities",
    type=click.IntRange(1),
    multiple=True,
    help="only this activity (repeatable); default: every published one",
)
@click.option(
    "--days",
    type=click.FloatRange(0, min_open=True),
    default=2.0,
    show_default=True,
    help="rounds that ended within this many days",
)
@click.option("--all", "everything", is_flag=True, help="every ended round, however old")
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="seconds to wait for each stream to drain",
)
@click.option("--repair", is_flag=True, help="re-drive missing draws from Redis")
def reconcile(
    activities: tuple[int, ...], days: float, everything: bool, wait: float, repair: bool
) -> None:
    """Prove Redis and the database agree for every ended round: exit 0 when they
    do, 1 on any drift (each one named)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    settings = production_settings()
    out = Console()
    err = Console(stderr=True)

    async def go() -> bool:
        from app.application import connect
        from app.jobs.reconcile import Reconciler

        redis, database = connect(settings)
        try:
            rec = Reconciler(redis, database)
            since = None if everything else await redis.now_ms() - int(days * 86_400_000)
            rounds, open_now = await rec.ended_rounds(list(activities) or None, since)
            with Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("reconciling rounds", total=len(rounds))
                checks = await rec.run(
                    rounds, repair=repair, wait=wait, progress=lambda _: bar.advance(task)
                )
        finally:
            await redis.close()
            await database.close()
        table = Table(title="redrain reconcile: Redis / database")
        for col in ("round", "draws", "users", "wins", "stream", "status"):
            table.add_column(col)
        for c in checks:
            colour = {"ok": "green", "drift": "red"}.get(c.status, "yellow")
            table.add_row(
                c.round_id,
                f"{c.redis_draws}/{c.db_draws}",
                f"{c.redis_users}/{c.db_users}",
                " ".join(f"{k} {r}/{d}" for k, (r, d) in sorted(c.wins.items())),
                "drained" if c.drained else f"{c.undelivered}+{c.pending} left",
                f"[{colour}]{c.status}[/{colour}]",
            )
        out.print(table)
        bad = [c for c in checks if not c.agrees]
        for c in checks:
            if not c.agrees or c.repaired:
                for line in c.problems():
                    out.print(f"{c.round_id}: {line}", markup=False, highlight=False)
        out.print(
            f"{len(checks)} rounds checked, {len(checks) - len(bad)} agree, {len(bad)} drift; "
            f"{open_now} open rounds not checked yet",
            markup=False,
            highlight=False,
        )
        return not bad

    sys.exit(0 if run(go) else 1)


@main.command()
@click.argument("round_id")
def verify(round_id: str) -> None:
    """Recompute every draw of ROUND_ID from the database and the round's seed;
    exit 0 when all of them check out, 1 on any mismatch (each one named)."""
    from rich.console import Console

    from app.jobs.verify import Verifier
    from app.services.clock import Clock
    from app.store.sql.database import Database

    settings = settings_or_exit()
    if settings.database_url is None:
        fail("REDRAIN_DATABASE_URL is not set")
    out = Console()

    async def go() -> bool:
        database = Database(settings.database_url or "")
        try:
            with out.status(f"verifying {round_id} ..."):
                report = await Verifier(database).verify(
                    round_id, now_ms=Clock(settings.clock_offset_ms).now_ms()
                )
        finally:
            await database.close()
        for f in report.findings:
            out.print(f"{f.draw_id or round_id}: {f.problem}", markup=False, highlight=False)
        if not report.ended:
            out.print("note: the round has not ended; its seed is not public yet")
        verdict = "[green]verified[/green]" if report.ok else "[red]MISMATCH[/red]"
        out.print(
            f"{verdict}: {report.draws} draws, {report.wins} wins, "
            f"{len(report.findings)} problems in {round_id}"
        )
        return report.ok

    sys.exit(0 if run(go) else 1)


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply every migration to REDRAIN_DATABASE_URL."""
    from app.store.sql.connection import upgrade as migrate

    settings = settings_or_exit()
    if settings.database_url is None:
        fail("REDRAIN_DATABASE_URL is not set")
    click.echo(f"upgrading {_redact(settings.database_url)} ...", err=True)
    try:
        migrate(settings.database_url)
    except Exception as exc:
        fail(f"migration failed: {exc.__class__.__name__}: {str(exc).splitlines()[0]}", 1)
    click.echo("database is at the latest schema", err=True)


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}{sep}{creds}{at}{host}"


@main.group()
def activity() -> None:
    """Create and publish activities without the HTTP API."""


@activity.command("create")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def activity_create(file: Path) -> None:
    """Create an activity from a JSON FILE; prints its id."""
    from app.domain.activity import parse_config
    from app.services.clock import Clock
    from app.store.sql.database import Database

    settings = settings_or_exit()
    if settings.database_url is None:
        fail("REDRAIN_DATABASE_URL is not set")
    try:
        data = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        fail(f"{file}: malformed JSON: {exc}")

    async def go() -> int:
        cfg = parse_config(data)
        database = Database(settings.database_url or "")
        try:
            created = await database.activities.create(
                cfg, now=Clock(settings.clock_offset_ms).stamp()
            )
            return created.id
        finally:
            await database.close()

    click.echo(run(go))


@activity.command("publish")
@click.argument("activity_id", type=click.IntRange(1))
def activity_publish(activity_id: int) -> None:
    """Load an activity's rounds, stock and seeds into Redis (idempotent)."""
    settings = production_settings()

    async def go() -> dict[str, Any]:
        from app.application import build
        from app.http.responses import published

        services = await build(settings)
        try:
            return dict(published(await services.activities.publish(activity_id)))
        finally:
            await services.close()

    click.echo(orjson.dumps(run(go)).decode())
