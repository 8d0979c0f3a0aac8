"""Distributed workers: boards per second with 1 and 2 `pogoscope worker` processes, and the
saturation model for N machines (which of database, broker and image store runs out first).

    .venv/bin/python bench/bench_workers.py [--boards 40] [--repeats 3] [--processes 1,2]

Needs the machine's RabbitMQ (127.0.0.1:5672) and PostgreSQL (127.0.0.1:5432). The service runs as
`pogoscope serve` with POGOSCOPE_BROKER_URL set; each run submits `--boards` generated 1280x960
top images over HTTP with no worker attached, then starts `pogoscope worker --processes K` and
measures the drain from the first job started to the last result committed (timestamps the
service's own worker writes). Then it measures each shared part alone:

* broker: confirmed submits/s (`BrokerQueue.submit`, depth check included) and deliveries/s of
  no-op jobs through 2 worker processes x 4 threads (publish + deliver + ack);
* database: inspections/s for the service's own write pattern (row read, ``running`` update,
  recipe/calibration reads, result update + completion event) from 4 threads;
* image store: bytes moved per board (image written by the service, read by a worker, overlay
  written back) and local put/get MB/s; over a network share the link is the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_api import board_1280x960  # noqa: E402
from tests.api.service.support import PG_URL, Server, drop_schema, new_schema, pg_available, png  # noqa: E402

BROKER_URL = os.environ.get("POGOSCOPE_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
LINK_MB_S = 110.0  # what one 1 GbE network share sustains; the model's image-store limit


def noop(inspection_id: str) -> None:
    """Job function for the broker ceiling: nothing but the queue's own work."""


def noop_fail(inspection_id: str, reason: str) -> None:
    pass


def _pg():
    import psycopg

    return psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True)


