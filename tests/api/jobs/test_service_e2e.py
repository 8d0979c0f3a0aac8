"""End to end with the real service: `pogoscope serve` with POGOSCOPE_BROKER_URL set, three
`pogoscope worker` processes running `api.service.worker.run_inspection`, generated boards
submitted over HTTP, one worker SIGKILLed mid-batch: every board is inspected and its result
committed exactly once (one result, one completion event), none lost."""

from __future__ import annotations

import os
import signal
import struct
import zlib

import pytest

from api.jobs.broker import BrokerQueue
from tests.api.jobs.conftest import wait_for
from tests.api.service import support

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(150)]

N_BOARDS = 12


@pytest.fixture
def service_env(broker_url, queue_name, tmp_path):
    why = support.pg_available()
    if why:
        pytest.skip(why)
    schema = support.new_schema()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POGOSCOPE_")}
    env.update({
        "POGOSCOPE_DATABASE_URL": support.PG_URL,
        "POGOSCOPE_DB_SCHEMA": schema,
        "POGOSCOPE_DATA_DIR": str(tmp_path / "shared"),  # the shared directory every worker mounts
        "POGOSCOPE_BROKER_URL": broker_url,
        "POGOSCOPE_QUEUE_NAME": queue_name,
        "POGOSCOPE_INSPECT_FUNC": "tests.api.service.support:delayed_inspect",
        "POGOSCOPE_TEST_DELAY_S": "0.4",  # long enough to kill a worker in the middle of a job
        "OMP_NUM_THREADS": "1",
    })
    yield env
    support.drop_schema(schema)


def _db(env):
    import psycopg

    return psycopg.connect(env["POGOSCOPE_DATABASE_URL"].replace("postgresql+psycopg", "postgresql"),
                           options=f"-c search_path={env['POGOSCOPE_DB_SCHEMA']}", autocommit=True)


def test_service_with_workers_sigkill_mid_batch_inspects_every_board_once(service_env, worker_env, spawn_workers,
                                                                         synth_board, tmp_path):
    worker_env.clear()
    worker_env.update(service_env)  # the workers see what the service sees, and run the service's job
    srv = support.Server(service_env, log=tmp_path / "service.log").start()
    queue = BrokerQueue(broker_url=service_env["POGOSCOPE_BROKER_URL"], queue_name=service_env["POGOSCOPE_QUEUE_NAME"])
    try:
        procs = spawn_workers(3)
        wait_for(lambda: queue.workers() >= 3, timeout_s=40, what="3 workers")
        boards = [synth_board(seed=200 + i, rows=1, cols=4) for i in range(N_BOARDS)]
        ids = {}
        with srv.client() as c:
            for i, b in enumerate(boards):
                support.setup_board(c, b)  # its recipe and calibration; the submission records their versions
                r = c.post("/v1/inspections", data={"serial": f"E2E-{i:02d}", "recipe_id": b.recipe["recipe_id"],
                                                   "station_id": "line-1"},
                           files={"top": ("top.png", support.png(b.image), "image/png")},
                           headers={"Idempotency-Key": f"e2e-{i}"})
                assert r.status_code == 202, r.text
                ids[r.json()["id"]] = b

            with _db(service_env) as db:
                running = wait_for(lambda: db.execute("SELECT count(*) FROM inspections WHERE status = 'running'")
                                   .fetchone()[0] >= 3, timeout_s=30, poll_s=0.02, what="3 jobs in progress")
                assert running
                victim = procs[1]
                os.kill(victim.pid, signal.SIGKILL)  # it is in the middle of a job: the queue is still full
                docs = {iid: support.wait_done(c, iid, timeout_s=60) for iid in ids}
                rows = db.execute("SELECT id, status, attempts FROM inspections").fetchall()
                events = db.execute("SELECT inspection_id, count(*) FROM events WHERE kind = 'inspection.completed' "
                                    "GROUP BY inspection_id").fetchall()
        assert sorted(r[0] for r in rows) == sorted(ids)
        assert all(r[1] == "done" for r in rows), rows
        assert dict(events) == {iid: 1 for iid in ids}, "one committed result (one completion event) per board"
        assert max(r[2] for r in rows) >= 2, "the killed worker's job was delivered again"
        for iid, doc in docs.items():
            result = doc.get("result") or {}
            assert doc["status"] == "done" and len(result.get("pins", [])) == len(ids[iid].scene.pins), doc
        assert queue.depth() == 0 and queue.dead_letters() == 0
        assert victim.poll() == -signal.SIGKILL and sum(p.poll() is None for p in procs) == 2
    finally:
        queue.close()
        srv.kill()


