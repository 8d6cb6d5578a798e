"""Activities, rounds, stock and stats; the blacklist."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, NotRequired

from typing_extensions import TypedDict

from app.domain.activity import config_hash
from app.domain.records import ActivityRecord, BlacklistEntry, StoredDraw
from app.domain.runtime import Runtime, iso, remaining
from app.domain.schedule import activity_window
from app.domain.text import Localized
from app.domain.types import Kind, RoundPlan, RoundStats
from app.http.responses.common import WithConfig, mask, utc
from app.services.activities import Pending, PublishSummary

# -- activities and rounds ----------------------------------------------------------


class RoundBrief(TypedDict):
    round_id: str
    start: str
    end: str
    seed_hash: str


def round_brief(rt: Runtime, rnd: RoundPlan, seed_hash: str) -> RoundBrief:
    zone = rt.config.zone
    return {
        "round_id": rnd.round_id,
        "start": iso(rnd.start_ms, zone),
        "end": iso(rnd.end_ms, zone),
        "seed_hash": seed_hash,
    }


RoundStatus = Literal["upcoming", "open", "ended"]


def round_status(start_ms: int, end_ms: int, now: int) -> RoundStatus:
    if now < start_ms:
        return "upcoming"
    return "open" if now < end_ms else "ended"


class ShownWinner(TypedDict):
    user: str  # masked
    prize: str | None


class RoundPrize(TypedDict):
    key: str
    type: str
    name: Localized
    quantity: int


class RoundInfo(RoundBrief):
    activity_id: int
    status: RoundStatus
    seed: str | None  # revealed once the round has ended
    winners: list[ShownWinner] | None  # once the round has ended
    prizes: list[RoundPrize]
    # The activity version the round was published with, and its session's
    # pools under it (as in the activity's sessions): what /verify checks
    # against, since a newer version may hold only the later rounds.
    version: int
    pools: list[dict[str, Any]]


def round_info(
    rt: Runtime,
    rnd: RoundPlan,
    seed: bytes,
    seed_hash: str,
    shown: Sequence[StoredDraw] | None,
    now: int,
) -> RoundInfo:
    """``shown``: the winners to list (masked), once the round has ended."""
    ended = now >= rnd.end_ms
    return {
        "activity_id": rt.id,
        **round_brief(rt, rnd, seed_hash),
        "status": round_status(rnd.start_ms, rnd.end_ms, now),
        "seed": seed.hex() if ended else None,
        "winners": [{"user": mask(d.record.user_id), "prize": d.prize_name} for d in shown]
        if ended and shown is not None
        else None,
        "prizes": [
            {"key": p.key, "type": p.type.value, "name": p.name, "quantity": p.quantity}
            for p in rnd.prizes
        ],
        "version": rt.version_of(rnd.sfx),
        "pools": _round_pools(rt, rnd.sfx, rnd.session_index),
    }


def _round_pools(rt: Runtime, sfx: str, session_index: int) -> list[dict[str, Any]]:
    """A round's pools under the version it holds, as players see them."""
    session = rt.config_of(sfx).sessions[session_index]
    pools: list[dict[str, Any]] = session.model_dump(
        mode="json", exclude_none=True, exclude=_NO_POOL_VALUES
    )["pools"]
    return pools


class AdminActivityMeta(TypedDict):
    id: int
    status: str  # draft | pending_approval | published | archived
    version: int  # the latest version (a PUT makes the next one)
    config_hash: str  # SHA-256 of the latest version: what an approval names
    published_version: int | None  # what players draw against; None before a publish
    pending_version: int | None  # the version a four-eyes request asks to publish
    pending_by: str | None  # who asked
    created_at: str | None
    updated_at: str | None
    published_at: str | None
    paused: bool  # the emergency stop: every draw is refused (SPEC §3)
    started: bool  # the live version has started: only names, texts, display, a later end
    live: dict[str, Any] | None  # the live version's configuration while a newer one waits


AdminActivity = Annotated[AdminActivityMeta, WithConfig()]


class Activities(TypedDict):
    activities: list[AdminActivity]


def admin_activity(rec: ActivityRecord, now_ms: int) -> dict[str, Any]:
    live = rec.live_config
    meta: AdminActivityMeta = {
        "id": rec.id,
        "status": rec.status,
        "version": rec.version,
        "config_hash": config_hash(rec.config),
        "published_version": rec.published_version,
        "pending_version": rec.pending_version,
        "pending_by": rec.pending_by,
        "created_at": utc(rec.created_at),
        "updated_at": utc(rec.updated_at),
        "published_at": utc(rec.published_at),
        "paused": rec.paused,
        # Once the live version has started, only some fields may change (SPEC §3).
        "started": live is not None and now_ms >= activity_window(live)[0],
        "live": (
            live.model_dump(mode="json", exclude_none=True)
            if live is not None and rec.published_version != rec.version
            else None
        ),
    }
    return {**meta, **rec.config.model_dump(mode="json", exclude_none=True)}


class RemainingChances(TypedDict):
    round: int | None
    day: int | None
    total: int | None
    wins: int | None


class PublicActivityMeta(TypedDict):
    """The public rules are the configuration without prize values."""

    id: int
    status: Literal["not_started", "open", "closed", "ended"]
    paused: bool  # an operator stopped every draw for now (409 activity_paused)
    server_time: str
    current_round: RoundBrief | None
    next_round: RoundBrief | None
    remaining: NotRequired[RemainingChances]  # with a player token
    next_level: NotRequired[int]  # kind count, with a player token: the nth of the next draw


