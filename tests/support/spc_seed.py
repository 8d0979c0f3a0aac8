"""Seed stored inspections for process-control tests, the page test and bench/bench_spc.py: finished
inspections with result documents (one tilt_deg and xy_error_mm per pin), written and indexed exactly
as a worker writes them (`api.service.analytics.index_result`)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import insert

from api.service.analytics_db import PinReasonRow, PinValueRow
from api.service.analytics import result_rows
from api.service.db import InspectionRow, RecipeRow, ReviewRow, new_id


def recipe_body(recipe_id: str, n_pins: int) -> dict:
    """A generated recipe with `n_pins` pins in one row (default limits: tilt ≤ 2 deg, xy ≤ 0.1 mm)."""
    from vision.synth import truth as T
    from vision.synth.boards import random_board

    return T.recipe_dict(random_board(0, rows=1, cols=n_pins), recipe_id=recipe_id, views=["top"])


def series(n: int, *, seed: int = 0, drift_pin: str | None = "P03", drift_from: int = 40, n_pins: int = 8) -> dict[str, np.ndarray]:
    """tilt_deg per pin: N(0.5, 0.1); `drift_pin` trends up by 0.06 deg per board from board `drift_from`."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n_pins):
        pid = f"P{i + 1:02d}"
        x = rng.normal(0.5, 0.1, n)
        if pid == drift_pin and n > drift_from:
            x[drift_from:] += 0.06 * np.arange(1, n - drift_from + 1)
        out[pid] = x
    return out


def quiet(n: int, n_pins: int = 8, level: float = 0.5, step: float = 0.05) -> dict[str, np.ndarray]:
    """A steady pattern per pin that no alarm rule (1, 2, 3) fires on: sides alternate, within 1.2 sigma, no 6-point trend."""
    pattern = level + step * np.resize([-1.0, 1.0, 0.0, -1.6, 1.6, 0.0], n)
    return {f"P{i + 1:02d}": pattern.copy() for i in range(n_pins)}


def seed(Session, recipe_id: str, n_boards: int, *, n_pins: int = 8, start: dt.datetime | None = None, step_s: float = 60.0,
         stations=("line-1", "line-2"), seed_: int = 0, drift_pin: str | None = "P03", drift_from: int = 40,
         with_recipe: bool = True, first_board: int = 0, tilt: dict | None = None, xy: dict | None = None) -> list[str]:
    """Store `n_boards` finished inspections (verdict by tilt against 2.0 deg: FAIL above, REVIEW within 0.1 of it);
    returns their ids. Every 10th board is inspected a second time (a re-test) right after."""
    start = start or dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.timezone.utc)
    tilt = tilt or series(n_boards, seed=seed_, drift_pin=drift_pin, drift_from=drift_from, n_pins=n_pins)
    ids, rows, values, reasons = [], [], [], []
    with Session() as s:
        if with_recipe:
            s.add(RecipeRow(recipe_id=recipe_id, version=1, body=recipe_body(recipe_id, n_pins)))
            s.flush()
        rng = np.random.default_rng(seed_ + 1)
        for b in range(n_boards):
            pins = []
            for pid, x in tilt.items():
                t = float(x[b])
                v = "FAIL" if t > 2.0 else "REVIEW" if t > 1.9 else "PASS"
                pins.append({"id": pid, "verdict": v, "reasons": [] if v == "PASS" else ["tilt"],
                             "measurements": {"tilt_deg": {"value": t, "uncertainty": 0.03, "unit": "deg", "source": "top"},
                                              "xy_error_mm": {"value": float(xy[pid][b]) if xy else float(abs(rng.normal(0.02, 0.005))), "uncertainty": 0.002,
                                                              "unit": "mm", "source": "top"}}})
            verdicts = [p["verdict"] for p in pins]
            bv = "FAIL" if "FAIL" in verdicts else "REVIEW" if "REVIEW" in verdicts else "PASS"
            result = {"board": {"serial": f"S{first_board + b:06d}", "recipe_id": recipe_id, "recipe_version": 1, "verdict": bv,
                                "reasons": sorted({r for p in pins for r in p["reasons"]})}, "pins": pins, "pads": []}
            for retest in ((False, True) if b % 10 == 9 else (False,)):
                at = start + dt.timedelta(seconds=step_s * b + (5 if retest else 0))
                iid = new_id()
                st = stations[b % len(stations)]
                rows.append({"id": iid, "serial": result["board"]["serial"], "kind": "board", "station_id": st, "recipe_id": recipe_id,
                             "recipe_version": 1, "calibrations": {}, "files": {}, "stacks": {}, "status": "done", "verdict": bv,
                             "reasons": result["board"]["reasons"], "result": result, "attempts": 1, "created_at": at,
                             "finished_at": at})
                v, r = result_rows(iid, recipe_id, st, at, result)
                values += v
                reasons += r
                ids.append(iid)
        for i in range(0, len(rows), 2000):
            s.execute(insert(InspectionRow), rows[i:i + 2000])
        for i in range(0, len(values), 20000):
            s.execute(insert(PinValueRow), values[i:i + 20000])
        for i in range(0, len(reasons), 20000):
            s.execute(insert(PinReasonRow), reasons[i:i + 20000])
        s.commit()
    return ids


def review(Session, iid: str, verdict: str, reviewer: str = "erin") -> None:
    with Session() as s:
        s.add(ReviewRow(inspection_id=iid, verdict=verdict, reason="seen under the microscope", reviewer=reviewer))
        s.commit()
