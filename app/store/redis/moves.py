"""Stock moves between the buckets of a round (SPEC §9): the two halves of a
move in Redis and the logs they leave. Owns ``lua/move_out.lua`` and
``lua/move_in.lua``'s layouts; the protocol is in app/jobs/rebalance.py."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from app.domain.types import ActivityId
from app.store.redis import keys
from app.store.redis.connection import RedisConnection, text, translated
from app.store.redis.scripts import Contract


class OutCode(IntEnum):
    ROUND_NOT_FOUND = -1
    ROUND_ENDED = -2
    NOTHING_LEFT = -3


MOVE_OUT = Contract(
    "move_out",
    keys=("round", "moves"),
    argv=("moveId", "prize", "units", "peer", "offset"),
    reply=("status", "taken", "atMs"),
    errors={c.name: (c.value, None) for c in OutCode},
)
MOVE_IN = Contract(
    "move_in",
    keys=("round", "moves"),
    argv=("moveId", "prize", "units", "peer", "offset"),
    reply=("status", "atMs"),
    errors={"ROUND_NOT_FOUND": (-1, None)},
)


@dataclass(frozen=True, slots=True)
class Logged:
    """One line of a bucket's move log."""

    move_id: str
    state: str  # "out" (taken out here, maybe not yet put in), "in", "done" (out, completed)
    prize: int
    units: int
    peer: int
    at_ms: int


@dataclass(frozen=True, slots=True)
class MoveRef:
    """One move: ``units`` of prize number ``prize`` from bucket ``src`` to
    ``dst`` of a round of an activity with ``buckets`` buckets."""

    activity_id: ActivityId
    sfx: str
    buckets: int
    src: int
    dst: int
    move_id: str
    prize: int
    units: int


def _parse(move_id: str, value: str) -> Logged:
    state, prize, units, peer, at = value.split(":")
    return Logged(move_id, state, int(prize), int(units), int(peer), int(at))


class Moves:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    def _keys(self, m: MoveRef, b: int) -> list[str]:
        space = keys.bucket(b, m.buckets)
        return [keys.round_(m.activity_id, m.sfx, space), keys.moves(m.activity_id, m.sfx, space)]

    async def take_out(self, m: MoveRef) -> tuple[int, int] | OutCode:
        """``(units taken, at_ms)`` from bucket ``m.src`` (at most ``m.units``),
        or why nothing was."""
        res = await self.conn.run(
            "move_out",
            self._keys(m, m.src),
            [m.move_id, str(m.prize), str(m.units), str(m.dst), self.conn.offset],
        )
        if int(res[0]) < 0:
            return OutCode(int(res[0]))
        return int(res[1]), int(res[2])

    async def put_in(self, m: MoveRef) -> int | None:
        """The put-in's time in bucket ``m.dst`` (the first one's, on a repeat);
        None when the round is gone from Redis."""
        res = await self.conn.run(
            "move_in",
            self._keys(m, m.dst),
            [m.move_id, str(m.prize), str(m.units), str(m.src), self.conn.offset],
        )
        return None if int(res[0]) < 0 else int(res[1])

    async def finish(self, m: MoveRef, out_at_ms: int) -> None:
        """Mark a move complete in its source's log (both halves done, recorded)."""
        done = f"done:{m.prize}:{m.units}:{m.dst}:{out_at_ms}"
        async with translated():
            await self.conn.client.hset(
                keys.moves(m.activity_id, m.sfx, keys.bucket(m.src, m.buckets)), m.move_id, done
            )

    async def log(self, aid: ActivityId, sfx: str, k: int, b: int) -> list[Logged]:
        """Bucket ``b`` of ``k``'s move log, by move id."""
        async with translated():
            raw = await self.conn.client.hgetall(keys.moves(aid, sfx, keys.bucket(b, k)))
        return sorted((_parse(text(k), text(v)) for k, v in raw.items()), key=lambda m: m.move_id)

    async def lock(self, aid: ActivityId, owner: str, ttl_ms: int) -> bool:
        """One rebalancer per activity: True while ``owner`` holds the lock."""
        key = keys.rebalance_lock(aid)
        async with translated():
            if await self.conn.client.set(key, owner, nx=True, px=ttl_ms):
                return True
            if text(await self.conn.client.get(key) or b"") == owner:
                await self.conn.client.pexpire(key, ttl_ms)
                return True
        return False

    async def mark_sold_out(self, aid: ActivityId, sfx: str, buckets: int) -> None:
        """Every bucket refuses draws (409 sold_out) from now: the round as a
        whole has nothing left (lua/draw.lua reads the flag)."""
        async with translated():
            for b in range(buckets):
                await self.conn.client.hset(
                    keys.round_(aid, sfx, keys.bucket(b, buckets)), "so", "1"
                )
