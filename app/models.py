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
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# BIGINT autoincrement on MariaDB; SQLite only autoincrements INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


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
    config: Mapped[str] = mapped_column(LongText)  # the validated admin JSON
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | published
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


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
