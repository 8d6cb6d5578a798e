"""grants, draw pools and fulfilment, scheduled lotteries, notifications, WeChat sessions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("activity_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("reference", name="uq_grants_reference"),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("draws") as t:
        t.add_column(sa.Column("pool", sa.SmallInteger, nullable=False, server_default="1"))
        t.add_column(sa.Column("grant_id", sa.String(40), nullable=True))
        # won -> granted | grant_failed, set by the fulfilment hook (NULL on a loss)
        t.add_column(sa.Column("fulfilment", sa.String(16), nullable=True))
        t.add_column(sa.Column("fulfil_attempts", sa.Integer, nullable=False, server_default="0"))
        t.add_column(sa.Column("fulfil_next_ms", sa.BigInteger, nullable=True))
        t.create_index("ix_draws_fulfilment", ["fulfilment", "fulfil_next_ms"])
    op.create_table(
        "lotteries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("creator", sa.String(64), nullable=False, index=True),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("draw_at", sa.DateTime, nullable=False),
        sa.Column("prize_name", sa.String(100), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("seed_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("drawn_at", sa.DateTime, nullable=True),
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_lotteries_due", "lotteries", ["status", "draw_at"])
    op.create_table(
        "lottery_participants",
        sa.Column(
            "lottery_id",
            BigId,
            sa.ForeignKey("lotteries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("joined_at", sa.DateTime, nullable=False),
        sa.Column("won", sa.Boolean, nullable=False, server_default=sa.false()),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "notifications",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(100), nullable=False),
        sa.Column("payload", LongText, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("user_id", "kind", "ref", name="uq_notifications_once"),
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_notifications_user", "notifications", ["user_id", "id"])
    op.create_table(
        "wechat_sessions",
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("session_key", sa.String(128), nullable=False),
        sa.Column("unionid", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("wechat_sessions")
    op.drop_table("notifications")
    op.drop_table("lottery_participants")
    op.drop_table("lotteries")
    with op.batch_alter_table("draws") as t:
        t.drop_index("ix_draws_fulfilment")
        for col in ("fulfil_next_ms", "fulfil_attempts", "fulfilment", "grant_id", "pool"):
            t.drop_column(col)
    op.drop_table("grants")