def _garbage_png(width: int, height: int) -> bytes:
    """A PNG whose header and chunk checksums are right but whose compressed pixels are garbage: it passes
    the header checks before the 202 and fails in the worker's decoder (bad input: at once, one attempt)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bytes(range(256)) * 40) + chunk(b"IEND", b"")


def test_service_poison_boards_end_failed_with_their_reason_and_do_not_block(service_env, worker_env, spawn_workers,
                                                                            synth_board, tmp_path):
    from tests.api.jobs.test_workers import _bomb_png

    service_env["POGOSCOPE_INSPECT_FUNC"] = "tests.api.jobs.standin:crashing_inspect"
    service_env["POGOSCOPE_TEST_DELAY_S"] = "0"
    worker_env.clear()
    worker_env.update(service_env)
    srv = support.Server(service_env, log=tmp_path / "service.log").start()
    try:
        spawn_workers(1, "--processes", "2")  # the supervisor replaces the processes the crashes kill
        b = synth_board(seed=300)
        with srv.client() as c:
            support.setup_board(c, b)
            form = {"recipe_id": b.recipe["recipe_id"], "station_id": "line-1"}
            submitted = {}
            # a decompression bomb never reaches a worker since issue #15: its header is refused before the 202
            r = c.post("/v1/inspections", data={**form, "serial": "BOMB-1"}, files={"top": ("top.png", _bomb_png(), "image/png")})
            assert r.status_code == 422 and "decompression bomb" in r.json()["detail"], r.text
            for serial, data in [("CRASH-1", support.png(b.image)), ("GARBAGE-1", _garbage_png(*b.image.shape[1::-1])),
                                 *[(f"OK-{i}", support.png(b.image)) for i in range(3)]]:
                r = c.post("/v1/inspections", data={**form, "serial": serial}, files={"top": ("top.png", data, "image/png")})
                assert r.status_code == 202, r.text
                submitted[serial] = r.json()["id"]
            docs = {s: support.wait_done(c, iid, timeout_s=60) for s, iid in submitted.items()}
        assert all(docs[f"OK-{i}"]["status"] == "done" for i in range(3)), docs
        crash, garbage = docs["CRASH-1"], docs["GARBAGE-1"]
        assert crash["status"] == "failed" and "died on each of 3 deliveries" in crash["error"], crash
        assert garbage["status"] == "failed" and "not a decodable image" in garbage["error"], garbage
        with _db(service_env) as db:
            attempts = dict(db.execute("SELECT serial, attempts FROM inspections").fetchall())
            events = db.execute("SELECT count(*) FROM events WHERE kind = 'inspection.completed'").fetchone()[0]
        assert attempts["CRASH-1"] == 3 and attempts["GARBAGE-1"] == 1, attempts
        assert events == len(submitted)  # the failures were published once each, like results
    finally:
        srv.kill()


def test_service_answers_503_with_retry_after_when_the_broker_queue_is_full(service_env, worker_env, spawn_workers,
                                                                           synth_board, tmp_path):
    service_env["POGOSCOPE_QUEUE_MAX_DEPTH"] = "2"
    service_env["POGOSCOPE_TEST_DELAY_S"] = "0"
    worker_env.clear()
    worker_env.update(service_env)
    srv = support.Server(service_env, log=tmp_path / "service.log").start()
    try:
        b = synth_board(seed=400)
        with srv.client() as c:
            support.setup_board(c, b)

            def submit(serial):
                return c.post("/v1/inspections", data={"serial": serial, "recipe_id": b.recipe["recipe_id"]},
                              files={"top": ("top.png", support.png(b.image), "image/png")})

            assert [submit(f"BP-{i}").status_code for i in range(2)] == [202, 202]  # no worker yet: they wait
            full = submit("BP-2")
            assert full.status_code == 503 and full.headers["content-type"].startswith("application/problem+json")
            assert int(full.headers["Retry-After"]) > 0 and "2 inspections are waiting (limit 2)" in full.json()["detail"]
            spawn_workers(1)  # the backlog drains and submissions are accepted again
            wait_for(lambda: c.get("/readyz").json()["queue_depth"] == 0, timeout_s=40, what="the queue to drain")
            again = submit("BP-3")
            assert again.status_code == 202
            assert support.wait_done(c, again.json()["id"])["status"] == "done"
    finally:
        srv.kill()
