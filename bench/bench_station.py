"""Station cycle with the replay source (trigger -> result persisted and published), and the soak.

    .venv/bin/python bench/bench_station.py [--boards 60] [--minutes 5] [--period 0.25]

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
    ap.add_argument("--minutes", type=float, default=0.0, help="soak: one board every --period for this long")
    ap.add_argument("--period", type=float, default=0.25)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_station_"))
    make_boards(tmp / "replay", n=4)
    def run(n, period, cache=True):
        cfg = parse_config({"station_id": "bench", "cameras": {"c": {"kind": "replay", "root": str(tmp / "replay"), "loop": True, "cache": cache}},
                            "views": {"top": {"camera": "c"}},
                            "trigger": {"kind": "timer", "period_s": period, "count": n},
                            "database": str(tmp / f"st_{time.time_ns()}.sqlite")}, base=tmp)
        r = StationRunner(cfg)
        cycles, late = [], []
        r.listeners.append(lambda rec: None)
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
              f"status of a board: {last['status']}" + (f" ({last['reason']})" if last.get("reason") else ""))
    if a.minutes > 0:
        n = int(a.minutes * 60 / a.period)
        print(f"soak: {n} boards, one every {a.period * 1e3:.0f} ms; RSS at start {rss_mb():.1f} MB")
        r, cycles, late = run(n, a.period)
        print(f"soak done: {r.counts}; median cycle {statistics.median(cycles):.1f} ms, max {max(cycles):.1f} ms, "
              f"max trigger->start lag {max(late) * 1e3:.1f} ms; RSS at end {rss_mb():.1f} MB")


if __name__ == "__main__":
    main()
