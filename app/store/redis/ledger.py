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

_DRAW_ID = re.compile(r"^((\d+):\d{8}:\d+):(\d+)$")  # (round id (activity)):seq
F = {name: letter for letter, name in CONTRACT.stream}  # field name -> stream field
# The flush worker parses every draw: the letters as constants, not F lookups.
_D, _U, _N, _C, _P, _K, _W, _X, _T, _O, _G, _Q = (
    F[name]
    for name in (
        "drawId",
        "user",
        "nonce",
        "clientSeed",
        "pick",
        "prizeKey",
        "won",
        "random",
        "atMs",
        "pool",
        "grantId",
        "code",
    )
)


def parse(stream_id: str, f: Mapping[str, str]) -> DrawRecord:
    try:
        draw_id = f[_D]
        m = _DRAW_ID.match(draw_id)
        if m is None:
            raise MalformedEntry(f"bad draw id {draw_id!r}")
        won = f[_W] == "1"
        key = f[_K] or None
        if won != (key is not None):
            raise MalformedEntry("won flag and prize key disagree")
        random = f[_X]
        if len(random) != 40:
            raise MalformedEntry("random is not 40 hex digits")
        return DrawRecord(
            draw_id,
            int(m[2]),  # activity_id
            m[1],  # round_id
            int(m[3]),  # seq
            f[_U],
            int(f[_N]),
            f[_C],
            int(f[_P]),
            won,
            key,
            random,
            int(f[_T]),
            stream_id,
            int(f.get(_O) or 1),
            f.get(_G) or None,
            f.get(_Q) or None,
        )
    except KeyError as exc:
        raise MalformedEntry(f"missing field {exc.args[0]!r}") from exc
    except ValueError as exc:
        raise MalformedEntry(str(exc)) from exc
