"""Draw ledger entries: a round stream's fields ⇄ :class:`DrawRecord`. Pure.

Each draw the script makes is one stream entry whose fields
``lua/draw.lua`` documents (``FIELD`` lines) and :data:`app.store.redis.draw.CONTRACT`
names: draw id, user, nonce, client seed, pick, won prize key ("" on a loss),
won (0/1), random, time (ms), the pool picked in, the grant spent ("" when none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from app.domain.errors import MalformedEntry
from app.domain.types import DrawRecord
from app.store.redis.draw import CONTRACT

_DRAW_ID = re.compile(r"^(\d+):(\d{8}):(\d+):(\d+)$")
F = {name: letter for letter, name in CONTRACT.stream}  # field name -> stream field


def parse(stream_id: str, f: Mapping[str, str]) -> DrawRecord:
    try:
        draw_id = f[F["drawId"]]
        m = _DRAW_ID.match(draw_id)
        if m is None:
            raise MalformedEntry(f"bad draw id {draw_id!r}")
        won = f[F["won"]] == "1"
        key = f[F["prizeKey"]] or None
        if won != (key is not None):
            raise MalformedEntry("won flag and prize key disagree")
        random = f[F["random"]]
        if len(random) != 40:
            raise MalformedEntry("random is not 40 hex digits")
        return DrawRecord(
            draw_id=draw_id,
            activity_id=int(m.group(1)),
            round_id=draw_id.rsplit(":", 1)[0],
            seq=int(m.group(4)),
            user_id=f[F["user"]],
            nonce=int(f[F["nonce"]]),
            client_seed=f[F["clientSeed"]],
            pick=int(f[F["pick"]]),
            won=won,
            prize_key=key,
            random=random,
            drawn_at_ms=int(f[F["atMs"]]),
            stream_id=stream_id,
            pool=int(f.get(F["pool"]) or 1),
            grant_id=f.get(F["grantId"]) or None,
        )
    except KeyError as exc:
        raise MalformedEntry(f"missing field {exc.args[0]!r}") from exc
    except ValueError as exc:
        raise MalformedEntry(str(exc)) from exc
