"""redemption codes: ``prize_codes`` and ``draws.code``

A coupon prize with codes uploaded gives each win its own code (SPEC §3).
Draws written before have no code (null), as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("draws") as t:
        t.add_column(sa.Column("code", sa.String(64), nullable=True))
    op.create_table(
        "prize_codes",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("activity_id", sa.BigInteger, nullable=False),
        sa.Column("prize_key", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("round_id", sa.String(64), nullable=True),
        sa.Column("pick", sa.SmallInteger, nullable=True),
        sa.Column("slot", sa.Integer, nullable=True),
        sa.Column("added_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("activity_id", "prize_key", "code", name="uq_prize_codes_code"),
        sa.UniqueConstraint(
            "activity_id", "prize_key", "round_id", "pick", "slot", name="uq_prize_codes_slot"
        ),
    )
    op.create_index("ix_prize_codes_pool", "prize_codes", ["activity_id", "prize_key", "round_id"])


def downgrade() -> None:
    op.drop_index("ix_prize_codes_pool", "prize_codes")
    op.drop_table("prize_codes")
    with op.batch_alter_table("draws") as t:
        t.drop_column("code")
