"""The ``draws`` table's columns as redrain reads and writes them: a row as a
:class:`StoredDraw`, a draw as the tuple the bulk insert binds."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, select

from app.domain.records import StoredDraw
from app.domain.text import in_language
from app.domain.types import DrawRecord, PrizePlan
from app.store.sql.models import DrawRow
from app.store.sql.notices import win_payload

DRAWS = cast(Table, DrawRow.__table__)

Row = tuple[DrawRecord, PrizePlan | None]  # a draw and the prize it won (None: lost)

COLUMNS = (
    DrawRow.id,
    DrawRow.draw_id,
    DrawRow.activity_id,
    DrawRow.round_id,
    DrawRow.seq,
    DrawRow.user_id,
    DrawRow.nonce,
    DrawRow.client_seed,
    DrawRow.pick,
    DrawRow.won,
    DrawRow.prize_key,
    DrawRow.random,
    DrawRow.drawn_at_ms,
    DrawRow.stream_id,
    DrawRow.prize_type,
    DrawRow.prize_name,
    DrawRow.prize_value,
    DrawRow.pool,
    DrawRow.grant_id,
    DrawRow.fulfilment,
    DrawRow.code,
)

INSERT_COLUMNS = (
    "draw_id",
    "activity_id",
    "round_id",
    "seq",
    "user_id",
    "nonce",
    "client_seed",
    "pick",
    "won",
    "prize_key",
    "prize_type",
    "prize_name",
    "prize_value",
    "random",
    "drawn_at_ms",
    "stream_id",
    "pool",
    "grant_id",
    "fulfilment",
    "code",
    "notice",
)


def stored(row: Any) -> StoredDraw:
    rec = DrawRecord(
        draw_id=row.draw_id,
        activity_id=row.activity_id,
        round_id=row.round_id,
        seq=row.seq,
        user_id=row.user_id,
        nonce=row.nonce,
        client_seed=row.client_seed,
        pick=row.pick,
        won=bool(row.won),
        prize_key=row.prize_key,
        random=row.random,
        drawn_at_ms=row.drawn_at_ms,
        stream_id=row.stream_id,
        pool=row.pool,
        grant_id=row.grant_id,
        code=row.code,
    )
    return StoredDraw(rec, row.id, row.prize_type, row.prize_name, row.prize_value, row.fulfilment)


def select_draws() -> Any:
    return select(*COLUMNS)


def draw_row(rec: DrawRecord, prize: PrizePlan | None) -> tuple[Any, ...]:
    """A draws row in ``INSERT_COLUMNS`` order."""
    return (
        rec.draw_id,
        rec.activity_id,
        rec.round_id,
        rec.seq,
        rec.user_id,
        rec.nonce,
        rec.client_seed,
        rec.pick,
        rec.won,
        rec.prize_key,
        prize.type.value if prize else None,
        in_language(prize.name) if prize else None,  # the first language given
        prize.value if prize else None,
        rec.random,
        rec.drawn_at_ms,
        rec.stream_id,
        rec.pool,
        rec.grant_id,
        "won" if rec.won else None,
        rec.code,
        win_payload(rec, prize) if rec.won else None,
    )


def in_round(round_id: str) -> Any:
    """The draws of a round: a range of the unique draw_id index
    (ids are "<round_id>:<seq>"; ";" sorts right after ":")."""
    return (DrawRow.draw_id >= f"{round_id}:") & (DrawRow.draw_id < f"{round_id};")
