"""Operators, their sessions and tokens, and the audit trail."""

from __future__ import annotations

from typing import Any

import orjson
from typing_extensions import TypedDict

from app.domain.audit import AuditEntry
from app.domain.operators import Operator
from app.domain.records import OperatorRecord, TokenRecord
from app.http.responses.common import utc


class Who(TypedDict):
    username: str
    role: str  # viewer | editor | publisher | admin | grants


class SignedIn(TypedDict):
    operator: Who
    csrf_token: str | None  # send it as X-CSRF-Token with every write; null for a bearer


def signed_in(op: Operator) -> SignedIn:
    role = op.role.label if op.role is not None else "grants"
    return {"operator": {"username": op.actor, "role": role}, "csrf_token": op.csrf}


class OperatorInfo(TypedDict):
    username: str
    role: str
    disabled: bool
    created_at: str | None


class OperatorList(TypedDict):
    operators: list[OperatorInfo]


def operator(o: OperatorRecord) -> OperatorInfo:
    return {
        "username": o.username,
        "role": o.role,
        "disabled": o.disabled,
        "created_at": utc(o.created_at),
    }


class TokenInfo(TypedDict):
    name: str
    scope: str
    created_by: str
    created_at: str | None
    revoked_at: str | None


class TokenList(TypedDict):
    tokens: list[TokenInfo]


class NewToken(TokenInfo):
    token: str  # shown this once; only its SHA-256 is kept


def token(t: TokenRecord) -> TokenInfo:
    return {
        "name": t.name,
        "scope": t.scope,
        "created_by": t.created_by,
        "created_at": utc(t.created_at),
        "revoked_at": utc(t.revoked_at),
    }


class AuditItem(TypedDict):
    id: int
    at: str | None
    actor: str
    action: str
    target: str
    activity_id: int | None
    before: Any
    after: Any
    ip: str


class AuditPage(TypedDict):
    entries: list[AuditItem]
    next_cursor: str | None


def audit_item(e: AuditEntry) -> AuditItem:
    return {
        "id": e.id,
        "at": utc(e.at),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "activity_id": e.activity_id,
        "before": None if e.before is None else orjson.loads(e.before),
        "after": None if e.after is None else orjson.loads(e.after),
        "ip": e.ip,
    }
