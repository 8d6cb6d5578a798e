"""Published activities in Redis: publishing rounds, the configuration and
seeds the API compiles, stock top-ups, live stock and users' counters.

Owns the layouts of ``lua/publish_round.lua``, ``lua/drop_round.lua``,
``lua/topup.lua`` and ``lua/round_stats.lua``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from app.domain.buckets import split, split_slices
from app.domain.types import ActivityId, PrizeStats, RoundPlan, RoundStats, Slice
from app.store.redis import keys
from app.store.redis.connection import RedisConnection, text, translated
from app.store.redis.scripts import Contract

PUBLISH_CHUNK = 256  # rounds per pipeline when publishing

# The fields of an activity's configuration hash ({rd:A}:cfg) and who reads
# each: nothing is written that nobody reads (tests/store/redis/test_config_hash.py).
CONFIG_FIELDS = {
    "ver": "lua/draw.lua, Catalogue.activity_config, Catalogue.activity_version",
    "paused": "lua/draw.lua, Catalogue.paused",
    "buckets": "Catalogue.buckets",
    "json": "Catalogue.activity_config",
    "hist": "Catalogue.activity_config",
}
BUCKET_CONFIG_FIELDS = ("ver", "paused")  # a bucket's copy: what lua/draw.lua reads

PUBLISH_PRIZE = ("key", "empty", "ppb", "weight", "quantity", "slices")
PUBLISH = Contract(
    "publish_round",
    keys=("rounds", "round"),
    argv=(
        "sfx",
        "startMs",
        "endMs",
        "seed",
        "seedHash",
        "offset",
        "prizeCount",
        ("prize", PUBLISH_PRIZE),
    ),
    reply=("written",),
)
DROP = Contract("drop_round", keys=("rounds", "round"), argv=("sfx", "offset"), reply=("removed",))


class TopupCode(IntEnum):
    ROUND_NOT_FOUND = -1
    ROUND_ENDED = -2
    PRIZE_NOT_FOUND = -3
    EMPTY_PRIZE = -4


TOPUP = Contract(
    "topup",
    keys=("round",),
    argv=("prizeKey", "add", "offset"),
    reply=("quantity", "released", "atMs"),
    errors={c.name: (c.value, None) for c in TopupCode},
)
STATS_PRIZE = ("key", "quantity", "released", "won")
STATS = Contract(
    "round_stats",
    keys=("round", "roundUsers"),
    argv=("offset",),
    reply=("draws", "users", "prizeCount", ("prize", STATS_PRIZE), "nowMs"),
    errors={"ROUND_NOT_FOUND": (-1, None)},
)


def ordered(contract: Contract, part: str, named: dict[str, Any]) -> list[Any]:
    """The fixed items of ``part`` ("keys" or "argv") in the contract's order."""
    items = contract.keys if part == "keys" else contract.argv
    return [named[str(name)] for name in items[: contract.fixed(part)]]


@dataclass(frozen=True, slots=True)
class Published:
    written: int  # rounds (re)loaded
    frozen: int  # rounds left as they were (started or drawn in)
    dropped: list[str]  # suffixes of rounds removed
    loaded: frozenset[str] = frozenset()  # suffixes of the rounds (re)loaded


@dataclass(frozen=True, slots=True)
class ToppedUp:
    quantity: int
    released: int
    at_ms: int


