"""Operators, API tokens and the audit trail, from a server (SPEC §8).

These work on the database alone (``REDRAIN_DATABASE_URL``): the way to make
the first admin operator, and to run without the break-glass admin token.
Every change is written to the audit trail as the actor ``cli``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from app.cli.base import audit_key, database_or_exit, fail, main, run, settings_or_exit
from app.domain.audit import CLI
from app.services.auth import Auth
from app.services.clock import Clock
from app.services.operators import Operators
from app.store.sql.database import Database

T = TypeVar("T")
ROLES = click.Choice(["viewer", "editor", "publisher", "admin"])


def _with_operators(work: Callable[[Operators], Awaitable[T]]) -> T:
    settings, url = database_or_exit()
    key = audit_key(settings)

    async def go() -> T:
        database = Database(url, audit_key=key)
        clock = Clock(settings.clock_offset_ms)
        try:
            return await work(Operators(settings, database, Auth(settings, clock), clock))
        finally:
            await database.close()

    return run(go)


@main.group()
def operator() -> None:
    """Console operators: create, list, disable."""


@operator.command("create")
@click.argument("username")
@click.option("--role", type=ROLES, required=True)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def operator_create(username: str, role: str, password_stdin: bool) -> None:
    """Create an operator; the password is asked for (twice) unless piped in."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    made = _with_operators(lambda ops: ops.create(username, password, role, CLI))
    click.echo(f"operator {made.username} created ({made.role})")


@operator.command("list")
def operator_list() -> None:
    """Every operator, its role, and whether it is disabled."""
    for o in _with_operators(lambda ops: ops.all()):
        state = "disabled" if o.disabled else "active"
        click.echo(f"{o.username}\t{o.role}\t{state}\t{o.created_at:%Y-%m-%d %H:%M}Z")


@operator.command("disable")
@click.argument("username")
def operator_disable(username: str) -> None:
    """Disable an operator: their sessions end and they cannot sign in."""
    _with_operators(lambda ops: ops.set_disabled(username, True, CLI))
    click.echo(f"operator {username} disabled")


@main.group()
def token() -> None:
    """Scoped API tokens: create (shown once), revoke."""


@token.command("create")
@click.argument("name")
@click.option(
    "--scope",
    required=True,
    help="grants (the backend that issues draw chances) or admin:viewer|editor|publisher|admin",
)
def token_create(name: str, scope: str) -> None:
    """Create a token and print it, this once (only its hash is kept)."""
    made, secret = _with_operators(lambda ops: ops.create_token(name, scope, CLI))
    click.echo(f"token {made.name} ({made.scope}), shown once:", err=True)
    click.echo(secret)


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke a token at once."""
    _with_operators(lambda ops: ops.revoke_token(name, CLI))
    click.echo(f"token {name} revoked")


@main.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@click.option(
    "--expect",
    "checkpoints",
    multiple=True,
    metavar="ID:HASH",
    help="a head an earlier run printed (kept outside the database); repeatable",
)
def audit_verify(checkpoints: tuple[str, ...]) -> None:
    """Walk the keyed hash chain: exit 0 when every entry is as written, 1
    naming the first entry that was edited, deleted or reordered (or a
    checkpoint that is gone). Prints the head to keep as the next checkpoint."""
    expect: dict[int, str] = {}
    for point in checkpoints:
        eid, _, digest = point.partition(":")
        if not (eid.isascii() and eid.isdigit() and len(digest) == 64):
            fail(f"--expect {point!r}: expected ID:HASH as `audit verify` prints it")
        expect[int(eid)] = digest.lower()
    checked, problem, (head_id, head_hash) = _with_operators(lambda ops: ops.verify_audit(expect))
    if problem is not None:
        click.echo(f"audit trail BROKEN at entry {problem.id}: {problem.problem}")
        sys.exit(1)
    click.echo(f"audit trail intact: {checked} entries; head {head_id}:{head_hash}")


@audit.command("rekey")
def audit_rekey() -> None:
    """Re-chain the trail with the audit key settings give now (after changing
    REDRAIN_AUDIT_KEY, or REDRAIN_SECRET_KEY when the key is derived from it).
    The key it was written with: REDRAIN_AUDIT_KEY_OLD, else the one derived
    from REDRAIN_SECRET_KEY_PREVIOUS. Exit 1, changing nothing, when the trail
    does not check out with that key."""
    settings = settings_or_exit()
    old = os.environ.get("REDRAIN_AUDIT_KEY_OLD", "")
    if old:
        old_key = old.encode()
    elif settings.secret_key_previous is not None:
        previous = settings.model_copy(
            update={"secret_key": settings.secret_key_previous, "audit_key": None}
        )
        old_key = previous.audit_key_bytes
    else:
        fail("set REDRAIN_AUDIT_KEY_OLD (or REDRAIN_SECRET_KEY_PREVIOUS) to the key the trail has")
    if old_key == audit_key(settings):
        fail("the old and the new audit key are the same: nothing to do")
    problem = _with_operators(lambda ops: ops.rekey_audit(old_key, CLI))
    if problem is not None:
        click.echo(f"audit trail BROKEN at entry {problem.id}: {problem.problem}; nothing changed")
        sys.exit(1)
    click.echo("audit trail re-keyed")
