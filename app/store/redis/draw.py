"""The draw call: builds a call of ``lua/draw.lua`` from named fields.

The layout itself and the decoding of replies are app/store/redis/replies.py
(:data:`~app.store.redis.replies.CONTRACT`); nothing else in redrain knows a
position. The keys and static arguments of a round (limits, odds, window,
prizes, pools) are built once per configuration version; a draw only fills in
the user's part.
"""

from __future__ import annotations

import hashlib
import operator
from dataclasses import dataclass

from app.domain.runtime import Runtime
from app.domain.types import ActivityId, PoolPlan, RoundPlan
from app.store.redis import keys
from app.store.redis.connection import RedisConnection, translated
from app.store.redis.keys import Bucket
from app.store.redis.replies import CONTRACT, POOL, PRIZE, BatchOutcome, decode
from app.store.redis.scripts import Contract

# lua/claim_key.lua: a player's Idempotency-Key across activities.
CLAIM = Contract("claim_key", keys=("claim",), argv=("body", "ttl"), reply=("held",))

# Positions, from the names above.
_K = {name: CONTRACT.index("keys", name) for name in CONTRACT.keys}
_A = {str(name): i for i, name in enumerate(CONTRACT.argv[: CONTRACT.fixed("argv")])}
PER_CALL = _A["activityId"]  # ARGV before this are per call; from it, static per version
_STATIC_NAMES = CONTRACT.argv[PER_CALL : CONTRACT.fixed("argv")]


def request_fingerprint(
    activity_id: ActivityId, client_seed: str, grant_id: str | None, count: int | None = None
) -> str:
    """What a draw request asked for, as 40 hex digits: an Idempotency-Key
    replayed with another body is refused, not answered with the first result.
    A single draw's (no ``count``) is as it was before batches."""
    text = f"{activity_id}\x00{client_seed}\x00{grant_id or ''}"
    if count is not None:
        text += f"\x00{count}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class RoundCall:
    """What every draw in one round of one configuration version shares."""

    activity_id: ActivityId
    sfx: str
    keys: tuple[str, ...]
    static: tuple[str, ...]
    space: Bucket = None  # the bucket whose keys these are (None: unbucketed)


def round_call(rt: Runtime, round_: RoundPlan, b: int = 0) -> RoundCall:
    """The keys and static arguments of ``round_`` of the compiled activity
    ``rt``, in bucket ``b``."""
    activity_id, cfg = rt.id, rt.config
    limits = rt.limits
    space = keys.bucket(b, cfg.buckets)
    named_keys = {
        "cfg": keys.cfg(activity_id, space),
        "rounds": keys.rounds(activity_id, space),
        "totals": keys.totals(activity_id, space),
        "wins": keys.wins(activity_id, space),
        "round": keys.round_(activity_id, round_.sfx, space),
        "roundUsers": keys.round_users(activity_id, round_.sfx, space),
        "day": keys.day(activity_id, round_.date_key, space),
        "stream": keys.stream(activity_id, round_.sfx, space),
        # Per-draw keys: same-slot placeholders until a draw fills them in.
        "idem": keys.no_idempotency(activity_id, space),
        "grant": keys.no_grant(activity_id, space),
        "userRate": keys.user_rate(activity_id, "-", space),
        "ipRate": keys.ip_rate(activity_id, "-", space),
        "blockedUsers": keys.blocked(activity_id, "user", space),
        "blockedIps": keys.blocked(activity_id, "ip", space),
        "codes": keys.codes(activity_id, round_.sfx, space),
    }
    named: dict[str, str] = {
        "activityId": str(activity_id),
        "activityStart": str(rt.window[0]),
        "roundStart": str(round_.start_ms),
        "roundEnd": str(round_.end_ms),
        "mode": cfg.probability.value,
        "perRound": str(limits.per_round),
        "perDay": str(limits.per_day),
        "perTotal": str(limits.total),
        "perWins": str(limits.wins_total),
        "kind": cfg.kind.value,
        "repeatLast": "1" if cfg.after_last_pool == "repeat_last" else "0",
        "needsGrant": "1" if cfg.needs_grant else "0",
        "stopSoldOut": "1" if cfg.stops_when_sold_out else "0",
        "bucket": str(b),
        "buckets": str(cfg.buckets),
        "prizeCount": str(len(round_.prizes)),
    }
    static = [named[name] for name in _STATIC_NAMES]  # type: ignore[index]
    for p in round_.prizes:
        prize = {"key": p.key, "empty": "1" if p.empty else "0", "ppb": p.ppb, "weight": p.weight}
        static += [str(prize[f]) for f in PRIZE]
    pools = round_.pools or (PoolPlan(1, len(round_.prizes)),)
    static.append(str(len(pools)))  # poolCount
    for pool in pools:
        values = {
            "first": pool.first,
            "last": pool.last,
            "nth": pool.nth or 0,
            "amountMin": -1 if pool.amount_min is None else pool.amount_min,
            "amountMax": -1 if pool.amount_max is None else pool.amount_max,
        }
        static += [str(values[f]) for f in POOL]
    return RoundCall(
        activity_id,
        round_.sfx,
        tuple(named_keys[name] for name in CONTRACT.keys),
        tuple(static),
        space,
    )


