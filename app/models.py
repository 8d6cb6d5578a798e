"""Database tables (SQLAlchemy 2). Schema changes go through app/migrations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
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
