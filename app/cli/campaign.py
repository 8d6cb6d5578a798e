"""Campaign operations from a server: ``reconcile``, ``verify``, ``export``,
``db upgrade``, ``activity create|publish``."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from app.cli.base import (
    audit_key,
    database_or_exit,
    fail,
    main,
    production_settings,
    redact,
    run,
)
from app.domain.errors import NotFound

if TYPE_CHECKING:
    from rich.console import Console

    from app.domain.bundle import RoundBundle
    from app.domain.verify import Report
    from app.services.verifier import Verifier

T = TypeVar("T")


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
    do, 1 on any drift (each one named). A run over every activity is kept in
    Redis for /metrics (redrain_reconcile_*), where the drift and not-run alerts
    read it."""
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
            if not activities:  # a run over some activities says nothing of the rest
                await rec.record(checks)
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


def _with_verifier(work: Callable[[Verifier, int], Awaitable[T]]) -> T:
    """``work(verifier, now_ms)`` on the database, read only; a round the
    database does not have is a usage error (exit 2), not a fairness failure."""
    from app.services.clock import Clock
    from app.services.verifier import Verifier
    from app.store.sql.database import Database

    settings, url = database_or_exit()

    async def go() -> T:
        database = Database(url, audit_key=b"")  # reads only
        try:
            return await work(Verifier(database), Clock(settings.clock_offset_ms).now_ms())
        except NotFound as exc:
            fail(exc.message)
        finally:
            await database.close()

    return run(go)


def _print_report(out: Console, report: Report, round_id: str) -> bool:
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


def _read_bundle(path: Path) -> RoundBundle:
    """An audit bundle from a file, gzip-compressed (as exported) or not."""
    import gzip

    from app.domain.bundle import load
    from app.domain.errors import ValidationFailed

    try:
        with path.open("rb") as raw:
            zipped = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if zipped else path.open("rb") as f:
            return load(f)
    except OSError as exc:  # includes a damaged gzip stream
        fail(f"cannot read {path}: {exc}")
    except ValidationFailed as exc:
        fail(f"{path}: {exc.message}")


@main.command()
@click.argument("round_id", required=False)
@click.option(
    "--file",
    "bundle_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="an audit bundle (redrain export): verify it offline, with no database or Redis",
)
def verify(round_id: str | None, bundle_file: Path | None) -> None:
    """Recompute every draw of ROUND_ID from the database and the round's seed,
    or of the audit bundle given with --file; exit 0 when all of them check
    out, 1 on any mismatch (each one named), 2 when there is no such round."""
    from rich.console import Console

    out = Console()
    if bundle_file is not None:
        from app.domain.activity import config_hash
        from app.domain.bundle import check

        if round_id is not None:
            fail("give ROUND_ID or --file, not both")
        with out.status(f"reading {bundle_file} ..."):
            bundle = _read_bundle(bundle_file)
        out.print(
            f"{bundle.round_id}: seed_hash {bundle.seed_hash}, activity version"
            f" {bundle.version}, config_hash {config_hash(bundle.config)}"
            " (compare them with the published ones)",
            markup=False,
            highlight=False,
        )
        if bundle.public:
            out.print(
                "a public bundle: players are pseudonyms and their keys are given, not derived"
                " (a player checks their own key on /verify); prize values are blanked",
                markup=False,
                highlight=False,
            )
        with out.status(f"verifying {bundle.round_id} ..."):
            report = check(bundle)
        sys.exit(0 if _print_report(out, report, bundle.round_id) else 1)
    if round_id is None:
        fail("give ROUND_ID, or --file FILE for an audit bundle")

    async def go(verifier: Verifier, now_ms: int) -> Report:
        with out.status(f"verifying {round_id} ..."):
            return await verifier.verify(round_id, now_ms=now_ms)

    report = _with_verifier(go)
    sys.exit(0 if _print_report(out, report, round_id) else 1)


@main.command()
@click.argument("round_id")
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="the file to write (gzip-compressed JSON lines)",
)
def export(round_id: str, out_file: Path) -> None:
    """Write the audit bundle of an ended round: its revealed seed, the
    configuration it was drawn with and every draw, for `redrain verify
    --file` anywhere, with no database or Redis."""
    import gzip

    from rich.console import Console

    from app.domain.bundle import dump
    from app.domain.verify import Report

    err = Console(stderr=True)
    report = Report(round_id)

    async def go(verifier: Verifier, now_ms: int) -> RoundBundle | None:
        with err.status(f"reading {round_id} ..."):
            return await verifier.gather(round_id, report, now_ms=now_ms)

    bundle = _with_verifier(go)
    if bundle is None:
        fail(f"{round_id}: {report.findings[0].problem}")
    if not report.ended:
        fail(f"{round_id} has not ended: its seed is secret until then")
    tmp = out_file.with_name(out_file.name + ".part")
    try:
        with gzip.open(tmp, "wb") as f:
            for line in dump(bundle):
                f.write(line)
        tmp.replace(out_file)  # a finished bundle or none
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        fail(f"cannot write {out_file}: {exc}")
    err.print(
        f"{out_file}: {len(bundle.draws)} draws of {round_id}, {out_file.stat().st_size:,} bytes",
        markup=False,
        highlight=False,
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply every migration to REDRAIN_DATABASE_URL."""
    from app.store.sql.connection import upgrade as migrate

    settings, url = database_or_exit()
    click.echo(f"upgrading {redact(url)} ...", err=True)
    try:
        # Migration 0008 re-keys an existing audit trail with this key.
        key = settings.audit_key_bytes if settings.audit_key or settings.secret_key else None
        migrate(url, key)
    except Exception as exc:
        fail(f"migration failed: {exc.__class__.__name__}: {str(exc).splitlines()[0]}", 1)
    click.echo("database is at the latest schema", err=True)


@main.group()
def activity() -> None:
    """Create and publish activities without the HTTP API."""


@activity.command("create")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def activity_create(file: Path) -> None:
    """Create an activity from a JSON FILE; prints its id."""
    from app.domain.activity import parse_config
    from app.domain.audit import CLI
    from app.services.clock import Clock
    from app.store.sql.database import Database

    settings, url = database_or_exit()
    try:
        data = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        fail(f"{file}: malformed JSON: {exc}")

    key = audit_key(settings)

    async def go() -> int:
        cfg = parse_config(data)
        database = Database(url, audit_key=key)
        try:
            created = await database.activities.create(
                cfg,
                now=Clock(settings.clock_offset_ms).stamp(),
                audit=CLI.draft("activity.create", "activity:new"),
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
        from app.domain.audit import CLI
        from app.http.responses import pending, published
        from app.services.activities import Pending

        services = await build(settings)
        try:
            done = await services.activities.publish(activity_id, CLI)
        finally:
            await services.close()
        return dict(pending(done)) if isinstance(done, Pending) else dict(published(done))

    click.echo(orjson.dumps(run(go)).decode())
