"""Running redrain: the API (``serve``, ``demo``) and the flush ``worker``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app import heap, logs
from app.cli.base import fail, main, production_settings, run, settings_or_exit, setup_logging
from app.config import EMBEDDED_ADMIN_TOKEN, EMBEDDED_OPERATOR, Settings
from app.domain.errors import ConfigError


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    if workers > 1:
        _multiprocess_metrics()  # before anything imports prometheus_client
    import uvicorn

    from app.application import create_app
    from app.http.protocol import CoalescingHttpTools

    if settings.embedded and workers > 1:
        fail("embedded mode runs in one process; set REDRAIN_REDIS_URL to use --workers")
    if not settings.embedded:
        try:
            settings.require_production()
        except ConfigError as exc:
            fail(exc.message)
        from app.application import preflight

        run(lambda: preflight(settings))  # a Redis that can never serve: one line, exit 2
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": settings.log_level,
        # Every process (each of --workers too) logs as app/logs.py says.
        "log_config": logs.config(settings.log_level, settings.log_format),
        "access_log": False,  # uvicorn's; REDRAIN_ACCESS_LOG has the request id and draw ids
        "server_header": False,
        # The client IP is redrain's to decide (REDRAIN_TRUSTED_PROXIES and
        # REDRAIN_CLIENT_IP_HEADER), not rewritten by uvicorn beforehand.
        "proxy_headers": False,
        "http": CoalescingHttpTools,  # one send per answer, not two
        "loop": "app.http.listener:new_loop",  # accepts a burst of connections per turn
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
        username, password = EMBEDDED_OPERATOR
        click.echo(
            "redrain: embedded mode (fakeredis + SQLite, one process) - for trying it out.\n"
            f"  console: http://{host}:{port}/console   operator: {username} / {password}\n"
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
    username, password = EMBEDDED_OPERATOR
    click.echo(
        f"""redrain demo: a sample red-envelope rain (activity 1) is open now.
  console: {base}/console   operator: {username} / {password}

  # a player token (dev login is on in embedded mode)
  JSON='Content-Type: application/json'   # request bodies are JSON (anything else: 415)
  TOKEN=$(curl -s -XPOST {base}/v1/auth/dev -H "$JSON" -d '{{"user_id":"alice"}}' | \\
          python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  # the rules, odds and the open round's seed hash
  curl -s {base}/v1/activities/1 -H "Authorization: Bearer $TOKEN"
  # draw (three per round)
  curl -s -XPOST {base}/v1/draw -H "Authorization: Bearer $TOKEN" -H "$JSON" \\
       -d '{{"activity_id":1}}'
  # stock and wins (admin token: {token})
  curl -s {base}/v1/admin/activities/1/stats -H "Authorization: Bearer {token}"
""",
        err=True,
    )
    _serve(settings, host, port, 1)


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
    setup_logging(settings.log_level, settings.log_format)

    async def go() -> None:
        from prometheus_client import start_http_server

        from app.application import connect
        from app.jobs.worker import Worker

        redis, database = connect(settings)
        try:
            flusher = Worker.wired(settings, redis, database)
            heap.settle(heap.WORKER)
            if settings.worker_metrics_port:
                start_http_server(settings.worker_metrics_port, registry=flusher.metrics.registry)
            flusher.install_signal_handlers()
            await flusher.run()
        finally:
            await redis.close()
            await database.close()

    run(go)
