"""physical prizes: ``deliveries`` (the winner's address, then shipped)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("draw_id", sa.String(80), primary_key=True),
        sa.Column("activity_id", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tracking", sa.String(200), nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("shipped_at", sa.DateTime, nullable=True),
        sa.Column("shipped_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_deliveries_activity_id", "deliveries", ["activity_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_activity_id", "deliveries")
    op.drop_table("deliveries")
