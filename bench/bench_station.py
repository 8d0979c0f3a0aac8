"""Station cycle with the replay source (trigger -> result persisted and published), and the soak.

    .venv/bin/python bench/bench_station.py [--boards 60] [--minutes 5] [--period 0.25]

The board is a 1280x960 image with a 16-pin (4x4) recipe. Inspection is the real
`api.pipeline.inspect_board`; if the top view is not in this build the board is recorded
as not inspected (the cycle then measures the station alone, and says so).
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

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from api.station.config import parse_config  # noqa: E402
from api.station.recorder import Recorder  # noqa: E402
from api.station.runner import StationRunner  # noqa: E402
from vision.acquisition.base import Frame  # noqa: E402

RECIPE = {"recipe_id": "bench16", "board": {"id": "b", "size_mm": [25.6, 19.2, 1.6]}, "pin_type": {
    "flange_diameter_mm": 1.4, "flange_thickness_mm": 0.3, "barrel_diameter_mm": 1.0, "barrel_length_mm": 2.0,
    "plunger_diameter_mm": 0.56, "plunger_protrusion_mm": 1.0, "tip_dome_radius_mm": 0.35, "tip_height_nominal_mm": 3.32},
    "pin_grid": {"rows": 4, "cols": 4, "pitch_mm": 2.54, "origin_mm": [8.0, 5.0]}}


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
    (tmp / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    rng = np.random.default_rng(0)
    rec = Recorder(tmp / "replay")
    for i in range(4):
        img = rng.integers(20, 80, (960, 1280, 3)).astype(np.uint8)
        rec.save(f"B{i}", {"top": Frame(img, "RGB8", time.time(), i, "bench")}, recipe=tmp / "recipe.yaml")

    def run(n, period):
        cfg = parse_config({"station_id": "bench", "cameras": {"c": {"kind": "replay", "root": str(tmp / "replay"), "loop": True}},
                            "views": {"top": {"camera": "c"}}, "recipe": str(tmp / "recipe.yaml"),
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

    r, cycles, _ = run(a.boards, 0.001)
    last = r.outbox.records(limit=1)[0]
    print(f"station cycle (replay 1280x960, 16 pins, trigger -> persisted + published): median {statistics.median(cycles):.1f} ms, "
          f"p90 {np.percentile(cycles, 90):.1f} ms over {len(cycles)} boards; status of a board: {last['status']}"
          + (f" ({last['reason']})" if last.get("reason") else ""))
    if a.minutes > 0:
        n = int(a.minutes * 60 / a.period)
        print(f"soak: {n} boards, one every {a.period * 1e3:.0f} ms; RSS at start {rss_mb():.1f} MB")
        r, cycles, late = run(n, a.period)
        print(f"soak done: {r.counts}; median cycle {statistics.median(cycles):.1f} ms, max {max(cycles):.1f} ms, "
              f"max trigger->start lag {max(late) * 1e3:.1f} ms; RSS at end {rss_mb():.1f} MB")


if __name__ == "__main__":
    main()
