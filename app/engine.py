"""Redis: the one place that talks to it.

Scripts are loaded once and called by SHA; a ``NOSCRIPT`` reply (after a Redis
restart or ``SCRIPT FLUSH``) reloads the script and retries transparently.
Connection problems surface as :class:`Unavailable` (HTTP 503), never as a
hang: every call has a socket timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app import keys, metrics, scripts
from app.exceptions import Unavailable
from app.transport import RedisTransport
from app.types import ActivityId, Limits, PoolPlan, PrizeStats, RoundPlan, RoundStats, Slice

PUBLISH_CHUNK = 256  # rounds per pipeline when publishing
GROUP = "flush"  # the consumer group the worker reads round streams with


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry delivered to this consumer."""

    activity_id: ActivityId
    sfx: str
    id: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class StreamState:
    length: int
    undelivered: int  # entries no consumer of the flush group has received yet
    pending: int  # delivered to the flush group, not acknowledged
    trim_below: str | None  # every group has acknowledged all entries below this id


def next_id(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def connect(url: str, *, timeout: float, cluster: bool = False) -> Any:
    """A redis-py asyncio client with bounded timeouts and one quick retry."""
    common: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": False,
    }
    if cluster:
        return aioredis.RedisCluster.from_url(url, **common)
    # A burst waits (up to the timeout) for a pooled connection instead of failing.
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=256, timeout=timeout, retry=Retry(NoBackoff(), 1), **common
    )
    return aioredis.Redis.from_pool(pool)


