"""compact losses: loss_blocks, loss_users and the rounds written before them

From this release a plain loss is kept in a block of its round (SPEC §5,
app/domain/losses.py), not as a row of ``draws``. Rounds that already have
draw rows are listed in ``legacy_rounds`` and stay as they are: their
remaining draws keep being written as rows, so an entry flushed before the
upgrade and replayed after it is still recognised by its ``draw_id``.
Readers (history, verify, reconcile, reports) read both forms.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BLOB = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "loss_blocks",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("round_id", sa.String(64), nullable=False),
        sa.Column("lane", sa.SmallInteger, nullable=False),
        sa.Column("block", sa.Integer, nullable=False),
        sa.Column("activity_id", sa.BigInteger, nullable=False),
        sa.Column("buckets", sa.SmallInteger, nullable=False),
        sa.Column("lost_map", sa.LargeBinary(125), nullable=False),
        sa.Column("row_map", sa.LargeBinary(125), nullable=False),
        sa.Column("draws", sa.Integer, nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("first_ms", sa.BigInteger, nullable=False),
        sa.Column("last_ms", sa.BigInteger, nullable=False),
        sa.Column("data", BLOB, nullable=False),
        sa.UniqueConstraint("round_id", "lane", "block", name="uq_loss_blocks_key"),
    )
    op.create_index("ix_loss_blocks_activity_time", "loss_blocks", ["activity_id", "first_ms"])
    op.create_table(
        "loss_users",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("round_id", sa.String(64), primary_key=True),
        sa.Column("activity_id", sa.BigInteger, nullable=False),
        sa.Column("lane", sa.SmallInteger, nullable=False),
        sa.Column("first_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_loss_users_round", "loss_users", ["round_id"])
    op.create_table("legacy_rounds", sa.Column("round_id", sa.String(64), primary_key=True))
    op.get_bind().execute(
        sa.text("INSERT INTO legacy_rounds (round_id) SELECT DISTINCT round_id FROM draws")
    )


def downgrade() -> None:
    op.drop_table("legacy_rounds")
    op.drop_index("ix_loss_users_round", "loss_users")
    op.drop_table("loss_users")
    op.drop_index("ix_loss_blocks_activity_time", "loss_blocks")
    op.drop_table("loss_blocks")
