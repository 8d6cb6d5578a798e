"""What redrain does, independent of HTTP: admin operations, draws, auth.

Combines the pure domain (activity, schedule, fairness, tokens) with Redis
(:mod:`app.engine`) and the database (:mod:`app.repository`). Raises only
:mod:`app.exceptions`; the HTTP edge turns them into responses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from app import fairness, scripts, tokens
from app.activity import ActivityConfig, parse_config
from app.config import Settings
from app.engine import Engine, StreamState
from app.exceptions import (
    Conflict,
    Forbidden,
    LimitReached,
    NotFound,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from app.lotteries import Lotteries
from app.models import BlacklistRow
from app.repository import ActivityRecord, Database, GrantRecord, Notice, StoredDraw
from app.risk import RiskHook
from app.schedule import Timeline, activity_window, plan_rounds, round_slices
from app.types import (
    ActivityId,
    DrawCounts,
    DrawRecord,
    DrawResult,
    Limits,
    PrizePlan,
    RoundPlan,
    RoundStats,
)
from app.wechat import WeChat

log = logging.getLogger("redrain.service")

READ_ONLY_FIELDS = ("id", "status", "version", "created_at", "updated_at", "published_at")
VERSION_CHECK_SECONDS = 2.0  # how stale a cached activity may be for read-only views


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str | None  # None for the admin / trusted backend

    @property
    def is_admin(self) -> bool:
        return self.user_id is None


@dataclass(slots=True)
class Runtime:
    """A published activity compiled for drawing; cached per API process."""

    id: ActivityId
    version: int
    config: ActivityConfig
    timeline: Timeline
    window: tuple[int, int]
    limits: Limits
    seeds: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    checked_at: float = 0.0


def compile_runtime(activity_id: ActivityId, version: int, config_json: str) -> Runtime:
    cfg = ActivityConfig.model_validate_json(config_json)
    return Runtime(
        id=activity_id,
        version=version,
        config=cfg,
        timeline=Timeline(plan_rounds(activity_id, cfg)),
        window=activity_window(cfg),
        limits=limits_of(cfg),
    )


def prize_of(rt: Runtime | None, rec: DrawRecord) -> PrizePlan | None:
    """The prize a ledger record won, from the activity's compiled rounds."""
    if not rec.won or rt is None:
        return None
    rnd = rt.timeline.by_sfx.get(rec.round_id.partition(":")[2])
    if rnd is None or not 0 < rec.pick <= len(rnd.prizes):
        return None
    return rnd.prizes[rec.pick - 1]


def limits_of(cfg: ActivityConfig) -> Limits:
    lim = cfg.limits
    return Limits(lim.per_round, lim.per_day, lim.total, lim.wins_total)


def iso(ms: int, zone: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=zone).isoformat()


