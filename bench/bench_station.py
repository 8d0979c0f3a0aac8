"""Station cycle with the replay source (trigger -> result persisted and published), and the soak.

    .venv/bin/python bench/bench_station.py [--boards 60] [--minutes 10] [--period 0]

The soak runs the station for --minutes at one board every --period s (0: full rate, as fast as it
inspects), samples the process RSS every --sample-s and prints it at the start and the end, the
largest value, and the growth over the second half (flat RSS: about 0 MB). The outbox keeps local
rows for --keep-s seconds (retention.local_h), so the soak also shows the database file staying bounded.

The boards are generated 1280x960 top images of 16-pin (4x4) boards with their recipes and
calibration records, replayed in a loop. Inspection is the real `vision.inspect.inspect_board`.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from api.station.config import parse_config  # noqa: E402
from api.station.runner import StationRunner  # noqa: E402

def make_boards(root: Path, n: int) -> None:
    """n generated 4x4 boards (2.54 mm pitch, one random defect in four pins) seen by a 1280x960
    telecentric camera at 14 um/px, written in the replay layout with recipe and calibration."""
    from vision.synth import truth as T
    from vision.synth.boards import random_board
    from vision.synth.scene import TopCamera
    from vision.synth.top import render_top

    for i in range(n):
        scene = random_board(100 + i, rows=4, cols=4, margin_mm=2.3, rotation_deg=(-1) ** i * 1.0, defect_rate=0.25)
        centre = T.board_to_world(scene, np.array([[scene.size_mm[0] / 2, scene.size_mm[1] / 2]]))[0]
        cam = TopCamera(mm_per_px=0.014, width_px=1280, height_px=960, center_mm=tuple(float(c) for c in centre))
        img, rec, _ = render_top(scene, cam, seed=i)
        d = root / f"{i:06d}_B{i}"
        d.mkdir(parents=True)
        cv2.imwrite(str(d / "top.png"), img[..., ::-1])
        rec.save(d / "cal_top.json")
        yaml.safe_dump(T.recipe_dict(scene), (d / "recipe.yaml").open("w"))
        (d / "board.yaml").write_text(yaml.safe_dump({"serial": f"B{i}", "recipe": "recipe.yaml", "views": {"top": "top.png"},
                                                       "calibrations": {"top": "cal_top.json"}}))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boards", type=int, default=60)
    ap.add_argument("--minutes", type=float, default=0.0, help="soak: run the station this long")
    ap.add_argument("--period", type=float, default=0.0, help="soak: seconds between triggers; 0 = full rate")
    ap.add_argument("--sample-s", type=float, default=30.0, help="soak: RSS sampled this often")
    ap.add_argument("--keep-s", type=float, default=60.0, help="soak: local rows older than this are pruned (retention)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_station_"))
    make_boards(tmp / "replay", n=4)

    def station(n, period, cache=True, **extra):
        cfg = parse_config({"station_id": "bench", "cameras": {"c": {"kind": "replay", "root": str(tmp / "replay"), "loop": True, "cache": cache}},
                            "views": {"top": {"camera": "c"}},
                            "trigger": {"kind": "timer", "period_s": max(period, 1e-4), "count": n},
                            "database": str(tmp / f"st_{time.time_ns()}.sqlite"), **extra}, base=tmp)
        return StationRunner(cfg)

    def run(n, period, cache=True):
        r = station(n, period, cache)
        cycles, late = [], []
        orig = r.handle

        def timed(t):
            t0 = time.perf_counter()
            late.append(t0 - t.received)
            out = orig(t)
            cycles.append((time.perf_counter() - t0) * 1e3)
            return out
        r.handle = timed
        r.open()
        r.run()
        r.close()
        return r, cycles, late

    # a camera delivers arrays: the cached replay models it; the uncached one adds a PNG decode per board
    for cache, what in ((True, "frames as arrays, like a camera"), (False, "each board's PNG decoded")):
        r, cycles, _ = run(a.boards, 0.001, cache=cache)
        last = r.outbox.records(limit=1)[0]
        print(f"station cycle (replay 1280x960, 16 pins, {what}; trigger -> persisted + published): "
              f"median {statistics.median(cycles):.1f} ms, p90 {np.percentile(cycles, 90):.1f} ms over {len(cycles)} boards; "
              f"status of a board: {last['status']}" + (f" ({last['reason']})" if last.get("reason") else ""), flush=True)
    try:
        if a.minutes > 0:
            soak(station, a)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def soak(station, a) -> None:
    """The station for a.minutes (timer trigger, local sink with retention), RSS sampled on a thread."""
    import threading

    r = station(None, a.period, retention={"local_h": a.keep_s / 3600.0, "prune_every_s": min(10.0, a.keep_s / 2)})
    samples: list[tuple[float, float, int]] = []
    stop = threading.Event()

    def sample():
        t0 = time.monotonic()
        while True:
            db = Path(r.cfg.database)
            size = sum(f.stat().st_size for f in db.parent.glob(db.name + "*") if f.is_file())
            samples.append((time.monotonic() - t0, rss_mb(), size))
            print(f"  t={samples[-1][0]:6.0f} s  RSS {samples[-1][1]:6.1f} MB  boards {r.counts['boards']:6d}  "
                  f"database {size / 1e6:6.1f} MB", flush=True)
            if stop.wait(a.sample_s):
                return

    print(f"soak: {a.minutes:g} min, one board every {a.period * 1e3:.0f} ms" if a.period > 0 else f"soak: {a.minutes:g} min at full rate",
          flush=True)
    r.open()
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    threading.Timer(a.minutes * 60, r.stop).start()
    t0 = time.perf_counter()
    r.run()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    r.close()
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    print(f"soak done: {r.counts} in {wall:.0f} s ({r.counts['boards'] / wall:.1f} boards/s); RSS start {samples[0][1]:.1f} MB, "
          f"end {samples[-1][1]:.1f} MB, max {max(s[1] for s in samples):.1f} MB, second half {half[-1][1] - half[0][1]:+.1f} MB; "
          f"database {samples[0][2] / 1e6:.1f} -> {samples[-1][2] / 1e6:.1f} MB (retention {a.keep_s:g} s); outbox {r.outbox.counts()}")


if __name__ == "__main__":
    main()
