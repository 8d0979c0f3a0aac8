"""Per-pin and per-board verdicts from measurements, and the result document's schema."""

import json

from models.decision import Check, Verdict
from models.measurement import Cue, Measurement
from models.recipe import Recipe
from models.result import BoardResult, result_json_schema
from models.rules import evaluate_pad, evaluate_pin, summarise_board
from tests.models.test_recipe import base


def recipe(**over):
    return Recipe.from_dict(base(required_checks=["missing", "tilt", "xy_position", "not_seated"], **over))


def good_pin():
    return {
        "tilt_deg": Measurement.of(0.4, 0.05, "deg", source="top"),
        "xy_error_mm": Measurement.of(0.012, 0.002, "mm", source="top"),
        "seating_gap_mm": Measurement.of(0.004, 0.003, "mm", source="side"),
    }, {"missing": Cue(present=False, kind="measured", confidence=0.99)}


def test_good_pin_passes_and_board_passes():
    r = recipe()
    pins = [evaluate_pin(p.id, *good_pin(), r) for p in r.pins]
    assert all(p.verdict is Verdict.PASS for p in pins)
    res = summarise_board("SN1", r, pins, [])
    assert res.board.verdict is Verdict.PASS and res.board.recipe_version == 1


def test_missing_pin_fails_with_missing_only():
    r = recipe()
    p = evaluate_pin("P01", {}, {"missing": Cue(present=True, kind="measured", confidence=0.95)}, r)
    assert p.verdict is Verdict.FAIL and p.reasons == ["missing"]


def test_unmeasured_required_check_is_review_not_pass():
    r = recipe()
    m, c = good_pin()
    m["seating_gap_mm"] = Measurement.missing("no side view", "mm")
    p = evaluate_pin("P02", m, c, r)
    assert p.verdict is Verdict.REVIEW and p.reasons == ["not_measured:not_seated"]


def test_suspicion_cue_used_only_without_measurement():
    r = recipe()
    m, c = good_pin()
    c["not_seated"] = Cue(present=True, kind="suspicion", confidence=0.6, detail="no fillet seen")
    # the side view measured the gap: the measurement decides
    assert evaluate_pin("P01", m, c, r).verdict is Verdict.PASS
    m["seating_gap_mm"] = Measurement.missing("no side view", "mm")
    p = evaluate_pin("P01", m, c, r)
    assert p.verdict is Verdict.REVIEW and p.reasons == ["not_seated"]


def test_a_lone_pin_has_no_pitch_to_answer_for():
    """A board whose recipe puts no two pins side by side: the pitch check does not apply, so a good pin that no
    view could give a pitch PASSes; with a neighbour in the recipe the same unmeasured pitch is REVIEW."""
    checks = ["missing", "tilt", "xy_position", "pitch"]
    lone = Recipe.from_dict(base(required_checks=checks, pin_grid={"rows": 1, "cols": 1, "pitch_mm": 2.54,
                                                                   "origin_mm": [3.0, 2.5]}))
    m, c = good_pin()
    m["pitch_error_mm"] = Measurement.missing("no measured neighbour in the row or column", "mm")
    assert not lone.is_required(Check.pitch)
    assert evaluate_pin("P01", m, c, lone).verdict is Verdict.PASS
    row = Recipe.from_dict(base(required_checks=checks))
    p = evaluate_pin("P01", m, c, row)
    assert row.is_required(Check.pitch) and p.verdict is Verdict.REVIEW and p.reasons == ["not_measured:pitch"]


def test_pad_rules():
    r = Recipe.from_dict({"recipe_id": "pads", "board": {"id": "M", "size_mm": [10, 8, 1.6]},
                          "pads": [{"id": "Q01", "center_mm": [3, 3], "size_mm": [1.2, 1.2]}],
                          "required_checks": ["scratch", "oxidation", "warp_or_dent"]})
    ok = evaluate_pad("Q01", {"scratch_max_length_mm": Measurement.of(0.0, 0.005, "mm"),
                              "oxidation_area_fraction": Measurement.of(0.002, 0.001, "1"),
                              "flatness_pv_um": Measurement.of(4.0, 1.0, "um")}, {}, r)
    assert ok.verdict is Verdict.PASS
    bad = evaluate_pad("Q01", {"scratch_max_length_mm": Measurement.of(0.35, 0.01, "mm"),
                               "oxidation_area_fraction": Measurement.of(0.002, 0.001, "1"),
                               "flatness_pv_um": Measurement.of(30.0, 1.5, "um")}, {}, r)
    assert bad.verdict is Verdict.FAIL and set(bad.reasons) == {"scratch", "warp_or_dent"}


def test_an_unreliable_measurement_is_review_even_where_not_required():
    """A top-view recipe does not require flatness, but a pad stack that saw a dent and could not resolve its depth
    (`unreliable:dent_fit`) must not let the pad PASS in silence (rendered draw 36187 boards 13 and 47)."""
    r = Recipe.from_dict({"recipe_id": "pads", "board": {"id": "M", "size_mm": [10, 8, 1.6]}, "views": ["top"],
                          "pads": [{"id": "Q01", "center_mm": [3, 3], "size_mm": [1.2, 1.2]}]})
    assert not r.is_required(Check.warp_or_dent)
    ms = {"scratch_max_length_mm": Measurement.of(0.0, 0.005, "mm"), "oxidation_area_fraction": Measurement.of(0.0, 0.001, "1")}
    plain = evaluate_pad("Q01", {**ms, "flatness_pv_um": Measurement.missing("top: a top image has no heights", "um")}, {}, r)
    assert plain.verdict is Verdict.PASS
    why = "stack:Q01: unreliable:dent_fit (a local dent shows, but its depth is not resolved: PV 78 +- 189 um)"
    seen = evaluate_pad("Q01", {**ms, "flatness_pv_um": Measurement.missing(why, "um")}, {}, r)
    assert seen.verdict is Verdict.REVIEW and seen.reasons == ["not_measured:warp_or_dent"]
    assert "unreliable:dent_fit" in seen.decisions[-1].detail


def test_result_round_trip_and_schema(tmp_path):
    r = recipe()
    pins = [evaluate_pin(p.id, *good_pin(), r) for p in r.pins]
    res = summarise_board("SN2", r, pins, [], timings_ms={"total": 12.5})
    path = tmp_path / "result.json"
    res.write_json(path)
    back = BoardResult.model_validate_json(path.read_text())
    assert back == res
    assert back.pin("P03").measurements["tilt_deg"].uncertainty == 0.05
    schema = result_json_schema()
    assert schema["title"] == "BoardResult" and "Measurement" in json.dumps(schema)
