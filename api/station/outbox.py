"""Local SQLite store of every board's record, and the outbox of submissions to the service.

Every record is committed before it is published, so a result is never lost: with the
``local`` sink the table *is* the destination; with the ``service`` sink a row stays
``pending`` (with its images) until the service accepted it, retried with exponential
back-off while the service is unreachable. A submission the service rejects (4xx) is
kept as ``rejected`` with the reason; a board without images is ``local_only``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from api.station.records import StationRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS boards (
    key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    station_id TEXT NOT NULL,
    serial TEXT NOT NULL,
    recipe_id TEXT,
    status TEXT NOT NULL,
    verdict TEXT,
    reason TEXT,
    record_json TEXT NOT NULL,
    delivery TEXT NOT NULL,            -- local | pending | delivered | rejected | local_only
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    response_json TEXT,
    delivered REAL
);
CREATE INDEX IF NOT EXISTS boards_pending ON boards (delivery, next_attempt);
CREATE TABLE IF NOT EXISTS images (
    key TEXT NOT NULL REFERENCES boards(key) ON DELETE CASCADE,
    view TEXT NOT NULL,
    png BLOB NOT NULL,
    PRIMARY KEY (key, view)
);
"""


class Outbox:
    """Thread-safe SQLite results table + outbox (one connection, serialised by a lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, rec: StationRecord, *, images_png: dict[str, bytes] | None = None, deliver: bool) -> None:
        """Persist one board; `deliver` queues it for the service (needs images)."""
        delivery = "local"
        if deliver:
            delivery = "pending" if images_png else "local_only"
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "INSERT INTO boards (key, created, station_id, serial, recipe_id, status, verdict, reason, record_json, delivery) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (rec.key, time.time(), rec.station_id, rec.serial, rec.recipe_id, rec.status, rec.verdict, rec.reason,
                     rec.model_dump_json(), delivery),
                )
                if delivery == "pending":
                    self._db.executemany("INSERT INTO images (key, view, png) VALUES (?,?,?)",
                                         [(rec.key, v, sqlite3.Binary(b)) for v, b in images_png.items()])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def due(self, *, now: float | None = None, limit: int = 10) -> list[dict]:
        """Pending submissions whose retry time has come, oldest first."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT key, serial, recipe_id, station_id, attempts, record_json FROM boards WHERE delivery='pending' "
                "AND next_attempt<=? ORDER BY created LIMIT ?", (now, limit)).fetchall()
            out = []
            for key, serial, recipe_id, station_id, attempts, record_json in rows:
                imgs = dict(self._db.execute("SELECT view, png FROM images WHERE key=?", (key,)).fetchall())
                out.append({"key": key, "serial": serial, "recipe_id": recipe_id, "station_id": station_id,
                            "attempts": attempts, "images": imgs,
                            "calibrations": json.loads(record_json).get("calibrations") or {}})
            return out

    def mark_delivered(self, key: str, response: dict | None) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("UPDATE boards SET delivery='delivered', delivered=?, response_json=?, last_error=NULL WHERE key=?",
                             (time.time(), json.dumps(response) if response is not None else None, key))
            self._db.execute("DELETE FROM images WHERE key=?", (key,))  # the service has them now
            self._db.execute("COMMIT")

    def mark_failed(self, key: str, error: str, *, retry_in_s: float | None) -> None:
        """A failed attempt: retried after `retry_in_s`, or ``rejected`` for good when None."""
        with self._lock:
            if retry_in_s is None:
                self._db.execute("UPDATE boards SET delivery='rejected', attempts=attempts+1, last_error=? WHERE key=?", (error, key))
            else:
                self._db.execute("UPDATE boards SET attempts=attempts+1, last_error=?, next_attempt=? WHERE key=?",
                                 (error, time.time() + retry_in_s, key))

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT delivery, COUNT(*) FROM boards GROUP BY delivery").fetchall()
        return {k: int(n) for k, n in rows}

    def record(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT record_json, delivery, attempts, last_error FROM boards WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return {"record": json.loads(row[0]), "delivery": row[1], "attempts": row[2], "last_error": row[3]}

    def records(self, *, limit: int = 1000) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT record_json, delivery FROM boards ORDER BY created LIMIT ?", (limit,)).fetchall()
        return [dict(json.loads(r), delivery=d) for r, d in rows]
