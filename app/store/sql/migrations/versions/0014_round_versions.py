"""each round's version; every published version's configuration

Once an activity has started, a new version changes only the rounds that have
not started (SPEC §3), so a round remembers the version it was loaded with
and verify reads that version's configuration.

Before this release nothing that decides an outcome could change after an
activity started, so every round of a published activity holds its
published version, and that version is the first row of activity_versions.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "activity_versions",
        sa.Column(
            "activity_id",
            BIG_ID,
            sa.ForeignKey("activities.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("config", LONG_TEXT, nullable=False),
        sa.Column("published_at", sa.DateTime, nullable=False),
    )
    with op.batch_alter_table("rounds") as t:
        t.add_column(sa.Column("version", sa.Integer, nullable=True))
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "INSERT INTO activity_versions (activity_id, version, config, published_at)"
            " SELECT id, published_version, live_config, published_at FROM activities"
            " WHERE published_at IS NOT NULL AND published_version IS NOT NULL"
            " AND live_config IS NOT NULL"
        )
    )
    bind.execute(
        sa.text(
            "UPDATE rounds SET version = (SELECT a.published_version FROM activities a"
            " WHERE a.id = rounds.activity_id)"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("rounds") as t:
        t.drop_column("version")
    op.drop_table("activity_versions")
