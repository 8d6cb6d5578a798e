"""the emergency stop: ``activities.paused``

Every activity starts unpaused; a publish writes the flag to Redis with the
rest of the configuration, so a Redis rebuilt by re-publishing keeps a pause.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("activities") as t:
        t.add_column(sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("activities") as t:
        t.drop_column("paused")
