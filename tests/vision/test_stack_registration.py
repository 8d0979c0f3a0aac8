"""The board's rotation from the pads' blurred lattice in a pin stack (`vision.stack_registration`).

The lattice images here are drawn independently of the fit: discs on a 4x finer canvas wider than the view
(the board goes on beyond it: a canvas cut at the view's edge and blurred there with a replicated border
turned the lattice by 3.6 % of its angle), blurred by a uniform disc with OpenCV, reduced by area averaging,
with seeded noise; the pins standing on them are bright discs that the fit must leave out.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from vision.stack_registration import blurred_disc, pad_lattice_rotation
from vision.synth.stack import MicroCamera, micro_record

CAM = MicroCamera(mm_per_px=0.009, width_px=480, height_px=360, numerical_aperture=0.08)
REC = micro_record(CAM)
PITCH = 2.0
PAD_R, FLANGE_R = 0.95, 0.65
#: nominal pad centres minus the stage position: a 3 x 3 block around the axis, the four nearest in view
OFFSETS = np.array([[x, y] for x in (-3, -1, 1, 3) for y in (-3, -1, 1, 3)], float) * PITCH / 2


def _disc_kernel(radius_px: float) -> np.ndarray:
    n = int(math.ceil(radius_px)) + 1
    yy, xx = np.mgrid[-n : n + 1, -n : n + 1]
    k = np.clip(radius_px + 0.5 - np.hypot(xx, yy), 0, 1).astype(np.float32)
    return k / k.sum()


def _lattice_image(theta_deg: float, *, shift_mm=(0.0, 0.0), blur_mm: float = 0.19, pad_level: float = 150.0,
                   board_level: float = 80.0, seed: int = 0, noise: float = 3.0) -> np.ndarray:
    """The lowest slice of a pin stack: pads (and the pins on them) at OFFSETS rotated by theta about the axis."""
    f = 4
    s = CAM.mm_per_px / f
    m = int(math.ceil(1.5 * blur_mm / s))  # the board goes on beyond the view: blur a wider canvas, then crop
    H, W = CAM.height_px * f + 2 * m, CAM.width_px * f + 2 * m
    canvas = np.full((H, W), board_level, np.float32)
    th = math.radians(theta_deg)
    R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    centres = OFFSETS @ R.T + np.asarray(shift_mm)
    # plane (x right, y up) -> fine pixels, the optical axis at the image centre
    to_px = lambda p: (W / 2 + p[0] / s, H / 2 - p[1] / s)  # noqa: E731
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    for c in centres:
        u, v = to_px(c)
        canvas[(xx - u) ** 2 + (yy - v) ** 2 <= (PAD_R / s) ** 2] = pad_level
    canvas = cv2.filter2D(canvas, -1, _disc_kernel(blur_mm / s), borderType=cv2.BORDER_REPLICATE)
    for c in centres:  # the pins: bright flanges and barrels, less blurred than the pads (nearer focus)
        u, v = to_px(c)
        cv2.circle(canvas, (int(round(u * 16)), int(round(v * 16))), int(round(FLANGE_R / s * 16)), 230.0, -1, cv2.LINE_AA, 4)
    img = cv2.resize(canvas[m:-m, m:-m], (CAM.width_px, CAM.height_px), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    return (img + rng.normal(0, noise, img.shape)).astype(np.float32)


def _fit(img, **kw):
    args = dict(offsets_mm=OFFSETS, pad_radius_mm=PAD_R, avoid_mm=OFFSETS, avoid_radius_mm=FLANGE_R, dh_mm=-2.35)
    args.update(kw)
    return pad_lattice_rotation(img, REC, **args)


def test_blurred_disc_is_the_area_two_circles_share():
    # against a disc drawn 16x finer and blurred numerically
    R_px, r_px, f = 20.0, 6.0, 16
    n = 64 * f
    canvas = np.zeros((n, n), np.float32)
    cv2.circle(canvas, (n // 2, n // 2), int(R_px * f), 1.0, -1, cv2.LINE_AA)
    blurred = cv2.filter2D(canvas, -1, _disc_kernel(r_px * f))
    d = np.arange(0, 30, 0.5)
    numeric = blurred[n // 2, (n // 2 + d * f).astype(int)]
    assert np.allclose(blurred_disc(d, R_px, r_px), numeric, atol=0.01)
    # limits: inside, outside, a blur wider than the disc
    assert blurred_disc(np.array([0.0]), R_px, r_px)[0] == 1.0
    assert blurred_disc(np.array([R_px + r_px + 1]), R_px, r_px)[0] == 0.0
    assert blurred_disc(np.array([0.0]), 2.0, 4.0)[0] == pytest.approx(0.25)


@pytest.mark.parametrize("theta_deg, seed", [(0.0, 0), (1.7, 1), (-2.6, 2)])
def test_the_rotation_is_found_within_a_twentieth_of_a_degree(theta_deg, seed):
    got = _fit(_lattice_image(theta_deg, seed=seed), rotation_guess_rad=math.radians(theta_deg + 0.8 * (-1) ** seed))
    assert got.ok, got.why
    assert abs(math.degrees(got.rotation_rad) - theta_deg) < 0.05
    assert got.blur_radius_mm == pytest.approx(0.19, rel=0.15)
    assert math.hypot(*got.shift_mm) < 0.005
    # its uncertainty is stated, and it covers the error
    assert abs(math.degrees(got.rotation_rad) - theta_deg) <= 2 * math.degrees(got.u_rotation_rad)


def test_pads_darker_than_the_board_are_found_too():
    # a white mask: the gold pads read darker than the board around them
    got = _fit(_lattice_image(1.2, pad_level=90.0, board_level=170.0, seed=4))
    assert got.ok, got.why
    assert abs(math.degrees(got.rotation_rad) - 1.2) < 0.05


def test_no_pads_to_see_is_said_not_guessed():
    flat = _lattice_image(0.0, pad_level=80.0, board_level=80.0, seed=5)
    got = _fit(flat)
    assert not got.ok
    assert "stand out" in got.why


def test_a_lattice_away_from_where_the_stage_puts_it_is_not_used():
    got = _fit(_lattice_image(0.5, shift_mm=(0.12, 0.0), seed=6))
    assert not got.ok
    assert "from where the stage puts them" in got.why


def test_pins_hiding_every_pad_leave_too_little_outline():
    got = _fit(_lattice_image(0.0, seed=7), avoid_radius_mm=1.2)
    assert not got.ok
    assert "no board to see between the pins" in got.why


def test_a_guess_far_off_fails_its_check_and_an_unturned_one_finds_the_lattice():
    """Two pins, one misplaced, gave the pins' rotation 6.7 deg off (draw 44102 board 31): the lattice looked for
    there does not stand out and says so; looked for unturned (where a fixture puts a board) it is found."""
    img = _lattice_image(2.4, seed=8)
    far = _fit(img, rotation_guess_rad=math.radians(2.4 + 6.7))
    assert not far.ok and "stand out" in far.why
    near = _fit(img, rotation_guess_rad=0.0)
    assert near.ok and abs(math.degrees(near.rotation_rad) - 2.4) < 0.05


def test_positions_look_again_unturned_when_the_pins_guess_fails():
    """Where the lattice is not found at the pins' rotation, it is looked for again unturned, and used if found there."""
    from types import SimpleNamespace

    from models.recipe import Recipe
    from vision.inspect.base import ItemView, ViewOutput
    from vision.inspect.stack import _positions
    from vision.stack_registration import PadLattice

    recipe = Recipe.from_dict({"recipe_id": "two", "board": {"id": "b", "size_mm": [20, 10, 1.6]}, "pin_type": {
        "flange_diameter_mm": 1.4, "flange_thickness_mm": 0.3, "barrel_diameter_mm": 1.0, "barrel_length_mm": 2.0,
        "plunger_diameter_mm": 0.56, "plunger_protrusion_mm": 1.0, "tip_dome_radius_mm": 0.35, "tip_height_nominal_mm": 3.32},
        "pin_grid": {"rows": 1, "cols": 2, "pitch_mm": 2.54, "origin_mm": [5, 5]}})
    stage = np.mean([p.xy_mm for p in recipe.pins], axis=0)
    theta = math.radians(2.4)

    def rot(a):
        return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])

    # the second pin misplaced along its tangent (its distance from the axis unchanged, so not left out): the
    # rotation from the two pins is 6.5 deg off
    found = [SimpleNamespace(id=p.id, base_xy_mm=rot(theta + (math.radians(13.0) if k else 0.0)) @ (np.asarray(p.xy_mm) - stage),
                             base_cov_mm2=np.eye(2) * 1e-6) for k, p in enumerate(recipe.pins)]
    calls = []

    def lattice(sxy, guess):
        calls.append(guess)
        ok = abs(guess - theta) < math.radians(3.0)
        return PadLattice(ok, "" if ok else "the pads stand out by 2 sigma", theta, math.radians(0.05), (0.0, 0.0), 1.0, 0.2, 30.0)

    vo = ViewOutput(view="stack:pins", pins={p.id: ItemView() for p in recipe.pins})
    _positions(recipe, found, vo, tuple(stage), "stack:pins", lattice=lattice)
    assert len(calls) == 2 and abs(calls[0] - theta) > math.radians(5) and calls[1] == 0.0, calls
    assert vo.registration["rotation"]["source"] == "pads"
    assert abs(vo.registration["rotation"]["deg"] - 2.4) < 1e-9
    # the good pin reads its place, the misplaced one its 0.29 mm
    assert vo.pins[recipe.pins[0].id].measurements["xy_error_mm"].value < 0.001
    assert abs(vo.pins[recipe.pins[1].id].measurements["xy_error_mm"].value - 2 * 1.27 * math.sin(math.radians(6.5))) < 0.001
