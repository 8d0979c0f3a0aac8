"""Side view speed: both side images (1600 x 560) of an 8-pin row -> board line, matching, every pin's
silhouette measurements and wicking (decoding excluded), on one core. Prints medians.

    .venv/bin/python bench/bench_side.py [--repeat 50]

Also times the whole side view of the pipeline (measurements named, coplanarity, overlays) and the
path-traced rendered-dev rows when the shared data is beside the repository.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from vision.inspect import BoardInput  # noqa: E402
from vision.inspect.side import inspect_view  # noqa: E402
from models.recipe import Recipe  # noqa: E402
from vision.side_view import inspect_side_row  # noqa: E402
from vision.synth import truth as T  # noqa: E402
from vision.synth.side import fit_side_camera, render_side, stress_row  # noqa: E402


def median_ms(fn, repeat: int) -> str:
    """Median wall time and median CPU time of this process (the machine may be shared: CPU time is what
    one core spends; wall time includes waiting for it)."""
    fn()  # warm-up (LUTs, imports)
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    return f"{statistics.median(wall):.1f} ms wall / {statistics.median(cpu):.1f} ms cpu"


def row_args(recipe: Recipe):
    pins = sorted(recipe.pins, key=lambda p: p.xy_mm[0])
    return dict(nominal_x_mm=[p.xy_mm[0] for p in pins], pad_top_mm=recipe.pad_top_z_mm,
                pad_radius_mm=recipe.pad_diameter_mm / 2, fiducials=[(f.xy_mm[0], f.diameter_mm / 2) for f in recipe.fiducials])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    a = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)

    print(f"side view, medians of {a.repeat} runs, one core")
    for pin_type, pitch in (("A", 1.9), ("B", 1.9)):
        scene = stress_row(1, cols=8, pin_type=pin_type, pitch_mm=pitch)
        cam = fit_side_camera(scene, width_px=1600)
        back, front, rec, _ = render_side(scene, cam, seed=1)
        recipe = Recipe.from_dict(T.recipe_dict(scene, views=["side_front", "side_back"]))
        g = recipe.pin_type.geometry
        kw = row_args(recipe)
        t_row = median_ms(lambda: inspect_side_row(back, front, rec, g, **kw), a.repeat)
        inp = BoardInput(serial="bench", recipe=recipe, images={"side_back": back, "side_front": front}, calibrations={"side": rec})
        t_view = median_ms(lambda: inspect_view(inp), max(a.repeat // 2, 5))
        print(f"  generated 8-pin row, pin {pin_type}, {back.shape[1]}x{back.shape[0]}: "
              f"vision (line + pins + wicking) {t_row}; pipeline side view incl. overlays {t_view}")

    data = (ROOT / ".." / "shared" / "data" / "rendered-dev").resolve()
    if data.is_dir():
        sys.path.insert(0, str(ROOT / "tests"))
        from tests.support import rendered as RD
        from vision.io import read_image

        for sc in ("d01_row7_p254_green", "d02_row6_p200_black"):
            t = RD.load_truth(data.parent, sc)
            d = RD.scene_dir(data.parent, sc)
            recipe = RD.recipe(t, views=["side_front", "side_back"])
            back, front = read_image(d / "side_back.png"), read_image(d / "side_front.png")
            rec = RD.side_record(t)
            kw = row_args(recipe)
            g = recipe.pin_type.geometry
            t_row = median_ms(lambda: inspect_side_row(back, front, rec, g, **kw), a.repeat)
            print(f"  rendered-dev {sc} ({len(recipe.pins)} pins): vision {t_row}")


if __name__ == "__main__":
    main()
