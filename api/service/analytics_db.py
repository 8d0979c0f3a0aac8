"""Tables for process control (migration 0004): one row per measured pin value and per pin reason,
written with the result, so SPC, Pareto and yield read narrow indexed rows instead of result documents;
SPC alarm episodes; Gage R&R studies."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.service.db import UTC, Base, utcnow

ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite only auto-increments INTEGER PRIMARY KEY


class PinValueRow(Base):
    """One measured value of one pin or pad in one finished inspection."""

    __tablename__ = "pin_values"
    # covering: the SPC aggregates and windows read the index alone
    __table_args__ = (Index("ix_pin_values_series", "recipe_id", "measurement", "item_id", "created_at", "id", "value", "uncertainty"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    inspection_id: Mapped[str] = mapped_column(String(32), index=True)
    recipe_id: Mapped[str] = mapped_column(String(100))
    station_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    item_id: Mapped[str] = mapped_column(String(50))
    measurement: Mapped[str] = mapped_column(String(80))
    value: Mapped[float] = mapped_column(Float)
    uncertainty: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTC)  # the inspection's submission time (the chart's x axis)


class PinReasonRow(Base):
    """One reason of one pin or pad that was not PASS (reason '' when it had none), for the Pareto by reason and position."""

    __tablename__ = "pin_reasons"
    __table_args__ = (Index("ix_pin_reasons_recipe", "recipe_id", "created_at"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    inspection_id: Mapped[str] = mapped_column(String(32), index=True)
    recipe_id: Mapped[str] = mapped_column(String(100))
    station_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    item_id: Mapped[str] = mapped_column(String(50))
    verdict: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTC)


class SpcAlarmRow(Base):
    """One alarm episode of one chart (recipe, measurement, pin): opened by a rule hit, closed when the
    chart has been quiet for a while; one `spc.alarm` event per episode."""

    __tablename__ = "spc_alarms"
    __table_args__ = (Index("ix_spc_alarms_open", "recipe_id", "measurement", "item_id", "closed_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipe_id: Mapped[str] = mapped_column(String(100))
    measurement: Mapped[str] = mapped_column(String(80))
    item_id: Mapped[str] = mapped_column(String(50))
    rules: Mapped[list] = mapped_column(JSON, default=list)
    detail: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow)
    last_hit_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTC, nullable=True)
    event_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class GrrStudyRow(Base):
    """A Gage R&R study: which boards, how many repeats, by whom; inspections join it with their study tag."""

    __tablename__ = "grr_studies"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipe_id: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    serials: Mapped[list] = mapped_column(JSON, default=list)
    repeats: Mapped[int] = mapped_column(Integer, default=3)
    operators: Mapped[list] = mapped_column(JSON, default=list)  # operators or stations
    created_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class GrrRunRow(Base):
    """One inspection of a study: which board, which operator (or station), which trial."""

    __tablename__ = "grr_runs"
    __table_args__ = (Index("ix_grr_runs_study", "study_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[str] = mapped_column(String(64))
    inspection_id: Mapped[str] = mapped_column(String(32), unique=True)
    serial: Mapped[str] = mapped_column(String(200))
    operator: Mapped[str] = mapped_column(String(100))
    trial: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow)
