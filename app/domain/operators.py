"""Operators, their roles and API token scopes (SPEC §8). Pure: no I/O.

Roles, each including the one before::

    viewer     read activities, stats, winners, the audit trail
    editor     create and edit drafts, the blacklist
    publisher  publish (and approve another's publish), top up stock
    admin      operators and API tokens; issuing grants

An API token has one scope: ``grants`` (a trusted backend issuing draw
chances, nothing else) or ``admin:<role>`` (acts as that role). A token acts
as the operator who created it: never above that operator's role, not at all
once that operator is disabled, and never approving what that operator
requested. The break-glass ``REDRAIN_ADMIN_TOKEN`` acts as ``admin`` under
the actor name ``admin-token``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from app.domain.errors import Conflict, Forbidden, ValidationFailed

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{1,63}$")
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
MIN_PASSWORD = 12
ADMIN_TOKEN_ACTOR = "admin-token"  # noqa: S105 - an actor name, not a secret


class Role(IntEnum):
    VIEWER = 1
    EDITOR = 2
    PUBLISHER = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise ValidationFailed(f"role: expected one of {names}", field="role") from None


class Can(StrEnum):
    """What a route needs."""

    READ = "read"  # viewer
    EDIT = "edit"  # editor
    PUBLISH = "publish"  # publisher
    MANAGE = "manage"  # admin: operators and tokens
    GRANT = "grant"  # issue draw chances: the grants scope, or admin


NEEDS: dict[Can, Role] = {
    Can.READ: Role.VIEWER,
    Can.EDIT: Role.EDITOR,
    Can.PUBLISH: Role.PUBLISHER,
    Can.MANAGE: Role.ADMIN,
    Can.GRANT: Role.ADMIN,
}
GRANTS_SCOPE = "grants"


def parse_scope(text: str) -> str:
    """A token scope as stored: ``grants`` or ``admin:<role>``."""
    if text == GRANTS_SCOPE:
        return text
    kind, _, role = text.partition(":")
    if kind == "admin" and role:
        return f"admin:{Role.parse(role).label}"
    raise ValidationFailed(
        "scope: expected grants or admin:viewer|editor|publisher|admin", field="scope"
    )


@dataclass(frozen=True, slots=True)
class Operator:
    """Who is acting on an admin route, and how they proved it."""

    actor: str  # a username, a token's name, or "admin-token"
    role: Role | None  # None: a grants-only token
    via: str  # session | token | admin-token
    csrf: str | None = None  # a session's token, required on its writes
    session: str | None = None  # the session cookie's hash
    owner: str = ""  # a token's creator: the person it acts as (SPEC §8)

    @property
    def principal(self) -> str:
        """The person acting: a token's creator, else the actor itself."""
        return self.owner or self.actor

    def allows(self, need: Can) -> bool:
        if need is Can.GRANT and self.role is None:
            return True  # the grants scope does exactly this
        return self.role is not None and self.role >= NEEDS[need]

    def require(self, need: Can) -> None:
        if not self.allows(need):
            role = self.role.label if self.role else "grants-only"
            raise Forbidden(f"this route needs the {NEEDS[need].label} role; you are {role}")


# Who may own a token without being an operator: the break-glass admin token
# and the command line on a server (both already hold every power).
KEYHOLDERS = frozenset({ADMIN_TOKEN_ACTOR, "cli", "embedded"})


def token_operator(name: str, scope: str, creator: str, creator_role: Role | None) -> Operator:
    """An API token acting as its creator, with at most the creator's role
    (``creator_role`` None: a keyholder, whose role bounds nothing)."""
    if scope == GRANTS_SCOPE:
        return Operator(name, None, "token", owner=creator)
    role = Role.parse(scope.partition(":")[2])
    if creator_role is not None:
        role = min(role, creator_role)
    return Operator(name, role, "token", owner=creator)


# Actor names the audit trail gives to what is not an operator: an operator by
# one of these names would pass for the break-glass token, the server's command
# line or a failed sign-in (and own the keyholders' tokens).
RESERVED = KEYHOLDERS | {"anonymous"}


def check_username(name: str) -> str:
    if not USERNAME.match(name):
        raise ValidationFailed(
            "username: 2-64 characters of a-z 0-9 _ . -, starting with a letter or digit",
            field="username",
        )
    if name in RESERVED:
        raise ValidationFailed(
            f"username: {name!r} is reserved (the audit trail's name for "
            f"{'a failed sign-in' if name == 'anonymous' else 'a keyholder'})",
            field="username",
        )
    return name


def check_disable(username: str, principal: str) -> None:
    """An operator cannot disable themselves, in the console or with a token
    they made: it would end their own sessions and, for the last admin, leave
    nobody to undo it but the server's command line or the break-glass token.
    Keyholders (which are not operators) are not refused."""
    if principal == username and principal not in KEYHOLDERS:
        raise Conflict("you cannot disable yourself: ask another admin", code="cannot_disable_self")


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"password: at least {MIN_PASSWORD} characters", field="password")
    if len(password) > 1024:
        raise ValidationFailed("password: at most 1024 characters", field="password")
    return password


def check_token_name(name: str) -> str:
    if not TOKEN_NAME.match(name):
        raise ValidationFailed(
            "name: 1-64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit",
            field="name",
        )
    if name.lower() in RESERVED:  # the trail names a token's changes by the token
        raise ValidationFailed(f"name: {name!r} is reserved (a keyholder's name)", field="name")
    return name


class CsrfFailed(Forbidden):
    """A console write without its session's X-CSRF-Token."""

    code = "csrf_failed"

    def __init__(self) -> None:
        super().__init__("this write needs the session's X-CSRF-Token header")