@contextlib.asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
        raise Unavailable("Redis cannot be reached") from exc
    except rexc.BusyLoadingError as exc:
        raise Unavailable("Redis is loading its dataset") from exc
    except rexc.ResponseError as exc:
        if str(exc).startswith(("LOADING", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "TRYAGAIN")):
            raise Unavailable(f"Redis is not ready: {exc}") from exc
        raise


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class Engine:
    """Every Redis operation redrain performs."""

    def __init__(
        self,
        client: Any,
        *,
        offset_ms: int,
        idempotency_ttl: int,
        fast: RedisTransport | None = None,
    ) -> None:
        self.client = client
        # The hot path (scripts, activity and seed reads) goes through the
        # pipelining transport when there is one; the rest uses redis-py.
        self.fast: Any = fast or client
        self.offset = str(offset_ms)
        self.idempotency_ttl = str(idempotency_ttl)
        self._scripts = {name: scripts.load(name) for name in scripts.NAMES}
        # Key names and static script arguments of a round, built once per
        # configuration version (a few rounds per activity are live at a time).
        self._round_keys: dict[
            tuple[ActivityId, str, int], tuple[tuple[str, ...], tuple[str, ...]]
        ] = {}

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.aclose()
        if self.fast is not self.client:
            with contextlib.suppress(Exception):
                await self.fast.aclose()

    async def ping(self) -> bool:
        async with _translated():
            return bool(await self.fast.ping())

    async def load_scripts(self) -> None:
        async with _translated():
            for script in self._scripts.values():
                await self.fast.script_load(script.source)
                if self.fast is not self.client:
                    await self.client.script_load(script.source)  # publish pipelines use it

    async def _run(self, name: str, keys_: Sequence[str], args: Sequence[Any]) -> Any:
        script = self._scripts[name]
        started = time.perf_counter()
        try:
            async with _translated():
                try:
                    return await self.fast.evalsha(script.sha, len(keys_), *keys_, *args)
                except rexc.NoScriptError:
                    await self.fast.script_load(script.source)
                    return await self.fast.evalsha(script.sha, len(keys_), *keys_, *args)
        finally:
            metrics.observe_script(name, time.perf_counter() - started)

    # -- publishing -------------------------------------------------------

    async def _evalsha_many(self, calls: list[list[Any]]) -> list[Any]:
        """Several EVALSHA of one slot in one round trip. The transport pipelines
        concurrent calls by itself (and routes them on a cluster, where redis-py
        refuses EVALSHA in a pipeline); redis-py (embedded) uses a pipeline."""
        if self.fast is self.client:
            pipe = self.client.pipeline(transaction=False)
            for call in calls:
                pipe.evalsha(*call)
            return list(await pipe.execute())
        return list(await asyncio.gather(*[self.fast.evalsha(*call) for call in calls]))

    async def publish(
        self,
        activity_id: ActivityId,
        *,
        version: int,
        config_json: str,
        mode: str,
        window: tuple[int, int],
        limits: Limits,
        rounds: Sequence[RoundPlan],
        slices: Callable[[RoundPlan], Sequence[Sequence[Slice]]],
        seeds: dict[str, tuple[str, str]],
    ) -> tuple[int, int, list[str]]:
        """Load every round, drop rounds the plan no longer has, then switch the
        activity's config. Returns ``(written, frozen, dropped sfx)``."""
        await self.load_scripts()
        rounds_key = keys.rounds(activity_id)
        sha = self._scripts["publish_round"].sha
        written = frozen = 0
        async with _translated():
            for i in range(0, len(rounds), PUBLISH_CHUNK):
                calls: list[list[Any]] = []
                for r in rounds[i : i + PUBLISH_CHUNK]:
                    seed, seed_hash = seeds[r.sfx]
                    args: list[Any] = [
                        r.sfx,
                        r.start_ms,
                        r.end_ms,
                        seed,
                        seed_hash,
                        self.offset,
                        len(r.prizes),
                    ]
                    for p, sl in zip(r.prizes, slices(r), strict=True):
                        args += [
                            p.key,
                            "1" if p.empty else "0",
                            p.ppb,
                            p.weight,
                            p.quantity,
                            ",".join(f"{s.at_ms}:{s.amount}" for s in sl),
                        ]
                    calls.append([sha, 2, rounds_key, keys.round_(activity_id, r.sfx), *args])
                for ok in await self._evalsha_many(calls):
                    if int(ok):
                        written += 1
                    else:
                        frozen += 1
            wanted = {r.sfx for r in rounds}
            present = [_s(m).split("|")[0] for m in await self.client.zrange(rounds_key, 0, -1)]
        dropped: list[str] = []
        for sfx in present:
            if sfx not in wanted and int(
                await self._run(
                    "drop_round", [rounds_key, keys.round_(activity_id, sfx)], [sfx, self.offset]
                )
            ):
                dropped.append(sfx)
        async with _translated():
            await self.client.hset(
                keys.cfg(activity_id),
                mapping={
                    "ver": str(version),
                    "id": str(activity_id),
                    "start": str(window[0]),
                    "end": str(window[1]),
                    "mode": mode,
                    "pr": str(limits.per_round),
                    "pd": str(limits.per_day),
                    "pt": str(limits.total),
                    "pw": str(limits.wins_total),
                    "json": config_json,
                },
            )
            await self.client.sadd(keys.ACTIVE, str(activity_id))
        return written, frozen, dropped

    async def activity_config(self, activity_id: ActivityId) -> tuple[int, str] | None:
        """``(version, config JSON)`` of a published activity, or None."""
        async with _translated():
            ver, js = await self.fast.hmget(keys.cfg(activity_id), ["ver", "json"])
        if ver is None or js is None:
            return None
        return int(ver), _s(js)

    async def activity_version(self, activity_id: ActivityId) -> int | None:
        async with _translated():
            ver = await self.fast.hget(keys.cfg(activity_id), "ver")
        return None if ver is None else int(ver)

    async def round_seed(self, activity_id: ActivityId, sfx: str) -> tuple[bytes, str] | None:
        """``(seed, seed_hash)`` of a published round, or None."""
        async with _translated():
            seed, seed_hash = await self.fast.hmget(
                keys.round_(activity_id, sfx), ["seed", "seedh"]
            )
        if seed is None:
            return None
        return bytes.fromhex(_s(seed)), _s(seed_hash)

    # -- the hot path -----------------------------------------------------

    async def draw(
        self,
        activity_id: ActivityId,
        *,
        version: int,
        round_: RoundPlan,
        activity_start_ms: int,
        mode: str,
        limits: Limits,
        kind: str,
        repeat_last: bool,
        needs_grant: bool,
        user_id: str,
        user_key: str,
        client_seed: str,
        idempotency_key: str | None,
        grant_id: str | None,
        client_ip: str = "",
        rate_user: float = 0,
        rate_ip: float = 0,
    ) -> list[Any]:
        """One EVALSHA of lua/draw.lua. The static arguments (limits, odds, the
        round's window) come from the caller's compiled configuration of
        ``version``; the script refuses them (STALE) if that is not current."""
        sfx = round_.sfx
        cached = self._round_keys.get((activity_id, sfx, version))
        if cached is None:
            round_keys: tuple[str, ...] = (
                keys.cfg(activity_id),
                keys.rounds(activity_id),
                keys.totals(activity_id),
                keys.wins(activity_id),
                keys.round_(activity_id, sfx),
                keys.round_users(activity_id, sfx),
                keys.day(activity_id, round_.date_key),
                keys.stream(activity_id, sfx),
                keys.no_idempotency(activity_id),
                keys.no_grant(activity_id),
                keys.user_rate(activity_id, "-"),
                keys.ip_rate(activity_id, "-"),
                keys.blocked(activity_id, "user"),
                keys.blocked(activity_id, "ip"),
            )
            static = [
                str(activity_id),
                str(activity_start_ms),
                str(round_.start_ms),
                str(round_.end_ms),
                mode,
                str(limits.per_round),
                str(limits.per_day),
                str(limits.total),
                str(limits.wins_total),
                kind,
                "1" if repeat_last else "0",
                "1" if needs_grant else "0",
                str(len(round_.prizes)),
            ]
            for p in round_.prizes:
                static += [p.key, "1" if p.empty else "0", str(p.ppb), str(p.weight)]
            pools = round_.pools or (PoolPlan(1, len(round_.prizes)),)
            static.append(str(len(pools)))
            for pool in pools:
                static += [
                    str(pool.first),
                    str(pool.last),
                    str(pool.nth or 0),
                    str(-1 if pool.amount_min is None else pool.amount_min),
                    str(-1 if pool.amount_max is None else pool.amount_max),
                ]
            cached = self._round_keys[(activity_id, sfx, version)] = (round_keys, tuple(static))
        round_keys, static_args = cached
        draw_keys = list(round_keys)
        if idempotency_key:
            draw_keys[8] = keys.idempotency(activity_id, user_id, idempotency_key)
        if grant_id:
            draw_keys[9] = keys.grant(activity_id, grant_id)
        draw_keys[10] = keys.user_rate(activity_id, user_id)
        draw_keys[11] = keys.ip_rate(activity_id, client_ip or "-")
        return list(
            await self._run(
                "draw",
                draw_keys,
                [
                    str(version),
                    sfx,
                    user_id,
                    user_key,
                    client_seed,
                    self.offset,
                    "1" if idempotency_key else "",
                    self.idempotency_ttl,
                    grant_id or "",
                    client_ip,
                    str(rate_user),
                    str(rate_ip),
                    *static_args,
                ],
            )
        )

    async def put_grant(
        self, activity_id: ActivityId, grant_id: str, user_id: str, amount: int, reference: str
    ) -> bool:
        """Record a grant for the draw script; True if it was new."""
        res = await self._run(
            "grant", [keys.grant(activity_id, grant_id)], [user_id, str(amount), reference]
        )
        return int(res[0]) == 1

    async def set_blacklist(
        self, activity_id: ActivityId, kind: str, values: Sequence[str]
    ) -> None:
        """Replace an activity's copy of a blacklist at once (a temporary key in
        the same slot, then RENAME), so no draw sees it half-written."""
        target = keys.blocked(activity_id, kind)
        async with _translated():
            if not values:
                await self.client.delete(target)
                return
            tmp = f"{target}:new"
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(tmp)
            pipe.sadd(tmp, *values)
            pipe.rename(tmp, target)
            await pipe.execute()

    async def blacklist_change(
        self, activity_ids: Sequence[ActivityId], kind: str, value: str, *, add: bool
    ) -> None:
        async with _translated():
            for aid in activity_ids:
                key = keys.blocked(aid, kind)
                await (self.client.sadd(key, value) if add else self.client.srem(key, value))

    async def grant_state(self, activity_id: ActivityId, grant_id: str) -> tuple[bool, str | None]:
        """``(used, draw_id)`` of a grant as Redis has it."""
        async with _translated():
            used, draw = await self.fast.hmget(keys.grant(activity_id, grant_id), ["used", "draw"])
        return used == b"1", None if draw is None else _s(draw)

    # -- operations -------------------------------------------------------

    async def topup(self, activity_id: ActivityId, sfx: str, prize: str, add: int) -> list[int]:
        """``[quantity, released, at_ms]`` after the top-up, or ``[negative code]``."""
        res = await self._run(
            "topup", [keys.round_(activity_id, sfx)], [prize, str(add), self.offset]
        )
        return [int(x) for x in res]

    async def round_stats(self, round_: RoundPlan) -> RoundStats | None:
        activity_id, sfx = round_.activity_id, round_.sfx
        res = await self._run(
            "round_stats",
            [keys.round_(activity_id, sfx), keys.round_users(activity_id, sfx)],
            [self.offset],
        )
        if int(res[0]) < 0:
            return None
        draws, users, n = int(res[0]), int(res[1]), int(res[2])
        prizes = tuple(
            PrizeStats(
                key=_s(res[3 + 4 * i]),
                quantity=int(res[4 + 4 * i]),
                released=int(res[5 + 4 * i]),
                won=int(res[6 + 4 * i]),
            )
            for i in range(n)
        )
        return RoundStats(round_.round_id, round_.start_ms, round_.end_ms, draws, users, prizes)

    async def published_rounds(self, activity_id: ActivityId) -> list[str]:
        async with _translated():
            members = await self.client.zrange(keys.rounds(activity_id), 0, -1)
        return [_s(m).split("|")[0] for m in members]

    async def user_counts(
        self, activity_id: ActivityId, user_id: str, sfx: str | None, date_key: str | None
    ) -> tuple[int, int, int, int]:
        """The user's draws in the round, on the day, in total, and wins in total."""
        async with _translated():
            pipe = self.client.pipeline(transaction=False)
            if sfx is not None:
                pipe.hget(keys.round_users(activity_id, sfx), user_id)
            if date_key is not None:
                pipe.hget(keys.day(activity_id, date_key), user_id)
            pipe.hget(keys.totals(activity_id), user_id)
            pipe.hget(keys.wins(activity_id), user_id)
            res = [int(v or 0) for v in await pipe.execute()]
        in_round = res.pop(0) if sfx is not None else 0
        in_day = res.pop(0) if date_key is not None else 0
        return in_round, in_day, res[0], res[1]

    # -- the ledger streams (worker, reconcile) ----------------------------

    async def now_ms(self) -> int:
        """The Redis clock plus the offset: the time authority."""
        async with _translated():
            sec, usec = await self.client.time()
        return int(sec) * 1000 + int(usec) // 1000 + int(self.offset)

    async def active_activities(self) -> list[ActivityId]:
        async with _translated():
            return sorted(int(v) for v in await self.client.smembers(keys.ACTIVE))

    async def started_rounds(self, activity_id: ActivityId, until_ms: int) -> list[tuple[str, int]]:
        """``(sfx, end_ms)`` of the rounds starting at or before ``until_ms``."""
        async with _translated():
            members = await self.client.zrangebyscore(keys.rounds(activity_id), "-inf", until_ms)
        out = []
        for m in members:
            sfx, _, end = _s(m).partition("|")
            out.append((sfx, int(end)))
        return out

    async def flushed_rounds(self, activity_id: ActivityId) -> set[str]:
        async with _translated():
            return {_s(v) for v in await self.client.smembers(keys.flushed(activity_id))}

    async def retire_stream(self, activity_id: ActivityId, sfx: str) -> None:
        """A finished round whose stream every group acknowledged and that is empty:
        remember it as flushed, then drop the stream and its failure counters."""
        async with _translated():
            await self.client.sadd(keys.flushed(activity_id), sfx)
            await self.client.delete(keys.stream(activity_id, sfx))
            stale = [
                field
                async for field, _ in self.client.hscan_iter(
                    keys.failures(activity_id), match=f"{sfx}|*"
                )
            ]
            if stale:
                await self.client.hdel(keys.failures(activity_id), *stale)

    async def ensure_group(self, activity_id: ActivityId, sfx: str) -> None:
        """The flush group on a round stream, reading from its very first entry."""
        async with _translated():
            try:
                await self.client.xgroup_create(
                    keys.stream(activity_id, sfx), GROUP, id="0", mkstream=True
                )
            except rexc.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def _entries(self, activity_id: ActivityId, sfx: str, raw: Any) -> list[Entry]:
        return [
            Entry(activity_id, sfx, _s(eid), {_s(k): _s(v) for k, v in fields.items()})
            for eid, fields in raw
            if fields is not None
        ]

    async def read_new(
        self, activity_id: ActivityId, sfxs: Sequence[str], consumer: str, count: int
    ) -> list[Entry]:
        """Entries never delivered to the group, from several streams of one activity
        (one slot, so one call even on a cluster)."""
        by_key = {keys.stream(activity_id, sfx): sfx for sfx in sfxs}
        per_stream = max(1, count // max(1, len(by_key)))  # COUNT applies to each stream
        async with _translated():
            res = await self.client.xreadgroup(
                GROUP, consumer, dict.fromkeys(by_key, ">"), count=per_stream
            )
        out: list[Entry] = []
        for stream, raw in res or ():
            out += self._entries(activity_id, by_key[_s(stream)], raw)
        return out

    async def ack(self, activity_id: ActivityId, sfx: str, ids: Sequence[str]) -> None:
        if ids:
            async with _translated():
                await self.client.xack(keys.stream(activity_id, sfx), GROUP, *ids)

    async def claim(
        self, activity_id: ActivityId, sfx: str, consumer: str, min_idle_ms: int, count: int
    ) -> tuple[list[Entry], list[str]]:
        """Take over entries other consumers (or this one) left pending for
        ``min_idle_ms``. Also returns ids still pending but deleted from the stream:
        those draws can no longer be flushed from Redis."""
        stream = keys.stream(activity_id, sfx)
        entries: list[Entry] = []
        deleted: list[str] = []
        start = "0-0"
        async with _translated():
            while len(entries) < count:
                res = await self.client.xautoclaim(
                    stream, GROUP, consumer, min_idle_ms, start, count=count - len(entries)
                )
                start = _s(res[0])
                entries += self._entries(activity_id, sfx, res[1])
                if len(res) > 2:
                    deleted += [_s(v) for v in res[2]]
                if start == "0-0":
                    break
        return entries, deleted

    async def stream_state(self, activity_id: ActivityId, sfx: str) -> StreamState:
        stream = keys.stream(activity_id, sfx)
        async with _translated():
            try:
                info = await self.client.xinfo_stream(stream)
            except rexc.ResponseError:  # no such key
                return StreamState(0, 0, 0, None)
            groups = await self.client.xinfo_groups(stream)
            last = _s(info["last-generated-id"])
            trim: tuple[int, int] | None = None
            # Without the flush group (no worker has seen this stream yet) every
            # entry is still to be delivered.
            undelivered, pending = int(info["length"]), 0
            for g in groups:
                delivered = _s(g["last-delivered-id"])
                point = id_key(next_id(delivered))
                if int(g["pending"]):
                    summary = await self.client.xpending(stream, g["name"])
                    if summary["min"] is not None:  # else acknowledged meanwhile
                        point = min(point, id_key(_s(summary["min"])))
                trim = point if trim is None else min(trim, point)
                if _s(g["name"]) == GROUP:
                    pending, undelivered = int(g["pending"]), 0
                    if id_key(last) > id_key(delivered):
                        lag = g.get("lag")
                        if lag is None:  # not computable after deletions: count them
                            rest = await self.client.xrange(stream, f"({delivered}", "+")
                            lag = len(rest)
                        undelivered = int(lag)
        return StreamState(
            length=int(info["length"]),
            undelivered=undelivered,
            pending=pending,
            trim_below=None if trim is None else f"{trim[0]}-{trim[1]}",
        )

    async def trim(self, activity_id: ActivityId, sfx: str, below: str) -> int:
        """Delete entries with ids below ``below``; returns how many."""
        async with _translated():
            return int(
                await self.client.xtrim(
                    keys.stream(activity_id, sfx), minid=below, approximate=False
                )
            )

    async def count_failure(self, activity_id: ActivityId, sfx: str, entry_id: str) -> int:
        async with _translated():
            return int(
                await self.client.hincrby(keys.failures(activity_id), f"{sfx}|{entry_id}", 1)
            )

    async def clear_failures(self, activity_id: ActivityId, sfx: str, ids: Sequence[str]) -> None:
        if ids:
            async with _translated():
                await self.client.hdel(keys.failures(activity_id), *[f"{sfx}|{i}" for i in ids])

    async def stream_entries(self, activity_id: ActivityId, sfx: str) -> list[Entry]:
        """Every entry still in a round's stream (reconcile --repair)."""
        stream = keys.stream(activity_id, sfx)
        out: list[Entry] = []
        start = "-"
        async with _translated():
            while True:
                raw = await self.client.xrange(stream, start, "+", count=5000)
                out += self._entries(activity_id, sfx, raw)
                if len(raw) < 5000:
                    return out
                start = f"({_s(raw[-1][0])}"

    async def round_counters(self, round_: RoundPlan) -> tuple[int, int, dict[str, int]] | None:
        """``(draws, users, wins by prize key)`` as Redis counts them, or None."""
        rk = keys.round_(round_.activity_id, round_.sfx)
        fields = ["draws"] + [f"w{p.index}" for p in round_.prizes]
        async with _translated():
            vals = await self.client.hmget(rk, fields)
            users = await self.client.hlen(keys.round_users(round_.activity_id, round_.sfx))
        if vals[0] is None:
            return None
        wins = {p.key: int(v or 0) for p, v in zip(round_.prizes, vals[1:], strict=True)}
        return int(vals[0]), int(users), wins

    async def round_user_counts(self, round_: RoundPlan) -> dict[str, int]:
        out: dict[str, int] = {}
        async with _translated():
            async for user, n in self.client.hscan_iter(
                keys.round_users(round_.activity_id, round_.sfx), count=5000
            ):
                out[_s(user)] = int(n)
        return out


class RegisteredScriptEngine(Engine):
    """The straightforward redis-py way, kept as the benchmark's in-run
    baseline (``REDRAIN_BENCH_BASELINE=1``): one ``register_script`` object per
    script, called per draw on redis-py's pooled asyncio client."""

    def __init__(self, client: Any, *, offset_ms: int, idempotency_ttl: int) -> None:
        super().__init__(client, offset_ms=offset_ms, idempotency_ttl=idempotency_ttl)
        self._registered = {
            name: client.register_script(script.source) for name, script in self._scripts.items()
        }

    async def _run(self, name: str, keys_: Sequence[str], args: Sequence[Any]) -> Any:
        async with _translated():
            return await self._registered[name](keys=list(keys_), args=list(args))
