"""Database tables (SQLAlchemy 2). Schema changes go through app/migrations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# BIGINT autoincrement on MariaDB; SQLite only autoincrements INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
Blob = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


class Base(DeclarativeBase):
    pass


class ActivityRow(Base):
    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    config: Mapped[str] = mapped_column(LongText)  # the latest version's admin JSON
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | published
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    pending_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # four-eyes
    # What players draw against: the version last published (a PUT of a
    # published activity makes a newer ``config`` that waits for a publisher).
    live_config: Mapped[str | None] = mapped_column(LongText, nullable=True)
    published_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pending_version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # four-eyes
    # The emergency stop (SPEC §3): mirrored into Redis, where draws read it.
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RoundRow(Base):
    __tablename__ = "rounds"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # "42:20191210:0"
    activity_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    day: Mapped[dt.date] = mapped_column(Date)
    session_index: Mapped[int] = mapped_column(Integer)
    starts_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    ends_at_ms: Mapped[int] = mapped_column(BigInteger)
    seed: Mapped[str] = mapped_column(String(64))  # hex; secret until the round ends
    seed_hash: Mapped[str] = mapped_column(String(64))
    # The activity version the round was last loaded with: what it is drawn
    # and verified against (app/domain/versions.py). None: not loaded yet.
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ActivityVersionRow(Base):
    """Every published version's configuration: a round that started keeps
    its version when a newer one is published, and verify needs it."""

    __tablename__ = "activity_versions"

    activity_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    config: Mapped[str] = mapped_column(LongText)
    published_at: Mapped[dt.datetime] = mapped_column(DateTime)


class PrizeRow(Base):
    __tablename__ = "prizes"
    __table_args__ = (UniqueConstraint("activity_id", "session_index", "pool_index", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    activity_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    session_index: Mapped[int] = mapped_column(Integer)
    pool_index: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(String(200), default="")
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    image_url: Mapped[str | None] = mapped_column(String(500), nullable=True)


class DrawRow(Base):
    """The ledger: one row per draw, written by the worker exactly once."""

    __tablename__ = "draws"
    __table_args__ = (
        UniqueConstraint("draw_id", name="uq_draws_draw_id"),
        Index("ix_draws_user_time", "user_id", "drawn_at_ms", "id"),
        Index("ix_draws_activity_won", "activity_id", "won", "id"),
        Index("ix_draws_fulfilment", "fulfilment", "fulfil_next_ms"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    draw_id: Mapped[str] = mapped_column(String(80))
    activity_id: Mapped[int] = mapped_column(BigInteger)
    round_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[int] = mapped_column(Integer)
    client_seed: Mapped[str] = mapped_column(String(64))
    pick: Mapped[int] = mapped_column(SmallInteger)
    won: Mapped[bool] = mapped_column(Boolean)
    prize_key: Mapped[str | None] = mapped_column(String(32), nullable=True)
    prize_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    prize_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    prize_value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    random: Mapped[str] = mapped_column(String(40))
    drawn_at_ms: Mapped[int] = mapped_column(BigInteger)
    stream_id: Mapped[str] = mapped_column(String(32))
    pool: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    grant_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    fulfilment: Mapped[str | None] = mapped_column(String(16), nullable=True)
    fulfil_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fulfil_next_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # A win's prize_won notification (JSON), sent with the row (migration 0016).
    notice: Mapped[str | None] = mapped_column(LongText, nullable=True)
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a coded prize's


class LossBlockRow(Base):
    """Compact losses (SPEC §5, app/domain/losses.py): the plain losses of one
    round's lane whose draw numbers fall in one block, packed in ``data``."""

    __tablename__ = "loss_blocks"
    __table_args__ = (
        UniqueConstraint("round_id", "lane", "block", name="uq_loss_blocks_key"),
        Index("ix_loss_blocks_activity_time", "activity_id", "first_ms"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    round_id: Mapped[str] = mapped_column(String(64))
    lane: Mapped[int] = mapped_column(SmallInteger)  # the bucket (SPEC §9); 0 without
    block: Mapped[int] = mapped_column(Integer)
    activity_id: Mapped[int] = mapped_column(BigInteger)
    buckets: Mapped[int] = mapped_column(SmallInteger)  # the round's K: a draw's bit
    lost_map: Mapped[bytes] = mapped_column(LargeBinary(125))  # the losses kept, by bit
    row_map: Mapped[bytes] = mapped_column(LargeBinary(125))  # the draws that are rows
    draws: Mapped[int] = mapped_column(Integer)  # losses in ``data``
    first_seq: Mapped[int] = mapped_column(BigInteger)  # of its losses and rows (0: none)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    first_ms: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(Blob)  # segments (app/domain/losses.py)


class LossUserRow(Base):
    """Which rounds a player lost a compact draw in: how history finds the
    blocks to read. Written once per player and round."""

    __tablename__ = "loss_users"
    __table_args__ = (Index("ix_loss_users_round", "round_id"),)

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    round_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    activity_id: Mapped[int] = mapped_column(BigInteger)
    lane: Mapped[int] = mapped_column(SmallInteger)  # their bucket: the blocks to read
    first_ms: Mapped[int] = mapped_column(BigInteger)  # their earliest loss in the round


class LegacyRoundRow(Base):
    """A round that had draw rows before compact losses (migration 0015): its
    losses stay rows, so a replayed entry is still found by ``draw_id``."""

    __tablename__ = "legacy_rounds"

    round_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class PrizeCodeRow(Base):
    """A redemption code of a coupon prize (SPEC §3): in the pool while
    ``round_id`` is null, else allotted to slot ``slot`` of prize number
    ``pick`` of that round (its ``slot``-th win takes it, lua/draw.lua)."""

    __tablename__ = "prize_codes"
    __table_args__ = (
        UniqueConstraint("activity_id", "prize_key", "code", name="uq_prize_codes_code"),
        UniqueConstraint(
            "activity_id", "prize_key", "round_id", "pick", "slot", name="uq_prize_codes_slot"
        ),
        Index("ix_prize_codes_pool", "activity_id", "prize_key", "round_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    activity_id: Mapped[int] = mapped_column(BigInteger)
    prize_key: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    round_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pick: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # the prize's number
    slot: Mapped[int | None] = mapped_column(Integer, nullable=True)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime)


class DeliveryRow(Base):
    """Where a physical prize goes (SPEC §3): the winner's address until an
    operator marks it shipped."""

    __tablename__ = "deliveries"

    draw_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    activity_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))  # address_given | shipped
    tracking: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    shipped_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    shipped_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class DeadLetterRow(Base):
    """A stream entry the worker could not turn into a draw row, with why."""

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("stream", "entry_id", name="uq_dead_letters_entry"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stream: Mapped[str] = mapped_column(String(120))
    entry_id: Mapped[str] = mapped_column(String(32))
    draw_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    fields: Mapped[str] = mapped_column(LongText)
    reason: Mapped[str] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class GrantRow(Base):
    """One draw chance issued by a trusted backend; spent in Redis by a draw."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("reference", name="uq_grants_reference"),
        Index("ix_grants_user", "user_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    activity_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class LotteryRow(Base):
    """A user-created scheduled lottery. status: 0 open, 1 drawing, 2 drawn, 9 canceled."""

    __tablename__ = "lotteries"
    __table_args__ = (Index("ix_lotteries_due", "status", "draw_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    creator: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(100))
    draw_at: Mapped[dt.datetime] = mapped_column(DateTime)  # naive UTC
    prize_name: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(SmallInteger)
    seed: Mapped[str] = mapped_column(String(64))
    seed_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    drawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class ParticipantRow(Base):
    __tablename__ = "lottery_participants"
    __table_args__ = (Index("ix_participants_user", "user_id", "lottery_id"),)

    lottery_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("lotteries.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    joined_at: Mapped[dt.datetime] = mapped_column(DateTime)
    won: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class NotificationRow(Base):
    """A message to one user; (user, kind, ref) is unique so each is sent once."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "ref", name="uq_notifications_once"),
        Index("ix_notifications_user", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(LongText)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class WechatSessionRow(Base):
    """WeChat's session_key for a user: kept here, never sent to the client."""

    __tablename__ = "wechat_sessions"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    session_key: Mapped[str] = mapped_column(String(128))
    unionid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class BlacklistRow(Base):
    """A user id or client IP refused inside every draw (mirrored into Redis)."""

    __tablename__ = "blacklist"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # user | ip
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class TopupRow(Base):
    """A stock top-up, kept so `redrain verify` can replay a round's stock."""

    __tablename__ = "stock_topups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    round_id: Mapped[str] = mapped_column(String(64), index=True)
    prize_key: Mapped[str] = mapped_column(String(32))
    added: Mapped[int] = mapped_column(BigInteger)
    at_ms: Mapped[int] = mapped_column(BigInteger)  # the Redis clock (+ offset) of the top-up


class MoveRow(Base):
    """Stock moved between two buckets of a round (SPEC §9), kept so `redrain
    verify` can replay each bucket's stock; one row per completed move."""

    __tablename__ = "stock_moves"
    __table_args__ = (UniqueConstraint("move_id", name="uq_stock_moves_move_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    move_id: Mapped[str] = mapped_column(String(64))
    round_id: Mapped[str] = mapped_column(String(64), index=True)
    prize_key: Mapped[str] = mapped_column(String(32))
    from_bucket: Mapped[int] = mapped_column(SmallInteger)
    to_bucket: Mapped[int] = mapped_column(SmallInteger)
    units: Mapped[int] = mapped_column(BigInteger)
    out_at_ms: Mapped[int] = mapped_column(BigInteger)  # Redis clock of the take-out
    in_at_ms: Mapped[int] = mapped_column(BigInteger)  # Redis clock of the put-in


class OperatorRow(Base):
    """A person who runs campaigns: named, with a role, password hashed (argon2id)."""

    __tablename__ = "operators"
    __table_args__ = (UniqueConstraint("username", name="uq_operators_username"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # viewer | editor | publisher | admin
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ApiTokenRow(Base):
    """A scoped bearer token for a backend or a script; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("name", name="uq_api_tokens_name"),
        UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(32))  # grants | admin:<role>
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class OperatorSessionRow(Base):
    """A console login: the cookie's SHA-256, its CSRF token, when last used."""

    __tablename__ = "operator_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("operators.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AuditRow(Base):
    """One admin write or login attempt. Append-only; a hash chain makes an
    edit, a deletion or a reordering in the database visible (redrain audit verify)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_actor", "actor", "id"),
        Index("ix_audit_action_at", "action", "at"),
        Index("ix_audit_activity", "activity_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200))
    activity_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    before: Mapped[str | None] = mapped_column(LongText, nullable=True)
    after: Mapped[str | None] = mapped_column(LongText, nullable=True)
    ip: Mapped[str] = mapped_column(String(64), default="", server_default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's head: locked by each append (one row, id 1)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
