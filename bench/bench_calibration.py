"""Calibration and loading speed (issue 3), medians on one core.

    .venv/bin/python bench/bench_calibration.py [--repeat 5]

* calibrating a pinhole camera from the 13 left views of shared/data/opencv-chessboard-9x6
  (detection + subpixel + calibrateCamera), goal: median <= 2 s on one core;
* the telecentric TOP_A camera from its rendered lattice target;
* loading a recipe (YAML, validated) and a calibration record (JSON, validated), goal: <= 20 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

cv2.setNumThreads(1)  # "on one core"

from calibration.calibrate import calibrate  # noqa: E402
from calibration.record import CalibrationRecord  # noqa: E402
from models.recipe import Recipe  # noqa: E402
from vision.io import read_image  # noqa: E402

DATA = (ROOT / ".." / "shared" / "data").resolve()


def median_s(fn, repeat: int) -> tuple[float, object]:
    ts, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass

    chess = sorted((DATA / "opencv-chessboard-9x6").glob("left*.jpg"))
    imgs = {p.name: read_image(p) for p in chess}
    t, rec = median_s(lambda: calibrate(imgs, model="pinhole", target="chessboard", inner_corners=(9, 6), square_mm=25.0,
                                         camera_id="left"), a.repeat)
    print(f"pinhole calibration, {len(imgs)} chessboard views: median {t:.3f} s (goal <= 2 s); RMS {rec.rms_px:.4f} px")

    top = read_image(DATA / "rendered-dev" / "_calibration" / "TOP_A" / "checkerboard.png")
    t, rec_t = median_s(lambda: calibrate({"TOP_A": top}, model="telecentric", target="lattice", inner_corners=None,
                                           square_mm=0.5, camera_id="TOP_A"), a.repeat)
    print(f"telecentric lattice calibration, TOP_A 1280x960: median {t:.3f} s; mm/px {rec_t.mm_per_px:.6f}")

    with tempfile.TemporaryDirectory() as d:
        rp, cp = Path(d) / "recipe.yaml", Path(d) / "cal.json"
        Recipe.from_dict({"recipe_id": "bench", "board": {"id": "b", "size_mm": [40, 30, 1.6]}, "pin_type": {
            "flange_diameter_mm": 1.4, "flange_thickness_mm": 0.3, "barrel_diameter_mm": 1.0, "barrel_length_mm": 2.0,
            "plunger_diameter_mm": 0.56, "plunger_protrusion_mm": 1.0, "tip_dome_radius_mm": 0.35,
            "tip_height_nominal_mm": 3.32}, "pin_grid": {"rows": 8, "cols": 12, "pitch_mm": 2.54, "origin_mm": [4, 4]},
            "fiducials": [{"xy_mm": [1.2, 1.2], "diameter_mm": 1.0}, {"xy_mm": [38.8, 28.8], "diameter_mm": 1.0}]}).to_yaml(rp)
        rec_t.save(cp)
        t, _ = median_s(lambda: (Recipe.from_yaml(rp), CalibrationRecord.load(cp)), max(a.repeat, 50))
        print(f"load a 96-pin recipe + a calibration record: median {t * 1e3:.2f} ms (goal <= 20 ms)")


if __name__ == "__main__":
    main()
