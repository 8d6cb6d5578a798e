"""blacklist, stock top-ups (for verify)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blacklist",
        sa.Column("kind", sa.String(8), primary_key=True),  # user | ip
        sa.Column("value", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime, nullable=False),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "stock_topups",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("round_id", sa.String(64), nullable=False, index=True),
        sa.Column("prize_key", sa.String(32), nullable=False),
        sa.Column("added", sa.BigInteger, nullable=False),
        sa.Column(
            "at_ms", sa.BigInteger, nullable=False
        ),  # the Redis clock (+ offset) of the top-up
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("stock_topups")
    op.drop_table("blacklist")
