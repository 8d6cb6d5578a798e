"""Round and draw ids, built and read here only. Pure.

A round is ``<activity_id>:<sfx>``, its suffix ``<YYYYMMDD>:<i>`` (the local
date and the session's index); a draw is ``<round_id>:<seq>``, seq counting
the round's draws from 1 (with K buckets, bucket b numbers b+1, b+1+K, …).
``lua/draw.lua`` builds a draw id the same way (``activityId .. ':' ..
sfx .. ':' .. seq``); ``tests/domain/test_ids.py`` ties the two.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from app.domain.numbers import parse_int
from app.domain.types import ActivityId, RoundId

_SFX = re.compile(r"\d{8}:\d{1,4}")
_SEQ = re.compile(r"[1-9]\d{0,17}")
# A ledger entry's draw id as the flush worker reads it: (round id (activity)):seq.
DRAW_ID = re.compile(r"^((\d+):\d{8}:\d+):(\d+)$")


class RoundRef(NamedTuple):
    activity_id: ActivityId
    sfx: str


def round_id(activity_id: ActivityId, sfx: str) -> RoundId:
    return f"{activity_id}:{sfx}"


def parse_round(text: str) -> RoundRef | None:
    """``(activity_id, sfx)`` of a well-formed round id, else None."""
    aid_text, _, sfx = text.partition(":")
    aid = parse_int(aid_text, 1)
    if aid is None or not _SFX.fullmatch(sfx):
        return None
    return RoundRef(aid, sfx)


def sfx_of(round_id: RoundId) -> str:
    """The suffix of a round id this system made (no checks: see parse_round)."""
    return round_id.partition(":")[2]


def activity_of(round_id: RoundId) -> ActivityId:
    """The activity of a round id this system made (no checks: see parse_round)."""
    return int(round_id[: round_id.index(":")])


def draw_id(round_id: RoundId, seq: int) -> str:
    return f"{round_id}:{seq}"


def parse_draw(text: str) -> tuple[RoundId, int] | None:
    """``(round_id, seq)`` of a well-formed draw id, else None."""
    rid, _, seq = text.rpartition(":")
    if parse_round(rid) is None or not _SEQ.fullmatch(seq):
        return None
    return rid, int(seq)


def scoped(activity_id: ActivityId, ref: str) -> RoundId:
    """A round given as its id or as its suffix within ``activity_id``."""
    return ref if ref.startswith(f"{activity_id}:") else round_id(activity_id, ref)
