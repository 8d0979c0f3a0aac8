"""The product on every rendered-dev board, run as a user would, against exact truth (issue #14's figures).

`../shared/tools/score.py` calibrates each camera from its target image (`pogoscope calibrate --target lattice`),
writes the recipe of the board as designed and runs `pogoscope inspect`; its report holds per item the verdict
and the reasons and per measurement the errors against truth and whether truth lies inside value ± 2u. One
session run (about 1.5 min on two cores), then one test per property.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

#: measurement -> (bound on the error: issue #14, the truth's acceptance spec resolution)
BOUNDS = {
    "tilt_deg": 0.3,
    "xy_error_mm": 0.005,
    "tip_height_mm": 0.008,
    "seating_gap_mm": 0.010,
    "wicking_above_flange_mm": 0.050,
    "flatness_pv_um": 4.0,
    "oxidation_area_fraction": 0.01,
}


@pytest.fixture(scope="session")
def score_report(shared_data, tmp_path_factory) -> dict:
    tool = shared_data.parent / "tools" / "score.py"
    if not tool.is_file():
        pytest.skip(f"{tool} not found (CI has shared/ beside the checkout)")
    work = tmp_path_factory.mktemp("score")
    report = work / "report.json"
    pogoscope = Path(sys.executable).parent / "pogoscope"
    r = subprocess.run([sys.executable, str(tool), "--project", str(REPO_ROOT), "--data", str(shared_data / "rendered-dev"),
                        "--work", str(work / "boards"), "--report", str(report), "--pogoscope", str(pogoscope)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(report.read_text())
    doc["stdout"] = r.stdout
    return doc


def _errors(report: dict, name: str) -> np.ndarray:
    return np.array([e for s in report["scenes"].values() for e in s.get("errors", {}).get(name, {}).get("abs_err", [])])


def test_no_board_is_aborted(score_report):
    bad = {k: v["error"] for k, v in score_report["scenes"].items() if "error" in v}
    assert not bad, bad


def test_no_escapes(score_report):
    esc = [(s, r["id"], r["expected"]) for s, v in score_report["scenes"].items() for r in v.get("rows", []) if r["escape"]]
    assert not esc, esc


def test_false_fail_at_most_one_percent_of_good_items(score_report):
    t = score_report["totals"]
    assert t["false_fail"] <= 0.01 * t["good"], t


@pytest.mark.xfail(strict=True, reason="not yet: 16 of 160 good items (10 %) go to REVIEW -- top-view suspicions on "
                                        "sub-threshold wicking and gaps the top view cannot size (no good pad any more)")
def test_good_items_sent_to_review_at_most_three_percent(score_report):
    t = score_report["totals"]
    assert t["good_review"] <= 0.03 * t["good"], t


#: measured this session on rendered-dev (p95 / worst): not yet within the issue's bounds
NOT_YET = {
    "xy_error_mm": "p95 5.8 um, worst 13 um: pin-stack positions (top view: worst 7.9 um)",
    "tip_height_mm": "p95 17 um, worst 26 um: type-B domes in pin stacks (inside +-2u)",
    "flatness_pv_um": "p95 8.4 um, worst 11.6 um: the three dented pads (only a dent's flanks focus; inside +-2u); "
                      "flat and warped pads within 3 um from the focus of their outline",
    "oxidation_area_fraction": "p95 0.019, worst 0.026: large oxide patches on 1.25 x 0.94 mm pads read 0.016-0.026 "
                               "high (their half-cover outline at 10 um/px); on 171 rendered pads 153 within 0.01",
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=f"not yet: {NOT_YET[n]}"))
                                  if n in NOT_YET else n for n in sorted(BOUNDS)])
def test_error_p95_within_bound_and_worst_within_twice(score_report, name):
    e = _errors(score_report, name)
    assert len(e), f"no {name} measured"
    p95, worst = float(np.percentile(e, 95)), float(e.max())
    assert p95 <= BOUNDS[name] and worst <= 2 * BOUNDS[name], (name, p95, worst, BOUNDS[name])


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_ninety_percent_of_true_values_inside_two_u(score_report, name):
    m = score_report["measurements"][name]
    assert m["within_2u"] >= 0.9 * m["n"], (name, m)
