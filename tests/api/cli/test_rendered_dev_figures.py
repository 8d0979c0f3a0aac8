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


@pytest.mark.xfail(strict=True, reason="not yet: 13 of 160 good items (8 %) go to REVIEW, all of them top-only "
                                        "twins (TOP_ONLY_TWINS below) whose top image equals a defective pin's")
def test_good_items_sent_to_review_at_most_three_percent(score_report):
    t = score_report["totals"]
    assert t["good_review"] <= 0.03 * t["good"], t


#: good pins whose top image is the same as a defective pin's (the renderer's own geometry, `render.py`):
#: a sub-threshold wick (`wick_low`, 0.16-0.25 mm above the flange) coats the flange top exactly as a
#: rejected one (0.65-1.6 mm) does, the rest of it runs down the barrel wall a telecentric top camera sees
#: edge-on; a flange hovering 0.02-0.03 mm (`marginal`) sits on the same flat solder film, without a
#: fillet, as one hovering 0.09-0.24 mm (`raised`). From the top alone either call is a guess: REVIEW,
#: not PASS (that would let the defective twin escape), until a side view or a stack measures the height.
TOP_ONLY_TWINS = {"wick_low": "solder_wicking", "marginal": "not_seated"}


def _top_only_twins(shared_data, report) -> set[tuple[str, str]]:
    out = set()
    for sid in report["scenes"]:
        truth = json.loads((shared_data / "rendered-dev" / sid / "truth.json").read_text())
        if set(truth["views"]) != {"top"}:
            continue
        out |= {(sid, p["id"]) for p in truth.get("pins", []) if set(p.get("defects") or []) & set(TOP_ONLY_TWINS)}
    return out


def test_good_items_sent_to_review_that_a_view_can_tell_from_a_defect_at_most_three_percent(score_report, shared_data):
    """Every good item except the top-only twins above: at most 3 % REVIEW; the twins REVIEW for the twin's reason only."""
    twins = _top_only_twins(shared_data, score_report)
    rows = [(s, r) for s, v in score_report["scenes"].items() for r in v.get("rows", []) if not r["expected"]]
    others = [(s, r["id"], r["reasons"]) for s, r in rows if (s, r["id"]) not in twins and r["good_review"]]
    n_others = sum((s, r["id"]) not in twins for s, r in rows)
    assert len(others) <= 0.03 * n_others, others
    truth = {(s, p["id"]): p for s in score_report["scenes"]
             for p in json.loads((shared_data / "rendered-dev" / s / "truth.json").read_text()).get("pins", [])}
    for s, r in rows:
        if (s, r["id"]) in twins and r["verdict"] != "PASS":
            allowed = {TOP_ONLY_TWINS[d] for d in truth[(s, r["id"])]["defects"] if d in TOP_ONLY_TWINS}
            assert r["verdict"] == "REVIEW" and set(r["reasons"]) <= allowed, (s, r)


#: measured this session on rendered-dev: not yet within the issue's bounds (p95 <= bound; worst <= twice it)
NOT_YET_P95 = {
    "tip_height_mm": "p95 12 um: type-B domes in pin stacks, each rim curve's own noise 7-20 um (inside +-2u)",
}
NOT_YET_WORST = {
    "tip_height_mm": "worst 17 um: type-B domes in pin stacks",
    "oxidation_area_fraction": "worst 0.023: a large oxide patch; the truth leaves out its mottle's floor (exactly "
                               "half cover, 3-5 % of such a pad), which the lens blends with the darker patch around it",
}


def _not_yet(table: dict[str, str]) -> list:
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=f"not yet: {table[n]}")) if n in table else n
            for n in sorted(BOUNDS)]


@pytest.mark.parametrize("name", _not_yet(NOT_YET_P95))
def test_error_p95_within_bound(score_report, name):
    e = _errors(score_report, name)
    assert len(e), f"no {name} measured"
    assert float(np.percentile(e, 95)) <= BOUNDS[name], (name, float(np.percentile(e, 95)), BOUNDS[name])


@pytest.mark.parametrize("name", _not_yet(NOT_YET_WORST))
def test_worst_error_within_twice_the_bound(score_report, name):
    e = _errors(score_report, name)
    assert len(e), f"no {name} measured"
    assert float(e.max()) <= 2 * BOUNDS[name], (name, float(e.max()), BOUNDS[name])


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_ninety_percent_of_true_values_inside_two_u(score_report, name):
    m = score_report["measurements"][name]
    assert m["within_2u"] >= 0.9 * m["n"], (name, m)
