"""grants by user (GET /v1/me/grants)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_grants_user", "grants", ["user_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_grants_user", table_name="grants")
