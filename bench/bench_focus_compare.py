"""Benchmark: `pogoscope focus` side by side with the C++ focus-stack tool, wall-time medians.

    .venv/bin/python bench/bench_focus_compare.py [--repeat N] [--focus-stack PATH] [--threads 2]

The 10 frames of 2048x1536 in shared/data/focus-stack-pcb/depthmap, as a user runs each tool:

* ``pogoscope focus MANIFEST --out hm.png`` with a manifest that says ``# align: ecc`` (height map,
  hatched unmeasured areas, all-in-focus picture by the pyramid merge), a fresh process per run;
* ``focus-stack --threads=2 --depthmap=depth.png --output=aif.jpg FRAMES`` (all-in-focus and a
  depth map) when a ``focus-stack`` binary is on the PATH (or given); otherwise one line says the
  comparison is skipped (CI). Build it from https://github.com/PetteriAimonen/focus-stack
  (``make``, needs libopencv-dev); never commit it.

Runs alternate between the tools so a load change on the shared machine hits both; each run's CPU
time and peak RSS come from its own process (wait4). Goal: pogoscope's median wall time <= 0.6 x
focus-stack's with a depth map. The load average is printed before and after: on a loaded machine
the figures are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POGOSCOPE_SHARED_DATA") or REPO.parent / "shared" / "data")


def run(cmd: list[str], cwd: Path) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {err.strip()[:300]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def summary(name: str, rs: list[tuple[float, float, float]]) -> float:
    w = statistics.median(r[0] for r in rs)
    print(f"{name:<44} wall median {w:6.2f} s  (runs {', '.join(f'{r[0]:.2f}' for r in rs)})  "
          f"CPU {statistics.median(r[1] for r in rs):6.2f} s  peak RSS {max(r[2] for r in rs):5.0f} MiB", flush=True)
    return w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3, help="runs of each tool (median)")
    ap.add_argument("--focus-stack", default=None, help="focus-stack binary (default: the one on the PATH)")
    ap.add_argument("--threads", type=int, default=2, help="focus-stack --threads")
    args = ap.parse_args()
    frames = sorted((DATA / "focus-stack-pcb" / "depthmap").glob("pcb_*.JPG"))
    if len(frames) != 10:
        raise SystemExit(f"expected the 10 frames of focus-stack-pcb/depthmap under {DATA}; set POGOSCOPE_SHARED_DATA")
    fs = args.focus_stack or shutil.which("focus-stack")
    exe = Path(sys.executable).with_name("pogoscope")
    pogo = [str(exe)] if exe.exists() else [sys.executable, "-m", "api.cli"]
    print(f"load average before: {load()}; {os.cpu_count()} CPUs; {len(frames)} frames 2048x1536", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-focus-") as tmp:
        t = Path(tmp)
        # no z step is documented: frame index is the depth unit (it increases towards the camera)
        (t / "manifest.csv").write_text("# align: ecc\nfile,z_mm\n" + "".join(f"{f},{i * 0.01:.2f}\n" for i, f in enumerate(frames)))
        pogo_cmd = [*pogo, "focus", str(t / "manifest.csv"), "--out", str(t / "hm.png")]
        fs_cmd = None if fs is None else [fs, f"--threads={args.threads}", f"--depthmap={t / 'fs_depth.png'}", f"--output={t / 'fs_aif.jpg'}",
                                          *map(str, frames)]
        res: dict[str, list] = {"pogo": [], "fs": []}
        run(pogo_cmd, t)  # warm-up: page cache, .pyc
        for _ in range(args.repeat):
            res["pogo"].append(run(pogo_cmd, t))
            if fs_cmd:
                res["fs"].append(run(fs_cmd, t))
        wp = summary("pogoscope focus (manifest: align ecc)", res["pogo"])
        if not fs_cmd:
            print("focus-stack not on the PATH: comparison skipped (build it from github.com/PetteriAimonen/focus-stack, or --focus-stack PATH)")
        else:
            wf = summary(f"focus-stack --threads={args.threads} with a depth map", res["fs"])
            print(f"ratio pogoscope / focus-stack: {wp / wf:.2f} (goal <= 0.6)")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
