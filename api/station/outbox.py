"""The station's local store of every board's record, and the outbox of submissions to the service.

SQLite through SQLAlchemy Core; the schema is made and upgraded by the station's own Alembic
migrations (``api/station/migrations``, version table ``alembic_version_station``), applied when
the outbox is opened. A database written before migrations existed is recognised and stamped.

Every record is committed before it is published, so a result is never lost. ``delivery`` says
where a board's record stands:

==============  ==========================================================================
``local``       ``local`` sink: this table is the destination
``pending``     waiting to be sent to the service (with its images), retried with back-off
``held``        the service refused it for a cause that can be fixed there or in the config
                (401/403: the API key; 422: recipe or calibration unknown...); re-sent every
                ``sink.held_retry_s`` and at once when the station's start-up check passes
``rejected``    refused for good (another 4xx); re-sent only by ``station deliver --retry-rejected``
``delivered``   accepted by the service; the images are deleted
``local_only``  to be delivered but no images were captured (``not_inspected`` at capture)
==============  ==========================================================================

Retention: ``delivered`` rows (and, when configured, ``local`` rows) older than the station's
``retention`` are deleted by `prune`; SQLite reuses the freed pages, so the file stops growing.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from sqlalchemy import (Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, Table, Text, create_engine, delete, event, func,
                        inspect, select, update)

from api.station.records import StationRecord

VERSION_TABLE = "alembic_version_station"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

metadata = MetaData()
boards = Table(
    "boards", metadata,
    Column("key", Text, primary_key=True),
    Column("created", Float, nullable=False),
    Column("station_id", Text, nullable=False),
    Column("serial", Text, nullable=False),
    Column("recipe_id", Text),
    Column("status", Text, nullable=False),
    Column("verdict", Text),
    Column("reason", Text),
    Column("record_json", Text, nullable=False),
    Column("delivery", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", Float, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("response_json", Text),
    Column("delivered", Float),
    Index("boards_pending", "delivery", "next_attempt"),
    Index("boards_by_age", "delivery", "created"),
)
images = Table(
    "images", metadata,
    Column("key", Text, ForeignKey("boards.key", ondelete="CASCADE"), primary_key=True),
    Column("view", Text, primary_key=True),
    Column("png", LargeBinary, nullable=False),
)

#: delivery states the service has not accepted yet
UNDELIVERED = ("pending", "held", "rejected")


def make_engine(path: Path):
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def upgrade(engine, revision: str = "head") -> None:
    """Bring the outbox database to `revision` with the station's migrations (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        tables = set(inspect(conn).get_table_names())
        cfg.attributes["connection"] = conn
        if "boards" in tables and VERSION_TABLE not in tables:  # made by the hand-written DDL before migrations
            command.stamp(cfg, "station_0001")
        command.upgrade(cfg, revision)


