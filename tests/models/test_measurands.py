"""The measurement table drives the limits, the rules, the CLI columns and which view wins."""

from __future__ import annotations

from models.decision import Check, Limit
from models.measurands import CUE_CHECKS, DEFAULT_LIMITS, MEASURANDS, checks_for, cli_columns, top_first, unmeasured
from models.recipe import Limits


def test_every_key_carries_its_unit_in_its_name():
    suffix = {"mm": "_mm", "deg": "_deg", "um": "_um", "%": "_pct"}
    for m in MEASURANDS.values():
        if m.unit in suffix:
            assert m.name.endswith(suffix[m.unit]), m.name
        else:
            assert m.unit == "1" and (m.name.endswith("_fraction") or m.name.endswith("_count")), m.name


def test_limits_are_the_tables_defaults_and_a_recipe_overrides_one():
    lim = Limits()
    assert set(Limits.model_fields) == {c.value for c in DEFAULT_LIMITS}
    assert lim.for_check(Check.not_seated) == MEASURANDS["seating_gap_mm"].limit
    assert lim.view_disagreement.guard_band_k == 2.0
    over = Limits.model_validate({"tilt": {"upper": 1.0}})
    assert over.tilt == Limit(upper=1.0) and over.xy_position == Limits().xy_position


def test_checks_follow_the_table_in_check_order():
    pin = checks_for("pin")
    assert pin[Check.not_seated] == ("seating_gap_mm", "not_seated")
    assert pin[Check.solder_in_plunger_gap] == (None, "solder_in_plunger_gap")
    assert list(pin) == [c for c in Check if c in pin] and Check.missing not in pin
    assert set(checks_for("pad")) == {Check.scratch, Check.oxidation, Check.warp_or_dent, Check.roughness}
    every = {m.check for m in MEASURANDS.values() if m.check} | {q.check for q in CUE_CHECKS}
    assert every | {Check.missing} == set(Check), "a check no measurement or cue decides"


def test_plane_quantities_come_from_the_top_view_heights_from_the_side():
    assert {"xy_error_mm", "tilt_deg", "pitch_error_mm"} <= top_first()
    assert not {"tip_height_mm", "seating_gap_mm", "wicking_above_flange_mm"} & top_first()


def test_cli_columns_and_placeholders():
    assert [c[0] for c in cli_columns("pad")] == ["flatness_pv_um", "scratch_max_length_mm", "oxidation_area_fraction", "roughness_sa_um"]
    ph = unmeasured(("seating_gap_mm", "tilt_deg"), "no side view")
    assert ph["tilt_deg"].unit == "deg" and not ph["seating_gap_mm"].measured and ph["seating_gap_mm"].not_measured == "no side view"
