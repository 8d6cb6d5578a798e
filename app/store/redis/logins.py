"""Console login attempts, reserved before a password is checked (SPEC §8).
Owns ``lua/login_attempt.lua``'s layout.

Every key shares the tag ``{rd:login}`` so one script call sees the address's
and the username's counts at once (cluster-safe); logins are not hot, so one
slot is plenty. Addresses and usernames are hashed into key names: what a
client types never shapes a key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from app.store.redis.connection import RedisConnection, text, translated
from app.store.redis.scripts import Contract

CONTRACT = Contract(
    "login_attempt",
    keys=("address", "username", "addressMark", "usernameMark"),
    argv=("window", "limit", "attempt", "perUser"),
    reply=("allowed", "scope", "wait", "first"),
)
_TAG = "{rd:login}"


def _key(kind: str, value: str) -> str:
    return f"{_TAG}:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


@dataclass(frozen=True, slots=True)
class Throttled:
    scope: str  # address | username
    wait_ms: int
    first: bool  # the first refusal of this window


class Logins:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def reserve(
        self,
        address: str,
        username: str,
        attempt: str,
        *,
        per_user: bool,
        limit: int,
        window_ms: int,
    ) -> Throttled | None:
        """Reserve a password check; None when reserved, else why not."""
        named = {
            "window": str(window_ms),
            "limit": str(limit),
            "attempt": attempt,
            "perUser": "1" if per_user else "0",
        }
        keys = [
            _key("a", address),
            _key("u", username),
            _key("an", address),
            _key("un", username),
        ]
        res = await self.conn.run(
            "login_attempt", keys, [named[str(name)] for name in CONTRACT.argv]
        )
        if int(res[0]) == 1:
            return None
        return Throttled(text(res[1]), int(res[2]), int(res[3]) == 1)

    async def release(self, address: str, username: str, attempt: str) -> None:
        """Give a reservation back: the check succeeded, or never ran."""
        async with translated():
            await self.conn.client.zrem(_key("a", address), attempt)
            await self.conn.client.zrem(_key("u", username), attempt)