PublicActivity = Annotated[PublicActivityMeta, WithConfig()]
_NO_POOL_VALUES = {"pools": {"__all__": {"prizes": {"__all__": {"value", "cost"}}}}}
_NO_VALUES = {"sessions": {"__all__": _NO_POOL_VALUES}}


def public_activity(
    rt: Runtime,
    now: int,
    current: RoundBrief | None,
    nxt: RoundBrief | None,
    counts: tuple[int, int, int, int] | None,
    paused: bool = False,
) -> dict[str, Any]:
    """``counts``: the player's draws in the round, day, activity, and wins."""
    status: Literal["not_started", "open", "closed", "ended"]
    if now < rt.window[0]:
        status = "not_started"
    elif current is not None:
        status = "open"
    elif nxt is None:
        status = "ended"
    else:
        status = "closed"
    meta: PublicActivityMeta = {
        "id": rt.id,
        "status": status,
        "paused": paused,
        "server_time": iso(now, rt.config.zone),
        "current_round": current,
        "next_round": nxt,
    }
    if counts is not None:
        in_round, in_day, in_total, wins = counts
        lim = rt.limits
        meta["remaining"] = {
            "round": remaining(lim.per_round, in_round) if current else None,
            "day": remaining(lim.per_day, in_day),
            "total": remaining(lim.total, in_total),
            "wins": remaining(lim.wins_total, wins),
        }
        if rt.config.kind is Kind.COUNT:  # the script counts every draw of a count activity
            meta["next_level"] = in_total + 1
    body = rt.config.model_dump(mode="json", exclude_none=True, exclude=_NO_VALUES)
    # The round the page plays (open, else next) may hold an older version: its
    # session shows that version's prizes, which are what its draws can win.
    brief = current or nxt
    playing = rt.round_of(brief["round_id"]) if brief else None
    if playing is not None and rt.version_of(playing.sfx) != rt.version:
        si = playing.session_index
        body["sessions"][si]["pools"] = _round_pools(rt, playing.sfx, si)
    # The page's jittered start, given or by kind: players read one number.
    body.setdefault("display", {})["warmup_ms"] = rt.config.warmup_ms
    # The largest "count" a draw may ask for (1 where draws spend grants).
    body["max_count"] = 1 if rt.config.needs_grant else rt.config.most_per_request
    body.update(meta)
    return body


class Published(TypedDict):
    id: int
    status: str
    version: int
    rounds: int
    loaded: int
    kept: int
    dropped: int


def published(done: PublishSummary) -> Published:
    return {
        "id": done.id,
        "status": "published",
        "version": done.version,
        "rounds": done.rounds,
        "loaded": done.loaded,
        "kept": done.kept,
        "dropped": done.dropped,
    }


class PendingApproval(TypedDict):
    """Four-eyes: publishing waits until a different publisher approves."""

    id: int
    status: Literal["pending_approval"]
    version: int
    config_hash: str  # the approval names this version (and may name this hash)
    requested_by: str


def pending(p: Pending) -> PendingApproval:
    return {
        "id": p.id,
        "status": "pending_approval",
        "version": p.version,
        "config_hash": p.config_hash,
        "requested_by": p.requested_by,
    }


class ToppedUp(TypedDict):
    round_id: str
    prize: str
    quantity: int
    released: int


class CodesAdded(TypedDict):
    added: int
    available: int  # codes of the prize in the pool, not yet allotted to a round


class PrizeStock(TypedDict):
    key: str
    quantity: int
    released: int
    won: int
    remaining: int
    released_remaining: int


class RoundStock(TypedDict):
    round_id: str
    start: str
    end: str
    status: RoundStatus
    draws: int
    users: int
    prizes: list[PrizeStock]


class Totals(TypedDict):
    draws: int
    won: int


class Stats(TypedDict):
    activity_id: int
    version: int
    rounds: list[RoundStock]
    totals: Totals


def stats(rt: Runtime, rounds: list[RoundStats], now: int) -> Stats:
    zone = rt.config.zone
    return {
        "activity_id": rt.id,
        "version": rt.version,
        "rounds": [
            {
                "round_id": st.round_id,
                "start": iso(st.start_ms, zone),
                "end": iso(st.end_ms, zone),
                "status": round_status(st.start_ms, st.end_ms, now),
                "draws": st.draws,
                "users": st.users,
                "prizes": [
                    {
                        "key": p.key,
                        "quantity": p.quantity,
                        "released": p.released,
                        "won": p.won,
                        "remaining": p.remaining,
                        "released_remaining": p.released_remaining,
                    }
                    for p in st.prizes
                ],
            }
            for st in rounds
        ],
        "totals": {
            "draws": sum(st.draws for st in rounds),
            "won": sum(p.won for st in rounds for p in st.prizes),
        },
    }


# -- the blacklist -------------------------------------------------------------------


class Blacklisted(TypedDict):
    kind: Literal["user", "ip"]
    value: str
    reason: str


class BlacklistListed(Blacklisted):
    created_at: str | None


class Blacklist(TypedDict):
    entries: list[BlacklistListed]


def blacklist(entries: Sequence[BlacklistEntry]) -> Blacklist:
    return {
        "entries": [
            {
                "kind": "ip" if e.kind == "ip" else "user",
                "value": e.value,
                "reason": e.reason,
                "created_at": utc(e.created_at),
            }
            for e in entries
        ]
    }
