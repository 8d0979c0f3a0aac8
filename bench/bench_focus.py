"""Benchmark: depth from focus (height map + all-in-focus), medians.

    .venv/bin/python bench/bench_focus.py [--repeat N]

1. a generated 20-slice 480x360 stack, one core (cv2.setNumThreads(1)); target <= 60 ms;
2. the 10 slices of 2048x1536 in focus-stack-pcb/depthmap, ECC-aligned, two cores; target <= 2 s
   (the C++ focus-stack tool: ~0.14 s per megapixel on two threads, ~4.4 s for this stack);
3. how time grows with slices and megapixels, and peak memory (numpy allocations by tracemalloc,
   process max RSS).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision.align import align_stack  # noqa: E402
from vision.focus import depth_from_focus  # noqa: E402
from vision.synth import render as R  # noqa: E402
from vision.synth.stack import MicroCamera, render_focus_stack  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def synthetic(n: int, w: int, h: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cam = MicroCamera(width_px=w, height_px=h)
    v, u = np.mgrid[0:h, 0:w].astype(float)
    z = np.round(np.arange(n) * 0.05, 6)
    surf = z[-1] / 2 + 0.3 * z[-1] * np.sin(u / 60.0) * np.cos(v / 45.0)
    alb = np.clip(0.5 * (1 + 0.35 * R.smooth_noise((h, w), rng, sigma_px=1.2)), 0.02, 1).astype(np.float32)
    return render_focus_stack(surf, alb, z, cam, seed=seed), z


CPU: list[float] = []  # CPU-time medians of the last median_ms call (the machine is shared: wall time is noisy)


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (imports, caches)
    ts, cs = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
        cs.append((time.process_time() - c0) * 1e3)
    CPU[:] = [statistics.median(cs)]
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()

    cv2.setNumThreads(1)
    imgs, z = synthetic(20, 480, 360)
    kw = dict(window_px=9, presmooth_px=1.0, min_contrast=3.0)
    t3 = median_ms(lambda: depth_from_focus(imgs, z, fit_points=3, threads=1, **kw), args.repeat)
    c3 = CPU[0]
    t7 = median_ms(lambda: depth_from_focus(imgs, z, fit_points=7, threads=1, **kw), args.repeat)
    print(f"20 x 480x360 (1 core): height map + all-in-focus  median {t3:.1f} ms wall / {c3:.1f} ms CPU (3-point fit), "
          f"{t7:.1f} ms wall / {CPU[0]:.1f} ms CPU (7-point)  [target <= 60 ms]")

    print("scaling (1 core, 3-point fit):")
    for n, w, h in ((10, 480, 360), (20, 480, 360), (40, 480, 360), (20, 960, 720), (20, 1920, 1440)):
        st, zz = synthetic(n, w, h)
        t = median_ms(lambda: depth_from_focus(st, zz, fit_points=3, threads=1, **kw), max(3, args.repeat // 3))
        mp = n * w * h / 1e6
        print(f"  {n:3d} slices x {w}x{h}: {t:8.1f} ms wall, {CPU[0]:8.1f} ms CPU = {CPU[0] / mp:6.1f} ms CPU per slice-megapixel")

    files = sorted((DATA / "focus-stack-pcb" / "depthmap").glob("pcb_*.JPG"))
    if not files:
        print("focus-stack-pcb/depthmap not found; skipping the large stack")
        return
    from vision.io import read_image

    big = [read_image(f) for f in files]
    zb = np.arange(len(big), dtype=float)
    cv2.setNumThreads(2)

    def run_big():
        al, _ = align_stack(big, method="ecc")
        return depth_from_focus(np.stack(al), zb, window_px=15, presmooth_px=1.0, min_contrast=1.5)

    reps = max(3, args.repeat // 3)
    ta = median_ms(lambda: align_stack(big, method="ecc"), reps)
    al, _ = align_stack(big, method="ecc")
    al = np.stack(al)
    td = median_ms(lambda: depth_from_focus(al, zb, window_px=15, presmooth_px=1.0, min_contrast=1.5), reps)
    tb = median_ms(run_big, reps)
    mp = len(big) * big[0].shape[0] * big[0].shape[1] / 1e6
    print(f"10 x 2048x1536 colour, aligned (2 cores): align {ta:.0f} ms + depth {td:.0f} ms; end to end median {tb:.0f} ms wall, "
          f"{CPU[0]:.0f} ms CPU = {tb / 1e3 / mp:.3f} s per slice-megapixel [target <= 2000 ms; focus-stack ~0.14 s/MP, ~4400 ms]")
    tracemalloc.start()
    run_big()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak numpy memory during the large run {peak / 2**20:.0f} MiB (frames alone {sum(b.nbytes for b in big) / 2**20:.0f} MiB); process max RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
