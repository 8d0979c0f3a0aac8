"""Persistence: SQLAlchemy 2 tables, engine and sessions.

SQLite in a file by default (WAL, so readers never wait for the worker's write); PostgreSQL by
URL, optionally inside one schema (``Settings.db_schema``; tests isolate themselves with it).
The schema is created by the Alembic migrations (`api.service.migrate`), never by ``create_all``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from functools import lru_cache

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from api.settings import Settings


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


class UTC(TypeDecorator):
    """Timezone-aware UTC timestamps on both backends (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTC, nullable=True)


class RecipeRow(Base):
    __tablename__ = "recipes"
    __table_args__ = (UniqueConstraint("recipe_id", "version", name="uq_recipe_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipe_id: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class CalibrationRow(Base):
    __tablename__ = "calibrations"
    __table_args__ = (UniqueConstraint("camera_id", "version", name="uq_calibration_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    view: Mapped[str] = mapped_column(String(50), index=True)  # "top", "side" or "stack:NAME"
    station_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class ImageRow(Base):
    """One stored blob of the content-addressed store (deduplicated by sha256)."""

    __tablename__ = "images"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow)


class InspectionRow(Base):
    __tablename__ = "inspections"
    __table_args__ = (
        Index("ix_inspections_serial_created", "serial", "created_at"),
        Index("ix_inspections_status", "status"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    serial: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="board")  # board | pad
    station_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    recipe_id: Mapped[str] = mapped_column(String(100), index=True)
    recipe_version: Mapped[int] = mapped_column(Integer)
    calibrations: Mapped[dict] = mapped_column(JSON, default=dict)  # key -> {"camera_id", "version"}
    files: Mapped[dict] = mapped_column(JSON, default=dict)  # view -> {"sha256", "name", "media_type"}
    stacks: Mapped[dict] = mapped_column(JSON, default=dict)  # name -> {"manifest": {...}, "slices": {file: sha}}
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | done | failed
    verdict: Mapped[str | None] = mapped_column(String(10), nullable=True, index=True)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    overlay_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the main overlay (top first)
    overlays: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # every overlay: name -> sha256 (migration 0002)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTC, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTC, nullable=True)
    latency_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class ReviewRow(Base):
    """A human verification: confirms or overrides the verdict; never changes the measured result."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inspection_id: Mapped[str] = mapped_column(ForeignKey("inspections.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow)


class EventRow(Base):
    """The outbox: written in the same transaction as the state change it announces."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(50))
    inspection_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    station_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow)


class DeliveryRow(Base):
    """One event to one sink (a webhook URL or MQTT): attempts, back-off, outcome."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "sink", name="uq_delivery"),
        Index("ix_deliveries_due", "status", "next_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    sink: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTC, nullable=True)


class SinkCursor(Base):
    """The last event id fanned out to a sink, so new sinks do not replay history and none is skipped."""

    __tablename__ = "sink_cursors"
    sink: Mapped[str] = mapped_column(String(500), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)


# -- engine --------------------------------------------------------------------------------


def make_engine(settings: Settings) -> Engine:
    """An engine for `settings`: SQLite file in WAL mode, or PostgreSQL (inside `db_schema`)."""
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _rec):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if settings.db_schema:
        schema = settings.db_schema
        if not schema.replace("_", "").isalnum():
            from models.errors import InputError

            raise InputError(f"db_schema {schema!r} must be letters, digits and underscores")

        @event.listens_for(engine, "connect")
        def _search_path(dbapi_conn, _rec):
            cur = dbapi_conn.cursor()
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cur.execute(f'SET search_path TO "{schema}"')
            cur.close()
            dbapi_conn.commit()

    return engine


@lru_cache(maxsize=8)
def _engine_for(key: tuple) -> Engine:
    return make_engine(Settings(**dict(key)))


def engine_for(settings: Settings) -> Engine:
    """One engine per distinct database setting per process (workers reuse theirs)."""
    key = (("database_url", settings.database_url), ("db_schema", settings.db_schema), ("data_dir", str(settings.data_dir)))
    return _engine_for(key)


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
