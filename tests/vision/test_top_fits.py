"""The top view's building blocks on tiny synthetic images and point sets with known answers."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from vision.overlay import OverlayItem, draw_top_overlay, to_rgb8
from vision.solder_cues import grey_rings
from vision.tilt import fit_axes, fit_axis, tilt_from_lean
from vision.subpixel.circles import dome_centre, fit_circle, radial_edge_circle
from vision.top_view import CoaxialLight, highlight_to_sphere_centre


def _disc(shape, centre, radius, *, inside=200.0, outside=40.0, ss=8, sigma=0.7, noise=2.0, seed=0):
    """Supersampled anti-aliased disc (exact area coverage to 1/ss^2), blurred, with seeded noise."""
    h, w = shape
    yy, xx = np.mgrid[0:h * ss, 0:w * ss]
    u = (xx + 0.5) / ss - 0.5
    v = (yy + 0.5) / ss - 0.5
    cov = ((u - centre[0]) ** 2 + (v - centre[1]) ** 2 <= radius**2).astype(np.float32)
    cov = cov.reshape(h, ss, w, ss).mean(axis=(1, 3))
    img = outside + (inside - outside) * cov
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma)
    return img + np.random.default_rng(seed).normal(0, noise, img.shape).astype(np.float32)


def test_fit_circle_exact_points_and_outliers():
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    pts = np.column_stack([12.3 + 20 * np.cos(t), -4.5 + 20 * np.sin(t)])
    f = fit_circle(pts)
    assert f.ok and np.allclose(f.center_px, [12.3, -4.5], atol=1e-6) and abs(f.radius_px - 20) < 1e-6
    rng = np.random.default_rng(2)
    noisy = pts + rng.normal(0, 0.1, pts.shape)
    noisy[::10] += 3.0  # six stray edge points
    f = fit_circle(noisy)
    assert f.ok and np.hypot(*(f.center_px - [12.3, -4.5])) < 0.08 and f.n_points <= 54
    assert 0 < f.u_center_px < 0.05


def test_fit_circle_says_why_it_fails():
    assert "need 8" in fit_circle(np.zeros((5, 2))).reason


@pytest.mark.parametrize("seed", range(4))
def test_radial_edge_circle_subpixel(seed):
    rng = np.random.default_rng(seed)
    c = np.array([40.0, 38.0]) + rng.uniform(-0.5, 0.5, 2)
    img = _disc((80, 80), c, 20.0, seed=seed)
    f = radial_edge_circle(img, c + rng.uniform(-2, 2, 2), 20.0, polarity="falling", band_px=5)
    assert f.ok and np.hypot(*(f.center_px - c)) < 0.05, (f.center_px, c)
    assert abs(f.radius_px - 20.0) < 0.3
    # the uncertainty it states is of the size of the error it makes
    assert f.u_center_px < 0.1


def test_radial_edge_circle_stops_re_centring_once_converged(monkeypatch):
    """From a start 2.5 px off, the first pass lands the centre; the re-centred pass after it moves it by less
    than 0.1 px, so the other five passes asked for are skipped -- and the centre is within 0.05 px."""
    import vision.subpixel.circles as circles

    c = np.array([40.3, 37.8])
    img = _disc((80, 80), c, 20.0, seed=7)
    calls = []
    remap = cv2.remap
    monkeypatch.setattr(circles.cv2, "remap", lambda *a, **k: calls.append(1) or remap(*a, **k))
    f = radial_edge_circle(img, c + [2.0, -1.5], 20.0, polarity="falling", band_px=5, refine=6)
    assert f.ok and np.hypot(*(f.center_px - c)) < 0.05
    assert len(calls) == 2


def test_radial_edge_circle_innermost_edge_and_valley():
    c = (50.0, 50.0)
    img = _disc((100, 100), c, 25.0, inside=220, outside=120, noise=1.0)  # barrel top on a flange
    img += _disc((100, 100), (52.0, 50.0), 31.0, inside=0, outside=-80, noise=0.0, sigma=0.7)  # flange edge just outside
    f = radial_edge_circle(img, c, 25.0, polarity="falling", band_px=8, first=True)
    assert f.ok and np.hypot(*(f.center_px - c)) < 0.1 and abs(f.radius_px - 25) < 0.5
    ring = np.full((100, 100), 180.0, np.float32)
    cv2.circle(ring, (50 * 16, 50 * 16), 22 * 16, 60.0, 2, cv2.LINE_AA, 4)  # a thin dark rim line
    f = radial_edge_circle(ring, (51.0, 49.0), 22.0, polarity="valley", band_px=4)
    assert f.ok and np.hypot(*(f.center_px - 50.0)) < 0.1
    with pytest.raises(ValueError):
        radial_edge_circle(ring, c, 10.0, polarity="up")


def test_dome_highlight_centroid():
    img = np.full((60, 60), 50.0, np.float32)
    yy, xx = np.mgrid[0:60, 0:60]
    img += 180 * np.exp(-((xx - 31.3) ** 2 + (yy - 27.6) ** 2) / (2 * 1.5**2))
    f = dome_centre(img, (30.0, 30.0), 10.0)
    assert f.ok and np.allclose(f.center_px, [31.3, 27.6], atol=0.05)
    assert "no specular highlight" in dome_centre(np.full((60, 60), 50.0, np.float32), (30, 30), 10).reason


def test_highlight_of_a_finite_coaxial_source_moves_towards_it():
    light = CoaxialLight(xy_mm=(0.0, 0.0), height_mm=100.0)
    c = highlight_to_sphere_centre(np.array([8.0, 0.0]), dome_radius_mm=0.35, light=light)
    # the normal bisects the vertical and the direction to the light: atan(8/100)/2 from vertical
    assert c[0] == pytest.approx(8.0 + 0.35 * math.sin(math.atan(8 / 100) / 2), abs=2e-5) and abs(c[1]) < 1e-12
    assert np.array_equal(highlight_to_sphere_centre(np.array([8.0, 1.0]), dome_radius_mm=0.35, light=None), [8.0, 1.0])


def test_axis_fit_recovers_tilt_and_azimuth():
    tilt, az = 3.5, 220.0
    s = math.sin(math.radians(tilt)) * np.array([math.cos(math.radians(az)), math.sin(math.radians(az))])
    base = np.array([1.0, 2.0])
    hs = [0.3, 2.3, 2.95]
    cs = [base + h * s for h in hs]
    covs = [np.eye(2) * 1e-6] * 3
    ax = fit_axis(hs, cs, covs)
    assert ax.ok and abs(ax.tilt_deg - tilt) < 1e-6 and abs(ax.azimuth_deg - az) < 1e-6
    assert np.allclose(ax.base_mm, base)
    # the same axis in a frame rotated by 30 deg: same tilt, azimuth + 30
    a = math.radians(30)
    R = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    ax2 = ax.transformed(R, np.array([5.0, -1.0]))
    assert abs(ax2.tilt_deg - tilt) < 1e-6 and abs(ax2.azimuth_deg - (az + 30) % 360) < 1e-6
    assert not fit_axis([1.0], [base], [np.eye(2)]).ok


def test_axis_fits_of_many_pins_at_once_are_each_pins_own_weighted_least_squares():
    # fit_axes solves every pin's normal equations in one batch; each must be the stacked weighted least
    # squares of that pin's own centres (unused ones ignored), covariance scaled by the reduced chi-square
    rng = np.random.default_rng(3)
    P, hs = 6, np.array([0.3, 2.3, 2.95])
    h = np.tile(hs, (P, 1))
    c = rng.normal(0, 0.2, (P, 1, 2)) + h[..., None] * rng.normal(0, 0.03, (P, 1, 2)) + rng.normal(0, 0.002, (P, 3, 2))
    A = rng.normal(0, 0.002, (P, 3, 2, 2))
    C = A @ A.transpose(0, 1, 3, 2) + np.eye(2) * 1e-6
    use = np.ones((P, 3), bool)
    use[1, 1] = use[4, 2] = False  # two pins fit from two centres (no chi-square scaling)
    use[5, 1:] = False  # one centre: no fit
    fits = fit_axes(h, c, C, use)
    for i in range(P - 1):
        k = np.flatnonzero(use[i])
        X = np.zeros((2 * len(k), 4))
        X[0::2, 0] = X[1::2, 1] = 1.0
        X[0::2, 2] = X[1::2, 3] = hs[k]
        Wb = np.zeros((2 * len(k),) * 2)
        for j, kk in enumerate(k):
            Wb[2 * j:2 * j + 2, 2 * j:2 * j + 2] = np.linalg.inv(C[i, kk] + np.eye(2) * 1e-12)  # as fit_axes regularises
        cov = np.linalg.inv(X.T @ Wb @ X)
        x = cov @ X.T @ Wb @ c[i, k].reshape(-1)
        r = c[i, k].reshape(-1) - X @ x
        if len(k) == 3:
            cov = cov * max(float(r @ Wb @ r) / 2, 1.0)
        assert fits[i].ok
        np.testing.assert_allclose(np.r_[fits[i].base_mm, fits[i].lean], x, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fits[i].cov, cov, rtol=1e-9, atol=1e-18)
        one = fit_axis(hs[k], c[i, k], C[i, k])
        assert one.tilt_deg == pytest.approx(fits[i].tilt_deg, rel=1e-9)
    assert not fits[-1].ok and "two different heights" in fits[-1].reason


def test_tilt_uncertainty_near_zero_is_the_noise():
    t, u, az, u_az = tilt_from_lean(np.zeros(2), np.eye(2) * (1e-3) ** 2)
    assert t == 0 and u == pytest.approx(math.degrees(1e-3), rel=1e-3) and u_az == 180.0


def test_grey_rings_tell_gold_from_tin():
    img = np.zeros((100, 100, 3), np.uint8)
    cv2.circle(img, (50, 50), 40, (230, 200, 110), -1)  # gold
    cv2.circle(img, (50, 50), 25, (160, 160, 168), -1)  # tin
    tin, gold = grey_rings(img, [((50, 50), 5, 20, None), ((50, 50), 28, 38, None)])
    assert tin.grey_fraction > 0.95 and gold.grey_fraction < 0.05
    assert tin.mean_lightness < gold.mean_lightness
    assert grey_rings(img[..., 0], [((50, 50), 5, 20, None)])[0].n_pixels == 0  # mono: no colour cue


def test_a_clipped_highlight_is_not_tin():
    """Gold clipped to white by a strong coaxial light (draw 31337 board 23 P02: a type-B barrel top at L* 99.8,
    C*/L* 0.05) is as neutral as tin; it was taken for solder in the plunger gap. Clipped, its colour says nothing.
    Tin as bright as the sensor allows short of clipping is still tin."""
    img = np.zeros((100, 100, 3), np.uint8)
    cv2.circle(img, (50, 50), 40, (252, 253, 251), -1)  # gold, clipped
    cv2.circle(img, (50, 50), 25, (236, 236, 240), -1)  # tin, bright
    tin, clipped = grey_rings(img, [((50, 50), 5, 20, None), ((50, 50), 28, 38, None)])
    assert tin.grey_fraction > 0.95
    assert clipped.grey_fraction == 0.0 and clipped.dark_fraction == 1.0


def test_overlay_draws_verdict_colours():
    img = np.full((120, 160), 40, np.uint8)
    out = draw_top_overlay(img, [OverlayItem("P1", (50.0, 50.0), 20.0, "FAIL", ["tilt 3.1 deg"]),
                                 OverlayItem("P2", (110.0, 50.0), 20.0, "PASS")],
                           fiducials_px=[(10.0, 10.0)], header=["registration"])
    assert out.shape == (120, 160, 3) and out.dtype == np.uint8
    assert np.any(np.all(out == (235, 30, 30), axis=-1)) and np.any(np.all(out == (40, 200, 60), axis=-1))
    assert to_rgb8(np.full((4, 4), 65535, np.uint16)).max() == 255


@pytest.mark.parametrize("lean_deg", [0.0, 60.0, 200.0])
def test_the_flange_rim_leaves_out_the_rays_a_leaning_barrel_reaches(lean_deg):
    """A type-A pin leaning 4.8 deg at 14 um/px: its barrel's silhouette (radius 35.7 px, its top 12 px along the
    lean) ends 2 px inside the flange rim (48.5 px) on the lean side, a brighter wall over the flange top. The
    flange fit on every ray takes both edges there; on the rays clear of the barrel it finds the flange."""
    from vision.subpixel.circles import gray_rois, radial_edge_circles
    from vision.top_view import _rays_clear_of_barrel

    cf = np.array([80.3, 79.6])
    lean = 12.0 * np.array([math.cos(math.radians(lean_deg)), math.sin(math.radians(lean_deg))])
    ss, h = 4, 161
    yy, xx = np.mgrid[0:h * ss, 0:h * ss]
    u, v = (xx + 0.5) / ss - 0.5, (yy + 0.5) / ss - 0.5
    flange = np.hypot(u - cf[0], v - cf[1]) <= 48.5
    # the barrel: discs of its radius along the axis from the flange top (lean/7, its 0.3 mm of 2.3) to its top
    t = np.linspace(0.0, 1.0, 25)[:, None, None]
    barrel = (np.hypot(u[None] - (cf[0] + lean[0] * t), v[None] - (cf[1] + lean[1] * t)) <= 35.7).any(axis=0)
    img = np.where(barrel, 230.0, np.where(flange, 120.0, 40.0)).reshape(h, ss, h, ss).mean(axis=(1, 3))
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.0) + np.random.default_rng(1).normal(0, 1.5, (h, h)).astype(np.float32)
    stack, origins = gray_rois(img, np.array([[80.0, 80.0]]), 75)
    c0 = cf - origins[0] + 0.7  # the wide pass's centre, a little off
    keep = _rays_clear_of_barrel(c0[None], (c0 + lean)[None], [True], barrel_r_px=35.7, inner_px=48.0 - 4.85)
    every = radial_edge_circles(stack, 151, c0[None], 48.0, polarity="falling", band_px=4.85)[0]
    clear = radial_edge_circles(stack, 151, c0[None], 48.0, polarity="falling", band_px=4.85, keep_rays=keep)[0]
    e_clear, e_every = (float(np.hypot(*(f.center_px + origins[0] - cf))) for f in (clear, every))
    assert clear.ok and e_clear < 0.08 and abs(clear.radius_px - 48.5) < 0.3
    assert 0.4 < keep.mean() < 0.8  # about +-50 deg about the lean left out
    assert e_every > max(0.15, 3 * e_clear)  # taken in by the barrel's edge