class Redrain:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.db = db
        self.clock = clock
        self.offset_ms = settings.clock_offset_ms
        secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
        self.secret = (secret or secrets.token_urlsafe(32)).encode()
        previous = settings.secret_key_previous
        self._previous = previous.get_secret_value().encode() if previous else None
        self._previous_until = (
            settings.secret_key_previous_until.timestamp()
            if settings.secret_key_previous_until
            else None
        )
        self.risk: RiskHook | None = None
        if settings.risk_url:
            self.risk = RiskHook(
                settings.risk_url,
                timeout=settings.risk_timeout,
                fail_open=settings.risk_fail_open,
            )
        admin = settings.admin_token.get_secret_value() if settings.admin_token else ""
        self.admin_token = admin.encode()
        self._runtimes: dict[ActivityId, Runtime] = {}
        self._loading: dict[ActivityId, asyncio.Lock] = {}
        self.lotteries = Lotteries(db, self.now_utc)
        self.wechat: WeChat | None = None
        if settings.wechat_appid and settings.wechat_secret:
            self.wechat = WeChat(
                settings.wechat_api_base,
                settings.wechat_appid,
                settings.wechat_secret.get_secret_value(),
                timeout=settings.wechat_timeout,
            )

    async def close(self) -> None:
        if self.wechat is not None:
            await self.wechat.aclose()
        if self.risk is not None:
            await self.risk.aclose()
        await self.engine.close()
        await self.db.close()

    def now_utc(self) -> dt.datetime:
        """Now (with the clock offset) as naive UTC, as the database keeps times."""
        return dt.datetime.fromtimestamp(self.now_ms() / 1000, tz=dt.UTC).replace(tzinfo=None)

    def now_ms(self) -> int:
        return int(self.clock() * 1000) + self.offset_ms

    # -- auth -----------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("an Authorization: Bearer token is required")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("expected Authorization: Bearer <token>", code="invalid_token")
        token = token.strip()
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token):
            return Principal(None)
        now = self.clock()
        keys_: list[bytes] = [self.secret]
        if self._previous and (self._previous_until is None or now < self._previous_until):
            keys_.append(self._previous)  # tokens signed before a rotation
        return Principal(tokens.verify(keys_, token, now))

    def require_admin(self, authorization: str | None) -> None:
        if not self.authenticate(authorization).is_admin:
            raise Forbidden("this route needs the admin token")

    def require_user(self, authorization: str | None) -> str:
        user = self.authenticate(authorization).user_id
        if user is None:
            raise Forbidden("this route needs a player token, not the admin token")
        return user

    def issue_token(self, user_id: str) -> tuple[str, int]:
        ttl = self.settings.token_ttl
        try:
            token = tokens.issue(self.secret, user_id, int(self.clock()) + ttl)
        except ValueError as exc:
            raise ValidationFailed(f"user_id: {exc}", field="user_id") from exc
        return token, ttl

    # -- activities (admin) ---------------------------------------------------

    async def create_activity(self, data: Any) -> ActivityRecord:
        return await self.db.create_activity(parse_config(data))

    async def activity(self, activity_id: ActivityId) -> ActivityRecord:
        rec = await self.db.get_activity(activity_id)
        if rec is None:
            raise NotFound(f"activity {activity_id} does not exist", code="activity_not_found")
        return rec

    async def list_activities(self, limit: int, offset: int) -> list[ActivityRecord]:
        return await self.db.list_activities(limit=limit, offset=offset)

    async def replace_activity(self, activity_id: ActivityId, data: Any) -> ActivityRecord:
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in READ_ONLY_FIELDS}
        cfg = parse_config(data)
        rec = await self.activity(activity_id)
        if rec.status == "published" and self.now_ms() >= activity_window(rec.config)[0]:
            raise Conflict(
                "the activity has started; only stock top-ups are possible now",
                code="activity_started",
            )
        rec = await self.db.replace_activity(activity_id, cfg)
        if rec.status == "published":
            await self._publish(rec)
        return rec

    async def publish(self, activity_id: ActivityId) -> dict[str, Any]:
        rec = await self.activity(activity_id)
        return await self._publish(rec)

    async def _publish(self, rec: ActivityRecord) -> dict[str, Any]:
        cfg = rec.config
        rounds = plan_rounds(rec.id, cfg)
        seeds = await self.db.ensure_rounds(rec.id, rounds)
        written, frozen, dropped = await self.engine.publish(
            rec.id,
            version=rec.version,
            config_json=cfg.model_dump_json(exclude_none=True),
            mode=cfg.probability.value,
            window=activity_window(cfg),
            limits=limits_of(cfg),
            rounds=rounds,
            slices=lambda r: round_slices(cfg, r),
            seeds=seeds,
        )
        await self.db.drop_rounds(rec.id, dropped)
        await self._sync_blacklist(rec.id)
        await self.db.mark_published(rec.id)
        self._runtimes.pop(rec.id, None)
        return {
            "id": rec.id,
            "status": "published",
            "version": rec.version,
            "rounds": len(rounds),
            "loaded": written,
            "kept": frozen,
            "dropped": len(dropped),
        }

    async def topup(
        self, activity_id: ActivityId, round_ref: str, prize: str, add: int
    ) -> dict[str, Any]:
        rt = await self.fresh_runtime(activity_id)
        rnd = self._round_of(rt, round_ref)
        res = await self.engine.topup(activity_id, rnd.sfx, prize, add)
        if res[0] == scripts.ROUND_NOT_FOUND:
            raise NotFound(f"round {rnd.round_id} is not published", code="round_not_found")
        if res[0] == scripts.ROUND_ENDED:
            raise Conflict(f"round {rnd.round_id} has ended", code="round_ended")
        if res[0] == scripts.PRIZE_NOT_FOUND:
            raise NotFound(f"round {rnd.round_id} has no prize {prize!r}", code="prize_not_found")
        if res[0] == scripts.EMPTY_PRIZE:
            raise ValidationFailed(
                f"prize: {prize!r} is of type empty and has no stock", field="prize"
            )
        try:
            await self.db.record_topup(rnd.round_id, prize, add, res[2])
        except Unavailable as exc:
            log.error("top-up of %s %s +%d applied but not recorded", rnd.round_id, prize, add)
            raise Unavailable(
                f"the top-up was applied in Redis but could not be recorded ({exc.message}); "
                "do not repeat it"
            ) from exc
        return {"round_id": rnd.round_id, "prize": prize, "quantity": res[0], "released": res[1]}

    async def stats(
        self, activity_id: ActivityId, round_ref: str | None = None, limit: int = 200
    ) -> tuple[Runtime, list[RoundStats]]:
        """Stats of one round, or of every round that has started plus the next
        one (the latest ``limit`` of them)."""
        rt = await self.runtime(activity_id)
        if round_ref is not None:
            chosen = [self._round_of(rt, round_ref)]
        else:
            now = self.now_ms()
            started = [r for r in rt.timeline.rounds if r.start_ms <= now]
            _, nxt = rt.timeline.at(now)
            chosen = started[-limit:] + ([nxt] if nxt is not None else [])
        out = []
        for r in chosen:
            st = await self.engine.round_stats(r)
            if st is not None:
                out.append(st)
        return rt, out

    async def live_snapshot(
        self, horizon_ms: int = 3_600_000
    ) -> tuple[list[RoundStats], list[tuple[str, StreamState]]]:
        """For metrics: stock of every open round, and the stream state of every
        round that started and ended less than ``horizon_ms`` ago (the ones a
        flush worker may still be behind on)."""
        now = self.now_ms()
        live: list[RoundStats] = []
        streams: list[tuple[str, StreamState]] = []
        for aid in await self.engine.active_activities():
            try:
                rt = await self.runtime(aid)
            except NotFound:
                continue
            for r in rt.timeline.rounds:
                if r.start_ms > now or r.end_ms <= now - horizon_ms:
                    continue
                if r.end_ms > now:
                    st = await self.engine.round_stats(r)
                    if st is not None:
                        live.append(st)
                streams.append((r.round_id, await self.engine.stream_state(aid, r.sfx)))
        return live, streams

    def _round_of(self, rt: Runtime, ref: str) -> RoundPlan:
        sfx = ref.removeprefix(f"{rt.id}:")
        rnd = rt.timeline.by_sfx.get(sfx)
        if rnd is None:
            raise NotFound(f"activity {rt.id} has no round {ref!r}", code="round_not_found")
        return rnd

    # -- published activities ---------------------------------------------------

    async def runtime(self, activity_id: ActivityId, *, stale: Runtime | None = None) -> Runtime:
        """The compiled published activity, from this process's cache or Redis.

        ``stale`` is a runtime the caller found out of date: it is replaced
        unless another request already replaced it. Loading is single-flight per
        activity, so a burst after a start or a re-publish compiles once.
        """
        cached = self._runtimes.get(activity_id)
        if cached is not None and cached is not stale:
            return cached
        async with self._loading.setdefault(activity_id, asyncio.Lock()):
            cached = self._runtimes.get(activity_id)
            if cached is not None and cached is not stale:
                return cached
            found = await self.engine.activity_config(activity_id)
            if found is None:
                self._runtimes.pop(activity_id, None)
                raise NotFound(
                    f"activity {activity_id} is not published", code="activity_not_found"
                )
            version, js = found
            if cached is not None and cached.version == version:
                cached.checked_at = self.clock()
                return cached
            # A year of hourly rounds takes ~0.1 s to compile: keep it off the event loop.
            rt = await asyncio.to_thread(compile_runtime, activity_id, version, js)
            rt.checked_at = self.clock()
            self._runtimes[activity_id] = rt
            return rt

    async def fresh_runtime(self, activity_id: ActivityId) -> Runtime:
        """Like :meth:`runtime`, re-checking the version if the cache is a bit old."""
        rt = self._runtimes.get(activity_id)
        if rt is not None and self.clock() - rt.checked_at < VERSION_CHECK_SECONDS:
            return rt
        if rt is not None and await self.engine.activity_version(activity_id) == rt.version:
            rt.checked_at = self.clock()
            return rt
        return await self.runtime(activity_id, stale=rt)

    async def seed_of(self, rt: Runtime, rnd: RoundPlan) -> tuple[bytes, str]:
        got = rt.seeds.get(rnd.sfx)
        if got is None:
            found = await self.engine.round_seed(rt.id, rnd.sfx)
            if found is None:
                raise NotFound(f"round {rnd.round_id} is not published", code="round_not_found")
            got = rt.seeds[rnd.sfx] = found
        return got

    async def user_counts(self, rt: Runtime, user_id: str) -> tuple[int, int, int, int]:
        current, nxt = rt.timeline.at(self.now_ms())
        rnd = current or nxt
        return await self.engine.user_counts(
            rt.id,
            user_id,
            current.sfx if current else None,
            rnd.date_key if rnd else None,
        )

    # -- blacklist ----------------------------------------------------------------------

    async def blacklist(self) -> list[BlacklistRow]:
        return await self.db.blacklist()

    async def blacklist_add(self, kind: str, value: str, reason: str) -> bool:
        created = await self.db.blacklist_add(kind, value, reason)
        aids = await self.engine.active_activities()
        await self.engine.blacklist_change(aids, kind, value, add=True)
        return created

    async def blacklist_remove(self, kind: str, value: str) -> None:
        if not await self.db.blacklist_remove(kind, value):
            raise NotFound(f"{kind} {value!r} is not blacklisted", code="not_blacklisted")
        aids = await self.engine.active_activities()
        await self.engine.blacklist_change(aids, kind, value, add=False)

    async def _sync_blacklist(self, activity_id: ActivityId) -> None:
        entries = await self.db.blacklist()
        for kind in ("user", "ip"):
            values = [e.value for e in entries if e.kind == kind]
            await self.engine.set_blacklist(activity_id, kind, values)

    # -- grants (trusted backends) ---------------------------------------------------

    async def create_grant(
        self, activity_id: ActivityId, user_id: str, amount: int, reference: str
    ) -> tuple[GrantRecord, bool]:
        """One draw chance for a user, idempotent by ``reference``. Returns the grant
        and whether this call created it."""
        if not tokens.USER_ID.match(user_id):
            raise ValidationFailed(
                "user_id: must be 1-64 characters of A-Z a-z 0-9 _ - @", field="user_id"
            )
        rt = await self.runtime(activity_id)
        if not rt.config.needs_grant:
            raise ValidationFailed(
                f"activity_id: activity {activity_id} does not draw on grants",
                field="activity_id",
            )
        grant, created = await self.db.create_grant(
            "g" + secrets.token_hex(12), activity_id, user_id, amount, reference
        )
        if (grant.activity_id, grant.user_id, grant.amount) != (activity_id, user_id, amount):
            raise Conflict(
                f"reference {reference!r} was already used for another grant",
                code="reference_conflict",
            )
        # Redis after the database: a retry by reference completes a half-made grant.
        await self.engine.put_grant(activity_id, grant.id, user_id, amount, reference)
        return grant, created

    async def grant_state(self, grant: GrantRecord) -> tuple[bool, str | None]:
        return await self.engine.grant_state(grant.activity_id, grant.id)

    async def my_grant(self, user_id: str, grant_id: str) -> GrantRecord:
        """One of the caller's grants; another user's is as unknown as a made-up id."""
        grant = await self.db.grant(grant_id)
        if grant is None or grant.user_id != user_id:
            raise NotFound(f"no grant {grant_id!r} of this user", code="grant_not_found")
        return grant

    async def my_grants(
        self, user_id: str, activity_id: ActivityId | None, limit: int
    ) -> list[GrantRecord]:
        return await self.db.user_grants(user_id, activity_id, limit)

    # -- notifications and WeChat login ------------------------------------------------

    async def notifications(self, user_id: str, limit: int, before_id: int | None) -> list[Notice]:
        return await self.db.notifications(user_id, limit=limit, before_id=before_id)

    async def wechat_login(self, code: str) -> tuple[str, str, int]:
        """``(token, user_id, expires_in)`` for a mini-program login code."""
        if self.wechat is None:
            raise NotFound("WeChat login is not configured", code="not_found")
        session = await self.wechat.code_to_session(code)
        user_id = f"wx_{session.openid}"
        await self.db.save_wechat_session(
            session.openid, user_id, session.session_key, session.unionid
        )
        token, ttl = self.issue_token(user_id)
        return token, user_id, ttl

    # -- the ledger (database) ------------------------------------------------------

    async def my_draws(
        self,
        user_id: str,
        *,
        activity_id: ActivityId | None,
        limit: int,
        before: tuple[int, int] | None,
    ) -> list[StoredDraw]:
        """The user's own draws once the worker has flushed them, newest first."""
        return await self.db.user_draws(
            user_id, activity_id=activity_id, limit=limit, before=before
        )

    async def winners(
        self, activity_id: ActivityId, *, round_id: str | None, after_id: int, limit: int
    ) -> list[StoredDraw]:
        await self.activity(activity_id)  # 404 for an unknown activity
        return await self.db.winners(activity_id, round_id=round_id, after_id=after_id, limit=limit)

    async def all_winners(
        self, activity_id: ActivityId, *, round_id: str | None, page: int = 5000
    ) -> AsyncIterator[list[StoredDraw]]:
        after = 0
        while True:
            rows = await self.db.winners(activity_id, round_id=round_id, after_id=after, limit=page)
            if not rows:
                return
            yield rows
            after = rows[-1].id

    # -- the draw -----------------------------------------------------------------

    async def draw(
        self,
        user_id: str,
        activity_id: ActivityId,
        *,
        client_seed: str = "",
        idempotency_key: str | None = None,
        grant_id: str | None = None,
        client_ip: str = "",
    ) -> tuple[Runtime, DrawResult]:
        rt = await self.runtime(activity_id)
        if self.risk is not None:
            await self.risk.check(user_id, client_ip, activity_id)
        if rt.config.needs_grant and not grant_id:
            raise ValidationFailed(
                "grant_id: this activity draws on a grant; name one", field="grant_id"
            )
        if grant_id and not rt.config.needs_grant:
            raise ValidationFailed(
                "grant_id: this activity does not draw on grants", field="grant_id"
            )
        now = self.now_ms()
        guess = rt.timeline.nearest(now)
        for _ in range(4):
            if guess is None:
                break
            seed, _ = await self.seed_of(rt, guess)
            res = await self.engine.draw(
                activity_id,
                version=rt.version,
                round_=guess,
                activity_start_ms=rt.window[0],
                mode=rt.config.probability.value,
                limits=rt.limits,
                kind=rt.config.kind.value,
                repeat_last=rt.config.after_last_pool == "repeat_last",
                needs_grant=rt.config.needs_grant,
                user_id=user_id,
                user_key=fairness.user_key(seed, user_id, client_seed),
                client_seed=client_seed,
                idempotency_key=idempotency_key,
                grant_id=grant_id,
                client_ip=client_ip,
                rate_user=self.settings.rate_limit_user,
                rate_ip=self.settings.rate_limit_ip,
            )
            code = int(res[0])
            if code in (scripts.DRAWN, scripts.REPLAYED):
                return rt, self._result(rt, res, code == scripts.REPLAYED)
            if code == scripts.STALE:
                rt = await self.runtime(activity_id, stale=rt)
                guess = rt.timeline.nearest(now)
            elif code == scripts.WRONG_ROUND:
                guess = rt.timeline.by_sfx.get(_text(res[1]))
            else:
                self._refuse(rt, code, res)
        raise Conflict("the activity changed during the draw; try again", code="retry")

    def _result(self, rt: Runtime, res: list[Any], replayed: bool) -> DrawResult:
        sfx = _text(res[1])
        seq, pick, won, nonce = int(res[2]), int(res[3]), int(res[4]), int(res[5])
        rnd = rt.timeline.by_sfx.get(sfx)
        prize = rnd.prizes[pick - 1] if won and rnd is not None and pick > 0 else None
        return DrawResult(
            draw_id=f"{rt.id}:{sfx}:{seq}",
            round_id=f"{rt.id}:{sfx}",
            won=bool(won),
            prize=prize,
            nonce=nonce,
            counts=DrawCounts(round=nonce, day=int(res[6]), total=int(res[7])),
            random=_text(res[8]),
            client_seed=_text(res[10]),
            at_ms=int(res[9]),
            replayed=replayed,
        )

    def _refuse(self, rt: Runtime, code: int, res: list[Any]) -> None:
        zone = rt.config.zone
        now = self.now_ms()
        if code == scripts.ACTIVITY_NOT_FOUND:
            self._runtimes.pop(rt.id, None)
            raise NotFound(f"activity {rt.id} is not published", code="activity_not_found")
        if code == scripts.NOT_STARTED:
            raise Conflict(
                "the activity has not started yet",
                code="activity_not_started",
                next_round_start=iso(int(res[1]), zone),
            )
        if code == scripts.ENDED:
            raise Conflict("the activity has ended", code="activity_ended")
        if code == scripts.ROUND_CLOSED:
            raise Conflict(
                "no round is open now",
                code="round_closed",
                next_round_start=iso(int(res[1]), zone),
            )
        current, _ = rt.timeline.at(now)
        if code == scripts.ROUND_LIMIT:
            nxt = rt.timeline.next_after(now)
            raise LimitReached(
                "you have used every draw of this round",
                code="round_limit",
                retry_after=_seconds_until(nxt.start_ms, now) if nxt else None,
            )
        if code == scripts.DAY_LIMIT:
            nxt = rt.timeline.next_after(now, other_day_than=current.date_key if current else None)
            raise LimitReached(
                "you have used every draw of today",
                code="day_limit",
                retry_after=_seconds_until(nxt.start_ms, now) if nxt else None,
            )
        if code == scripts.TOTAL_LIMIT:
            raise LimitReached("you have used every draw of this activity", code="total_limit")
        if code == scripts.WIN_LIMIT:
            raise LimitReached("you have won the most prizes allowed", code="win_limit")
        if code == scripts.BLACKLISTED:
            raise Forbidden("you cannot draw in this activity", code="blacklisted")
        if code == scripts.RATE_LIMITED:
            raise LimitReached(
                "too many draws; slow down",
                code="rate_limited",
                retry_after=max(1, -(-int(res[1]) // 1000)),
            )
        if code == scripts.GRANT_NOT_FOUND:
            raise NotFound("you have no such grant in this activity", code="grant_not_found")
        if code == scripts.GRANT_USED:
            raise Conflict("this grant has already been drawn on", code="grant_used")
        if code == scripts.NO_MORE_LEVELS:
            raise Conflict("you have drawn at every level of this activity", code="no_more_levels")
        if code == scripts.NO_POOL:
            raise Conflict(
                "no prize pool of this activity covers the grant's amount", code="no_pool"
            )
        if code == scripts.ROUND_MISSING:
            log.error("round state of activity %s is missing in Redis: re-publish it", rt.id)
            raise Unavailable("the round's state is missing in Redis")
        raise RuntimeError(f"draw script returned unknown code {code}")


def _seconds_until(ms: int, now: int) -> int:
    return max(1, -(-(ms - now) // 1000))


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
