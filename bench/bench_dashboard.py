"""The dashboard's first paint with 10 000 boards stored: `pogoscope serve` on a SQLite data dir seeded
with `--boards` finished inspections (tests.support.spc_seed), Debian chromium (playwright) opening
/ui/ with a key, time from navigation start until the dashboard's cards and Pareto are drawn (medians).

    .venv/bin/python bench/bench_dashboard.py [--boards 10000] [--repeats 5]

Goal: <= 1 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.service.db import make_engine, session_factory  # noqa: E402
from api.settings import Settings  # noqa: E402
from tests.api.service.support import Server  # noqa: E402
from tests.support import spc_seed  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boards", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    if not shutil.which(CHROMIUM):
        print(f"skipped: {CHROMIUM} is not installed")
        return
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        srv = Server({"POGOSCOPE_DATA_DIR": str(data), "POGOSCOPE_WORKERS": "0", "POGOSCOPE_WORKER_MODE": "thread"}).start()
        try:
            engine = make_engine(Settings(data_dir=data))
            spc_seed.seed(session_factory(engine), "BENCH", round(a.boards / 1.1), step_s=30.0)  # + every 10th re-tested
            engine.dispose()
            with srv.client() as admin:
                key = admin.post("/v1/keys", json={"name": "bench", "role": "engineer"}).json()["key"]
            times = []
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
                for _ in range(a.repeats + 1):
                    ctx = b.new_context(viewport={"width": 1600, "height": 1000})
                    page = ctx.new_page()
                    page.add_init_script(f"localStorage.setItem('pogoscope.key', {key!r}); localStorage.setItem('pogoscope.recipe', 'BENCH');")
                    page.goto(f"{srv.url}/ui/#/dashboard")
                    page.wait_for_selector("svg.heat")
                    times.append(page.evaluate("performance.now()"))
                    ctx.close()
                b.close()
            print(f"dashboard first paint with {a.boards} boards (recipe chosen: yield, Pareto, board map, alarms): "
                  f"median {statistics.median(times[1:]):.0f} ms of {a.repeats} (first, cold: {times[0]:.0f} ms)")
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
