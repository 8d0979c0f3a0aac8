"""The generator's side view: geometry of the images against the exact truth it reports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vision.side_view import linearize
from vision.synth import truth as T
from vision.synth.boards import random_board
from vision.synth.side import fit_side_camera, render_side, side_affine, side_calibration_record, stress_row, synth_row


@pytest.fixture(scope="module")
def clean_row():
    """Noise-free, lightly blurred row of vertical pins (no jitter), so edges can be read off directly."""
    scene = random_board(3, rows=1, cols=4, pitch_mm=2.54, good_jitter=False, rotation_deg=0.0, offset_mm=(0.0, 0.0))
    cam = fit_side_camera(scene)
    back, front, rec, truth = render_side(scene, cam, seed=3, noise=False, blur_sigma_px=0.5)
    return scene, cam, back, front, rec, truth


def _crossing_down(col: np.ndarray, v0: int) -> float:
    """Subpixel row where a column goes from bright (above) to dark (below), searching from row v0 downwards:
    the area under the normalised profile over a window around the 50 % crossing (exact for any blur)."""
    c = (col - col[-5:].mean()) / (col[:20].mean() - col[-5:].mean())
    i = v0 + int(np.argmax(c[v0:] < 0.5))
    a = i - 6
    return a - 0.5 + float(np.clip(c[a:i + 6], 0, 1).sum())


def test_board_line_and_tips_sit_where_the_truth_says(clean_row):
    _, cam, back, _, _, truth = clean_row
    lin = linearize(back)
    sv = truth["views"]["side"]
    v_line = sv["board_top_edge_v_px"]
    # a bare column between two pads: the board edge at the truth row (50 % crossing of linear intensity)
    xs = [p["nominal_xy_mm"][0] for p in truth["pins"]]
    A, t = side_affine(cam)
    u_bare = int(round(A[0, 0] * (xs[0] + xs[1]) / 2 + t[0]))
    assert _crossing_down(lin[:, u_bare], 5) == pytest.approx(v_line, abs=0.03)
    for pid, pi in sv["pins_in_image"].items():
        u, v = pi["tip_px"]
        assert _crossing_down(lin[:, int(round(u))], 5) == pytest.approx(v, abs=0.05), pid


def test_record_maps_truth_points_to_their_pixels(clean_row):
    scene, cam, _, _, rec, truth = clean_row
    assert rec.plane == "vertical" and rec.image_size_px == (cam.width_px, cam.height_px)
    for p in truth["pins"]:
        tip_w = T.board_to_world(scene, np.asarray(p["tip_xyz_mm"]))
        uv = rec.plane_to_pixel(np.array([tip_w[0], tip_w[2]]))
        assert np.allclose(uv, truth["views"]["side"]["pins_in_image"][p["id"]]["tip_px"], atol=1e-9)
    assert side_calibration_record(cam).telecentric.A == [[100.0, 0.0], [0.0, -100.0]]


def test_gold_and_solder_differ_in_the_front_image():
    row = synth_row(seed=2, cols=3, noise=False, defects={"P02": "wick"})
    p = next(q for q in row.truth["pins"] if q["id"] == "P02")
    sv = row.truth["views"]["side"]["pins_in_image"]["P02"]
    u = int(round(sv["base_center_px"][0]))
    v_base = sv["base_center_px"][1]
    s = row.camera.mm_per_px
    v_mid_solder = int(round(v_base - (0.30 + p["wicking_above_flange_mm"] / 2) / s))
    v_gold = int(round(sv["barrel_top_center_px"][1] + 0.1 / s))
    lin = linearize(row.front)
    chroma = lambda rgb: (rgb[0] - rgb[2]) / rgb.sum()  # noqa: E731
    assert chroma(lin[v_gold, u]) > 0.3  # gold plunger
    assert abs(chroma(lin[v_mid_solder, u])) < 0.05  # grey sleeve


def test_tilt_xz_truth_is_the_world_axis_angle():
    scene = stress_row(4)
    cam = fit_side_camera(scene)
    sv = render_side(scene, cam, seed=4, noise=False)[3]["views"]["side"]
    R = T.board_to_world_matrix(scene)[:3, :3]
    for p in scene.pins:
        a = R @ p.axis_dir()
        assert sv["pins_in_image"][p.id]["tilt_xz_deg"] == pytest.approx(math.degrees(math.atan2(a[0], a[2])), abs=1e-9)


def test_rejects_grids_and_is_deterministic():
    grid = random_board(0, rows=2, cols=2)
    with pytest.raises(ValueError, match="single row"):
        render_side(grid)
    a = synth_row(seed=5, cols=2)
    b = synth_row(seed=5, cols=2)
    assert np.array_equal(a.back, b.back) and np.array_equal(a.front, b.front)
    assert a.back.ndim == 2 and a.front.shape[2] == 3
