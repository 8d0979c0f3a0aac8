"""The top overlay shows the board's final verdicts: a pin only the side view can fail is outlined red."""

from __future__ import annotations

import numpy as np

from vision.inspect import BoardInput, inspect_board
from models.recipe import Recipe
from vision.overlay import VERDICT_RGB
from vision.synth import truth as T
from vision.synth.boards import random_board
from vision.synth.side import render_side
from vision.synth.top import fit_top_camera, render_top


def _outline_rgb(overlay, base_px, radius_px):
    """Median colour on the outline circle (where draw_items put it)."""
    a = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    u = np.round(base_px[0] + radius_px * np.cos(a)).astype(int)
    v = np.round(base_px[1] + radius_px * np.sin(a)).astype(int)
    return np.median(overlay[v, u].astype(float), axis=0)


def test_side_only_failure_is_red_on_the_top_overlay():
    scene = random_board(11, rows=1, cols=4, defects={"P03": "depressed"})
    top, rec_top, _ = render_top(scene, fit_top_camera(scene), seed=11)
    back, front, rec_side, _ = render_side(scene, seed=11)
    recipe = Recipe.from_dict(T.recipe_dict(scene, views=["top", "side_front", "side_back"]))
    insp = inspect_board(BoardInput(serial="ov", recipe=recipe, images={"top": top, "side_front": front, "side_back": back},
                                    calibrations={"top": rec_top, "side": rec_side}))
    p3 = insp.result.pin("P03")
    assert p3.verdict.value == "FAIL" and "tip_height" in p3.reasons  # only the side view sees a depressed plunger
    r_px = recipe.pin_type.flange_diameter_mm / 2 / rec_top.scale_mm_per_px() + 4
    for pin in insp.result.pins:
        got = _outline_rgb(insp.overlays["top"], pin.image_px["top.base"], r_px)
        want = np.array(VERDICT_RGB[pin.verdict.value], float)
        assert np.abs(got - want).max() < 40, (pin.id, pin.verdict, got)


def test_overlays_can_be_skipped_without_changing_the_result():
    scene = random_board(12, rows=1, cols=3, defects={"P02": "tilt"})
    top, rec_top, _ = render_top(scene, fit_top_camera(scene), seed=12)
    back, front, rec_side, _ = render_side(scene, seed=12)
    recipe = Recipe.from_dict(T.recipe_dict(scene, views=["top", "side_front", "side_back"]))
    kw = dict(serial="ov", recipe=recipe, images={"top": top, "side_front": front, "side_back": back},
              calibrations={"top": rec_top, "side": rec_side})
    full, bare = inspect_board(BoardInput(**kw)), inspect_board(BoardInput(**kw, overlays=False))
    assert set(full.overlays) >= {"top", "side_back", "side_front"} and bare.overlays == {}
    strip = lambda r: r.model_dump(exclude={"board": {"timings_ms"}})  # noqa: E731
    assert strip(full.result) == strip(bare.result)
