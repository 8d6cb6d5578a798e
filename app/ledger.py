"""Draw ledger entries: the round stream's fields ⇄ :class:`DrawRecord`. Pure.

Each draw the script makes is one stream entry with the fields
``d`` draw_id, ``u`` user, ``n`` nonce, ``c`` client seed, ``p`` pick,
``k`` won prize key ("" on a loss), ``w`` won (0/1), ``x`` random, ``t`` ms,
``o`` the pool picked in, ``g`` the grant spent ("" when none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from app.types import DrawRecord

_DRAW_ID = re.compile(r"^(\d+):(\d{8}):(\d+):(\d+)$")


class MalformedEntry(ValueError):
    """A stream entry that can never become a draw row (a permanent failure)."""


def parse(stream_id: str, f: Mapping[str, str]) -> DrawRecord:
    try:
        draw_id = f["d"]
        m = _DRAW_ID.match(draw_id)
        if m is None:
            raise MalformedEntry(f"bad draw id {draw_id!r}")
        won = f["w"] == "1"
        key = f["k"] or None
        if won != (key is not None):
            raise MalformedEntry("won flag and prize key disagree")
        random = f["x"]
        if len(random) != 40:
            raise MalformedEntry("random is not 40 hex digits")
        return DrawRecord(
            draw_id=draw_id,
            activity_id=int(m.group(1)),
            round_id=draw_id.rsplit(":", 1)[0],
            seq=int(m.group(4)),
            user_id=f["u"],
            nonce=int(f["n"]),
            client_seed=f["c"],
            pick=int(f["p"]),
            won=won,
            prize_key=key,
            random=random,
            drawn_at_ms=int(f["t"]),
            stream_id=stream_id,
            pool=int(f.get("o") or 1),
            grant_id=f.get("g") or None,
        )
    except KeyError as exc:
        raise MalformedEntry(f"missing field {exc.args[0]!r}") from exc
    except ValueError as exc:
        if isinstance(exc, MalformedEntry):
            raise
        raise MalformedEntry(str(exc)) from exc