def _start_workers(env: dict, processes: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--processes", str(processes), *extra],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _wait(pred, timeout_s: float, what: str):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise TimeoutError(f"{what} not reached in {timeout_s} s")


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of the live processes in process group `pgid` (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state ppid pgrp ... utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / tick


def drain_run(srv: Server, env: dict, schema: str, queue, pngs: list[bytes], n: int, processes: int) -> dict:
    """Submit n boards with no worker, then drain them with `processes` workers. CPU seconds of the
    workers are counted from the moment they attach, so start-up imports are left out."""
    tag = uuid.uuid4().hex[:6]
    with srv.client() as c:
        for i in range(n):
            r = c.post("/v1/inspections", data={"serial": f"W{tag}-{i}", "recipe_id": "BENCH", "station_id": "bench"},
                       files={"top": ("top.png", pngs[i % len(pngs)], "image/png")})
            assert r.status_code == 202, r.text
    proc = _start_workers(env, processes)
    try:
        _wait(lambda: queue.workers() >= processes, 120, "workers attached")
        cpu0 = group_cpu_s(proc.pid)
        with _pg() as db:
            db.execute(f'SET search_path TO "{schema}"')
            q = "SELECT count(*) FROM inspections WHERE serial LIKE %s AND status IN ('done', 'failed')"
            _wait(lambda: db.execute(q, (f"W{tag}-%",)).fetchone()[0] >= n, 600, "all boards inspected")
            first, last, med, failed = db.execute(
                "SELECT min(started_at), max(finished_at), percentile_cont(0.5) WITHIN GROUP "
                "(ORDER BY extract(epoch FROM finished_at - started_at)), count(*) FILTER (WHERE status = 'failed') "
                "FROM inspections WHERE serial LIKE %s", (f"W{tag}-%",)).fetchone()
        cpu = group_cpu_s(proc.pid) - cpu0
    finally:
        _stop(proc)
    wall = (last - first).total_seconds()
    return {"boards_s": n / wall, "job_ms": med * 1e3, "failed": failed, "cpu_ms": cpu / n * 1e3}


def broker_ceiling(env: dict, n: int = 3000, submitters: int = 4) -> tuple[float, float]:
    """(confirmed submits/s of one client alone, jobs/s through the broker end to end: `submitters`
    threads submitting while 2 worker processes x 4 threads run no-op jobs)."""
    from api.jobs.broker import BrokerQueue

    name = f"pogoscope-bench-{uuid.uuid4().hex[:8]}"
    q = BrokerQueue(broker_url=BROKER_URL, queue_name=name, max_depth=10 * n)
    try:
        t0 = time.perf_counter()
        for i in range(500):
            q.submit(f"warm-{i}")
        one_client = 500 / (time.perf_counter() - t0)
        wenv = {**env, "POGOSCOPE_QUEUE_NAME": name, "POGOSCOPE_JOB_FUNC": "bench.bench_workers:noop",
                "POGOSCOPE_FAIL_FUNC": "bench.bench_workers:noop_fail"}
        proc = _start_workers(wenv, 2, "--threads", "4")
        try:
            _wait(lambda: q.workers() >= 2 and q.depth() == 0, 120, "no-op workers")

            def submit(k: int) -> None:
                sq = BrokerQueue(broker_url=BROKER_URL, queue_name=name, max_depth=10 * n)
                try:
                    for i in range(k, n, submitters):
                        sq.submit(f"noop-{i}")
                finally:
                    sq.close()

            t0 = time.perf_counter()
            ts = [threading.Thread(target=submit, args=(k,)) for k in range(submitters)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            _wait(lambda: q.depth() == 0, 300, "no-op queue drained")
            through = n / (time.perf_counter() - t0)
        finally:
            _stop(proc)
        q.delete()
    finally:
        q.close()
    return one_client, through


def db_ceiling(env: dict, schema: str, n: int = 400, threads: int = 4) -> float:
    """Inspections/s for the service worker's database statements (results copied from a real one)."""
    from sqlalchemy import select, update

    from api.service.db import CalibrationRow, EventRow, InspectionRow, RecipeRow, make_engine, session_factory, utcnow
    from api.settings import Settings

    settings = Settings(database_url=PG_URL, db_schema=schema, data_dir=env["POGOSCOPE_DATA_DIR"])
    engine = make_engine(settings)
    Session = session_factory(engine)
    with Session() as s:
        tpl = s.scalars(select(InspectionRow).where(InspectionRow.status == "done").limit(1)).one()
        payload = s.scalars(select(EventRow.payload).where(EventRow.inspection_id == tpl.id)).first()
        cols = {c.key: getattr(tpl, c.key) for c in InspectionRow.__table__.columns
                if c.key not in ("id", "status", "result", "verdict", "reasons", "finished_at", "started_at",
                                 "attempts", "idempotency_key", "request_hash", "latency_s", "error", "overlay_sha256",
                                 "created_at")}
        ids = []
        for i in range(n):
            row = InspectionRow(**{**cols, "serial": f"DB-{i}"})
            s.add(row)
            s.flush()
            ids.append(row.id)
        s.commit()
        result = tpl.result

    def one(iid: str) -> None:
        with Session() as s:  # the statements of api.service.worker.run_inspection, without the pixels
            row = s.get(InspectionRow, iid)
            s.execute(update(InspectionRow).where(InspectionRow.id == iid).values(status="running", started_at=utcnow(),
                                                                                attempts=InspectionRow.attempts + 1))
            s.commit()
            s.refresh(row)
            s.scalar(select(RecipeRow.body).where(RecipeRow.recipe_id == row.recipe_id, RecipeRow.version == row.recipe_version))
            for ref in (row.calibrations or {}).values():
                s.scalar(select(CalibrationRow.body).where(CalibrationRow.camera_id == ref["camera_id"],
                                                           CalibrationRow.version == ref["version"]))
            s.execute(update(InspectionRow).where(InspectionRow.id == iid, InspectionRow.status.not_in(("done", "failed")))
                      .values(status="done", result=result, verdict=result["board"]["verdict"],
                              reasons=result["board"]["reasons"], finished_at=utcnow()))
            s.add(EventRow(kind="inspection.completed", inspection_id=iid, station_id=row.station_id, payload=payload))
            s.commit()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, ids))
    rate = n / (time.perf_counter() - t0)
    engine.dispose()
    return rate


def store_figures(schema: str, data_dir: Path, image_png: bytes) -> tuple[float, float, float]:
    """(MB moved per board, local put MB/s, local get MB/s)."""
    from api.jobs.store import DirectoryStore

    store = DirectoryStore(data_dir / "images")
    with _pg() as db:
        db.execute(f'SET search_path TO "{schema}"')
        shas = [r[0] for r in db.execute("SELECT overlay_sha256 FROM inspections WHERE overlay_sha256 IS NOT NULL "
                                         "LIMIT 20").fetchall()]
    overlay = statistics.median(len(store.get(k)) for k in shas) if shas else 0.0
    per_board = (2 * len(image_png) + overlay) / 1e6
    st = DirectoryStore(Path(tempfile.mkdtemp(prefix="pogoscope-store-")))
    blobs = [image_png[:-12] + os.urandom(4) + image_png[-12:] for _ in range(50)]  # distinct keys, same size
    t0 = time.perf_counter()
    keys = [st.put(b) for b in blobs]
    put = len(blobs) * len(image_png) / 1e6 / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for k in keys:
        st.get(k)
    get = len(blobs) * len(image_png) / 1e6 / (time.perf_counter() - t0)
    return per_board, put, get


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boards", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--processes", default="1,2")
    a = ap.parse_args()
    why = pg_available()
    if why:
        print(f"skipped: {why}")
        return 0
    from api.jobs.broker import BrokerQueue

    imgs = [board_1280x960(s) for s in range(3)]
    _, rec, recipe = imgs[0]
    pngs = [png(i[0]) for i in imgs]
    schema = new_schema()
    data_dir = Path(tempfile.mkdtemp(prefix="pogoscope-bench-workers-"))
    qname = f"pogoscope-bench-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("POGOSCOPE_")}
    env |= {"POGOSCOPE_DATABASE_URL": PG_URL, "POGOSCOPE_DB_SCHEMA": schema, "POGOSCOPE_DATA_DIR": str(data_dir),
            "POGOSCOPE_BROKER_URL": BROKER_URL, "POGOSCOPE_QUEUE_NAME": qname, "POGOSCOPE_QUEUE_MAX_DEPTH": "100000",
            "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    srv = Server(env, log=data_dir / "service.log").start()
    queue = BrokerQueue(broker_url=BROKER_URL, queue_name=qname, max_depth=100000)
    try:
        with srv.client() as c:
            assert c.post("/v1/recipes", json={**recipe, "recipe_id": "BENCH"}).status_code == 201
            assert c.post("/v1/calibrations", json={"view": "top", "record": rec.model_dump(mode="json")}).status_code == 201
        drain_run(srv, env, schema, queue, pngs, 4, 1)  # warm-up: imports, migrations, caches
        rates, ks = {}, [int(x) for x in a.processes.split(",")]
        results = {k: [] for k in ks}
        for _ in range(a.repeats):  # interleaved: load from other users of the machine hits both alike
            for k in ks:
                results[k].append(drain_run(srv, env, schema, queue, pngs, a.boards, k))
        print(f"load average before the ceilings: {os.getloadavg()[0]:.2f} (2 cores)")
        for k, runs in results.items():
            rates[k] = statistics.median(r["boards_s"] for r in runs)
            print(f"workers: {k} process(es): median {rates[k]:.2f} boards/s over {a.repeats} x {a.boards} boards "
                  f"(runs {', '.join('%.2f' % r['boards_s'] for r in runs)}; "
                  f"median job {statistics.median(r['job_ms'] for r in runs):.0f} ms wall, "
                  f"{statistics.median(r['cpu_ms'] for r in runs):.0f} ms worker CPU per board; "
                  f"failed {sum(r['failed'] for r in runs)})", flush=True)
        srv.stop()  # the service is idle from here on; its process must not skew the ceilings
        submit_s, broker_s = broker_ceiling(env)
        print(f"broker: {broker_s:.0f} no-op jobs/s submitted (4 clients, confirmed), delivered and acked (2 processes x "
              f"4 threads); one client alone {submit_s:.0f} confirmed submits/s", flush=True)
        db_s = db_ceiling(env, schema)
        print(f"database: {db_s:.0f} inspections/s for the worker's statements (4 threads, PostgreSQL on this machine)",
              flush=True)
        mb_board, put_mb, get_mb = store_figures(schema, data_dir, pngs[0])
        store_s = LINK_MB_S / mb_board
        print(f"image store: {mb_board:.2f} MB moved per board (image in, image out, overlay in); local disk put "
              f"{put_mb:.0f} MB/s, get {get_mb:.0f} MB/s; a 1 GbE share ({LINK_MB_S:.0f} MB/s) carries {store_s:.0f} boards/s")

        cpu_ms = statistics.median(r["cpu_ms"] for runs in results.values() for r in runs)
        per_core = 1e3 / cpu_ms  # boards per CPU-second: what a core gives when it is not shared
        print(f"worker CPU per board: median {cpu_ms:.0f} ms -> {per_core:.2f} boards/s per dedicated core")
        ceilings = {"broker": broker_s, "database": db_s, "image store (1 GbE)": store_s}
        print(f"model: boards/s = min(N machines x cores x {per_core:.2f} boards/s per core, " +
              ", ".join(f"{k} {v:.0f}" for k, v in ceilings.items()) + ")")
        for name, cap in sorted(ceilings.items(), key=lambda kv: kv[1]):
            print(f"model: {name} saturates at {cap:.0f} boards/s = {cap / per_core:.0f} worker cores "
                  f"({cap / per_core / 2:.0f} two-core machines)")
        if 2 in rates:
            print(f"scaling on this 2-core machine: 2 processes give {rates[2] / rates[1]:.2f}x one process")
    finally:
        srv.kill()
        drop_schema(schema)
        try:
            queue.delete()
        finally:
            queue.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
