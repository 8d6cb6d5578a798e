"""a win's notification rides on its draw row

From this release a win's ``prize_won`` notification is kept on the win's own
row of ``draws`` (``notice``, the same JSON the notification held), not as a
row of ``notifications``: a win then adds one row to the database, which keeps
a round within SPEC §5's W + U + N/1,000 + 20 rows even when players win more
than once. ``GET /v1/me/notifications`` lists both (app/store/sql/notices.py).

The notifications already sent move onto their rows (read a thousand at a time,
each found through the unique ``draw_id``) and leave ``notifications``; one
whose row is gone (deleted) stays where it is. Their ids and times become
their rows' (the draw's time instead of the flush's, under a second apart).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
CHUNK = 1000


def upgrade() -> None:
    with op.batch_alter_table("draws") as batch:
        batch.add_column(sa.Column("notice", LONG_TEXT, nullable=True))
    conn = op.get_bind()
    after = 0
    while True:
        sent = conn.execute(
            sa.text(
                "SELECT id, user_id, ref, payload FROM notifications"
                " WHERE kind = 'prize_won' AND id > :after ORDER BY id LIMIT :n"
            ),
            {"after": after, "n": CHUNK},
        ).all()
        if not sent:
            return
        after = sent[-1].id
        for n in sent:
            moved = conn.execute(
                sa.text(
                    "UPDATE draws SET notice = :payload"
                    " WHERE draw_id = :ref AND user_id = :user AND notice IS NULL"
                ),
                {"payload": n.payload, "ref": n.ref, "user": n.user_id},
            )
            if moved.rowcount:
                conn.execute(sa.text("DELETE FROM notifications WHERE id = :id"), {"id": n.id})


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(
        sa.text(
            "INSERT INTO notifications (user_id, kind, ref, payload, created_at)"
            " SELECT user_id, 'prize_won', draw_id, notice, CURRENT_TIMESTAMP FROM draws"
            " WHERE notice IS NOT NULL"
        )
    )
    with op.batch_alter_table("draws") as batch:
        batch.drop_column("notice")
