"""Operators signing in, their sessions, API tokens, and the audit trail (SPEC §8).

Passwords are hashed with argon2id (argon2-cffi). A console session is a
random cookie whose SHA-256 is stored with a CSRF token and the time it was
last used; it ends after ``REDRAIN_SESSION_TTL`` idle seconds. API tokens are
random secrets shown once; only their SHA-256 is stored.

Login throttling (5 failures in 15 minutes for one username, or from one
address, answer 429 ``login_throttled``) reserves each password check in Redis
before it runs, so a burst of parallel guesses gets no more checks than a
sequence would; and it cannot lock a known operator out: a
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
from collections.abc import Mapping
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.config import Settings
from app.domain import operators as ops
from app.domain.audit import GENESIS, Actor, AuditEntry, Break, first_break
from app.domain.errors import (
    Busy,
    Conflict,
    Forbidden,
    InternalError,
    LimitReached,
    NotFound,
    Unauthorized,
)
from app.domain.records import OperatorRecord, TokenRecord
from app.services.auth import Auth
from app.services.clock import Clock
from app.store.redis.logins import Logins
from app.store.sql.database import Database

HASHER = PasswordHasher()  # argon2id, RFC 9106's low-memory parameters
# Checked against an unknown name so it takes as long as a known one. A fixed
# hash (tests/services/test_operator_hashes.py keeps its parameters HASHER's):
# hashing one at import cost every process, each CLI command included, 0.15 s.
_DUMMY = "$argon2id$v=19$m=65536,t=3,p=4$pVfceT230JHZBcV7gi/9rw$HTfm5gdqsH60JqTAIZHYfbCLNW2pVTjrekbptQ1/dIM"  # noqa: E501
LOGIN_WINDOW = dt.timedelta(minutes=15)
LOGIN_FAILURES = 5
# Password checks at once per process (each holds a database connection and an
# argon2 thread); a login waits this many seconds for one, then 503 busy.
LOGIN_CHECKS = 4
LOGIN_QUEUE = 5.0
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
    def __init__(
        self,
        settings: Settings,
        db: Database,
        auth: Auth,
        clock: Clock,
        logins: Logins | None = None,
    ) -> None:
        self.db = db
        self.auth = auth
        self.clock = clock
        self.logins = logins  # None: no console login (the command line)
        self.session_ttl = dt.timedelta(seconds=settings.session_ttl)
        self._checks = asyncio.Semaphore(LOGIN_CHECKS)

    # -- operators and tokens ---------------------------------------------------

    async def create(self, username: str, password: str, role: str, by: Actor) -> OperatorRecord:
        ops.check_username(username)
        ops.check_password(password)
        level = ops.Role.parse(role)
        tokens = await self.db.operators.tokens()
        if any(t.name.lower() == username and t.created_by != username for t in tokens):
            raise _name_taken(username, "an API token")
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
        if disabled:
            ops.check_disable(username, by.principal)
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
        owner = name.lower()
        if owner != by.principal and await self.db.operators.credentials(owner) is not None:
            raise _name_taken(name, "an operator")  # one's own name is one's own
        scope = ops.parse_scope(scope)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        audit = by.draft("token.create", f"token:{name}", after={"scope": scope})
        made = await self.db.operators.create_token(
            name, digest(secret), scope, by=by.principal, now=self.clock.stamp(), audit=audit
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
        """An API token acts as the operator who created it (SPEC §8)."""
        found = await self.db.operators.token(digest(secret))
        if found is None:
            raise Unauthorized("unknown or revoked API token", code="invalid_token")
        token, owner = found
        if owner is None and token.created_by not in ops.KEYHOLDERS:
            raise Unauthorized(
                f"this token's creator {token.created_by!r} is not an operator",
                code="invalid_token",
            )
        if owner is not None and owner.disabled:
            raise Unauthorized(
                f"this token's creator {owner.username!r} is disabled", code="invalid_token"
            )
        role = None if owner is None else ops.Role.parse(owner.role)
        return ops.token_operator(token.name, token.scope, token.created_by, role)

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
        """Sign in. The password check is reserved first (SPEC §8): at most
        LOGIN_FAILURES checks per LOGIN_WINDOW for the address and, without this
        username's device cookie, for the username, however many requests
        arrive at once; a successful check gives its reservation back."""
        if self.logins is None:
            raise InternalError("console logins need Redis (the attempt counters live there)")
        name = username.strip().lower()[:64]  # one counter however it is typed
        target = f"operator:{name}"
        who = Actor(name or "anonymous", ip)
        attempt = secrets.token_hex(8)
        throttled = await self.logins.reserve(
            ip,
            name,
            attempt,
            per_user=not self._device_ok(device, name),
            limit=LOGIN_FAILURES,
            window_ms=int(LOGIN_WINDOW.total_seconds() * 1000),
        )
        if throttled is not None:
            if throttled.first:  # one entry per throttled window, not one per request
                after = {"scope": throttled.scope}
                await self.db.audit.record(
                    who.draft("login.throttled", target, after=after), now=self.clock.stamp()
                )
            raise LimitReached(
                "too many failed logins: wait before trying again",
                code="login_throttled",
                retry_after=max(1, -(-throttled.wait_ms // 1000)),
            )
        try:
            op = await self._check_password(name, password, who, target)
        except Unauthorized:
            raise  # a failed check: its reservation stays and counts
        except BaseException:
            await self.logins.release(ip, name, attempt)  # the check never ran
            raise
        await self.logins.release(ip, name, attempt)  # only failures count
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await self.db.operators.open_session(
            op.id,
            digest(session),
            csrf,
            now=self.clock.stamp(),
            audit=who.draft("login.succeeded", target),
        )
        return Login(op, session, csrf, self._device(name))

    async def _check_password(
        self, name: str, password: str, who: Actor, target: str
    ) -> OperatorRecord:
        """The operator, if the password is right; a failure is audited. At
        most LOGIN_CHECKS run at once per process, so a flood of logins
        cannot take every database connection (the rest wait up to
        LOGIN_QUEUE seconds, then 503 busy)."""
        try:
            await asyncio.wait_for(self._checks.acquire(), LOGIN_QUEUE)
        except TimeoutError:
            raise Busy(1, "too many sign-ins at once; retry after a moment") from None
        try:
            found = await self.db.operators.credentials(name)
            ok = await asyncio.to_thread(self._check, found[1] if found else _DUMMY, password)
            if found is None or not ok or found[0].disabled:
                await self.db.audit.record(
                    who.draft("login.failed", target), now=self.clock.stamp()
                )
                raise Unauthorized("wrong username or password", code="invalid_credentials")
            return found[0]
        finally:
            self._checks.release()

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

    async def verify_audit(
        self, expect: Mapping[int, str] | None = None
    ) -> tuple[int, Break | None, tuple[int, str]]:
        """``(entries checked, the first break or None, the head)``: the keyed
        chain in id order, then the head row against the last entry (a deleted
        tail). ``expect``: checkpoints kept outside the database (id → hash,
        as an earlier run printed its head), each of which must still be there
        as it was: the chain alone cannot tell a trail cut short together with
        its head row (docs/security.md)."""
        key, pending = self.db.audit_key, dict(expect or {})
        checked, last_id, last_hash = 0, 0, GENESIS
        async for chunk in self.db.audit.walk():
            problem = first_break(key, chunk, after_id=last_id, after_hash=last_hash)
            if problem is not None:
                return checked, problem, (last_id, last_hash)
            for e in chunk:
                want = pending.pop(e.id, None)
                if want is not None and not hmac.compare_digest(want, e.hash):
                    return (
                        checked,
                        Break(e.id, f"entry {e.id} is not the checkpointed one"),
                        (
                            last_id,
                            last_hash,
                        ),
                    )
            checked += len(chunk)
            last_id, last_hash = chunk[-1].id, chunk[-1].hash
        head = await self.db.audit.head()
        if head is None:
            return (
                checked,
                Break(last_id + 1, "the audit head row is missing: the trail's end is unknown"),
                (last_id, last_hash),
            )
        head_id, head_hash = head
        if (head_id, head_hash) != (last_id, last_hash):
            gone = last_id + 1
            return (
                checked,
                Break(
                    gone, f"entries from {gone} to {head_id} are missing (the head says {head_id})"
                ),
                (last_id, last_hash),
            )
        if pending:
            gone = min(pending)
            return (
                checked,
                Break(gone, f"checkpointed entry {gone} is missing"),
                (last_id, last_hash),
            )
        return checked, None, (last_id, last_hash)

    async def rekey_audit(self, old_key: bytes, by: Actor) -> Break | None:
        """Re-chain the trail with the key settings give now, after checking it
        with ``old_key`` (the one it was written with); None when done."""
        draft = by.draft("audit.rekey", "audit")
        return await self.db.audit.rekey(old_key, draft, now=self.clock.stamp())


def _name_taken(name: str, holder: str) -> Conflict:
    """Operators and tokens share one namespace: the audit trail names a
    change by its actor, and a token named like an operator (or the other way
    round) would credit one with the other's changes. A token named after the
    operator who made it is theirs: its changes are theirs anyway."""
    return Conflict(f"{name!r} is already the name of {holder}", code="name_taken")
