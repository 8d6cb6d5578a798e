"""blacklisted IPs in their canonical spelling (docs/security.md)

Entries added before could be spelled any way Python parses
(``::FFFF:10.9.9.9``, ``2001:DB8:0::1``), and the draw script compares
strings: such an entry never matched. Each becomes its canonical spelling
(``10.9.9.9``, ``2001:db8::1``); a second spelling of an address already
listed is dropped. An entry that is no address at all is left as it is.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.domain.addresses import canonical_ip

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BLACKLIST = sa.table("blacklist", sa.column("kind", sa.String), sa.column("value", sa.String))


def upgrade() -> None:
    conn = op.get_bind()
    values = sorted(
        conn.scalars(sa.select(BLACKLIST.c.value).where(BLACKLIST.c.kind == "ip")).all()
    )
    listed = set(values)
    for value in values:
        ip = canonical_ip(value)
        if ip is None or ip == value:
            continue
        this = (BLACKLIST.c.kind == "ip") & (BLACKLIST.c.value == value)
        if ip in listed:
            conn.execute(sa.delete(BLACKLIST).where(this))
        else:
            conn.execute(sa.update(BLACKLIST).where(this).values(value=ip))
            listed.add(ip)
        listed.discard(value)


def downgrade() -> None:
    pass  # the canonical spelling is a valid spelling for the code before
