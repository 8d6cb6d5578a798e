"""published versions; tokens owned by a person; a keyed audit chain

- activities: ``live_config`` and ``published_version`` (what players draw
  against, while ``config``/``version`` may be a newer pending version),
  ``pending_version`` (the version a four-eyes request names).
- api_tokens: ``created_by`` names a person: a token made by a token is owned
  by that token's creator.
- audit_log: the unkeyed SHA-256 chain is verified, then every hash is
  rewritten as HMAC-SHA256 with the audit key from settings; a broken old
  chain stops the migration (nothing is re-keyed) naming the entry.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import mysql

from app.domain.audit import GENESIS, AuditEntry, first_break, rechained

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
CHUNK = 5000


def upgrade() -> None:
    key: bytes | None = context.config.attributes.get("audit_key")
    bind = op.get_bind()
    _check_audit(bind, key)
    with op.batch_alter_table("activities") as t:
        t.add_column(sa.Column("live_config", LONG_TEXT, nullable=True))
        t.add_column(sa.Column("published_version", sa.Integer, nullable=True))
        t.add_column(sa.Column("pending_version", sa.Integer, nullable=True))
    activities = sa.table(
        "activities",
        sa.column("id"),
        sa.column("config"),
        sa.column("version"),
        sa.column("status"),
        sa.column("published_at"),
        sa.column("live_config"),
        sa.column("published_version"),
        sa.column("pending_version"),
    )
    # Before this release a PUT re-published at once, so the stored version is
    # the live one (an activity waiting for approval after a PUT keeps its
    # latest version as the one it is verified against, as before).
    bind.execute(
        activities.update()
        .where(activities.c.published_at.is_not(None))
        .values(live_config=activities.c.config, published_version=activities.c.version)
    )
    bind.execute(
        activities.update()
        .where(activities.c.status == "pending_approval")
        .values(pending_version=activities.c.version)
    )
    _own_tokens(bind)
    _rekey_audit(bind, key)


def _own_tokens(bind: sa.Connection) -> None:
    tokens = sa.table("api_tokens", sa.column("name"), sa.column("created_by"))
    for _ in range(8):  # a chain of tokens making tokens, followed to a person
        owner = {
            name: by for name, by in bind.execute(sa.select(tokens.c.name, tokens.c.created_by))
        }
        moved = [(name, owner[by]) for name, by in owner.items() if by in owner and by != name]
        if not moved:
            return
        for name, by in moved:
            bind.execute(tokens.update().where(tokens.c.name == name).values(created_by=by))


AUDIT = sa.table(
    "audit_log",
    sa.column("id", sa.BigInteger),
    sa.column("at", sa.DateTime),  # typed: SQLite would hand back text
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("target", sa.String),
    sa.column("activity_id", sa.BigInteger),
    sa.column("before", sa.Text),
    sa.column("after", sa.Text),
    sa.column("ip", sa.String),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)
HEAD = sa.table("audit_head", sa.column("id"), sa.column("last_id"), sa.column("last_hash"))


def _trail(bind: sa.Connection) -> Iterator[list[AuditEntry]]:
    after = 0
    while True:
        rows = bind.execute(
            sa.select(AUDIT).where(AUDIT.c.id > after).order_by(AUDIT.c.id).limit(CHUNK)
        ).all()
        if not rows:
            return
        yield [AuditEntry(*row) for row in rows]
        after = rows[-1].id


def _check_audit(bind: sa.Connection, key: bytes | None) -> None:
    """The old, unkeyed chain must be whole before anything changes (this
    runs before the schema changes: MariaDB commits DDL at once)."""
    last_id, last_hash = 0, GENESIS
    for entries in _trail(bind):
        if not key:
            raise RuntimeError(
                "the audit trail must be re-keyed: set REDRAIN_AUDIT_KEY or REDRAIN_SECRET_KEY "
                "and run `redrain db upgrade` again"
            )
        broken = first_break(None, entries, after_id=last_id, after_hash=last_hash)
        if broken is not None:
            raise RuntimeError(
                f"the audit trail is broken at entry {broken.id} ({broken.problem}); "
                "nothing was changed: keep a copy of audit_log for the investigation, "
                "then see docs/security.md"
            )
        last_id, last_hash = entries[-1].id, entries[-1].hash
    head = bind.execute(sa.select(HEAD.c.last_id, HEAD.c.last_hash).where(HEAD.c.id == 1)).one()
    if (head.last_id, head.last_hash) != (last_id, last_hash):
        raise RuntimeError(
            f"the audit trail's head names entry {head.last_id} but the trail ends at "
            f"{last_id}: entries were removed; nothing was changed (docs/security.md)"
        )


def _rekey_audit(bind: sa.Connection, key: bytes | None) -> None:
    prev = GENESIS
    for entries in _trail(bind):
        assert key  # _check_audit refused a trail without one
        done = rechained(entries, key, prev)
        bind.execute(
            AUDIT.update()
            .where(AUDIT.c.id == sa.bindparam("eid"))
            .values(prev_hash=sa.bindparam("p"), hash=sa.bindparam("h")),
            [{"eid": e.id, "p": e.prev_hash, "h": e.hash} for e in done],
        )
        prev = done[-1].hash
    bind.execute(HEAD.update().where(HEAD.c.id == 1).values(last_hash=prev))


def downgrade() -> None:
    with op.batch_alter_table("activities") as t:
        t.drop_column("pending_version")
        t.drop_column("published_version")
        t.drop_column("live_config")
