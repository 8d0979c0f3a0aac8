"""SPC of one measurement over 100 000 stored pins, on SQLite and PostgreSQL (medians), plus the
dashboard's reads (yield, Pareto, alarms) with the same boards stored.

    .venv/bin/python bench/bench_spc.py [--pins 100000] [--pins-per-board 8] [--repeats 7]

Seeds `--pins` / `--pins-per-board` finished inspections (tests.support.spc_seed: rows written and
indexed as a worker writes them) into a fresh SQLite file and a private PostgreSQL schema, then times
`api.service.analytics.spc_report` for tilt_deg over every pin position (limits, rule hits, Cp/Cpk
per pin), one pin's chart, and the yield and Pareto reports. Goal: SPC <= 300 ms on both.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.service.analytics import pareto_report, spc_report, yield_report, list_alarms  # noqa: E402
from api.service.db import make_engine, session_factory  # noqa: E402
from api.service.migrate import upgrade  # noqa: E402
from api.settings import Settings  # noqa: E402
from tests.api.service.support import PG_URL, drop_schema, new_schema, pg_available  # noqa: E402
from tests.support import spc_seed  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()  # warm caches (page cache, prepared plans)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def run(name: str, settings: Settings, boards: int, per_board: int, repeats: int) -> None:
    engine = make_engine(settings)
    upgrade(engine)
    S = session_factory(engine)
    t0 = time.perf_counter()
    spc_seed.seed(S, "BENCH", boards, n_pins=per_board, step_s=10.0)
    seeded = time.perf_counter() - t0
    if engine.dialect.name == "postgresql":  # what autovacuum does after a bulk load: index-only scans need the visibility map
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE pin_values")
            c.exec_driver_sql("VACUUM ANALYZE inspections")
    with S() as s:
        n = len(spc_report(s, "BENCH", "tilt_deg")["pins"])
        pins = sum(p["n"] for p in spc_report(s, "BENCH", "tilt_deg")["pins"])
        res = {
            "spc all pins": timed(lambda: spc_report(s, "BENCH", "tilt_deg"), repeats),
            "spc one pin chart (500 pts)": timed(lambda: spc_report(s, "BENCH", "tilt_deg", pin="P03"), repeats),
            "yield": timed(lambda: yield_report(s, recipe_id="BENCH"), repeats),
            "pareto": timed(lambda: pareto_report(s, recipe_id="BENCH"), repeats),
            "alarms": timed(lambda: list_alarms(s, open_only=True), repeats),
        }
    engine.dispose()
    print(f"{name}: {pins} stored tilt_deg values ({n} pin positions, seeded in {seeded:.1f} s); medians of {repeats}:")
    for k, v in res.items():
        print(f"  {k:<30}{v:8.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pins", type=int, default=100_000)
    ap.add_argument("--pins-per-board", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    # the seeder inspects every 10th board twice: boards chosen so the stored values come to --pins
    boards = round(a.pins / a.pins_per_board / 1.1)
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", Settings(data_dir=Path(tmp)), boards, a.pins_per_board, a.repeats)
    why = pg_available()
    if why:
        print(f"PostgreSQL skipped: {why}")
        return
    schema = new_schema()
    try:
        run("PostgreSQL", Settings(database_url=PG_URL, db_schema=schema), boards, a.pins_per_board, a.repeats)
    finally:
        drop_schema(schema)


if __name__ == "__main__":
    main()