class Catalogue:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    # -- publishing -------------------------------------------------------

    def _publish_call(
        self,
        activity_id: ActivityId,
        r: RoundPlan,
        seed: tuple[str, str],
        sl: Sequence[Sequence[Slice]],
        b: keys.Bucket = None,
    ) -> list[Any]:
        """The call loading round ``r`` into bucket ``b``, whose release
        schedule per prize is ``sl`` (its quantity is what the slices add up to
        when bucketed, else the prize's quantity)."""
        named_keys = {
            "rounds": keys.rounds(activity_id, b),
            "round": keys.round_(activity_id, r.sfx, b),
        }
        named = {
            "sfx": r.sfx,
            "startMs": r.start_ms,
            "endMs": r.end_ms,
            "seed": seed[0],
            "seedHash": seed[1],
            "offset": self.conn.offset,
            "prizeCount": len(r.prizes),
        }
        args = ordered(PUBLISH, "argv", named)
        for p, slices in zip(r.prizes, sl, strict=True):
            prize = {
                "key": p.key,
                "empty": "1" if p.empty else "0",
                "ppb": p.ppb,
                "weight": p.weight,
                "quantity": p.quantity if b is None else sum(x.amount for x in slices),
                "slices": ",".join(f"{s.at_ms}:{s.amount}" for s in slices),
            }
            args += [prize[f] for f in PUBLISH_PRIZE]
        round_keys = ordered(PUBLISH, "keys", named_keys)
        return [self.conn.scripts["publish_round"].sha, len(round_keys), *round_keys, *args]

    async def publish(
        self,
        activity_id: ActivityId,
        *,
        version: int,
        config_json: str,
        rounds: Sequence[RoundPlan],
        slices: Callable[[RoundPlan], Sequence[Sequence[Slice]]],
        seeds: dict[str, tuple[str, str]],
        buckets: int = 1,
        paused: bool = False,
        history: Callable[[frozenset[str]], str] = lambda loaded: "",
    ) -> Published:
        """Load every round (into each bucket, its share of the stock), drop
        rounds the plan no longer has, then switch the activity's config: the
        buckets' first, the home's (which the API compiles from) last, with
        the history (:class:`app.domain.versions.History`, made from the
        rounds loaded: which rounds hold an older version) in the same write."""
        await self.conn.load_scripts()
        spaces = [keys.bucket(b, buckets) for b in range(buckets)]
        written = frozen = 0
        loaded: set[str] = set()
        for i in range(0, len(rounds), PUBLISH_CHUNK):
            chunk = rounds[i : i + PUBLISH_CHUNK]
            calls = []
            for r in chunk:
                whole = slices(r)
                shares = [split_slices(sl, buckets) for sl in whole] if buckets > 1 else []
                for b, space in enumerate(spaces):
                    sl = whole if space is None else [share[b] for share in shares]
                    calls.append(self._publish_call(activity_id, r, seeds[r.sfx], sl, space))
            oks = [int(ok) for ok in await self.conn.evalsha_many(calls)]
            for j in range(len(chunk)):
                # A round counts as written when every bucket took it.
                if all(oks[j * buckets : (j + 1) * buckets]):
                    written += 1
                    loaded.add(chunk[j].sfx)
                else:
                    frozen += 1
        wanted = {r.sfx for r in rounds}
        dropped: list[str] = []
        for sfx in await self.published_rounds(activity_id, spaces[0]):
            if sfx in wanted:
                continue
            removed = 0
            for space in spaces:
                named_keys = {
                    "rounds": keys.rounds(activity_id, space),
                    "round": keys.round_(activity_id, sfx, space),
                }
                named = {"sfx": sfx, "offset": self.conn.offset}
                removed += int(
                    await self.conn.run(
                        "drop_round",
                        ordered(DROP, "keys", named_keys),
                        ordered(DROP, "argv", named),
                    )
                )
            if removed == len(spaces):
                dropped.append(sfx)
        async with translated():
            for space in spaces:
                if space is not None:
                    await self.conn.client.hset(
                        keys.cfg(activity_id, space),
                        mapping={"ver": str(version), "paused": "1" if paused else "0"},
                    )
            await self.conn.client.hset(
                keys.cfg(activity_id),
                mapping={
                    "ver": str(version),
                    "buckets": str(buckets),
                    "paused": "1" if paused else "0",
                    "json": config_json,
                    "hist": history(frozenset(loaded)),
                },
            )
            await self.conn.client.sadd(keys.ACTIVE, str(activity_id))
        return Published(written, frozen, dropped, frozenset(loaded))

    async def set_paused(self, activity_id: ActivityId, paused: bool, buckets: int = 1) -> None:
        """The emergency stop: every draw script call reads ``paused`` from
        the configuration hash it already reads, so every API process obeys at
        once. Buckets first, the home (what :meth:`paused` reports) last."""
        flag = "1" if paused else "0"
        async with translated():
            for b in range(buckets if buckets > 1 else 0):
                await self.conn.client.hset(
                    keys.cfg(activity_id, keys.bucket(b, buckets)), "paused", flag
                )
            await self.conn.client.hset(keys.cfg(activity_id), "paused", flag)

    async def load_codes(
        self, activity_id: ActivityId, sfx: str, codes: dict[int, dict[int, str]]
    ) -> None:
        """A round's redemption codes as lua/draw.lua reads them: prize number
        ``pick`` marked coded, slot n's code under ``"<pick>:<n>"``. New fields
        first, then the ones no longer allotted (only a round not yet started
        loses any, so no draw sees the hash half done)."""
        key = keys.codes(activity_id, sfx)
        mapping: dict[str, str] = {}
        for pick, slots in codes.items():
            mapping[str(pick)] = "1"
            mapping.update({f"{pick}:{n}": code for n, code in slots.items()})
        async with translated():
            if mapping:
                await self.conn.client.hset(key, mapping=mapping)
            stale = [f for f in map(text, await self.conn.client.hkeys(key)) if f not in mapping]
            if stale:
                await self.conn.client.hdel(key, *stale)

    async def drop_codes(self, activity_id: ActivityId, sfx: str) -> None:
        async with translated():
            await self.conn.client.delete(keys.codes(activity_id, sfx))

    async def paused(self, activity_id: ActivityId) -> bool:
        async with translated():
            return await self.conn.fast.hget(keys.cfg(activity_id), "paused") in (b"1", "1")

    # -- what the API compiles --------------------------------------------

    async def activity_config(self, activity_id: ActivityId) -> tuple[int, str, str] | None:
        """``(version, config JSON, history JSON or "")`` of a published
        activity, or None."""
        async with translated():
            ver, js, hist = await self.conn.fast.hmget(
                keys.cfg(activity_id), ["ver", "json", "hist"]
            )
        if ver is None or js is None:
            return None
        return int(ver), text(js), text(hist) if hist else ""

    async def activity_version(self, activity_id: ActivityId) -> int | None:
        async with translated():
            ver = await self.conn.fast.hget(keys.cfg(activity_id), "ver")
        return None if ver is None else int(ver)

    async def round_seed(
        self, activity_id: ActivityId, sfx: str, buckets: int = 1
    ) -> tuple[bytes, str] | None:
        """``(seed, seed_hash)`` of a published round, or None. (Every bucket
        holds the round's one seed; bucket 0's is read.)"""
        async with translated():
            seed, seed_hash = await self.conn.fast.hmget(
                keys.round_(activity_id, sfx, keys.bucket(0, buckets)), ["seed", "seedh"]
            )
        if seed is None:
            return None
        return bytes.fromhex(text(seed)), text(seed_hash)

    async def active_activities(self) -> list[ActivityId]:
        async with translated():
            return sorted(int(v) for v in await self.conn.client.smembers(keys.ACTIVE))

    async def published_rounds(self, activity_id: ActivityId, b: keys.Bucket = None) -> list[str]:
        async with translated():
            members = await self.conn.client.zrange(keys.rounds(activity_id, b), 0, -1)
        return [text(m).split("|")[0] for m in members]

    async def buckets(self, activity_id: ActivityId) -> int:
        """How many buckets the published activity has (1 when unpublished)."""
        async with translated():
            return int(await self.conn.client.hget(keys.cfg(activity_id), "buckets") or 1)

    async def started_rounds(
        self, activity_id: ActivityId, until_ms: int, since_ms: int | None = None
    ) -> list[tuple[str, int, int]]:
        """``(lane, start_ms, end_ms)`` of the rounds starting at or before
        ``until_ms`` (and at or after ``since_ms``), in start order: one lane
        (:func:`keys.lane`) per round and bucket."""
        k = await self.buckets(activity_id)
        async with translated():
            members = await self.conn.client.zrangebyscore(
                keys.rounds(activity_id, keys.bucket(0, k)),
                "-inf" if since_ms is None else since_ms,
                until_ms,
                withscores=True,
            )
        out = []
        for m, start in members:
            sfx, _, end = text(m).partition("|")
            out += [(keys.lane(sfx, keys.bucket(b, k)), int(start), int(end)) for b in range(k)]
        return out

    # -- operations -------------------------------------------------------

    async def topup(
        self, activity_id: ActivityId, sfx: str, prize: str, add: int, buckets: int = 1
    ) -> ToppedUp | TopupCode:
        """The prize's stock after the top-up (summed over the buckets, which
        share ``add`` as :func:`split` does), or why it was refused."""
        total = ToppedUp(0, 0, 0)
        for b, share in enumerate(split(add, buckets)):
            named = {"prizeKey": prize, "add": str(share), "offset": self.conn.offset}
            res = await self.conn.run(
                "topup",
                ordered(
                    TOPUP, "keys", {"round": keys.round_(activity_id, sfx, keys.bucket(b, buckets))}
                ),
                ordered(TOPUP, "argv", named),
            )
            first = int(res[0])
            if first < 0:
                return TopupCode(first)
            r = {
                name: int(res[TOPUP.index("reply", name)])
                for name in ("quantity", "released", "atMs")
            }
            total = ToppedUp(
                total.quantity + r["quantity"], total.released + r["released"], r["atMs"]
            )
        return total

    async def round_stats(self, round_: RoundPlan, buckets: int = 1) -> RoundStats | None:
        """The round's counters, summed over its buckets (a user draws in one
        bucket only, so players add up too)."""
        parts = []
        for b in range(buckets):
            one = await self.bucket_stats(round_, keys.bucket(b, buckets))
            if one is None:
                return None
            parts.append(one)
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        prizes = tuple(
            PrizeStats(
                key=p.key,
                quantity=sum(x.prizes[i].quantity for x in parts),
                released=sum(x.prizes[i].released for x in parts),
                won=sum(x.prizes[i].won for x in parts),
            )
            for i, p in enumerate(first.prizes)
        )
        return RoundStats(
            first.round_id,
            first.start_ms,
            first.end_ms,
            sum(x.draws for x in parts),
            sum(x.users for x in parts),
            prizes,
        )

    async def bucket_stats(self, round_: RoundPlan, b: keys.Bucket) -> RoundStats | None:
        activity_id, sfx = round_.activity_id, round_.sfx
        named_keys = {
            "round": keys.round_(activity_id, sfx, b),
            "roundUsers": keys.round_users(activity_id, sfx, b),
        }
        res = await self.conn.run(
            "round_stats",
            ordered(STATS, "keys", named_keys),
            ordered(STATS, "argv", {"offset": self.conn.offset}),
        )
        if int(res[0]) < 0:
            return None
        head = {
            name: int(res[STATS.index("reply", name)]) for name in ("draws", "users", "prizeCount")
        }
        at, width = STATS.fixed("reply"), len(STATS_PRIZE)
        prizes = []
        for i in range(head["prizeCount"]):
            p = dict(zip(STATS_PRIZE, res[at + i * width : at + (i + 1) * width], strict=True))
            prizes.append(
                PrizeStats(
                    key=text(p["key"]),
                    quantity=int(p["quantity"]),
                    released=int(p["released"]),
                    won=int(p["won"]),
                )
            )
        return RoundStats(
            round_.round_id,
            round_.start_ms,
            round_.end_ms,
            head["draws"],
            head["users"],
            tuple(prizes),
        )

    async def user_counts(
        self,
        activity_id: ActivityId,
        user_id: str,
        sfx: str | None,
        date_key: str | None,
        b: keys.Bucket = None,
    ) -> tuple[int, int, int, int]:
        """The user's draws in the round, on the day, in total, and wins in
        total, from the user's bucket ``b``."""
        async with translated():
            pipe = self.conn.client.pipeline(transaction=False)
            if sfx is not None:
                pipe.hget(keys.round_users(activity_id, sfx, b), user_id)
            if date_key is not None:
                pipe.hget(keys.day(activity_id, date_key, b), user_id)
            pipe.hget(keys.totals(activity_id, b), user_id)
            pipe.hget(keys.wins(activity_id, b), user_id)
            res = [int(v or 0) for v in await pipe.execute()]
        in_round = res.pop(0) if sfx is not None else 0
        in_day = res.pop(0) if date_key is not None else 0
        return in_round, in_day, res[0], res[1]
