"""activities, rounds, prizes

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("config", LongText, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("published_at", sa.DateTime, nullable=True),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "rounds",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "activity_id",
            BigId,
            sa.ForeignKey("activities.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("session_index", sa.Integer, nullable=False),
        sa.Column("starts_at_ms", sa.BigInteger, nullable=False),
        sa.Column("ends_at_ms", sa.BigInteger, nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("seed_hash", sa.String(64), nullable=False),
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_rounds_activity_id", "rounds", ["activity_id"])
    op.create_index("ix_rounds_starts_at_ms", "rounds", ["starts_at_ms"])
    op.create_table(
        "prizes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "activity_id",
            BigId,
            sa.ForeignKey("activities.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("session_index", sa.Integer, nullable=False),
        sa.Column("pool_index", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("probability", sa.Float, nullable=True),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("image_url", sa.String(500), nullable=True),
        sa.UniqueConstraint("activity_id", "session_index", "pool_index", "key"),
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_prizes_activity_id", "prizes", ["activity_id"])


def downgrade() -> None:
    op.drop_table("prizes")
    op.drop_table("rounds")
    op.drop_table("activities")
