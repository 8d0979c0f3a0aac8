"""Stand-in for ``api.service.worker`` used by the queue tests: the same contract, its own tables.

``run_inspection(inspection_id)`` loads a persisted submission from PostgreSQL (schema from
POGOSCOPE_DB_SCHEMA), fetches its image from the image store (POGOSCOPE_STORE_URL), decodes it with
the product's decoder, inspects it with the real pipeline and commits the result once: the
submission row is locked and its status checked in the same transaction, so a redelivered job is a
no-op. The results table deliberately has no unique constraint: a duplicate write would show.

Fault injection (a column of the submission, for the failure tests): ``segv`` kills the process
with SIGSEGV where a crashing decoder would; ``raise`` raises an unexpected (non-input) error where a
faulty library would; ``die_after_commit`` SIGKILLs it after the commit and
before the broker's ack. An id starting with ``flaky-db`` finds the database down for its first four
connection attempts.
"""

from __future__ import annotations

import json
import os
import signal
import time

import psycopg

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS submissions (
    id text PRIMARY KEY, serial text NOT NULL, image_key text NOT NULL, recipe jsonb NOT NULL,
    calibration jsonb NOT NULL, fault text, dwell_s double precision NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'queued');
CREATE TABLE IF NOT EXISTS results (
    inspection_id text NOT NULL, status text NOT NULL, reason text, n_pins int, verdict text,
    image_shape int[], worker_pid int, created_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE IF NOT EXISTS attempts (
    n bigserial PRIMARY KEY, inspection_id text NOT NULL, pid int NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(), outcome text);
"""


def connect(inspection_id: str = "") -> psycopg.Connection:
    url = os.environ["POGOSCOPE_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    schema = os.environ["POGOSCOPE_DB_SCHEMA"]
    if inspection_id.startswith("flaky-db") and _count_outage(inspection_id) <= 4:
        url = "postgresql://root@127.0.0.1:1/test"  # a database that is down: a real OperationalError
    return psycopg.connect(url, options=f"-c search_path={schema}", connect_timeout=5)


def _count_outage(inspection_id: str) -> int:
    """How many times `inspection_id` has tried to connect (a file beside the image store: workers share it)."""
    path = f"{os.environ['POGOSCOPE_STORE_URL']}/outage-{inspection_id}"
    with open(path, "a+") as fh:
        fh.write("x")
    with open(path) as fh:
        return len(fh.read())


def create_schema(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    conn.execute(f'SET search_path TO "{schema}"')
    conn.execute(SCHEMA_SQL)
    conn.commit()


def _attempt(conn, inspection_id: str) -> int:
    n = conn.execute("INSERT INTO attempts (inspection_id, pid) VALUES (%s, %s) RETURNING n",
                     (inspection_id, os.getpid())).fetchone()[0]
    conn.commit()  # visible even if this process dies in the next line
    return n


def run_inspection(inspection_id: str) -> None:
    from api.jobs.store import open_store
    from vision.inspect import BoardInput, inspect_board
    from calibration.record import CalibrationRecord
    from models.recipe import Recipe
    from vision.io import decode_image

    with connect(inspection_id) as conn:
        n = _attempt(conn, inspection_id)
        row = conn.execute("SELECT serial, image_key, recipe, calibration, fault, dwell_s, status FROM submissions "
                           "WHERE id = %s", (inspection_id,)).fetchone()
        if row is None or row[6] != "queued":
            conn.execute("UPDATE attempts SET outcome = 'noop' WHERE n = %s", (n,))
            conn.commit()
            return
        serial, key, recipe, cal, fault, dwell_s, _ = row
        conn.commit()
        data = open_store(os.environ["POGOSCOPE_STORE_URL"]).get(key)
        if fault == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        if fault == "raise":
            raise RuntimeError("decoder library fault (injected)")
        image = decode_image(data, name=f"{inspection_id}/top")
        out = inspect_board(BoardInput(serial=serial, recipe=Recipe.model_validate(recipe), images={"top": image},
                                       calibrations={"top": CalibrationRecord.model_validate(cal)}))
        time.sleep(dwell_s)  # a longer inspection: gives the kill tests a window mid-job
        status = conn.execute("SELECT status FROM submissions WHERE id = %s FOR UPDATE", (inspection_id,)).fetchone()[0]
        if status != "queued":  # another delivery committed while this one ran
            conn.execute("UPDATE attempts SET outcome = 'noop' WHERE n = %s", (n,))
            conn.commit()
            return
        board = out.result.board
        verdict = getattr(board, "verdict", None)
        conn.execute("INSERT INTO results (inspection_id, status, n_pins, verdict, image_shape, worker_pid) "
                     "VALUES (%s, 'done', %s, %s, %s, %s)",
                     (inspection_id, len(out.result.pins), getattr(verdict, "value", verdict), list(image.shape),
                      os.getpid()))
        conn.execute("UPDATE submissions SET status = 'done' WHERE id = %s", (inspection_id,))
        conn.execute("UPDATE attempts SET outcome = 'done' WHERE n = %s", (n,))
        conn.commit()
        if fault == "die_after_commit":
            os.kill(os.getpid(), signal.SIGKILL)


def record_failure(inspection_id: str, reason: str) -> None:
    with connect() as conn:
        row = conn.execute("SELECT status FROM submissions WHERE id = %s FOR UPDATE", (inspection_id,)).fetchone()
        if row is None or row[0] != "queued":
            conn.commit()
            return
        conn.execute("INSERT INTO results (inspection_id, status, reason, worker_pid) VALUES (%s, 'failed', %s, %s)",
                     (inspection_id, reason, os.getpid()))
        conn.execute("UPDATE submissions SET status = 'failed' WHERE id = %s", (inspection_id,))
        conn.commit()


def submit_board(conn, store, inspection_id: str, board, *, image_bytes: bytes | None = None, fault: str | None = None,
                 dwell_s: float = 0.0) -> None:
    """Persist a generated board's submission (PNG in the store), as the service would before 202."""
    import cv2

    if image_bytes is None:
        ok, buf = cv2.imencode(".png", board.image[..., ::-1])
        image_bytes = buf.tobytes()
    key = store.put(image_bytes)
    conn.execute("INSERT INTO submissions (id, serial, image_key, recipe, calibration, fault, dwell_s) "
                 "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                 (inspection_id, f"SN-{inspection_id}", key, json.dumps(board.recipe),
                  board.record.model_dump_json(), fault, dwell_s))
    conn.commit()


def crashing_inspect(inp):
    """For the service end-to-end test (POGOSCOPE_INSPECT_FUNC): the real pipeline, except that a board
    whose serial starts with CRASH kills its worker process with SIGSEGV, as a crashing decoder would."""
    if inp.serial.startswith("CRASH"):
        os.kill(os.getpid(), signal.SIGSEGV)
    from tests.api.service.support import delayed_inspect

    return delayed_inspect(inp)
