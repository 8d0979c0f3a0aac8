"""A mating-pad board through the whole pipeline: the top image (scratches, oxidation) and two pad focus
stacks (flatness) of rendered-dev d05, fused into one result whose pad verdicts match the truth."""

from __future__ import annotations

from vision.inspect import BoardInput, inspect_board
from tests.support import rendered as R
from vision.io import read_image

SCENE = "d05_pads2x3_p200"


def test_pad_board_top_plus_stacks(shared_data):
    truth = R.load_truth(shared_data, SCENE)
    stacks, cals = {}, {"top": R.top_record(truth)}
    for q in ("Q02", "Q05"):
        stacks[q], cals[f"stack:{q}"] = R.focus_stack(shared_data, SCENE, f"focus_{q}")
    recipe = R.recipe(truth)
    res = inspect_board(BoardInput(serial=SCENE, recipe=recipe, images={"top": read_image(R.top_image_path(shared_data, SCENE))},
                                   stacks=stacks, calibrations=cals)).result
    expected = truth["expected_defective_items"]
    assert {p.id for p in res.pads} == {q.id for q in recipe.pads}
    for pad in res.pads:
        flags = set(expected.get(pad.id, []))
        if pad.id not in stacks:
            flags.discard("warp_or_dent")  # flatness needs the pad's focus stack
        if flags:
            assert pad.verdict.value == "FAIL" and flags <= set(pad.reasons), (pad.id, pad.reasons)
        elif pad.id in stacks:
            assert pad.verdict.value == "PASS", (pad.id, pad.reasons)
        else:  # no stack: flatness is REVIEW not_measured when required, never a silent PASS
            assert pad.verdict.value in ("PASS", "REVIEW") and "warp_or_dent" not in pad.reasons, (pad.id, pad.reasons)
    assert res.pad("Q02").measurements["flatness_pv_um"].source == "stack:Q02"
    # the microscope sees the pad at 2-3x the top's resolution: its scratches win; colour (mono stack) from the top
    assert res.pad("Q02").measurements["scratch_max_length_mm"].source == "stack:Q02"
    assert res.pad("Q02").measurements["oxidation_area_fraction"].source == "top"
    assert res.board.verdict.value == "FAIL"


def test_a_scratch_one_view_saw_is_not_overruled_by_another_views_none(shared_data):
    """Fusion of a pad's views: the stack ("no scratch": a groove shallower than its depth resolution) comes
    first, but the longer scratch the top camera's colour found is the one decided on (``prefer="worst"``);
    measurements preferred by view order still come from the stack."""
    from models.measurement import Measurement
    from vision.inspect.base import ItemView, ViewOutput
    from vision.inspect.fusion import fuse

    recipe = R.recipe(R.load_truth(shared_data, SCENE))
    q = recipe.pads[0].id
    stack, top = ViewOutput(view=f"stack:{q}"), ViewOutput(view="top")
    stack.pads[q], top.pads[q] = ItemView(), ItemView()
    stack.pads[q].measurements.update(scratch_max_length_mm=Measurement.of(0.0, 0.002, "mm", source="stack"),
                                      flatness_pv_um=Measurement.of(2.0, 0.5, "um", source="stack"))
    top.pads[q].measurements.update(scratch_max_length_mm=Measurement.of(0.31, 0.01, "mm", source="top"),
                                    flatness_pv_um=Measurement.missing("the top view does not measure heights", "um"))
    _, pads, _, _ = fuse(recipe, {"top": top, f"stack:{q}": stack})
    assert pads[q].measurements["scratch_max_length_mm"].value == 0.31
    assert pads[q].measurements["flatness_pv_um"].value == 2.0
    top.pads[q].measurements["scratch_max_length_mm"] = Measurement.of(0.0, 0.01, "mm", source="top")
    stack.pads[q].measurements["scratch_max_length_mm"] = Measurement.of(0.2, 0.002, "mm", source="stack")
    _, pads, _, _ = fuse(recipe, {"top": top, f"stack:{q}": stack})
    assert pads[q].measurements["scratch_max_length_mm"].source == "stack"


def test_a_pin_whose_neighbour_is_unmeasured_still_answers_for_its_own_pitch(shared_data):
    """Pitch rule (`vision.inspect.pitch`): the neighbour outside the view has no position, the measured pin's
    pitch error is its own share: its distance to the neighbour's nominal position, against the nominal pitch."""
    from types import SimpleNamespace

    import numpy as np

    from vision.inspect.base import ItemView, ViewOutput
    from vision.inspect.pitch import pitches

    recipe = R.recipe(R.load_truth(shared_data, "d01_row7_p254_green"))
    pins = sorted(recipe.pins, key=lambda p: p.xy_mm[0])
    a, b = pins[0], pins[1]
    board = {p.id: SimpleNamespace(present=False, base_mm=None, base_cov_mm2=None) for p in recipe.pins}
    board[a.id] = SimpleNamespace(present=True, base_mm=np.array(a.xy_mm, float) + [-0.03, 0.0], base_cov_mm2=np.eye(2) * 1e-6)
    out = ViewOutput(view="stack:pins")
    for p in recipe.pins:
        out.pins[p.id] = ItemView()
    pitches(recipe, board, out, source="stack:pins")
    m = out.pins[a.id].measurements["pitch_error_mm"]
    assert m.measured and abs(m.value - 0.03) < 1e-9 and abs(m.uncertainty - 0.001) < 1e-9
    assert "pitch_error_mm" not in out.pins[b.id].measurements
