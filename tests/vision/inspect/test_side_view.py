"""vision.inspect.side: names, nominal values and recipe checks on a generated row; bad input in one line."""

from __future__ import annotations

import numpy as np
import pytest

from vision.inspect import BoardInput, inspect_board
from vision.inspect.side import inspect_view
from models.errors import InputError
from models.recipe import Recipe
from vision.synth.side import synth_row
from vision.synth.top import top_calibration_record, fit_top_camera


@pytest.fixture(scope="module")
def row():
    return synth_row(seed=21, cols=5, defects={"P02": "raised", "P03": "depressed", "P04": "missing"})


def board_input(row, **kw):
    rd = dict(row.recipe)
    rd.update(kw.pop("recipe", {}))
    images = kw.pop("images", {"side_back": row.back, "side_front": row.front})
    cals = kw.pop("calibrations", {"side": row.record})
    return BoardInput(serial="SN-1", recipe=Recipe.from_dict(rd), images=images, calibrations=cals)


def test_measurements_names_sources_and_verdicts(row):
    out = inspect_view(board_input(row))
    truth = {p["id"]: p for p in row.truth["pins"]}
    nominal = row.recipe["pin_type"]["tip_height_nominal_mm"]
    for pid, iv in out.pins.items():
        t = truth[pid]
        if not t["present"]:
            assert iv.cues["missing"].present and not iv.measurements["tip_height_mm"].measured
            continue
        m = iv.measurements
        assert all(x.source == "side" for x in m.values())
        assert m["tip_height_error_mm"].value == pytest.approx(m["tip_height_mm"].value - nominal, abs=1e-12)
        assert m["tip_height_mm"].value == pytest.approx(t["tip_height_mm"], abs=0.008)
        assert m["plunger_depression_mm"].value == pytest.approx(t["plunger_depression_mm"], abs=0.04)
        assert iv.cues["not_seated"].present == (t["seating_gap_mm"] > 0.05)
        assert {"side.tip", "side.base"} <= set(iv.image_px)
    assert out.board_measurements["coplanarity_mm"].measured
    assert set(out.overlays) == {"side_back", "side_front"} and out.overlays["side_front"].shape == row.front.shape
    # the side view alone cannot judge tilt or xy position (one component of each): those stay REVIEW when required
    res = inspect_board(board_input(row, recipe={"required_checks": ["missing", "tip_height", "not_seated", "coplanarity",
                                                                     "solder_wicking", "solder_in_plunger_gap"]}))
    verdicts = {p.id: (p.verdict.value, p.reasons) for p in res.result.pins}
    assert verdicts["P02"][0] == "FAIL" and "not_seated" in verdicts["P02"][1]
    assert verdicts["P03"][0] == "FAIL" and "tip_height" in verdicts["P03"][1]
    assert verdicts["P04"] == ("FAIL", ["missing"])
    assert verdicts["P01"][0] == "PASS" and verdicts["P05"][0] == "PASS"
    res = inspect_board(board_input(row))
    assert {p.id: p.reasons for p in res.result.pins}["P01"] == ["not_measured:tilt", "not_measured:xy_position"]


def test_compression_when_the_recipe_gives_the_mating_surface(row):
    pt = dict(row.recipe["pin_type"], working_travel_mm=0.5)
    out = inspect_view(board_input(row, recipe={"pin_type": pt, "mating": {"surface_height_mm": 3.0}}))
    m = out.pins["P01"].measurements
    assert m["compression_pct"].value == pytest.approx((m["tip_height_mm"].value - 3.0) / 0.5 * 100, abs=1e-9)
    assert m["compression_pct"].uncertainty == pytest.approx(m["tip_height_mm"].uncertainty / 0.5 * 100, rel=1e-9)


def test_bad_input_names_the_board_and_the_view(row):
    with pytest.raises(InputError, match="board SN-1 side view: recipe .* has 2 rows"):
        inspect_view(board_input(row, recipe={"pins": [{"id": "A", "xy_mm": [3, 2], "row": 0},
                                                       {"id": "B", "xy_mm": [3, 4], "row": 1, "col": 0}]}))
    with pytest.raises(InputError, match="board SN-1 side view: no 'side' calibration"):
        inspect_view(board_input(row, calibrations={}))
    top_rec = top_calibration_record(fit_top_camera(row.scene))
    with pytest.raises(InputError, match="board plane"):
        inspect_view(board_input(row, calibrations={"side": top_rec}))
    with pytest.raises(InputError, match="side_back .* is missing"):
        inspect_view(board_input(row, images={"side_front": row.front}))
    with pytest.raises(InputError, match="board line cannot be found"):
        inspect_view(board_input(row, images={"side_back": np.zeros_like(row.back)}))
    with pytest.raises(InputError, match="same side camera"):
        inspect_view(board_input(row, images={"side_back": row.back, "side_front": row.front[:-8]}))
    with pytest.raises(InputError, match="shows 4 pins but the row has 3"):
        pins = [p for p in row.recipe["pins"] if p["id"] in ("P01", "P02", "P03")]
        inspect_view(board_input(row, recipe={"pins": pins}))


@pytest.mark.parametrize("seed,pin_type,pitch", [(40, "A", 2.54), (41, "B", 2.0), (42, "A", 2.0), (43, "B", 2.54)])
def test_generated_rows_side_flags(seed, pin_type, pitch):
    """Random rows from the defect catalogue (rendered-dev ranges): the flags a side view can settle are found,
    good, marginal and wick_low pins pass."""
    r = synth_row(seed=seed, cols=6, pin_type=pin_type, pitch_mm=pitch, defect_rate=0.6)
    rd = dict(r.recipe, required_checks=["missing", "tip_height", "not_seated", "solder_wicking", "solder_in_plunger_gap"])
    res = inspect_board(BoardInput(serial="G", recipe=Recipe.from_dict(rd), images={"side_back": r.back, "side_front": r.front},
                                   calibrations={"side": r.record}))
    by_id = {p.id: p for p in res.result.pins}
    side_flags = {"missing", "not_seated", "tip_height", "solder_wicking", "solder_in_plunger_gap"}
    for p in r.truth["pins"]:
        got = by_id[p["id"]]
        assert set(p["expected_flags"]) & side_flags <= set(got.reasons), (p["id"], p["defects"], got.reasons)
        if not set(p["expected_flags"]) & side_flags:
            assert got.verdict.value == "PASS", (p["id"], p["defects"], got.reasons)
