"""Top view speed: registration + every pin + verdicts on one calibrated top image.

    .venv/bin/python bench/bench_top.py [--repeat 30]

Main figure: a 1280x960 RGB image of a 16-pin (4x4, 2.54 mm) board at 14 um/px, as the station
sees it. Reported medians (ms, wall clock and CPU of this process; the machine is shared, so
wall time includes waiting for a core):

* ``decode``: PNG -> array (``vision.io.decode_image``), excluded from the inspection figure;
* ``view``: ``vision.inspect.top.inspect_view`` without the overlay (registration, pins, measurements);
* ``board without overlay``: ``vision.inspect.inspect_board`` with the overlay left out -- registration +
  all pins + fusion + verdicts + result document: the figure the issue budgets (20 ms);
* ``board``: the same with the overlay image drawn (pins outlined and labelled).

Then how the view time grows with the number of pins: 4, 16 and 64 pins (the 64-pin board needs
a larger frame at the same scale; the time per pin is what scales).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vision.inspect import BoardInput, inspect_board  # noqa: E402
from vision.inspect import top as top_view  # noqa: E402
from models.recipe import Recipe  # noqa: E402
from vision.io import decode_image  # noqa: E402
from vision.synth import truth as T  # noqa: E402
from vision.synth.boards import random_board  # noqa: E402
from vision.synth.scene import TopCamera  # noqa: E402
from vision.synth.top import fit_top_camera, render_top  # noqa: E402


def board(rows: int, cols: int, *, frame: tuple[int, int] | None = (1280, 960), seed: int = 100):
    scene = random_board(seed, rows=rows, cols=cols, margin_mm=2.3, rotation_deg=1.0, defect_rate=0.25)
    if frame is None:
        cam = fit_top_camera(scene, mm_per_px=0.014)
    else:
        centre = T.board_to_world(scene, np.array([[scene.size_mm[0] / 2, scene.size_mm[1] / 2]]))[0]
        cam = TopCamera(mm_per_px=0.014, width_px=frame[0], height_px=frame[1], center_mm=tuple(float(c) for c in centre))
    img, rec, _ = render_top(scene, cam, seed=seed)
    return img, rec, Recipe.from_dict(T.recipe_dict(scene))


def timed(fn, repeat: int) -> tuple[float, float]:
    """Median wall and CPU ms of `fn()` over `repeat` runs (after one warm-up)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def without_overlay(fn, *args):
    """Run `fn(*args)` with the top view's overlay drawing left out (it is timed on its own)."""
    saved = top_view._overlay
    top_view._overlay = lambda *a, **k: None
    try:
        return fn(*args)
    finally:
        top_view._overlay = saved


def view_only(inp):
    return without_overlay(top_view.inspect_view, inp)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    cv2.setNumThreads(1)  # one core, as the budget says

    img, rec, recipe = board(4, 4)
    png = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))[1].tobytes()
    inp = BoardInput(serial="BENCH", recipe=recipe, images={"top": img}, calibrations={"top": rec})
    print(f"16-pin board, {img.shape[1]}x{img.shape[0]} RGB, {rec.mm_per_px * 1e3:.0f} um/px, median of {args.repeat}:")
    for name, fn in (("decode (excluded)", lambda: decode_image(png)),
                     ("view: registration + pins + measurements", lambda: view_only(inp)),
                     ("board without overlay: + fusion + verdicts", lambda: without_overlay(inspect_board, inp)),
                     ("board with the overlay image", lambda: inspect_board(inp))):
        w, c = timed(fn, args.repeat)
        print(f"  {name:46s} {w:7.1f} ms wall  {c:7.1f} ms cpu")
    parts = view_only(inp).timings_ms
    print("  view parts (last run, ms): " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items() if k != "overlay"))

    print("scaling (view without overlay):")
    for rows, cols, frame in ((1, 4, (1280, 960)), (4, 4, (1280, 960)), (8, 8, None)):
        img, rec, recipe = board(rows, cols, frame=frame)
        inp = BoardInput(serial="BENCH", recipe=recipe, images={"top": img}, calibrations={"top": rec})
        w, c = timed(lambda: view_only(inp), max(5, args.repeat // 3))
        n = rows * cols
        print(f"  {n:3d} pins ({img.shape[1]}x{img.shape[0]}): {w:7.1f} ms wall {c:7.1f} ms cpu  "
              f"({c / n:.2f} ms cpu per pin)")


if __name__ == "__main__":
    main()
