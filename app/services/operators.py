"""Operators signing in, their sessions, API tokens, and the audit trail (SPEC §8).

Passwords are hashed with argon2id (argon2-cffi). A console session is a
random cookie whose SHA-256 is stored with a CSRF token and the time it was
last used; it ends after ``REDRAIN_SESSION_TTL`` idle seconds. API tokens are
random secrets shown once; only their SHA-256 is stored.

Login throttling (5 failures in 15 minutes for one username, or from one
address, answer 429 ``login_throttled``) cannot lock a known operator out: a
successful login leaves a signed "device" cookie for that username, and a
login carrying it is not counted against the username's failures, only the
address's — so an attacker hammering a username from elsewhere locks out
only attempts without that cookie (OWASP's device cookies).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.config import Settings
from app.domain import operators as ops
from app.domain.audit import GENESIS, Actor, AuditEntry, Break, first_break
from app.domain.errors import Conflict, Forbidden, LimitReached, NotFound, Unauthorized
from app.domain.records import OperatorRecord, TokenRecord
from app.services.auth import Auth
from app.services.clock import Clock
from app.store.sql.database import Database

HASHER = PasswordHasher()  # argon2id, RFC 9106's low-memory parameters
_DUMMY = HASHER.hash("not a password: equalises the time an unknown name takes")
LOGIN_WINDOW = dt.timedelta(minutes=15)
LOGIN_FAILURES = 5
DEVICE_TTL = 30 * 86_400
TOKEN_PREFIX = "rdt_"  # noqa: S105 - marks the kind of token, not a secret


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Login:
    operator: OperatorRecord
    session: str  # the cookie value (only its hash is stored)
    csrf_token: str
    device: str  # the device cookie for this username


class Operators:
    def __init__(self, settings: Settings, db: Database, auth: Auth, clock: Clock) -> None:
        self.db = db
        self.auth = auth
        self.clock = clock
        self.session_ttl = dt.timedelta(seconds=settings.session_ttl)

    # -- operators and tokens ---------------------------------------------------

    async def create(self, username: str, password: str, role: str, by: Actor) -> OperatorRecord:
        ops.check_username(username)
        ops.check_password(password)
        level = ops.Role.parse(role)
        hashed = await asyncio.to_thread(HASHER.hash, password)
        audit = by.draft("operator.create", f"operator:{username}", after={"role": level.label})
        made = await self.db.operators.create(
            username, hashed, level.label, now=self.clock.stamp(), audit=audit
        )
        if made is None:
            raise Conflict(f"operator {username!r} already exists", code="operator_exists")
        return made

    async def ensure(self, username: str, password: str, role: str, by: Actor) -> None:
        """Create an operator unless one by that name exists (embedded mode's dev login)."""
        if await self.db.operators.credentials(username) is None:
            await self.create(username, password, role, by)

    async def all(self) -> list[OperatorRecord]:
        return await self.db.operators.all()

    async def set_disabled(self, username: str, disabled: bool, by: Actor) -> OperatorRecord:
        action = "operator.disable" if disabled else "operator.enable"
        audit = by.draft(
            action,
            f"operator:{username}",
            before={"disabled": not disabled},
            after={"disabled": disabled},
        )
        done = await self.db.operators.set_disabled(
            username, disabled, now=self.clock.stamp(), audit=audit
        )
        if done is None:
            raise NotFound(f"no operator {username!r}", code="operator_not_found")
        return done

    async def create_token(self, name: str, scope: str, by: Actor) -> tuple[TokenRecord, str]:
        """A new token and its secret, which is shown this once."""
        ops.check_token_name(name)
        scope = ops.parse_scope(scope)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        audit = by.draft("token.create", f"token:{name}", after={"scope": scope})
        made = await self.db.operators.create_token(
            name, digest(secret), scope, by=by.name, now=self.clock.stamp(), audit=audit
        )
        if made is None:
            raise Conflict(f"a token named {name!r} exists", code="token_exists")
        return made, secret

    async def tokens(self) -> list[TokenRecord]:
        return await self.db.operators.tokens()

    async def revoke_token(self, name: str, by: Actor) -> None:
        audit = by.draft(
            "token.revoke", f"token:{name}", before={"revoked": False}, after={"revoked": True}
        )
        if not await self.db.operators.revoke_token(name, now=self.clock.stamp(), audit=audit):
            raise NotFound(f"no active token {name!r}", code="token_not_found")

    # -- who is calling -------------------------------------------------------------

    async def from_bearer(self, authorization: str) -> ops.Operator:
        """An operator route's bearer: the break-glass admin token, or an API
        token. A player token is refused (403); anything else is 401."""
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("expected Authorization: Bearer <token>", code="invalid_token")
        if self.auth.is_admin_token(token):
            return ops.Operator(ops.ADMIN_TOKEN_ACTOR, ops.Role.ADMIN, "admin-token")
        if token.startswith(TOKEN_PREFIX):
            return await self.from_token(token)
        self.auth.authenticate(authorization)  # a valid player token, or 401
        raise Forbidden("this route is for operators: sign in, or use an API token")

    async def from_token(self, secret: str) -> ops.Operator:
        token = await self.db.operators.token(digest(secret))
        if token is None:
            raise Unauthorized("unknown or revoked API token", code="invalid_token")
        return ops.operator_of_scope(token.name, token.scope)

    async def from_session(self, cookie: str, *, write: bool, csrf: str | None) -> ops.Operator:
        """The operator of a console session; a write must carry its CSRF token."""
        id_hash = digest(cookie)
        found = await self.db.operators.session(id_hash)
        now = self.clock.now_utc()
        if found is None or found.operator.disabled:
            raise Unauthorized("not signed in", code="unauthorized")
        if now - found.seen_at > self.session_ttl:
            await self.db.operators.close_session(id_hash, now=now, audit=None)
            raise Unauthorized("the session has expired: sign in again", code="session_expired")
        if write and not (csrf and hmac.compare_digest(csrf, found.csrf_token)):
            raise ops.CsrfFailed()
        if now - found.seen_at > dt.timedelta(minutes=1):  # idle time, to the minute
            await self.db.operators.touch_session(id_hash, self.clock.stamp())
        op = found.operator
        return ops.Operator(
            op.username, ops.Role.parse(op.role), "session", found.csrf_token, id_hash
        )

    # -- signing in and out ------------------------------------------------------------

    async def login(self, username: str, password: str, ip: str, device: str | None) -> Login:
        now = self.clock.stamp()
        since = now - LOGIN_WINDOW
        target = f"operator:{username[:64]}"
        who = Actor(username[:64] or "anonymous", ip)
        trusted_device = self._device_ok(device, username)
        for scope in (("ip", None, ip), ("user", target, None)):
            if scope[0] == "user" and trusted_device:
                continue  # this browser signed in as them before: not the attacker's lockout
            count, oldest = await self.db.audit.failures_since(since, target=scope[1], ip=scope[2])
            if count >= LOGIN_FAILURES and oldest is not None:
                await self.db.audit.record(who.draft("login.throttled", target), now=now)
                wait = int((oldest + LOGIN_WINDOW - now).total_seconds()) + 1
                raise LimitReached(
                    "too many failed logins: wait before trying again",
                    code="login_throttled",
                    retry_after=max(1, wait),
                )
        found = await self.db.operators.credentials(username)
        ok = await asyncio.to_thread(self._check, found[1] if found else _DUMMY, password)
        if found is None or not ok or found[0].disabled:
            await self.db.audit.record(who.draft("login.failed", target), now=now)
            raise Unauthorized("wrong username or password", code="invalid_credentials")
        op = found[0]
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await self.db.operators.open_session(
            op.id, digest(session), csrf, now=now, audit=who.draft("login.succeeded", target)
        )
        return Login(op, session, csrf, self._device(username))

    async def logout(self, cookie: str, ip: str) -> None:
        found = await self.db.operators.session(digest(cookie))
        if found is None:
            return
        who = Actor(found.operator.username, ip)
        await self.db.operators.close_session(
            digest(cookie),
            now=self.clock.stamp(),
            audit=who.draft("logout", f"operator:{found.operator.username}"),
        )

    @staticmethod
    def _check(hashed: str, password: str) -> bool:
        try:
            return HASHER.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _device(self, username: str) -> str:
        body = f"{base64.urlsafe_b64encode(username.encode()).decode()}.{int(self.clock.wall())}"
        mac = hmac.new(self.auth.secret, f"device:{body}".encode(), "sha256").hexdigest()
        return f"{body}.{mac}"

    def _device_ok(self, cookie: str | None, username: str) -> bool:
        if not cookie or cookie.count(".") != 2:
            return False
        name, issued, mac = cookie.split(".")
        good = hmac.new(self.auth.secret, f"device:{name}.{issued}".encode(), "sha256").hexdigest()
        if not hmac.compare_digest(mac, good) or not issued.isascii() or not issued.isdigit():
            return False
        try:
            same = base64.urlsafe_b64decode(name.encode()).decode() == username
        except (ValueError, UnicodeDecodeError):
            return False
        return same and int(issued) + DEVICE_TTL > self.clock.wall()

    # -- the audit trail ---------------------------------------------------------------

    async def audit(
        self,
        *,
        actor: str | None,
        action: str | None,
        activity_id: int | None,
        before_id: int | None,
        limit: int,
    ) -> list[AuditEntry]:
        return await self.db.audit.page(
            actor=actor, action=action, activity_id=activity_id, before_id=before_id, limit=limit
        )

    async def verify_audit(self) -> tuple[int, Break | None]:
        """``(entries checked, the first break or None)``: the chain in id
        order, then the head row against the last entry (a deleted tail)."""
        checked, last_id, last_hash = 0, 0, GENESIS
        async for chunk in self.db.audit.walk():
            problem = first_break(chunk, after_id=last_id, after_hash=last_hash)
            if problem is not None:
                return checked, problem
            checked += len(chunk)
            last_id, last_hash = chunk[-1].id, chunk[-1].hash
        head_id, head_hash = await self.db.audit.head()
        if (head_id, head_hash) != (last_id, last_hash):
            gone = last_id + 1
            return checked, Break(
                gone, f"entries from {gone} to {head_id} are missing (the head says {head_id})"
            )
        return checked, None
