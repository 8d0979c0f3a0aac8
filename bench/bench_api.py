"""Load benchmark of the service on loopback: boards per second through the API and the latency of
``GET /v1/boards/{serial}`` under that load.

The service runs as `pogoscope serve` in its own process (SQLite, N worker processes); this process
is the load generator: `--clients` threads submit generated 1280x960 top images (bounded by
`--boards` and `--seconds`) while one reader thread fetches boards by serial.

    .venv/bin/python bench/bench_api.py [--boards 150] [--seconds 60] [--clients 6] [--workers 2] [--keep-overlays all]
                                        [--database postgres]   # PostgreSQL (a private schema in POGOSCOPE_TEST_PG_URL's database)
                                        [--repeat 3]            # runs; medians of the figures over the runs

Prints: submissions accepted per second (persisted, 202), boards inspected per second (submit to
committed result), pipeline time per board, and p50/p95 of the reads -- while the clients submit and
while the workers drain the backlog. Goals (issues 7 and 15): >= 25 boards/s, read p95 <= 50 ms under load
on both databases.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.api.service.support import ADMIN_KEY, Server, png  # noqa: E402
from vision.synth import truth as T  # noqa: E402
from vision.synth.boards import random_board  # noqa: E402
from vision.synth.top import fit_top_camera, render_top  # noqa: E402


def board_1280x960(seed: int):
    """A 4 x 6 board rendered into exactly 1280 x 960 px (same board, sensor noise seeded by `seed`)."""
    scene = random_board(0, rows=4, cols=6)
    cam = fit_top_camera(scene, mm_per_px=0.02)
    scale = max(cam.width_px / 1280, cam.height_px / 960) * cam.mm_per_px
    cam = dataclasses.replace(cam, mm_per_px=scale, width_px=1280, height_px=960)
    img, rec, _truth = render_top(scene, cam, seed=seed)
    return img, rec, T.recipe_dict(scene)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boards", type=int, default=150)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep-overlays", default="all", choices=["all", "not_pass", "none"])
    ap.add_argument("--database", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--repeat", type=int, default=1, help="runs; prints each, then the medians")
    a = ap.parse_args()

    imgs = [board_1280x960(s) for s in range(3)]
    _, rec, recipe = imgs[0]
    recipe = {**recipe, "recipe_id": "BENCH"}
    pngs = [png(i[0]) for i in imgs]
    assert imgs[0][0].shape[:2] == (960, 1280)
    results = []
    for _ in range(a.repeat):
        with tempfile.TemporaryDirectory(prefix="pogoscope-bench-") as tmp:
            env = {"POGOSCOPE_DATA_DIR": tmp, "POGOSCOPE_WORKERS": str(a.workers), "POGOSCOPE_KEEP_OVERLAYS": a.keep_overlays}
            schema = None
            if a.database == "postgres":
                from tests.api.service import support

                schema = support.new_schema()
                env |= {"POGOSCOPE_DATABASE_URL": support.PG_URL, "POGOSCOPE_DB_SCHEMA": schema}
            srv = Server(env).start()
            try:
                results.append(run(srv, a, pngs, rec, recipe))
            finally:
                srv.stop()
                if schema:
                    support.drop_schema(schema)
    if a.repeat > 1:
        print(f"medians over {a.repeat} runs ({a.database}): " + ", ".join(f"{k} {statistics.median(r[k] for r in results):.1f}"
                                                                        for k in results[0]))


def run(srv: Server, a, pngs: list[bytes], rec, recipe: dict) -> dict:
    with srv.client() as c:
        assert c.post("/v1/recipes", json=recipe).status_code in (200, 201)
        assert c.post("/v1/calibrations", json={"view": "top", "record": rec.model_dump(mode="json")}).status_code in (200, 201)
        # warm-up: worker processes import the pipeline
        r = c.post("/v1/inspections", data={"serial": "WARM", "recipe_id": "BENCH"}, files={"top": ("t.png", pngs[0], "image/png")})
        while c.get(r.json()["url"]).json()["status"] not in ("done", "failed"):
            time.sleep(0.1)

    lock = threading.Lock()
    submitted: list[tuple[str, str, float]] = []  # (serial, id, t)
    submit_ms: list[float] = []
    stop = threading.Event()
    counter = iter(range(a.boards))
    t_start = time.perf_counter()

    def client(k: int) -> None:
        with httpx.Client(base_url=srv.url, headers={"X-API-Key": ADMIN_KEY}, timeout=60) as h:
            while not stop.is_set() and time.perf_counter() - t_start < a.seconds:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                serial = f"B{i:05d}"
                t0 = time.perf_counter()
                r = h.post("/v1/inspections", data={"serial": serial, "recipe_id": "BENCH", "station_id": f"st{k}"},
                           files={"top": ("top.png", pngs[i % len(pngs)], "image/png")}, headers={"Idempotency-Key": serial})
                dt = (time.perf_counter() - t0) * 1e3
                if r.status_code != 202:
                    print(f"submit {serial}: {r.status_code} {r.text[:200]}")
                    continue
                with lock:
                    submit_ms.append(dt)
                    submitted.append((serial, r.json()["id"], time.perf_counter()))
                serials_q.put(serial)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
    # the reader is another process (a MES is another client): in this one it would wait for the GIL
    # behind the submitting threads and measure the load generator, not the service
    ctx = mp.get_context("spawn")
    serials_q, results_q = ctx.Queue(), ctx.Queue()
    phase = ctx.Value("i", 2)  # 2: idle (reads only), 1: clients submit, 0: workers drain, -1: stop
    rt = ctx.Process(target=reader, args=(srv.url, serials_q, results_q, phase))
    rt.start()
    serials_q.put("WARM")
    time.sleep(4.0)  # reads of an idle service first: what the machine gives without our load
    phase.value = 1
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    phase.value = 0
    t_submitted = time.perf_counter()
    n = len(submitted)
    # wait for the backlog to drain (reads continue under load)
    with httpx.Client(base_url=srv.url, headers={"X-API-Key": ADMIN_KEY}, timeout=60) as h:
        while time.perf_counter() - t_submitted < 600:
            q = h.get("/readyz").json()["queue_depth"]
            if q == 0:
                break
            time.sleep(0.2)
        t_done = time.perf_counter()
        phase.value = -1
        read_idle_ms, read_submit_ms, read_drain_ms = results_q.get(timeout=60)
        read_ms = read_submit_ms + read_drain_ms
        rt.join(30)
        docs = [h.get(f"/v1/inspections/{iid}").json() for _, iid, _ in submitted]
    failed = [d for d in docs if d["status"] != "done"]
    for d in failed[:3]:
        print(f"not done: {d['serial']} {d['status']} {d['error']}")
    pipe_ms = [d["result"]["board"]["timings_ms"]["total"] for d in docs if d["result"]]
    lat_s = [(_t(d["finished_at"]) - _t(d["created_at"])) for d in docs if d["finished_at"]]
    verdicts = sorted({d["verdict"] for d in docs if d["verdict"]})
    print(f"image 1280x960, {len(pngs)} distinct boards, {a.clients} submitting clients, {a.workers} worker processes, {n} boards, "
          f"verdicts {verdicts}, overlays kept: {a.keep_overlays}")
    print(f"submissions accepted (persisted, 202): {n / (t_submitted - t_start):.1f} boards/s; submit latency median {statistics.median(submit_ms):.1f} ms, p95 {pct(submit_ms, 95):.1f} ms")
    print(f"boards inspected end to end:           {n / (t_done - t_start):.1f} boards/s ({len(failed)} not done)")
    print(f"pipeline time per board (in worker):   median {statistics.median(pipe_ms):.0f} ms")
    print(f"submit -> result latency:              median {statistics.median(lat_s):.2f} s, p95 {pct(lat_s, 95):.2f} s")
    print(f"GET /v1/boards/{{serial}} under load:   p50 {statistics.median(read_ms):.1f} ms, p95 {pct(read_ms, 95):.1f} ms ({len(read_ms)} reads)")
    if read_idle_ms:
        print(f"  ... idle (before the load):          p50 {statistics.median(read_idle_ms):.1f} ms, p95 {pct(read_idle_ms, 95):.1f} ms "
              f"({len(read_idle_ms)} reads)")
    if read_submit_ms:
        print(f"  ... while clients submit:            p50 {statistics.median(read_submit_ms):.1f} ms, p95 {pct(read_submit_ms, 95):.1f} ms "
              f"({len(read_submit_ms)} reads)")
    if read_drain_ms:
        print(f"  ... while workers drain the backlog: p50 {statistics.median(read_drain_ms):.1f} ms, p95 {pct(read_drain_ms, 95):.1f} ms "
              f"({len(read_drain_ms)} reads)")
    print(f"goals: >= 25 boards/s, read p95 <= 50 ms ({'sqlite' if a.database == 'sqlite' else 'postgres'})")
    return {"accepted_per_s": n / (t_submitted - t_start), "inspected_per_s": n / (t_done - t_start),
            "read_p50_ms": statistics.median(read_ms), "read_p95_ms": pct(read_ms, 95),
            "read_p95_submitting_ms": pct(read_submit_ms, 95) if read_submit_ms else float("nan"),
            "read_p95_idle_ms": pct(read_idle_ms, 95) if read_idle_ms else float("nan")}


def reader(url: str, serials_q, results_q, phase) -> None:
    """GET /v1/boards/{serial} of a random submitted board every 10 ms; sends back the latencies (ms)
    while the clients submitted and while the workers drained the backlog."""
    import queue

    rng = np.random.default_rng(0)
    serials: list[str] = []
    idle, during, after = [], [], []
    with httpx.Client(base_url=url, headers={"X-API-Key": ADMIN_KEY}, timeout=60) as h:
        while phase.value >= 0:
            try:
                while True:
                    serials.append(serials_q.get_nowait())
            except queue.Empty:
                pass
            if not serials:
                time.sleep(0.01)
                continue
            serial = serials[int(rng.integers(len(serials)))]
            now = phase.value
            t0 = time.perf_counter()
            r = h.get(f"/v1/boards/{serial}")
            {2: idle, 1: during}.get(now, after).append((time.perf_counter() - t0) * 1e3)
            assert r.status_code == 200, r.text
            time.sleep(0.01)
    results_q.put((idle, during, after))


def _t(s: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(s).timestamp()


if __name__ == "__main__":
    main()