class Outbox:
    """Thread-safe results table + outbox (writes serialised by a lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._engine = make_engine(self.path)
        upgrade(self._engine)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._engine.dispose()

    def add(self, rec: StationRecord, *, images_png: dict[str, bytes] | None = None, deliver: bool) -> None:
        """Persist one board; `deliver` queues it for the service (needs images)."""
        delivery = "local"
        if deliver:
            delivery = "pending" if images_png else "local_only"
        with self._lock, self._engine.begin() as c:
            c.execute(boards.insert().values(
                key=rec.key, created=time.time(), station_id=rec.station_id, serial=rec.serial, recipe_id=rec.recipe_id,
                status=rec.status, verdict=rec.verdict, reason=rec.reason, record_json=rec.model_dump_json(), delivery=delivery))
            if delivery == "pending":
                c.execute(images.insert(), [{"key": rec.key, "view": v, "png": b} for v, b in images_png.items()])

    def due(self, *, now: float | None = None, limit: int = 10) -> list[dict]:
        """Pending and held submissions whose retry time has come, oldest first."""
        now = time.time() if now is None else now
        with self._lock, self._engine.connect() as c:
            rows = c.execute(
                select(boards.c.key, boards.c.serial, boards.c.recipe_id, boards.c.station_id, boards.c.attempts, boards.c.delivery,
                       boards.c.record_json)
                .where(boards.c.delivery.in_(("pending", "held")), boards.c.next_attempt <= now)
                .order_by(boards.c.created).limit(limit)).all()
            out = []
            for r in rows:
                imgs = dict(c.execute(select(images.c.view, images.c.png).where(images.c.key == r.key)).all())
                out.append({"key": r.key, "serial": r.serial, "recipe_id": r.recipe_id, "station_id": r.station_id,
                            "attempts": r.attempts, "delivery": r.delivery, "images": imgs,
                            "calibrations": json.loads(r.record_json).get("calibrations") or {}})
            return out

    def mark_delivered(self, key: str, response: dict | None) -> None:
        with self._lock, self._engine.begin() as c:
            c.execute(update(boards).where(boards.c.key == key).values(
                delivery="delivered", delivered=time.time(), response_json=json.dumps(response) if response is not None else None,
                last_error=None))
            c.execute(delete(images).where(images.c.key == key))  # the service has them now

    def mark_failed(self, key: str, error: str, *, retry_in_s: float | None, held: bool = False) -> None:
        """A failed attempt: retried after `retry_in_s` (``held`` when the service refused it for a
        fixable cause, else still ``pending``), or ``rejected`` for good when `retry_in_s` is None."""
        values = {"attempts": boards.c.attempts + 1, "last_error": error}
        if retry_in_s is None:
            values["delivery"] = "rejected"
        else:
            values.update(delivery="held" if held else "pending", next_attempt=time.time() + retry_in_s)
        with self._lock, self._engine.begin() as c:
            c.execute(update(boards).where(boards.c.key == key).values(**values))

    def release(self, *, rejected: bool = False, pending: bool = False) -> int:
        """Make held rows (and rejected ones when `rejected`, pending ones waiting for their back-off
        when `pending`) due now; returns how many."""
        states = ("held",) + (("rejected",) if rejected else ()) + (("pending",) if pending else ())
        with self._lock, self._engine.begin() as c:
            # a rejected row still has its images: they are deleted only once delivered
            n = c.execute(update(boards).where(boards.c.delivery.in_(states))
                          .values(delivery="pending", next_attempt=0.0, attempts=0)).rowcount
        return int(n or 0)

    def prune(self, *, delivered_h: float | None, local_h: float | None = None, now: float | None = None) -> int:
        """Delete delivered rows older than `delivered_h` hours (and local rows older than
        `local_h`); None keeps them. Returns how many rows went."""
        now = time.time() if now is None else now
        n = 0
        with self._lock, self._engine.begin() as c:
            for state, hours in (("delivered", delivered_h), ("local", local_h)):
                if hours is None:
                    continue
                n += c.execute(delete(boards).where(boards.c.delivery == state, boards.c.created < now - hours * 3600.0)).rowcount or 0
        return n

    def counts(self) -> dict[str, int]:
        with self._lock, self._engine.connect() as c:
            rows = c.execute(select(boards.c.delivery, func.count()).group_by(boards.c.delivery)).all()
        return {k: int(n) for k, n in rows}

    def record(self, key: str) -> dict | None:
        with self._lock, self._engine.connect() as c:
            row = c.execute(select(boards.c.record_json, boards.c.delivery, boards.c.attempts, boards.c.last_error)
                            .where(boards.c.key == key)).first()
        if row is None:
            return None
        return {"record": json.loads(row.record_json), "delivery": row.delivery, "attempts": row.attempts, "last_error": row.last_error}

    def records(self, *, limit: int = 1000) -> list[dict]:
        with self._lock, self._engine.connect() as c:
            rows = c.execute(select(boards.c.record_json, boards.c.delivery).order_by(boards.c.created).limit(limit)).all()
        return [dict(json.loads(r.record_json), delivery=r.delivery) for r in rows]

    def problems(self, *, limit: int = 5) -> list[dict]:
        """The newest held/rejected rows with their errors (for the operator)."""
        with self._lock, self._engine.connect() as c:
            rows = c.execute(select(boards.c.serial, boards.c.delivery, boards.c.last_error)
                             .where(boards.c.delivery.in_(("held", "rejected"))).order_by(boards.c.created.desc()).limit(limit)).all()
        return [{"serial": r.serial, "delivery": r.delivery, "last_error": r.last_error} for r in rows]
