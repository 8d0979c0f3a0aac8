"""Fusion of the top and side views: hand-built views with exact numbers, then generated rows with truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vision.inspect import BoardInput
from vision.inspect.base import ItemView, ViewOutput
from vision.inspect.fusion import fuse
from vision.inspect.side import inspect_view
from models.decision import Verdict
from models.measurement import Cue, Measurement
from models.recipe import Recipe
from models.rules import evaluate_pin
from vision.synth import truth as T

PIN_A = {"name": "A", "flange_diameter_mm": 1.4, "flange_thickness_mm": 0.3, "barrel_diameter_mm": 1.0,
         "barrel_length_mm": 2.0, "plunger_diameter_mm": 0.56, "plunger_protrusion_mm": 1.0, "tip_dome_radius_mm": 0.35,
         "tip_height_nominal_mm": 3.32}


def recipe(**kw) -> Recipe:
    d = {"recipe_id": "fusion-test", "board": {"id": "B", "size_mm": [10.0, 5.0, 1.6]}, "pin_type": PIN_A,
         "pad_top_z_mm": 0.02, "pins": [{"id": "P01", "xy_mm": [2.0, 2.5]}, {"id": "P02", "xy_mm": [4.54, 2.5]}],
         "views": ["top", "side_front", "side_back"],
         "required_checks": ["missing", "tilt", "tip_height", "not_seated", "view_disagreement"]}
    d.update(kw)
    return Recipe.from_dict(d)


def m(v, u, unit="mm", src="top"):
    return Measurement.of(v, u, unit, source=src)


def present(src):
    return {"missing": Cue(present=False, kind="measured", confidence=0.9, source=src)}


def top_view(lx, ly, *, u=0.005, axial=None, txz=None) -> ViewOutput:
    iv = ItemView(measurements={"lean_x_mm": m(lx, u), "lean_y_mm": m(ly, u), "xy_error_mm": m(0.01, 0.003),
                                "tilt_deg": m(9.9, 0.1, "deg")}, cues=present("top"))
    if txz is not None:
        iv.measurements["tilt_xz_deg"] = m(txz, 0.1, "deg")
    return ViewOutput(view="top", pins={"P01": iv}, registration={"assumed_axial_length_mm": axial} if axial else {})


def side_view(tip, txz, *, gap=0.0, dip=0.0, u_txz=0.02, wick=None, prot=None) -> ViewOutput:
    ms = {"tip_height_mm": m(tip, 0.002, src="side"), "tilt_xz_deg": m(txz, u_txz, "deg", "side"),
          "seating_gap_mm": m(gap, 0.0005, src="side"), "xy_error_mm": m(0.5, 0.01, src="side")}
    if gap > 0:  # light under the flange: the side states the dip it could not see (0 within its allowance)
        ms["flange_dip_mm"] = m(dip, 0.014, src="side")
        ms["seating_gap_mm"] = m(gap, math.hypot(0.0005, 0.014), src="side")
    if wick is not None:
        ms["wicking_above_flange_mm"] = m(wick, 0.01, src="side")
    if prot is not None:
        ms["plunger_protrusion_mm"] = m(prot, 0.005, src="side")
    return ViewOutput(view="side", pins={"P01": ItemView(measurements=ms, cues=present("side"))})


def test_side_rise_replaces_the_nominal_height_in_the_tilt():
    rec = recipe()
    rise = 3.30 - 0.02  # tip 3.30, pad top 0.02, gap 0
    pins, _, _, notes = fuse(rec, {"top": top_view(0.2, 0.1), "side": side_view(3.30, math.degrees(math.atan2(0.2, rise)))})
    f = pins["P01"].measurements
    assert f["tilt_deg"].value == pytest.approx(math.degrees(math.atan(math.hypot(0.2, 0.1) / rise)), abs=1e-9)
    assert f["tilt_azimuth_deg"].value == pytest.approx(math.degrees(math.atan2(0.1, 0.2)), abs=1e-9)
    assert f["tilt_deg"].source == "top+side" and f["tilt_azimuth_deg"].source == "top+side"
    # first-order propagation: d tilt / d lean ~ 1/rise (rad) for a lean of 5 um, the side improving the x part
    assert 0.02 < f["tilt_deg"].uncertainty < math.degrees(0.005 / rise) * 1.01
    assert not pins["P01"].cues["view_disagreement"].present and notes == []
    # board-plane positions stay the top view's, heights the side view's
    assert f["xy_error_mm"].source == "top" and f["xy_error_mm"].value == 0.01
    assert f["tip_height_mm"].source == "side"


def test_a_lean_extrapolated_to_the_nominal_length_keeps_its_direction():
    """The top view puts the lean at the nominal axial length L: the tilt is asin(|lean| / L) whatever the
    tip height; the fused lean is given at the tip the side measured (a depressed plunger: shorter)."""
    rec = recipe()
    L = 3.3
    lx, ly = L * math.sin(math.radians(3.0)), 0.0
    rise = 2.9
    pins, _, _, _ = fuse(rec, {"top": top_view(lx, ly, axial=L), "side": side_view(rise + 0.02, 3.0, u_txz=0.05)})
    f = pins["P01"].measurements
    assert f["tilt_deg"].value == pytest.approx(3.0, abs=1e-6)
    assert f["lean_x_mm"].value == pytest.approx(rise * math.tan(math.radians(3.0)), abs=1e-9)
    assert f["lean_x_mm"].source == "top+side"


def test_disagreeing_views_are_review_with_the_reason():
    rec = recipe(required_checks=["missing", "tilt", "view_disagreement"])
    rise = 3.28
    txz_top = math.degrees(math.atan2(0.05, rise))
    pins, _, _, notes = fuse(rec, {"top": top_view(0.05, 0.0), "side": side_view(3.30, txz_top - 1.0)})
    cue = pins["P01"].cues["view_disagreement"]
    assert cue.present and cue.kind == "suspicion" and cue.score == pytest.approx(1.0, abs=1e-9)
    assert notes and "tilt_xz" in notes[0]
    res = evaluate_pin("P01", pins["P01"].measurements, pins["P01"].cues, rec)
    assert res.verdict is Verdict.REVIEW and res.reasons == ["view_disagreement"]
    # within the combined uncertainty: no cue
    pins, _, _, _ = fuse(rec, {"top": top_view(0.05, 0.0), "side": side_view(3.30, txz_top - 0.1)})
    assert not pins["P01"].cues["view_disagreement"].present


def test_board_rotation_between_the_cameras_is_allowed_for():
    """A lean across the side view (y) mixes into its x-z tilt when the board sits rotated by a degree or two
    between the cameras; that much must not count as a disagreement."""
    rec = recipe()
    ly = 0.25
    rise = 3.28
    mix = math.degrees(ly / rise * math.radians(1.5))  # 1.5 deg of rotation
    pins, _, _, _ = fuse(rec, {"top": top_view(0.0, ly), "side": side_view(3.30, mix)})
    assert not pins["P01"].cues["view_disagreement"].present


def test_side_heights_corrected_by_the_tilt_across_its_view():
    rec = recipe()
    rise = 3.30 - 0.02 - 0.1
    ly = 0.3  # lean towards +y (away from the side camera)
    n = math.sqrt(1 + (ly / rise) ** 2)
    a_y, a_z = (ly / rise) / n, 1 / n
    pins, _, _, _ = fuse(rec, {"top": top_view(0.0, ly), "side": side_view(3.30, 0.0, gap=0.1, wick=0.5, prot=0.95)})
    f = pins["P01"].measurements
    dip_top = 0.7 * abs(a_y) / math.hypot(a_y, a_z)
    assert f["seating_gap_mm"].value == pytest.approx(0.1 + dip_top, abs=1e-9)
    assert f["seating_gap_mm"].source == "side+top"
    assert f["seating_gap_mm"].uncertainty < 0.014  # the top's lean settles what the side had to allow for
    # a dip the side measured itself (from the flange's silhouette) is replaced, not added to
    pins, _, _, _ = fuse(rec, {"top": top_view(0.0, ly), "side": side_view(3.30, 0.0, gap=0.1 + 0.05, dip=0.05)})
    p2 = ly / (3.30 - 0.02 - 0.15)  # the side's rise is shorter by the larger gap it reported
    dip2 = 0.7 * p2 / math.sqrt(1 + p2 * p2) / math.hypot(p2 / math.sqrt(1 + p2 * p2), 1 / math.sqrt(1 + p2 * p2))
    assert pins["P01"].measurements["seating_gap_mm"].value == pytest.approx(0.1 + dip2, abs=1e-9)
    w = (0.5 + 0.3) / a_z - 0.5 * a_y / math.sqrt(1 - a_y * a_y) - 0.3
    assert f["wicking_above_flange_mm"].value == pytest.approx(w, abs=1e-9)
    assert f["plunger_protrusion_mm"].value > 0.95 and f["plunger_depression_mm"].value == pytest.approx(
        1.0 - f["plunger_protrusion_mm"].value, abs=1e-12)


def test_views_that_disagree_on_presence():
    rec = recipe()
    side = ViewOutput(view="side", pins={"P01": ItemView(cues={"missing": Cue(present=True, kind="measured", confidence=0.9)})})
    pins, _, _, notes = fuse(rec, {"top": top_view(0.0, 0.0), "side": side})
    assert pins["P01"].cues["missing"].kind == "suspicion" and pins["P01"].cues["view_disagreement"].present
    assert evaluate_pin("P01", pins["P01"].measurements, pins["P01"].cues, rec).verdict is Verdict.REVIEW


def test_views_that_settle_solder_in_the_plunger_gap_differently():
    rec = recipe(required_checks=["missing", "solder_in_plunger_gap"])
    top, side = top_view(0.0, 0.0), side_view(3.30, 0.0)
    top.pins["P01"].cues["solder_in_plunger_gap"] = Cue(present=True, kind="measured", confidence=0.9, source="top")
    side.pins["P01"].cues["solder_in_plunger_gap"] = Cue(present=False, kind="measured", confidence=0.85, source="side")
    pins, _, _, notes = fuse(rec, {"top": top, "side": side})
    c = pins["P01"].cues["solder_in_plunger_gap"]
    assert c.present and c.kind == "suspicion" and "top" in c.detail and notes
    assert evaluate_pin("P01", pins["P01"].measurements, pins["P01"].cues, rec).verdict is Verdict.REVIEW


def test_side_alone_gives_the_row_pitch():
    rec = recipe()
    side = side_view(3.3, 0.0)
    side.pins["P01"].measurements["pitch_x_error_mm"] = m(0.03, 0.001, src="side")
    pins, _, _, _ = fuse(rec, {"side": side})
    assert pins["P01"].measurements["pitch_error_mm"].value == 0.03
    assert "tilt_deg" not in pins["P01"].measurements  # the side alone sees one component of the tilt


# -- generated rows: the side pipeline + a top view built from the truth's leans -------------------------------------
@pytest.fixture(scope="module")
def fused(side_stress_rows):
    rng = np.random.default_rng(7)
    out = []
    for scene, cam, back, front, rec, truth in side_stress_rows:
        r = Recipe.from_dict(T.recipe_dict(scene, views=["top", "side_front", "side_back"]))
        side = inspect_view(BoardInput(serial=scene.board_id, recipe=r, images={"side_back": back, "side_front": front},
                                       calibrations={"side": rec}))
        L = scene.pin_geometry.axial_length_mm
        top = ViewOutput(view="top", registration={"assumed_axial_length_mm": L})
        for p in truth["pins"]:
            a = np.asarray(p["axis_dir"])
            u = 0.004  # a top view's lean uncertainty at L
            lean = L * a[:2] + rng.normal(0, u, 2)
            top.pins[p["id"]] = ItemView(measurements={"lean_x_mm": m(lean[0], u), "lean_y_mm": m(lean[1], u)}, cues=present("top"))
        pins, _, _, _ = fuse(r, {"side": side, "top": top})
        out += [(p, pins[p["id"]].measurements, pins[p["id"]].cues) for p in truth["pins"]]
    return out


@pytest.mark.parametrize("name,bound", [("seating_gap_mm", 0.010), ("wicking_above_flange_mm", 0.050),
                                        ("tip_height_mm", 0.008), ("plunger_depression_mm", 0.015), ("tilt_deg", 0.3)])
def test_fused_generated_rows_within_bounds_and_honest(fused, name, bound):
    err = np.array([f[name].value - p[name] for p, f, _ in fused])
    u = np.array([f[name].uncertainty for _, f, _ in fused])
    assert np.abs(err).max() < bound, name
    assert np.mean(np.abs(err) <= 2 * u) >= 0.9, name


def test_fused_generated_rows_agree_between_views(fused):
    agree = [not c["view_disagreement"].present for _, _, c in fused]
    assert np.mean(agree) >= 0.9
