"""operators, API tokens, operator sessions, the audit trail; publish approvals

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),  # argon2id
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("username", name="uq_operators_username"),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),  # SHA-256 of the secret
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "operator_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),  # SHA-256 of the cookie
        sa.Column(
            "operator_id",
            BIG_ID,
            sa.ForeignKey("operators.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("seen_at", sa.DateTime, nullable=False),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("activity_id", sa.BigInteger, nullable=True),
        sa.Column("before", LONG_TEXT, nullable=True),
        sa.Column("after", LONG_TEXT, nullable=True),
        sa.Column("ip", sa.String(64), nullable=False, server_default=""),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Index("ix_audit_actor", "actor", "id"),
        sa.Index("ix_audit_action_at", "action", "at"),
        sa.Index("ix_audit_activity", "activity_id", "id"),
        mysql_charset="utf8mb4",
    )
    # The chain's head: one row, locked by every append, so entries get
    # consecutive ids and each names the hash of the one before.
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_id", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        mysql_charset="utf8mb4",
    )
    op.bulk_insert(head, [{"id": 1, "last_id": 0, "last_hash": "0" * 64}])
    op.add_column("activities", sa.Column("pending_by", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("activities", "pending_by")
    op.drop_table("audit_head")
    op.drop_table("audit_log")
    op.drop_table("operator_sessions")
    op.drop_table("api_tokens")
    op.drop_table("operators")
