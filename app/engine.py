"""Redis: the one place that talks to it.

Scripts are loaded once and called by SHA; a ``NOSCRIPT`` reply (after a Redis
restart or ``SCRIPT FLUSH``) reloads the script and retries transparently.
Connection problems surface as :class:`Unavailable` (HTTP 503), never as a
hang: every call has a socket timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app import keys, scripts
from app.exceptions import Unavailable
from app.types import ActivityId, Limits, PrizeStats, RoundPlan, RoundStats, Slice

PUBLISH_CHUNK = 256  # rounds per pipeline when publishing


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

    def __init__(self, client: Any, *, offset_ms: int, idempotency_ttl: int) -> None:
        self.client = client
        self.offset = str(offset_ms)
        self.idempotency_ttl = str(idempotency_ttl)
        self._scripts = {name: scripts.load(name) for name in scripts.NAMES}

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.aclose()

    async def ping(self) -> bool:
        async with _translated():
            return bool(await self.client.ping())

    async def load_scripts(self) -> None:
        async with _translated():
            for script in self._scripts.values():
                await self.client.script_load(script.source)

    async def _run(self, name: str, keys_: Sequence[str], args: Sequence[Any]) -> Any:
        script = self._scripts[name]
        async with _translated():
            try:
                return await self.client.evalsha(script.sha, len(keys_), *keys_, *args)
            except rexc.NoScriptError:
                await self.client.script_load(script.source)
                return await self.client.evalsha(script.sha, len(keys_), *keys_, *args)

    # -- publishing -------------------------------------------------------

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
                pipe = self.client.pipeline(transaction=False)
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
                    pipe.evalsha(sha, 2, rounds_key, keys.round_(activity_id, r.sfx), *args)
                for ok in await pipe.execute():
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
            ver, js = await self.client.hmget(keys.cfg(activity_id), ["ver", "json"])
        if ver is None or js is None:
            return None
        return int(ver), _s(js)

    async def activity_version(self, activity_id: ActivityId) -> int | None:
        async with _translated():
            ver = await self.client.hget(keys.cfg(activity_id), "ver")
        return None if ver is None else int(ver)

    async def round_seed(self, activity_id: ActivityId, sfx: str) -> tuple[bytes, str] | None:
        """``(seed, seed_hash)`` of a published round, or None."""
        async with _translated():
            seed, seed_hash = await self.client.hmget(
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
        user_id: str,
        user_key: str,
        client_seed: str,
        idempotency_key: str | None,
    ) -> list[Any]:
        sfx = round_.sfx
        idem = (
            keys.idempotency(activity_id, user_id, idempotency_key)
            if idempotency_key
            else keys.no_idempotency(activity_id)
        )
        return list(
            await self._run(
                "draw",
                [
                    keys.cfg(activity_id),
                    keys.rounds(activity_id),
                    keys.totals(activity_id),
                    keys.wins(activity_id),
                    keys.round_(activity_id, sfx),
                    keys.round_users(activity_id, sfx),
                    keys.day(activity_id, round_.date_key),
                    keys.stream(activity_id, sfx),
                    idem,
                ],
                [
                    str(version),
                    sfx,
                    user_id,
                    user_key,
                    client_seed,
                    self.offset,
                    "1" if idempotency_key else "",
                    self.idempotency_ttl,
                ],
            )
        )

    # -- operations -------------------------------------------------------

    async def topup(self, activity_id: ActivityId, sfx: str, prize: str, add: int) -> list[int]:
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
