"""The top view against the path-traced boards of rendered-dev (exact truth.json).

Bounds (issue 4): the generator's bounds relaxed at most twofold where the optics explain it.

* base (flange-bottom) centre: the generator's 0.1 px RMS / 0.25 px worst (measured 0.06-0.08 / 0.15).
* tip: relaxed to 0.2 px RMS / 0.5 px worst (measured 0.15-0.19 / 0.33) -- the tip is extrapolated
  along the axis through the flange rim and the dome highlight, which the finite (not collimated)
  coaxial source moves by up to 1 px; the record says where the source is and the view corrects
  for it, the residual of that correction (extended source, ring-light glints) remains.
* xy_error: 5 um with fiducials (d03); d01 and d02 have no fiducial in view, so they are
  registered on their own pins and a pin's error is measured against the pattern's best fit,
  which absorbs the good pins' own 0-20 um offsets: 30 um there.
* tilt: 0.15 deg (d03, d01), azimuth within 10 deg for tilts above 1.5 deg.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vision.inspect import BoardInput, inspect_board
from tests.support import rendered as RD
from vision.io import read_image

TOP_VISIBLE = {"tilt", "xy_position", "missing", "solder_wicking", "solder_in_plunger_gap"}


@pytest.fixture(scope="module")
def inspected(shared_data):
    out = {}
    for sid in RD.SCENES_WITH_TOP:
        truth = RD.load_truth(shared_data, sid)
        recipe = RD.recipe(truth, views=["top"])
        img = read_image(RD.top_image_path(shared_data, sid))
        ins = inspect_board(BoardInput(serial=sid, recipe=recipe, images={"top": img},
                                       calibrations={"top": RD.top_record_with_light(truth)}))
        out[sid] = (truth, ins)
    return out


def _pairs(truth, ins):
    """(truth pin, result pin) for present pins."""
    by_id = {p.id: p for p in ins.result.pins}
    return [(tp, by_id[tp["id"]]) for tp in truth["pins"] if tp["present"]]


@pytest.mark.parametrize("sid", RD.SCENES_WITH_TOP)
def test_expected_flags_are_caught_and_good_pins_do_not_fail(inspected, sid):
    truth, ins = inspected[sid]
    expected = truth["expected_defective_items"]
    for pr in ins.result.pins:
        flags = set(expected.get(pr.id, []))
        if flags & TOP_VISIBLE:
            assert pr.verdict.value in ("FAIL", "REVIEW"), (pr.id, flags, pr.verdict, pr.reasons)
        if not flags:  # good, marginal and wick_low pins
            assert pr.verdict.value != "FAIL", (pr.id, pr.reasons)
    # the measurable top-view defects are outright FAILs, with their own reason
    for pid, flags in expected.items():
        pr = next(p for p in ins.result.pins if p.id == pid)
        for f in set(flags) & {"tilt", "xy_position", "missing", "solder_in_plunger_gap"}:
            assert f in pr.reasons and pr.verdict.value == "FAIL", (pid, f, pr.reasons)


@pytest.mark.parametrize("sid", RD.SCENES_WITH_TOP)
def test_base_and_tip_pixels_against_truth(inspected, sid):
    truth, ins = inspected[sid]
    pim = truth["views"]["top"]["pins_in_image"]
    eb, et = [], []
    for tp, pr in _pairs(truth, ins):
        eb.append(math.dist(pr.image_px["top.base"], pim[tp["id"]]["base_center_px"]))
        et.append(math.dist(pr.image_px["top.tip"], pim[tp["id"]]["tip_px"]))
    eb, et = np.array(eb), np.array(et)
    print(f"{sid}: base RMS {np.sqrt(np.mean(eb**2)):.3f} max {eb.max():.3f} px; tip RMS {np.sqrt(np.mean(et**2)):.3f} max {et.max():.3f} px")
    assert np.sqrt(np.mean(eb**2)) < 0.1 and eb.max() < 0.25
    assert np.sqrt(np.mean(et**2)) < 0.2 and et.max() < 0.5


@pytest.mark.parametrize("sid", RD.SCENES_WITH_TOP)
def test_xy_error_and_tilt_against_truth(inspected, sid):
    truth, ins = inspected[sid]
    on_fiducials = ins.views["top"].registration["method"] == "fiducials"
    xy_bound = 0.005 if on_fiducials else 0.030
    for tp, pr in _pairs(truth, ins):
        m = pr.measurements
        assert abs(m["xy_error_mm"].value - tp["xy_error_mm"]) < xy_bound, (tp["id"], m["xy_error_mm"], tp["xy_error_mm"])
        assert abs(m["tilt_deg"].value - tp["tilt_deg"]) < 0.15, (tp["id"], m["tilt_deg"], tp["tilt_deg"])
        if tp["tilt_deg"] > 1.5:
            d = (m["tilt_azimuth_deg"].value - tp["tilt_azimuth_deg"] + 180) % 360 - 180
            assert abs(d) < 10, (tp["id"], m["tilt_azimuth_deg"], tp["tilt_azimuth_deg"])
        # the fusion quantities agree with the truth's axis (nominal axial length assumed)
        L = ins.views["top"].registration["assumed_axial_length_mm"]
        assert abs(m["lean_x_mm"].value - L * tp["axis_dir"][0]) < 0.01
        assert abs(m["tilt_xz_deg"].value - math.degrees(math.atan2(tp["axis_dir"][0], tp["axis_dir"][2]))) < 0.15


def test_registration_matches_the_board_placement(inspected):
    for sid, (truth, ins) in inspected.items():
        reg = ins.views["top"].registration
        M = RD.board_to_world(truth)
        rot = math.degrees(math.atan2(M[1, 0], M[0, 0]))
        if reg["method"] in ("fiducials", "pads"):  # the pads are etched with the board: as good as fiducials
            assert abs(reg["rotation_deg"] - rot) < 0.02 and np.allclose(reg["translation_mm"], M[:2, 2], atol=0.005), (sid, reg)
            assert abs(reg["rotation_deg"] - rot) < 2 * reg["u_rotation_deg"] + 0.002, (sid, reg)
        else:
            # on pins, the good pins' own offsets (up to 20 um) limit it; the stated uncertainty says so
            assert abs(reg["rotation_deg"] - rot) < 2 * reg["u_rotation_deg"], (sid, reg)
            assert np.allclose(reg["translation_mm"], M[:2, 2], atol=0.03), (sid, reg)
    # d03 has both fiducials in view; d01/d02 are wider than the field of view: registered on the pins, then
    # on the pads found under them
    assert inspected["d03_grid3x4_p254_green"][1].views["top"].registration["method"] == "fiducials"
    assert inspected["d01_row7_p254_green"][1].views["top"].registration["method"] == "pads"


def test_overlay_is_an_rgb_image_of_the_frame(inspected):
    truth, ins = inspected["d03_grid3x4_p254_green"]
    ov = ins.overlays["top"]
    assert ov.dtype == np.uint8 and ov.shape == (960, 1280, 3)
    # the tilted pin P01 (FAIL) is outlined in red somewhere near its base
    u, v = (int(round(x)) for x in next(p for p in ins.result.pins if p.id == "P01").image_px["top.base"])
    patch = ov[v - 60:v + 60, u - 60:u + 60].reshape(-1, 3).astype(int)
    assert np.any((patch[:, 0] > 200) & (patch[:, 1] < 60) & (patch[:, 2] < 60))
