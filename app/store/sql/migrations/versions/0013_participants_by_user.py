"""a player's lotteries (``/lotteries``): participants by user

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_participants_user", "lottery_participants", ["user_id", "lottery_id"])


def downgrade() -> None:
    op.drop_index("ix_participants_user", table_name="lottery_participants")
