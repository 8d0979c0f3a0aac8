"""The generator's top view: the image's geometry against the exact truth it reports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.recipe import Recipe
from vision.synth import truth as T
from vision.synth.boards import DEFECTS, random_board
from vision.synth.top import GOLD, fit_top_camera, render_top, synth_board


@pytest.fixture(scope="module")
def clean():
    """Noise-free, lightly blurred board with a strongly tilted pin and a displaced one, rotated."""
    scene = random_board(8, rows=1, cols=3, defects={"P01": "tilt", "P03": "xy"}, rotation_deg=2.5, offset_mm=(0.3, -0.2))
    cam = fit_top_camera(scene, mm_per_px=0.02)
    img, rec, truth = render_top(scene, cam, seed=8, noise=False, blur_sigma_px=0.5)
    return scene, cam, img, rec, truth


def test_truth_pixels_are_the_projection_of_the_truth_geometry(clean):
    scene, cam, img, rec, truth = clean
    M = T.board_to_world_matrix(scene)
    for tp in truth["pins"]:
        pim = truth["views"]["top"]["pins_in_image"][tp["id"]]
        for key, xy in (("base_center_px", tp["base_xy_mm"]), ("tip_px", tp["tip_xyz_mm"][:2]),
                        ("nominal_pad_center_px", tp["nominal_xy_mm"])):
            world = M[:2, :2] @ np.asarray(xy) + M[:2, 3]
            assert np.allclose(pim[key], rec.plane_to_pixel(world), atol=1e-3), (tp["id"], key)
        # tilt geometry: tip = base + axial length * axis (plunger not depressed)
        L = scene.pin_geometry.axial_length_mm
        assert np.allclose(tp["tip_xyz_mm"], np.r_[tp["base_xy_mm"], tp["base_z_mm"]] + L * np.asarray(tp["axis_dir"]), atol=1e-4)


def test_rotation_and_offset_place_the_board(clean):
    scene, cam, img, rec, truth = clean
    assert truth["board_layout"]["board_to_world"]["rotation_z_deg"] == pytest.approx(2.5)
    W, D = scene.size_mm[:2]
    corners = rec.plane_to_pixel(T.board_to_world(scene, np.array([[0, 0], [W, 0], [W, D], [0, D]], float)))
    assert corners.min() > 0 and (corners[:, 0].max() < cam.width_px) and (corners[:, 1].max() < cam.height_px)
    # the board's +x edge runs at the rotation angle in the image (image v points down: -angle)
    d = corners[1] - corners[0]
    assert math.degrees(math.atan2(-d[1], d[0])) == pytest.approx(2.5, abs=1e-6)


def test_pin_top_is_centred_on_the_truth(clean):
    """The dark bore of the displaced (upright) pin is centred where the truth puts its axis:
    centroid of darkness (below the gold) in a window that ends on the gold barrel top, where the
    weight is zero, so the pixel grid does not bias it."""
    scene, cam, img, rec, truth = clean
    tp = next(p for p in truth["pins"] if p["id"] == "P03")
    g = scene.pin_geometry
    c = rec.plane_to_pixel(T.board_to_world(scene, np.asarray(tp["barrel_top_center_mm"][:2])))
    s = cam.mm_per_px
    h, w = img.shape[:2]
    vv, uu = np.mgrid[0:h, 0:w]
    window = np.hypot(uu - c[0], vv - c[1]) < (g.barrel_radius_mm - 0.06) / s
    lum = img.astype(float) @ [0.299, 0.587, 0.114]
    gold = np.median(lum[window & (np.hypot(uu - c[0], vv - c[1]) > (g.barrel_radius_mm - 0.15) / s)])
    wts = np.where(window, np.clip(gold - lum, 0, None), 0.0)
    centroid = np.array([(wts * uu).sum(), (wts * vv).sum()]) / wts.sum()
    assert np.hypot(*(centroid - c)) < 0.05
    assert tp["xy_error_mm"] == pytest.approx(math.hypot(*tp["xy_error_vec_mm"])) and 0.15 <= tp["xy_error_mm"] <= 0.30


def test_tilted_pin_shows_its_lean(clean):
    scene, cam, img, rec, truth = clean
    tp = next(p for p in truth["pins"] if p["id"] == "P01")
    assert 2.8 <= tp["tilt_deg"] <= 5.0 and tp["expected_flags"] == ["tilt"]
    pim = truth["views"]["top"]["pins_in_image"]["P01"]
    lean_px = math.dist(pim["tip_px"], pim["base_center_px"])
    assert lean_px == pytest.approx(scene.pin_geometry.axial_length_mm * math.sin(math.radians(tp["tilt_deg"])) / cam.mm_per_px, rel=1e-3)
    # the dome highlight (collimated coaxial light) sits straight above the dome's sphere centre
    dc = rec.plane_to_pixel(T.board_to_world(scene, T.dome_centre_mm(scene.pins[0], scene)[:2]))
    r = 4
    u, v = int(round(dc[0])), int(round(dc[1]))
    win = img[v - r:v + r + 1, u - r:u + r + 1].astype(float).sum(-1)
    peak = np.unravel_index(np.argmax(win), win.shape)
    assert abs(peak[0] - r) <= 1 and abs(peak[1] - r) <= 1


def test_seeded_and_reproducible():
    a = synth_board(seed=3, rows=1, cols=2, defect_rate=0.5)
    b = synth_board(seed=3, rows=1, cols=2, defect_rate=0.5)
    assert np.array_equal(a.image, b.image) and a.truth == b.truth
    Recipe.from_dict(a.recipe)  # the recipe it writes is valid


def test_defects_follow_the_rendered_dev_ranges():
    seen = set()
    for seed in range(12):
        for p in random_board(seed, rows=2, cols=4, defect_rate=0.6).pins:
            for d in p.defects:
                seen.add(d)
                if d == "tilt":
                    assert 2.8 <= p.tilt_deg <= 5.0
                if d == "xy":
                    assert 0.15 <= math.hypot(*p.xy_offset_mm) <= 0.30
                if d == "raised":
                    assert 0.08 <= p.seating_gap_mm <= 0.30 and not p.fillet
            if not p.defects:
                assert p.tilt_deg <= 0.6 and math.hypot(*p.xy_offset_mm) <= 0.02
    assert seen == set(DEFECTS)


def test_solder_is_grey_where_gold_should_be():
    scene = random_board(9, rows=1, cols=3, defects={"P01": "wick_gap", "P02": "wick"}, rotation_deg=0.0, offset_mm=(0, 0))
    cam = fit_top_camera(scene, mm_per_px=0.02)
    img, rec, truth = render_top(scene, cam, seed=9, noise=False)
    g = scene.pin_geometry

    def chroma_at(pin, radius_mm):
        c = rec.plane_to_pixel(T.board_to_world(scene, np.asarray(T.base_xyz_mm(pin, scene)[:2])))
        px = img[int(round(c[1])), int(round(c[0] + radius_mm / cam.mm_per_px))].astype(float)
        return float(np.ptp(px))  # grey: R, G, B close together

    gold_chroma = float(np.ptp(GOLD))
    assert gold_chroma > 0
    mid_ring = 0.5 * (g.plunger_radius_mm + T.BORE_CLEARANCE_MM + g.barrel_radius_mm)
    mid_flange = 0.5 * (g.barrel_radius_mm + g.flange_radius_mm)
    assert chroma_at(scene.pins[0], mid_ring) < 20  # solder over the barrel-top ring
    assert chroma_at(scene.pins[1], mid_flange) < 20  # sleeve over the flange
    assert chroma_at(scene.pins[2], mid_flange) > 60 and chroma_at(scene.pins[2], mid_ring) > 60  # clean gold