_IDEM, _GRANT, _USER_RATE, _IP_RATE = _K["idem"], _K["grant"], _K["userRate"], _K["ipRate"]
_PER_CALL = operator.itemgetter(*CONTRACT.argv[:PER_CALL])  # named values -> ARGV order


CallKey = tuple[ActivityId, str, int, int]  # activity, round, version, bucket
MAX_CALLS = 4096  # calls kept at most: every live round × bucket, with room to spare


class Draws:
    """The one Redis call of a draw."""

    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn
        # A few rounds per activity are live at a time; a new version replaces them.
        self._calls: dict[CallKey, RoundCall] = {}
        self._ends: dict[ActivityId, dict[CallKey, int]] = {}  # the calls, by activity -> end

    def prepared(self, rt: Runtime, round_: RoundPlan, b: int = 0) -> RoundCall:
        """The call of ``round_`` in bucket ``b`` for ``rt``'s configuration
        version, built once. The lookup is all a draw pays; evicting is done
        when a call is built (:meth:`_build`)."""
        key = (rt.id, round_.sfx, rt.version, b)
        cached = self._calls.get(key)
        if cached is None:
            cached = self._build(key, rt, round_, b)
        return cached

    def _build(self, key: CallKey, rt: Runtime, round_: RoundPlan, b: int) -> RoundCall:
        """Build a call, first dropping the activity's calls it makes useless
        (another version's; rounds that ended before this one starts), then
        the oldest calls past :data:`MAX_CALLS`: over a long campaign the
        cache holds the live rounds, not every round there was."""
        call = round_call(rt, round_, b)
        mine = self._ends.setdefault(rt.id, {})
        for k, end in list(mine.items()):
            if k[2] != rt.version or end <= round_.start_ms:
                del mine[k]
                self._calls.pop(k, None)
        while len(self._calls) >= MAX_CALLS:
            old = next(iter(self._calls))
            del self._calls[old]
            theirs = self._ends.get(old[0], {})
            theirs.pop(old, None)
            if not theirs and old[0] != rt.id:
                del self._ends[old[0]]
        self._calls[key] = call
        mine[key] = round_.end_ms
        return call

    def cached(self) -> int:
        """How many calls are kept (for tests and the curious)."""
        return len(self._calls)

    async def claim(
        self,
        user_id: str,
        idempotency_key: str,
        activity_id: ActivityId,
        client_seed: str,
        grant_id: str | None,
        count: int | None = None,
    ) -> bool:
        """Claim ``idempotency_key`` for this request body across all of the
        user's activities (its stored answer lives in one activity's slot, which
        another activity's draw never reads); False when the key is already
        another body's. One EVALSHA, made only for a request with the header."""
        named = {
            "body": request_fingerprint(activity_id, client_seed, grant_id, count),
            "ttl": self.conn.idempotency_ttl,
        }
        held = await self.conn.run(
            "claim_key",
            [keys.idempotency_claim(user_id, idempotency_key)],
            [named[str(name)] for name in CLAIM.argv],
        )
        return int(held) == 1

    async def has_answer(self, call: RoundCall, user_id: str, idempotency_key: str) -> bool:
        """Whether the script already answered this Idempotency-Key (a retry
        must get that answer, not a refusal remembered in process)."""
        key = keys.idempotency(call.activity_id, user_id, idempotency_key, call.space)
        async with translated():
            return bool(await self.conn.fast.exists(key))

    async def draw(
        self,
        call: RoundCall,
        *,
        version: int,
        user_id: str,
        user_key: str,
        client_seed: str,
        idempotency_key: str | None,
        grant_id: str | None,
        client_ip: str = "",
        rate_user: float = 0,
        rate_ip: float = 0,
        count: int | None = None,
    ) -> BatchOutcome:
        """One EVALSHA of lua/draw.lua: one draw, or with ``count`` a batch of
        up to that many (:class:`Batch`). The static arguments come from the
        caller's compiled configuration of ``version``; the script refuses them
        (STALE) if that is not the published one."""
        aid, b = call.activity_id, call.space
        draw_keys = list(call.keys)
        if idempotency_key:
            draw_keys[_IDEM] = keys.idempotency(aid, user_id, idempotency_key, b)
        if grant_id:
            draw_keys[_GRANT] = keys.grant(aid, grant_id, b)
        draw_keys[_USER_RATE] = keys.user_rate(aid, user_id, b)
        draw_keys[_IP_RATE] = keys.ip_rate(aid, client_ip or "-", b)
        argv = _PER_CALL(
            {
                "version": str(version),
                "guess": call.sfx,
                "user": user_id,
                "userKey": user_key,
                "clientSeed": client_seed,
                "offset": self.conn.offset,
                "useIdem": "1" if idempotency_key else "",
                "idemTtl": self.conn.idempotency_ttl,
                "idemBody": request_fingerprint(call.activity_id, client_seed, grant_id, count)
                if idempotency_key
                else "",
                "grantId": grant_id or "",
                "clientIp": client_ip,
                "rateUser": str(rate_user),
                "rateIp": str(rate_ip),
                "count": "" if count is None else str(count),
            }
        )
        reply = await self.conn.run("draw", draw_keys, [*argv, *call.static], durable=True)
        return decode(reply)
