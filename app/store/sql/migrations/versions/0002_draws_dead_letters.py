"""draws ledger and dead letters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "draws",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("draw_id", sa.String(80), nullable=False),
        sa.Column("activity_id", sa.BigInteger, nullable=False),
        sa.Column("round_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.Integer, nullable=False),
        sa.Column("client_seed", sa.String(64), nullable=False),
        sa.Column("pick", sa.SmallInteger, nullable=False),
        sa.Column("won", sa.Boolean, nullable=False),
        sa.Column("prize_key", sa.String(32), nullable=True),
        sa.Column("prize_type", sa.String(16), nullable=True),
        sa.Column("prize_name", sa.String(100), nullable=True),
        sa.Column("prize_value", sa.String(200), nullable=True),
        sa.Column("random", sa.String(40), nullable=False),
        sa.Column("drawn_at_ms", sa.BigInteger, nullable=False),
        sa.Column("stream_id", sa.String(32), nullable=False),
        sa.UniqueConstraint("draw_id", name="uq_draws_draw_id"),
        mysql_charset="utf8mb4",
    )
    # No index on round_id: a draw id is "<round_id>:<seq>", so a round is a range
    # of the unique draw_id index (one index less to maintain per insert).
    op.create_index("ix_draws_user_time", "draws", ["user_id", "drawn_at_ms", "id"])
    op.create_index("ix_draws_activity_won", "draws", ["activity_id", "won", "id"])
    op.create_table(
        "dead_letters",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("stream", sa.String(120), nullable=False),
        sa.Column("entry_id", sa.String(32), nullable=False),
        sa.Column("draw_id", sa.String(80), nullable=True),
        sa.Column("fields", LongText, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("stream", "entry_id", name="uq_dead_letters_entry"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_table("draws")
