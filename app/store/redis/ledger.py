"""Draw ledger entries: a round stream's fields ⇄ :class:`DrawRecord`. Pure.

Each draw the script makes is one stream entry whose fields
``lua/draw.lua`` documents (``FIELD`` lines) and :data:`app.store.redis.replies.CONTRACT`
names: draw id, user, nonce, client seed, pick, won prize key ("" on a loss),
won (0/1), random, time (ms), the pool picked in, the grant spent ("" when none).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from functools import partial
from itertools import repeat

from app.domain.errors import MalformedEntry
from app.domain.ids import DRAW_ID, activity_of
from app.domain.types import DrawRecord
from app.store.redis.replies import CONTRACT

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


# The fields in the order lua/draw.lua writes them: an entry read back keeps
# it (a dict keeps insertion order), so its values unpack by position.
_LAYOUT = (_D, _U, _N, _C, _P, _K, _W, _X, _T, _O, _G)
_LAYOUT_CODED = (*_LAYOUT, _Q)


def parse(stream_id: str, f: Mapping[str, str]) -> DrawRecord:
    """The record of one entry; :class:`MalformedEntry` when it is not a draw.

    The flush worker's hot path: an entry as lua/draw.lua wrote it unpacks by
    position (about half the time of a lookup per field, docs/performance.md);
    any other layout goes by name."""
    keys = tuple(f)
    if keys == _LAYOUT:
        d, u, n, c, p, k, w, x, t, o, g = f.values()
        q = ""
    elif keys == _LAYOUT_CODED:
        d, u, n, c, p, k, w, x, t, o, g, q = f.values()
    else:
        return _by_name(stream_id, f)
    m = DRAW_ID.match(d)
    if m is None or (w == "1") != (k != "") or len(x) != 40 or w not in ("0", "1"):
        return _by_name(stream_id, f)  # which names what is wrong, if anything
    try:
        return DrawRecord(
            d, int(m[2]), m[1], int(m[3]), u, int(n), c, int(p), w == "1", k or None, x,
            int(t), stream_id, int(o or 1), g or None, q or None,
        )  # fmt: skip
    except ValueError as exc:
        raise MalformedEntry(str(exc)) from exc


_WIDTH = 2 * len(_LAYOUT)
_NAMES = [name.encode() for name in _LAYOUT]
_NONE = {"": None}
_record = partial(tuple.__new__, DrawRecord)  # DrawRecord(*t) without a Python call


def _texts(values: list[bytes]) -> list[str] | None:
    """A column decoded in one call; None when a value holds the separator."""
    out = b"\0".join(values).decode().split("\0")
    return out if len(out) == len(values) else None


def parse_stream(round_id: str, ids: list[str], items: list[bytes]) -> list[DrawRecord] | None:
    """The records of a read of one round's stream at once, or None when any
    entry is not exactly as lua/draw.lua writes it (then :func:`parse` them
    one by one, which names what is wrong).

    ``items`` are the entries' fields and values one after another, as Redis
    sends them. Column by column through C (slices, ``map``, list
    comparisons, one decode per text column; numbers parsed from the bytes),
    never a Python call per draw: the worker's read and parse took 40% of its
    CPU entry by entry (py-spy, docs/performance.md, issue 26). A draw id
    must be exactly ``<round_id>:<seq>`` (no sign, no leading zero), as the
    script makes it.
    """
    n = len(ids)
    if not n or len(items) != n * _WIDTH:
        return None
    for j, name in enumerate(_NAMES):
        if items[2 * j :: _WIDTH] != [name] * n:
            return None
    cols = [items[2 * j + 1 :: _WIDTH] for j in range(len(_LAYOUT))]
    d, u, c, k, x, g = (_texts(cols[j]) for j in (0, 1, 3, 5, 7, 10))
    if d is None or u is None or c is None or k is None or x is None or g is None:
        return None
    nonce, p, w, t, o = cols[2], cols[4], cols[6], cols[8], cols[9]
    prefix = f"{round_id}:"
    try:
        tails: map[str] = map(operator.getitem, d, repeat(slice(len(prefix), None)))
        seqs = list(map(int, tails))
        if list(map(prefix.__add__, map(str, seqs))) != d or min(seqs) < 1:
            return None
        won = list(map(operator.eq, w, repeat(b"1")))
        if list(map(operator.ne, k, repeat(""))) != won or not set(w) <= {b"0", b"1"}:
            return None
        if set(map(len, x)) != {40}:
            return None
        return list(
            map(
                _record,
                zip(
                    d,
                    repeat(activity_of(round_id)),
                    repeat(round_id),
                    seqs,
                    u,
                    map(int, nonce),
                    c,
                    map(int, p),
                    won,
                    map(_NONE.get, k, k),
                    x,
                    map(int, t),
                    ids,
                    map(int, o),
                    map(_NONE.get, g, g),
                    repeat(None),
                ),
            )
        )
    except ValueError:
        return None


def fields_of(rec: DrawRecord) -> dict[str, str]:
    """An entry's fields as lua/draw.lua writes them for ``rec`` (a dead letter's
    record of a draw read by :func:`parse_stream`)."""
    out = {
        _D: rec.draw_id, _U: rec.user_id, _N: str(rec.nonce), _C: rec.client_seed,
        _P: str(rec.pick), _K: rec.prize_key or "", _W: "1" if rec.won else "0",
        _X: rec.random, _T: str(rec.drawn_at_ms), _O: str(rec.pool), _G: rec.grant_id or "",
    }  # fmt: skip
    if rec.code:
        out[_Q] = rec.code
    return out


def _by_name(stream_id: str, f: Mapping[str, str]) -> DrawRecord:
    try:
        draw_id = f[_D]
        m = DRAW_ID.match(draw_id)
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
