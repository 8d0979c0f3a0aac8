"""The station outbox: SQLAlchemy Core + its own Alembic migrations, a pre-migration database
stamped and upgraded, retention of delivered (and optionally local) rows, held/rejected release."""

from __future__ import annotations

import sqlite3
import time

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from api.station.config import parse_config
from api.station.outbox import VERSION_TABLE, Outbox, make_engine, metadata
from api.station.records import StationRecord
from api.station.runner import StationRunner

# the schema the station created with hand-written sqlite3 DDL before it had migrations
LEGACY_DDL = """
CREATE TABLE boards (key TEXT PRIMARY KEY, created REAL NOT NULL, station_id TEXT NOT NULL, serial TEXT NOT NULL, recipe_id TEXT,
    status TEXT NOT NULL, verdict TEXT, reason TEXT, record_json TEXT NOT NULL, delivery TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL DEFAULT 0, last_error TEXT, response_json TEXT, delivered REAL);
CREATE INDEX boards_pending ON boards (delivery, next_attempt);
CREATE TABLE images (key TEXT NOT NULL REFERENCES boards(key) ON DELETE CASCADE, view TEXT NOT NULL, png BLOB NOT NULL,
    PRIMARY KEY (key, view));
"""


def schema_diff(c) -> list:
    ctx = MigrationContext.configure(c, opts={"version_table": VERSION_TABLE})
    return compare_metadata(ctx, metadata)


def rec(i: int, status: str = "inspected") -> StationRecord:
    return StationRecord(key=f"k{i}", station_id="s", serial=f"SN{i}", status=status, verdict="PASS" if status == "inspected" else None,
                         reason=None if status == "inspected" else "x", triggered_utc="2026-12-06T00:00:00Z")


def test_migrations_make_exactly_the_tables_the_code_uses(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite")
    with ob._engine.connect() as c:
        assert schema_diff(c) == []
        assert c.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar() == "station_0002"
    ob.close()
    Outbox(tmp_path / "o.sqlite").close()  # opening again is a no-op


def test_a_database_from_before_migrations_is_stamped_and_upgraded_keeping_its_rows(tmp_path):
    p = tmp_path / "old.sqlite"
    with sqlite3.connect(p) as c:
        c.executescript(LEGACY_DDL)
        c.execute("INSERT INTO boards (key, created, station_id, serial, status, record_json, delivery) VALUES (?,?,?,?,?,?,?)",
                  ("old1", time.time(), "s", "SN-OLD", "inspected", rec(0).model_dump_json(), "pending"))
        c.execute("INSERT INTO images VALUES ('old1', 'top', x'89504e47')")
    ob = Outbox(p)
    assert ob.counts() == {"pending": 1}
    assert ob.due()[0]["images"] == {"top": b"\x89PNG"}
    with ob._engine.connect() as c:
        # SQLite let the old "TEXT PRIMARY KEY" columns be NULL and reflects the old unnamed foreign key
        # and its REAL/BLOB types differently; nothing else differs (same tables, columns and indexes)
        diffs = [d for group in schema_diff(c) for d in (group if isinstance(group, list) else [group])]
        assert all(d[0] in ("modify_nullable", "modify_type", "remove_fk", "add_fk") for d in diffs), diffs
        assert c.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar() == "station_0002"
        assert "boards_by_age" in {i["name"] for i in __import__("sqlalchemy").inspect(c).get_indexes("boards")}
    ob.close()


def test_old_delivered_rows_are_pruned_and_undelivered_rows_never(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite")
    for i in range(6):
        ob.add(rec(i), images_png={"top": b"png"}, deliver=True)
    ob.add(rec(9), deliver=False)  # a local-sink row
    for k in ("k0", "k1", "k2"):
        ob.mark_delivered(k, {"id": k})
    ob.mark_failed("k3", "service answered 401", retry_in_s=30, held=True)
    ob.mark_failed("k4", "service answered 409", retry_in_s=None)
    # k0, k1 (delivered), k3 (held), k4 (rejected), k5 (pending), k9 (local) are 10 days old; k2 is fresh
    with ob._engine.begin() as c:
        c.exec_driver_sql("UPDATE boards SET created = created - 10 * 86400 WHERE key != 'k2'")
    assert ob.counts() == {"delivered": 3, "held": 1, "rejected": 1, "pending": 1, "local": 1}
    assert ob.prune(delivered_h=7 * 24) == 2
    assert ob.counts() == {"delivered": 1, "held": 1, "rejected": 1, "pending": 1, "local": 1}
    assert ob.record("k2")["delivery"] == "delivered" and ob.record("k0") is None
    assert ob.prune(delivered_h=None, local_h=24) == 1 and "local" not in ob.counts()
    # undelivered rows keep their images whatever their age
    with ob._engine.connect() as c:
        assert sorted(r[0] for r in c.exec_driver_sql("SELECT key FROM images")) == ["k3", "k4", "k5"]
    assert ob.release() == 1 and ob.counts()["pending"] == 2  # held -> pending now
    assert ob.release(rejected=True) == 1 and ob.counts() == {"delivered": 1, "pending": 3}
    ob.close()


def test_the_runner_applies_the_configured_retention(tmp_path):
    db = tmp_path / "st.sqlite"
    ob = Outbox(db)
    ob.add(rec(1), images_png={"top": b"png"}, deliver=True)
    ob.mark_delivered("k1", None)
    with ob._engine.begin() as c:
        c.exec_driver_sql("UPDATE boards SET created = created - 3 * 3600")
    ob.close()
    from vision.acquisition.files import FileSource

    img = tmp_path / "f.png"
    import cv2

    cv2.imwrite(str(img), np.zeros((8, 8), np.uint8))
    cfg = parse_config({"station_id": "s", "cameras": {"c": {"kind": "files", "paths": str(img)}}, "views": {"top": {"camera": "c"}},
                        "trigger": {"kind": "api"}, "database": str(db), "retention": {"delivered_h": 2}}, base=tmp_path)
    r = StationRunner(cfg, sources={"c": FileSource(str(img))})
    r.open()
    assert r.outbox.counts() == {}  # 3 h old, retention 2 h: gone at start
    r.close()
    with pytest.raises(Exception, match="retention.delivered_h"):
        parse_config({"station_id": "s", "cameras": {"c": {"kind": "files", "paths": "x"}}, "views": {"top": {"camera": "c"}},
                      "trigger": {"kind": "api"}, "retention": {"delivered_h": -1}}, base=tmp_path)
