"""Operators, their console sessions and API tokens. Every change is written
with its audit entry, in one transaction."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update

from app.domain.audit import AuditDraft
from app.domain.errors import Duplicate
from app.domain.records import OperatorRecord, SessionRecord, TokenRecord
from app.store.sql.audit import append
from app.store.sql.connection import Connection
from app.store.sql.models import ApiTokenRow, OperatorRow, OperatorSessionRow


def _operator(r: OperatorRow) -> OperatorRecord:
    return OperatorRecord(r.id, r.username, r.role, bool(r.disabled), r.created_at)


def _token(r: ApiTokenRow) -> TokenRecord:
    return TokenRecord(r.name, r.scope, r.created_by, r.created_at, r.revoked_at)


class Operators:
    def __init__(self, db: Connection) -> None:
        self.db = db

    # -- operators ------------------------------------------------------------------

    async def create(
        self, username: str, password_hash: str, role: str, *, now: dt.datetime, audit: AuditDraft
    ) -> OperatorRecord | None:
        """The new operator; None if the username is taken."""
        try:
            async with self.db.session() as s:
                row = OperatorRow(
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    disabled=False,
                    created_at=now,
                    updated_at=now,
                )
                s.add(row)
                await s.flush()
                await append(s, audit, now, self.db.audit_key)
                return _operator(row)
        except Duplicate:
            return None

    async def credentials(self, username: str) -> tuple[OperatorRecord, str] | None:
        """An operator and its password hash, by username."""
        async with self.db.session() as s:
            row = await s.scalar(select(OperatorRow).where(OperatorRow.username == username))
            return None if row is None else (_operator(row), row.password_hash)

    async def all(self) -> list[OperatorRecord]:
        async with self.db.session() as s:
            return [
                _operator(r)
                for r in await s.scalars(select(OperatorRow).order_by(OperatorRow.username))
            ]

    async def set_disabled(
        self, username: str, disabled: bool, *, now: dt.datetime, audit: AuditDraft
    ) -> OperatorRecord | None:
        """Disable (ending every session) or enable; None if there is no such operator."""
        async with self.db.session() as s:
            row = await s.scalar(
                select(OperatorRow).where(OperatorRow.username == username).with_for_update()
            )
            if row is None:
                return None
            row.disabled, row.updated_at = disabled, now
            if disabled:
                await s.execute(
                    delete(OperatorSessionRow).where(OperatorSessionRow.operator_id == row.id)
                )
            await append(s, audit, now, self.db.audit_key)
            return _operator(row)

    # -- console sessions ----------------------------------------------------------------

    async def open_session(
        self, operator_id: int, id_hash: str, csrf: str, *, now: dt.datetime, audit: AuditDraft
    ) -> None:
        async with self.db.session() as s:
            s.add(
                OperatorSessionRow(
                    id_hash=id_hash,
                    operator_id=operator_id,
                    csrf_token=csrf,
                    created_at=now,
                    seen_at=now,
                )
            )
            await append(s, audit, now, self.db.audit_key)

    async def session(self, id_hash: str) -> SessionRecord | None:
        async with self.db.session() as s:
            row = (
                await s.execute(
                    select(OperatorSessionRow, OperatorRow)
                    .join(OperatorRow, OperatorRow.id == OperatorSessionRow.operator_id)
                    .where(OperatorSessionRow.id_hash == id_hash)
                )
            ).one_or_none()
            if row is None:
                return None
            sess, op = row
            return SessionRecord(_operator(op), sess.csrf_token, sess.seen_at)

    async def touch_session(self, id_hash: str, now: dt.datetime) -> None:
        async with self.db.session() as s:
            await s.execute(
                update(OperatorSessionRow)
                .where(OperatorSessionRow.id_hash == id_hash)
                .values(seen_at=now)
            )

    async def close_session(
        self, id_hash: str, *, now: dt.datetime, audit: AuditDraft | None
    ) -> bool:
        async with self.db.session() as s:
            res = await s.execute(
                delete(OperatorSessionRow).where(OperatorSessionRow.id_hash == id_hash)
            )
            closed = bool(getattr(res, "rowcount", 0))
            if closed and audit is not None:
                await append(s, audit, now, self.db.audit_key)
            return closed

    # -- API tokens -------------------------------------------------------------------

    async def create_token(
        self,
        name: str,
        token_hash: str,
        scope: str,
        *,
        by: str,
        now: dt.datetime,
        audit: AuditDraft,
    ) -> TokenRecord | None:
        """The new token; None if the name is taken."""
        try:
            async with self.db.session() as s:
                row = ApiTokenRow(
                    name=name, token_hash=token_hash, scope=scope, created_by=by, created_at=now
                )
                s.add(row)
                await s.flush()
                await append(s, audit, now, self.db.audit_key)
                return _token(row)
        except Duplicate:
            return None

    async def token(self, token_hash: str) -> tuple[TokenRecord, OperatorRecord | None] | None:
        """A token that has not been revoked, by the hash of its secret, and
        the operator who created it (None when its creator is not an operator)."""
        async with self.db.session() as s:
            found = (
                await s.execute(
                    select(ApiTokenRow, OperatorRow)
                    .outerjoin(OperatorRow, OperatorRow.username == ApiTokenRow.created_by)
                    .where(ApiTokenRow.token_hash == token_hash, ApiTokenRow.revoked_at.is_(None))
                )
            ).one_or_none()
            if found is None:
                return None
            token, owner = found
            return _token(token), None if owner is None else _operator(owner)

    async def tokens(self) -> list[TokenRecord]:
        async with self.db.session() as s:
            return [
                _token(r) for r in await s.scalars(select(ApiTokenRow).order_by(ApiTokenRow.name))
            ]

    async def revoke_token(self, name: str, *, now: dt.datetime, audit: AuditDraft) -> bool:
        async with self.db.session() as s:
            res = await s.execute(
                update(ApiTokenRow)
                .where(ApiTokenRow.name == name, ApiTokenRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if not getattr(res, "rowcount", 0):
                return False
            await append(s, audit, now, self.db.audit_key)
            return True
