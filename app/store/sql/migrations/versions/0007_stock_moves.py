"""stock moves between buckets (SPEC §9)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_moves",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("move_id", sa.String(64), nullable=False),
        sa.Column("round_id", sa.String(64), nullable=False, index=True),
        sa.Column("prize_key", sa.String(32), nullable=False),
        sa.Column("from_bucket", sa.SmallInteger, nullable=False),
        sa.Column("to_bucket", sa.SmallInteger, nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("out_at_ms", sa.BigInteger, nullable=False),
        sa.Column("in_at_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("move_id", name="uq_stock_moves_move_id"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("stock_moves")
